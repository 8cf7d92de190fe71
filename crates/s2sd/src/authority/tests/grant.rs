#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The token endpoint's decision on its own, without HTTP: a request, the configuration and a time
//! in, a grant or an OAuth error out, request by request.

use std::cell::RefCell;

use s2s::principal::{EXCHANGE, SHAREPOINT};
use s2s::token::Algorithm;

use super::fixture::{assertion, configuration, keys, legacy_claims, rfc7523_claims};
use super::{CLIENT, DISABLED, EXPIRED, FUTURE, HOST, NOW, REALM, SP_HOST, TOKEN_URL, resource};
use crate::authority::error::{ErrorCode, OAuthError};
use crate::authority::grant::{
    CLIENT_ASSERTION_TYPE_JWT, GRANT_JWT_BEARER_LEGACY, Grant, SeenAssertions, Target, decide,
};
use crate::authority::request::{TokenRequest, parse_form};
use crate::authority::{Snapshot, build};

/// Form fields, owned.
type Pairs = Vec<(String, String)>;

/// Assertions seen, in order.
#[derive(Default)]
struct Seen(RefCell<Vec<String>>);

impl SeenAssertions for Seen {
    fn replayed(&self, key: &str, _expires_at: i64, _now: i64) -> bool {
        let replayed = self.0.borrow().iter().any(|k| k == key);
        self.0.borrow_mut().push(key.to_owned());
        replayed
    }
}

fn request(pairs: &[(&str, &str)]) -> TokenRequest {
    parse_form(super::form(pairs).as_bytes()).unwrap()
}

fn target() -> Target {
    Target { url: TOKEN_URL.into(), url_with_query: None, authority: HOST.into() }
}

/// Decides `req` at `now` against the fixture's configuration.
fn decide_at(snapshot: &Snapshot, req: &TokenRequest, now: i64, seen: &Seen) -> Result<Grant, OAuthError> {
    let tenant = snapshot.tenant(&REALM.to_uppercase()).unwrap();
    decide(snapshot, tenant, req, &target, now, seen)
}

/// What a decision came to, compactly: `client aud resource` or `error number text`.
fn outcome(result: Result<Grant, OAuthError>) -> String {
    match result {
        Ok(g) => format!("{} {} {}", g.client.app_id, g.audience, g.resource),
        Err(e) => format!("{} {} {}", e.error.as_str(), e.number, e.text),
    }
}

#[test]
fn each_request_gets_its_grant_or_its_error() {
    let (records, secret) = configuration();
    let snapshot = build(&records);
    let id = format!("{CLIENT}@{REALM}");
    let res = resource();
    let aud = format!("{SHAREPOINT}/{SP_HOST}@{REALM}");
    let scope = format!("{SHAREPOINT}/Mail.Contoso.com/.default");
    let cc = ("grant_type", "client_credentials");
    let with = |client: &str, secret: &str, extra: &[(&str, &str)]| -> Pairs {
        let id = format!("{client}@{REALM}");
        let mut pairs = vec![cc, ("client_id", id.as_str()), ("client_secret", secret)];
        pairs.extend_from_slice(extra);
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    };
    let owned =
        |pairs: &[(&str, &str)]| -> Pairs { pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() };
    let other_realm = format!("{CLIENT}@0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11");
    let cases: Vec<(&str, Pairs, i64, String)> = vec![
        ("secret and resource", with(CLIENT, &secret, &[("resource", &res)]), NOW, format!("{CLIENT} {aud} {res}")),
        (
            "scope for the resource, /.default dropped, audience normalised",
            with(CLIENT, &secret, &[("scope", &scope)]),
            NOW,
            format!("{CLIENT} {SHAREPOINT}/mail.contoso.com@{REALM} {SHAREPOINT}/Mail.Contoso.com"),
        ),
        (
            "the wrong secret",
            with(CLIENT, "wrong", &[("resource", &res)]),
            NOW,
            format!("invalid_client 7000215 invalid client secret for {CLIENT}@{REALM}"),
        ),
        (
            "a secret that expired",
            with(EXPIRED, &secret, &[("resource", &res)]),
            NOW,
            format!(
                "invalid_client 7000222 the client secret 00000000-0000-4000-8000-000000000002 of {EXPIRED}@{REALM} expired at 2030-03-17T17:46:30Z"
            ),
        ),
        (
            "a secret not yet valid",
            with(FUTURE, &secret, &[("resource", &res)]),
            NOW,
            format!(
                "invalid_client 7000222 the client secret 00000000-0000-4000-8000-000000000003 of {FUTURE}@{REALM} is not yet valid: it starts at 2030-03-17T18:46:40Z"
            ),
        ),
        (
            "a good secret, once its end has passed",
            with(CLIENT, &secret, &[("resource", &res)]),
            NOW + 86_401,
            format!(
                "invalid_client 7000222 the client secret 00000000-0000-4000-8000-000000000001 of {CLIENT}@{REALM} expired"
            ),
        ),
        (
            "a disabled client",
            with(DISABLED, &secret, &[("resource", &res)]),
            NOW,
            format!("unauthorized_client 7000112 service principal {DISABLED}@{REALM} (App {DISABLED}) is disabled"),
        ),
        (
            "an unknown client",
            with("0a0a0a0a-0000-4000-8000-000000000001", &secret, &[("resource", &res)]),
            NOW,
            "invalid_client 700016 unknown client 0a0a0a0a-0000-4000-8000-000000000001".into(),
        ),
        (
            "a client of another realm",
            owned(&[cc, ("client_id", &other_realm), ("client_secret", &secret), ("resource", &res)]),
            NOW,
            format!("invalid_client 700016 client {other_realm} belongs to realm 0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11"),
        ),
        (
            "no grant type",
            owned(&[("client_id", &id), ("client_secret", &secret)]),
            NOW,
            "invalid_request 90014 the request has no grant_type".into(),
        ),
        (
            "an unsupported grant type",
            owned(&[("grant_type", "password")]),
            NOW,
            "unsupported_grant_type 70003 grant_type `password` is not supported here".into(),
        ),
        (
            "a secret without a client id",
            owned(&[cc, ("client_secret", &secret)]),
            NOW,
            "invalid_request 90014 the request has a client_secret but no client_id".into(),
        ),
        (
            "no credential",
            owned(&[cc, ("client_id", &id), ("resource", &res)]),
            NOW,
            "invalid_client 7000216 the request carries no client credential".into(),
        ),
        ("no resource", with(CLIENT, &secret, &[]), NOW, "invalid_request 90014 the request names no resource".into()),
        (
            "a host without an SPN",
            with(CLIENT, &secret, &[("resource", &format!("{SHAREPOINT}/a.b.contoso.com"))]),
            NOW,
            format!(
                "invalid_resource 500011 service principal {SHAREPOINT}@{REALM} has no service principal name for host a.b.contoso.com"
            ),
        ),
        (
            "a disabled resource",
            with(CLIENT, &secret, &[("resource", &format!("{EXCHANGE}/mail.contoso.com"))]),
            NOW,
            format!("invalid_resource 500014 the resource's service principal {EXCHANGE}@{REALM}"),
        ),
        (
            "resource and scope that differ",
            with(CLIENT, &secret, &[("resource", &res), ("scope", &scope)]),
            NOW,
            "invalid_request 90013 resource".into(),
        ),
        (
            "the legacy grant without its assertion",
            owned(&[("grant_type", GRANT_JWT_BEARER_LEGACY), ("resource", &res)]),
            NOW,
            format!("invalid_request 90014 grant_type {GRANT_JWT_BEARER_LEGACY} needs an assertion"),
        ),
        (
            "an unreadable client assertion",
            owned(&[
                cc,
                ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
                ("client_assertion", "not-a-jwt"),
                ("resource", &res),
            ]),
            NOW,
            "invalid_client 50027 the assertion is unusable".into(),
        ),
        (
            "an unreadable legacy assertion",
            owned(&[("grant_type", GRANT_JWT_BEARER_LEGACY), ("assertion", "not-a-jwt"), ("resource", &res)]),
            NOW,
            "invalid_grant 50027 the assertion is unusable".into(),
        ),
    ];
    for (name, pairs, now, expected) in cases {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let req = request(&pairs);
        let tenant = snapshot.tenant(REALM).unwrap();
        // A secret never needs what the request was made to: the target is built for assertions only.
        let seen = Seen::default();
        let got = if req.client_secret.is_some() {
            outcome(decide(&snapshot, tenant, &req, &|| panic!("{name}: target built"), now, &seen))
        } else {
            outcome(decide_at(&snapshot, &req, now, &seen))
        };
        assert!(got.starts_with(&expected), "{name}:\n  got      {got}\n  expected {expected}…");
    }
}

