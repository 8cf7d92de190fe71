#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The token endpoint's refusals over HTTP: bad secrets, bad assertions, resources without a
//! principal or SPN, unknown tenants and malformed requests; each its exact OAuth error and a
//! description that names the fix.

use axum::body::Body;
use axum::http::{Request, header};
use base64::Engine as _;
use s2s::principal::{EXCHANGE, SHAREPOINT};
use s2s::token::{Algorithm, jws};
use serde_json::{Value, json};

use super::fixture::*;
use super::{CLIENT, DISABLED, EXPIRED, FUTURE, HOST, NOW, REALM, SP_HOST, TOKEN_PATH, TOKEN_URL, form, resource};
use crate::authority::grant::{CLIENT_ASSERTION_TYPE_JWT, GRANT_JWT_BEARER_LEGACY};
use crate::authority::request::MAX_FORM_BYTES;

#[tokio::test]
async fn bad_credentials_get_precise_errors() {
    let f = fixture();
    let fix_secret =
        format!("s2sd service-principal credential add --tenant {REALM} --app-id {CLIENT} --type symmetric");
    with_secret(&f, CLIENT, "wrong").await.refused("invalid_client", &["invalid client secret", &fix_secret]);
    let unknown = "0a0a0a0a-0000-4000-8000-000000000001";
    with_secret(&f, unknown, &f.secret).await.refused(
        "invalid_client",
        &[
            &format!("unknown client {unknown}@{REALM}"),
            &format!("s2sd service-principal new --tenant {REALM} --app-id {unknown}"),
        ],
    );
    with_secret(&f, DISABLED, &f.secret).await.refused(
        "unauthorized_client",
        &["disabled", &format!("s2sd service-principal set --tenant {REALM} --app-id {DISABLED} --enabled true")],
    );
    with_secret(&f, EXPIRED, &f.secret)
        .await
        .refused("invalid_client", &["expired", "credential add", "credential remove"]);
    with_secret(&f, FUTURE, &f.secret).await.refused("invalid_client", &["not yet valid", "credential list"]);
    // A principal without secrets.
    with_secret(&f, SHAREPOINT, &f.secret)
        .await
        .refused("invalid_client", &["has no client secret", "--type symmetric"]);
    // client_id in another realm.
    let elsewhere = format!("{CLIENT}@0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11");
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &elsewhere),
            ("client_secret", &f.secret),
            ("resource", &resource()),
        ],
    )
    .await
    .refused(
        "invalid_client",
        &["belongs to realm 0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11", &format!("use client_id {CLIENT}@{REALM}")],
    );
    // No credential at all.
    post(&f, &[("grant_type", "client_credentials"), ("client_id", CLIENT), ("resource", &resource())])
        .await
        .refused("invalid_client", &["no client credential"]);
}

#[tokio::test]
async fn bad_assertions_get_precise_errors() {
    let f = fixture();
    let k = keys();
    // Signed by a certificate nobody registered.
    let stranger = assertion(&k.stranger, Algorithm::Rs256, rfc7523_claims("s1"));
    let add = format!(
        "s2sd service-principal credential add --tenant {REALM} --app-id {CLIENT} --type asymmetric --usage verify --certificate FILE"
    );
    with_client_assertion(&f, &stranger).await.refused("invalid_client", &["no certificate registered", &add]);
    let legacy_stranger = assertion(&k.stranger, Algorithm::Rs256, legacy_claims());
    with_legacy_assertion(&f, &legacy_stranger).await.refused("invalid_grant", &["no certificate registered", &add]);
    // Replayed.
    let once = assertion(&k.client, Algorithm::Rs256, rfc7523_claims("r1"));
    with_client_assertion(&f, &once).await.issued();
    with_client_assertion(&f, &once).await.refused("invalid_client", &["presented before", "single-use"]);
    let legacy = assertion(&k.client, Algorithm::Rs256, legacy_claims());
    with_legacy_assertion(&f, &legacy).await.issued();
    with_legacy_assertion(&f, &legacy).await.refused("invalid_grant", &["presented before"]);
    // A far-future exp.
    let mut far = rfc7523_claims("f1");
    far["exp"] = json!(NOW + 30 * 86_400);
    with_client_assertion(&f, &assertion(&k.client, Algorithm::Rs256, far))
        .await
        .refused("invalid_client", &["at most", "expire within minutes"]);
    // Expired, and for another audience.
    let mut old = rfc7523_claims("o1");
    old["exp"] = json!(NOW - 3600);
    with_client_assertion(&f, &assertion(&k.client, Algorithm::Rs256, old))
        .await
        .refused("invalid_client", &["expired"]);
    let mut other = rfc7523_claims("a1");
    other["aud"] = json!("https://login.microsoftonline.com/x/oauth2/v2.0/token");
    with_client_assertion(&f, &assertion(&k.client, Algorithm::Rs256, other))
        .await
        .refused("invalid_client", &["audience", TOKEN_URL]);
    // client_id that is not the assertion's issuer; garbage; alg none.
    let mismatched = assertion(&k.client, Algorithm::Rs256, rfc7523_claims("m1"));
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DISABLED),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
            ("client_assertion", &mismatched),
            ("resource", &resource()),
        ],
    )
    .await
    .refused("invalid_client", &["differs from the assertion's issuer"]);
    with_client_assertion(&f, "not-a-jwt").await.refused("invalid_client", &["unusable"]);
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rfc7523_claims("n1").to_string());
    with_client_assertion(&f, &format!("eyJhbGciOiJub25lIn0.{claims}.")).await.refused("invalid_client", &["unsigned"]);
    // The wrong client_assertion_type.
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
            ("client_assertion", &once),
            ("resource", &resource()),
        ],
    )
    .await
    .refused("invalid_request", &["client_assertion_type must be"]);
}

