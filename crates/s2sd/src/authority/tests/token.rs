#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The token endpoint's successes: every credential and body shape, the answer's shape
//! (interop.md #3), tokens a resource server accepts, the reuse of issued tokens, configuration
//! changes, and the hold-back of failing clients.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use base64::Engine as _;
use s2s::principal::{ACS, SHAREPOINT};
use s2s::token::{Algorithm, jws, thumbprint};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::fixture::*;
use super::{CLIENT, DISABLED, HOST, NOW, REALM, SP_HOST, TOKEN_PATH, TOKEN_URL, form, resource};
use crate::authority::grant::CLIENT_ASSERTION_TYPE_JWT;
use crate::authority::{FAILURES_BEFORE_DELAY, TOKEN_LIFETIME, TOKEN_NBF_BACKDATE, secret_hash};

#[tokio::test]
async fn a_client_secret_buys_a_token_the_resource_server_accepts() {
    let f = fixture();
    let answer = with_secret(&f, CLIENT, &f.secret).await;
    let token = answer.issued();
    let j = &answer.json;
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], TOKEN_LIFETIME.to_string(), "numbers are strings (interop.md #3)");
    assert_eq!(j["not_before"], (NOW - TOKEN_NBF_BACKDATE).to_string());
    assert_eq!(j["expires_on"], (NOW + TOKEN_LIFETIME).to_string());
    assert_eq!(j["resource"], resource());
    assert!(j.get("scope").is_none(), "no scope asked, none answered");
    let keys_in_order: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys_in_order.len(), 6, "{j}");
    assert_eq!(answer.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");

    // The token: ACS-style header and claims.
    let compact = jws::Compact::split(&token).unwrap();
    let header = compact.header().unwrap();
    let node_x5t = thumbprint::x5t(&keys().node_der);
    assert_eq!((header.typ.as_deref(), header.alg.as_str()), (Some("JWT"), "RS256"));
    assert_eq!(header.x5t.as_deref(), Some(node_x5t.as_str()));
    assert_eq!(header.kid.as_deref(), Some(node_x5t.as_str()));
    let claims: Value = compact.claims().unwrap();
    assert_eq!(claims["aud"], resource());
    assert_eq!(claims["iss"], format!("{ACS}@{REALM}"));
    assert_eq!(claims["identityprovider"], format!("{ACS}@{REALM}"));
    assert_eq!(claims["nameid"], format!("{CLIENT}@{REALM}"));
    assert_eq!(claims["trustedfordelegation"], "true");
    assert_eq!(claims["nbf"], NOW - TOKEN_NBF_BACKDATE, "dates are JSON numbers in the token");
    assert_eq!(claims["exp"], NOW + TOKEN_LIFETIME);
    assert_eq!(claims["iat"], NOW);

    // A resource server that trusts this authority takes it, as the client's call.
    let validated = resource_server().validate(&token, SP_HOST).unwrap();
    assert_eq!(validated.partner, "ClientApp");
    assert_eq!(validated.auth_server.as_deref(), Some("LitwareAuthority"));
    // Client id without the realm, and client_secret_basic, work too.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{}", urlencode(&f.secret)));
    let request = Request::post(format!("{TOKEN_PATH}?api-version=1.0"))
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")
        .body(Body::from(form(&[("grant_type", "client_credentials"), ("resource", &resource())])))
        .unwrap();
    send(&f.router, request).await.issued();
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", &f.secret),
            ("resource", &resource()),
        ],
    )
    .await
    .issued();
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn scope_is_echoed_unchanged_and_may_stand_for_the_resource() {
    let f = fixture();
    let client_id = format!("{CLIENT}@{REALM}");
    let base =
        [("grant_type", "client_credentials"), ("client_id", client_id.as_str()), ("client_secret", f.secret.as_str())];
    // Office365-REST-Python-Client: both, the same value.
    let mut both = base.to_vec();
    let res = resource();
    both.extend([("scope", res.as_str()), ("resource", res.as_str())]);
    let a = post(&f, &both).await;
    a.issued();
    assert_eq!((a.json["scope"].as_str(), a.json["resource"].as_str()), (Some(res.as_str()), Some(res.as_str())));
    // S2S CreateAccessTokenRequestWithClientCredentials: scope only; with /.default (MSAL style).
    for scope in [res.clone(), format!("{res}/.default"), format!("{SHAREPOINT}/Mail.Contoso.com/.default")] {
        let mut only = base.to_vec();
        only.push(("scope", &scope));
        let a = post(&f, &only).await;
        let token = a.issued();
        assert_eq!(a.json["scope"], scope, "oauthlib raises when the scope changes");
        let expected = scope.strip_suffix("/.default").unwrap_or(&scope);
        assert_eq!(a.json["resource"], expected);
        let claims: Value = jws::Compact::split(&token).unwrap().claims().unwrap();
        assert_eq!(claims["aud"], aud_of(expected), "aud normalised, lower case, with the realm");
    }
    // Resource and scope naming different resources.
    let mut clash = base.to_vec();
    let other = format!("{SHAREPOINT}/other.contoso.com@{REALM}");
    clash.extend([("resource", res.as_str()), ("scope", other.as_str())]);
    post(&f, &clash).await.refused("invalid_request", &["different resources"]);
}

