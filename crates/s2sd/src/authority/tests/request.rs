#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Form bodies, as the clients of interop.md #2 send them.

use super::{CLIENT, REALM, form, resource};
use crate::authority::grant::{CLIENT_ASSERTION_TYPE_JWT, GRANT_JWT_BEARER_LEGACY};
use crate::authority::request::{MAX_FORM_BYTES, parse_form};

#[test]
fn parses_every_body_shape_of_the_captures() {
    let secret = "3oJ+/f2x=";
    let client_id = format!("{CLIENT}@{REALM}");
    let resource = resource();
    let scope = format!("{resource}/.default");
    let extras = [
        ("client_info", "1"),
        ("x-client-SKU", "MSAL.Python"),
        ("x-client-Ver", "1.31.0"),
        ("x-client-OS", "linux"),
        ("client-request-id", "3f1c2a63-1b7a-4a55-9d0c-0f3b8c9a1d11"),
        ("return-client-request-id", "true"),
    ];
    let shapes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "client secret + resource",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", secret),
                ("resource", &resource),
            ],
        ),
        (
            "client secret + scope",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", secret),
                ("scope", &resource),
            ],
        ),
        (
            "client secret + scope + resource",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", secret),
                ("scope", &resource),
                ("resource", &resource),
            ],
        ),
        (
            "legacy assertion",
            vec![("grant_type", GRANT_JWT_BEARER_LEGACY), ("assertion", "a.b.c"), ("resource", &resource)],
        ),
        (
            "RFC 7523 client assertion",
            vec![
                ("client_id", CLIENT),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
                ("client_assertion", "a.b.c"),
                ("scope", &scope),
                ("grant_type", "client_credentials"),
            ],
        ),
    ];
    for (name, mut pairs) in shapes {
        pairs.extend(extras);
        let req = parse_form(form(&pairs).as_bytes()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        assert_eq!(req.grant_type, get("grant_type"), "{name}");
        assert_eq!(req.client_id, get("client_id"), "{name}");
        assert_eq!(req.client_secret.as_ref().map(|s| s.to_string()), get("client_secret"), "{name}");
        assert_eq!(req.client_assertion_type, get("client_assertion_type"), "{name}");
        assert_eq!(req.client_assertion, get("client_assertion"), "{name}");
        assert_eq!(req.assertion, get("assertion"), "{name}");
        assert_eq!(req.resource, get("resource"), "{name}");
        assert_eq!(req.scope, get("scope"), "{name}");
    }
    // Hand-written bodies: `+` is a space, `%2B` a plus; empty values count as absent.
    let req = parse_form(b"grant_type=client_credentials&client_secret=a%2Bb+c&resource=&unknown").unwrap();
    assert_eq!(req.client_secret.as_deref().map(String::as_str), Some("a+b c"));
    assert_eq!(req.resource, None);
    assert!(format!("{req:?}").contains("<redacted>") && !format!("{req:?}").contains("a+b c"), "Debug hides secrets");
}

#[test]
fn refuses_malformed_bodies() {
    for (body, why) in [
        (&b"grant_type=client_credentials&grant_type=client_credentials"[..], "appears more than once"),
        (b"client_secret=a&client_secret=b", "appears more than once"),
        (b"grant_type=\xff\xfe", "not UTF-8"),
        (b"grant_type=client%FF", "not UTF-8"),
    ] {
        let e = parse_form(body).unwrap_err();
        assert_eq!(e.error.as_str(), "invalid_request");
        assert!(e.description().contains(why), "{}", e.description());
    }
    let big = vec![b'a'; MAX_FORM_BYTES + 1];
    assert!(parse_form(&big).unwrap_err().description().contains("at most"));
}