#[tokio::test]
async fn resources_need_a_principal_with_a_matching_spn() {
    let f = fixture();
    let client_id = format!("{CLIENT}@{REALM}");
    let ask = |resource: String| {
        let f = &f;
        let client_id = client_id.clone();
        async move {
            post(
                f,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client_id),
                    ("client_secret", &f.secret),
                    ("resource", &resource),
                ],
            )
            .await
        }
    };
    // No SPN for the host.
    let fix = format!(
        "s2sd service-principal spn add --tenant {REALM} --app-id {SHAREPOINT} --spn {SHAREPOINT}/other.fabrikam.com"
    );
    ask(format!("{SHAREPOINT}/other.fabrikam.com@{REALM}"))
        .await
        .refused("invalid_resource", &["no service principal name", &fix]);
    ask(format!("{SHAREPOINT}/a.b.contoso.com@{REALM}"))
        .await
        .refused("invalid_resource", &["no service principal name"]);
    // The wildcard takes one label; a port on the resource is fine; case does not matter.
    let a = ask(format!("{SHAREPOINT}/Team.Contoso.com:8443@{}", REALM.to_uppercase())).await;
    let claims: Value = jws::Compact::split(&a.issued()).unwrap().claims().unwrap();
    assert_eq!(claims["aud"], format!("{SHAREPOINT}/team.contoso.com:8443@{REALM}"));
    // No principal for the app id; disabled resource.
    let lync = "00000004-0000-0ff1-ce00-000000000000";
    ask(format!("{lync}/pool.contoso.com@{REALM}"))
        .await
        .refused("invalid_resource", &[&format!("s2sd service-principal new --tenant {REALM} --app-id {lync}")]);
    ask(format!("{EXCHANGE}/mail.contoso.com@{REALM}"))
        .await
        .refused("invalid_resource", &["disabled", "--enabled true"]);
    // Not of the <app id>/<host>@<realm> form, or in another realm.
    ask(format!("https://{SP_HOST}/")).await.refused("invalid_resource", &["is a URL"]);
    ask(format!("{SHAREPOINT}@{REALM}")).await.refused("invalid_resource", &["names no host"]);
    ask(format!("{SHAREPOINT}/{SP_HOST}@fabrikam.com")).await.refused("invalid_resource", &["realm fabrikam.com"]);
    post(&f, &[("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", &f.secret)])
        .await
        .refused("invalid_request", &["names no resource"]);
}

#[tokio::test]
async fn unknown_tenants_and_malformed_requests() {
    let f = fixture();
    let unknown = "0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11";
    post_to(&f.router, &format!("/{unknown}/tokens/OAuth/2"), form(&[("grant_type", "client_credentials")]))
        .await
        .refused(
            "invalid_request",
            &[&format!("unknown tenant {unknown}"), &format!("s2sd tenant new --realm {unknown}")],
        );
    let json_body = Request::post(TOKEN_PATH)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"grant_type":"client_credentials"}"#))
        .unwrap();
    send(&f.router, json_body).await.refused("invalid_request", &["application/x-www-form-urlencoded"]);
    post_to(&f.router, TOKEN_PATH, "grant_type=client_credentials&grant_type=password".into())
        .await
        .refused("invalid_request", &["more than once"]);
    post_to(&f.router, TOKEN_PATH, "x".repeat(MAX_FORM_BYTES + 10)).await.refused("invalid_request", &["bytes"]);
    post(&f, &[("client_id", CLIENT)]).await.refused("invalid_request", &["no grant_type"]);
    post(&f, &[("grant_type", "password"), ("username", "u"), ("password", "p")])
        .await
        .refused("unsupported_grant_type", &["client_credentials"]);
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", "x"),
            ("client_assertion", "a.b.c"),
        ],
    )
    .await
    .refused("invalid_request", &["use one"]);
    post(&f, &[("grant_type", GRANT_JWT_BEARER_LEGACY), ("resource", &resource())])
        .await
        .refused("invalid_request", &["needs an assertion"]);
}