/// The audience the authority puts in a token for `resource` (realm added, lower case).
fn aud_of(resource: &str) -> String {
    let full = if resource.contains('@') { resource.to_owned() } else { format!("{resource}@{REALM}") };
    s2s::principal::Principal::parse(&full).unwrap().to_string()
}

#[tokio::test]
async fn client_assertions_rs256_ps256_and_the_legacy_grant() {
    let f = fixture();
    let k = keys();
    // RFC 7523, RS256 + x5t, the exact token URL as audience.
    with_client_assertion(&f, &assertion(&k.client, Algorithm::Rs256, rfc7523_claims("j-rs"))).await.issued();
    // RFC 7523, PS256 + x5t#S256, MSAL's shape: scope=<resource>/.default, extras, a query string.
    let ps = assertion(&k.client, Algorithm::Ps256, rfc7523_claims("j-ps"));
    let scope = format!("{}/.default", resource());
    let body = form(&[
        ("client_id", CLIENT),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
        ("client_assertion", &ps),
        ("scope", &scope),
        ("grant_type", "client_credentials"),
        ("client_info", "1"),
        ("x-client-SKU", "MSAL.Python"),
        ("x-client-Ver", "1.31.0"),
        ("client-request-id", "3f1c2a63-1b7a-4a55-9d0c-0f3b8c9a1d11"),
    ]);
    let a = post_to(&f.router, &format!("{TOKEN_PATH}?dc=ESTS-PUB-WEUR"), body).await;
    resource_server().validate(&a.issued(), SP_HOST).unwrap();
    assert_eq!(a.json["scope"], scope);
    // The audience may also be the URL with its query, or the ACS principal with or without the port.
    let mut with_query = rfc7523_claims("j-q");
    with_query["aud"] = json!(format!("{TOKEN_URL}?dc=x"));
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
        ("client_assertion", &assertion(&k.client, Algorithm::Rs256, with_query)),
        ("resource", &resource()),
    ]);
    post_to(&f.router, &format!("{TOKEN_PATH}?dc=x"), body).await.issued();
    // Exchange's legacy grant: iss <app>@<realm>, aud 00000001-…/<host>@<realm>, no jti.
    let legacy = with_legacy_assertion(&f, &assertion(&k.client, Algorithm::Rs256, legacy_claims())).await;
    resource_server().validate(&legacy.issued(), SP_HOST).unwrap();
}