#[test]
fn an_assertion_is_spent_once_its_signature_holds_even_if_the_resource_is_refused() {
    let (records, _) = configuration();
    let snapshot = build(&records);
    let k = keys();
    let seen = Seen::default();
    let rfc7523 = |token: &str, resource: &str| {
        request(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
            ("client_assertion", token),
            ("resource", resource),
        ])
    };
    let token = assertion(&k.client, Algorithm::Rs256, rfc7523_claims("spent"));
    let refused = decide_at(&snapshot, &rfc7523(&token, "00000004-0000-0ff1-ce00-000000000000/x@y"), NOW, &seen);
    assert_eq!(refused.unwrap_err().error, ErrorCode::InvalidResource);
    let spent = seen.0.borrow().clone();
    assert!(spent.len() == 1 && spent[0].starts_with(&format!("{REALM}|{CLIENT}|")), "{spent:?}");
    let again = decide_at(&snapshot, &rfc7523(&token, &resource()), NOW, &seen).unwrap_err();
    assert_eq!((again.error, again.number), (ErrorCode::InvalidClient, 50013), "{}", again.text);
    // A fresh one is granted; the legacy grant's failures are invalid_grant.
    let fresh = assertion(&k.client, Algorithm::Ps256, rfc7523_claims("fresh"));
    let grant = decide_at(&snapshot, &rfc7523(&fresh, &resource()), NOW, &seen).unwrap();
    assert_eq!((grant.client.app_id.as_str(), grant.audience.to_string()), (CLIENT, resource()));
    let legacy = assertion(&k.client, Algorithm::Rs256, legacy_claims());
    let req = request(&[("grant_type", GRANT_JWT_BEARER_LEGACY), ("assertion", &legacy), ("resource", &resource())]);
    decide_at(&snapshot, &req, NOW, &seen).unwrap();
    let replayed = decide_at(&snapshot, &req, NOW, &seen).unwrap_err();
    assert_eq!((replayed.error, replayed.number), (ErrorCode::InvalidGrant, 50013));
    // The assertion's dates are judged at the time given, not the wall clock's.
    let late = assertion(&k.client, Algorithm::Rs256, rfc7523_claims("late"));
    let expired = decide_at(&snapshot, &rfc7523(&late, &resource()), NOW + 3600, &seen).unwrap_err();
    assert_eq!((expired.error, expired.number), (ErrorCode::InvalidClient, 700024), "{}", expired.text);
}