/// On paused time (the runtime's clock moves only when every task waits for a timer), so the
/// hold-back is measured exactly, and with a recorder of its own, so the counts are exact.
#[test]
fn repeated_failures_slow_the_client_down_and_are_counted() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let f = fixture();
            for _ in 0..FAILURES_BEFORE_DELAY {
                let start = Instant::now();
                with_secret(&f, CLIENT, "wrong").await.refused("invalid_client", &[]);
                assert_eq!(start.elapsed(), Duration::ZERO, "the first failures are not held back");
            }
            // The sixth failure is held back a second; the right secret never is, and a success forgets.
            let start = Instant::now();
            with_secret(&f, CLIENT, "wrong").await.refused("invalid_client", &[]);
            assert_eq!(start.elapsed(), Duration::from_secs(1));
            let start = Instant::now();
            with_secret(&f, CLIENT, &f.secret).await.issued();
            assert_eq!(start.elapsed(), Duration::ZERO);
            let start = Instant::now();
            with_secret(&f, CLIENT, &f.secret).await.issued();
            assert_eq!(start.elapsed(), Duration::ZERO);
            let start = Instant::now();
            with_secret(&f, CLIENT, "wrong").await.refused("invalid_client", &[]);
            assert_eq!(start.elapsed(), Duration::ZERO, "the success forgot the failures");
            // Another client is not affected by this one's failures.
            assert!(f.authority.delay_for(Some(&format!("{REALM}|{DISABLED}")), None, NOW).is_none());
        });
    });
    let text = metrics.render();
    for line in [
        "s2s_token_requests_total{outcome=\"invalid_client\"} 7",
        "s2s_token_requests_total{outcome=\"issued\"} 2",
        "s2s_token_requests_delayed_total 1",
        "s2s_tokens_reused_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "`{line}` missing from:\n{text}");
    }
}

#[tokio::test]
async fn configuration_changes_apply_when_published() {
    let mut f = fixture();
    let unknown = "0a0a0a0a-0000-4000-8000-000000000002";
    with_secret(&f, unknown, &f.secret).await.refused("invalid_client", &["unknown client"]);
    f.records.service_principals.push(sp(unknown, true, &[]));
    let hash = secret_hash(f.records.pepper.as_ref().unwrap(), "s3cret");
    f.records.credentials.push(secret_credential(9, unknown, hash, NOW - 1, NOW + 86_400));
    f.publish();
    with_secret(&f, unknown, "s3cret").await.issued();
}

#[tokio::test]
async fn a_repeated_grant_gets_the_same_token_while_more_than_half_its_lifetime_remains() {
    let f = fixture();
    let first = with_secret(&f, CLIENT, &f.secret).await;
    let token = first.issued();

    f.clock.advance(3600);
    let again = with_secret(&f, CLIENT, &f.secret).await;
    assert_eq!(again.issued(), token, "the same grant reuses the token");
    assert_eq!(again.json["expires_in"], (TOKEN_LIFETIME - 3600).to_string(), "what is left of it");
    assert_eq!(again.json["expires_on"], first.json["expires_on"]);
    assert_eq!(again.json["not_before"], first.json["not_before"]);

    // The client is still authenticated on every request; another resource is another token.
    with_secret(&f, CLIENT, "not-the-secret").await.refused("invalid_client", &["invalid client secret"]);
    let other = format!("{SHAREPOINT}/other.contoso.com@{REALM}");
    let client_id = format!("{CLIENT}@{REALM}");
    let grant = [
        ("grant_type", "client_credentials"),
        ("client_id", &client_id),
        ("client_secret", &f.secret),
        ("resource", &other),
    ];
    let for_other = post(&f, &grant).await.issued();
    assert_ne!(for_other, token);
    assert_eq!(jws::Compact::split(&for_other).unwrap().claims::<Value>().unwrap()["aud"], other);

    // Half the lifetime gone: a new token.
    f.clock.advance(TOKEN_LIFETIME / 2 - 3600);
    let renewed = with_secret(&f, CLIENT, &f.secret).await;
    assert_ne!(renewed.issued(), token);
    assert_eq!(renewed.json["expires_in"], TOKEN_LIFETIME.to_string());
    let claims: Value = jws::Compact::split(&renewed.issued()).unwrap().claims().unwrap();
    assert_eq!(claims["iat"], NOW + TOKEN_LIFETIME / 2);
}

#[tokio::test]
async fn a_reused_token_is_not_given_to_a_client_disabled_since() {
    let mut f = fixture();
    with_secret(&f, CLIENT, &f.secret).await.issued();
    f.records.service_principals.iter_mut().find(|p| p.app_id == CLIENT).unwrap().enabled = false;
    f.publish();
    with_secret(&f, CLIENT, &f.secret).await.refused("unauthorized_client", &["disabled"]);
}
