//! `S2sLayer` and `Caller` in an axum router, driven in-process with `oneshot`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{AUTHORIZATION, HOST as HOST_HEADER, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use s2s::challenge::{self, BearerChallenge};
use s2s::middleware::{Caller, S2sAuth, S2sLayer, X_MS_DIAGNOSTICS};
use s2s::principal::{EXCHANGE, LYNC};
use s2s::validate::RejectionKind;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::common::*;

/// `/whoami` needs a caller; everything else (e.g. `/_vti_bin/client.svc`) is open.
fn app() -> Router {
    let auth = S2sAuth::new(Arc::new(validator()));
    Router::new()
        .route("/whoami", get(|Caller(c): Caller| async move { axum::Json(c.as_ref().clone()) }))
        .fallback(|| async { "open" })
        .layer(S2sLayer::new(auth))
}

async fn send(method: Method, path: &str, authorization: Option<&str>) -> Response<Body> {
    let mut req = Request::builder().method(method).uri(path).header(HOST_HEADER, HOST);
    if let Some(value) = authorization {
        req = req.header(AUTHORIZATION, value);
    }
    app().oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
}

async fn body_text(resp: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header<'a>(resp: &'a Response<Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Checks the Bearer challenge of a 401 and returns it parsed.
fn challenge_of(resp: &Response<Body>) -> BearerChallenge {
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let value = header(resp, WWW_AUTHENTICATE.as_str()).expect("WWW-Authenticate");
    assert!(value.starts_with(&format!("Bearer realm=\"{REALM}\",")), "realm first: {value}");
    let parsed = BearerChallenge::from_challenges(&challenge::parse(value).unwrap()).unwrap();
    assert_eq!(parsed.realm.as_deref(), Some(REALM));
    assert_eq!(parsed.client_id, EXCHANGE);
    assert_eq!(parsed.trusted_issuers, vec![format!("{LYNC}@{REALM}")]);
    parsed
}

#[tokio::test]
async fn valid_act_as_token_reaches_the_handler() {
    let token = act_as_token(&actor_token(key_a()));
    let resp = send(Method::GET, "/whoami", Some(&format!("Bearer {token}"))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get(WWW_AUTHENTICATE).is_none());
    let body: Value = serde_json::from_str(&body_text(resp).await).unwrap();
    assert_eq!(body["partner"], "Lync");
    assert_eq!(body["kind"], "act_as");
    assert_eq!(body["realm"], REALM);
    assert_eq!(body["user"]["smtp"], "kenmyer@litwareinc.com");

    // App-only, with the scheme in another case.
    let resp = send(Method::GET, "/whoami", Some(&format!("bearer {}", actor_token(key_a())))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = serde_json::from_str(&body_text(resp).await).unwrap();
    assert_eq!(body["kind"], "app_only");
}

#[tokio::test]
async fn bad_token_gets_invalid_token_challenge_and_diagnostics() {
    // Known thumbprint, signature by another key.
    let forged = actor_token(key_c());
    let (head_payload, _) = forged.rsplit_once('.').unwrap();
    let good_sig = actor_token(key_a()).rsplit_once('.').unwrap().1.to_owned();
    let mut claims = actor_claims(NOW);
    claims.exp = Some(NOW + 999_999);
    let tampered_payload = s2s::token::actor::sign(&claims, &key_a().signing).unwrap();
    let (tampered_head_payload, _) = tampered_payload.rsplit_once('.').unwrap();
    let cases = [
        (format!("{}.{good_sig}", tampered_head_payload), RejectionKind::InvalidSignature),
        (format!("{head_payload}.{good_sig}"), RejectionKind::NoCertificateFound),
        ("not-a-jwt".to_owned(), RejectionKind::MalformedToken),
    ];
    for (path, (token, kind)) in ["/whoami", "/_vti_bin/client.svc", "/whoami"].into_iter().zip(cases) {
        let resp = send(Method::GET, path, Some(&format!("Bearer {token}"))).await;
        let parsed = challenge_of(&resp);
        assert_eq!(parsed.error.as_deref(), Some("invalid_token"), "{path}");
        let diagnostics = header(&resp, X_MS_DIAGNOSTICS).expect("x-ms-diagnostics").to_owned();
        let prefix = format!("{};reason=\"", kind.code());
        assert!(diagnostics.starts_with(&prefix), "{diagnostics} for {kind:?}");
        assert!(diagnostics.ends_with("\";error_category=\"invalid_token\""), "{diagnostics}");
        let reason = &diagnostics[prefix.len()..diagnostics.len() - "\";error_category=\"invalid_token\"".len()];
        assert!(!reason.is_empty() && !reason.contains('"'), "{reason}");
        let body: Value = serde_json::from_str(&body_text(resp).await).unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["reason"], kind.reason());
        assert_eq!(body["code"], kind.code());
    }
}

#[tokio::test]
async fn empty_bearer_gets_the_challenge_on_every_path() {
    for path in ["/whoami", "/_vti_bin/client.svc", "/sites/dev/_vti_bin/client.svc", "/"] {
        for method in [Method::GET, Method::HEAD, Method::POST] {
            for value in ["Bearer ", "Bearer", "bearer   "] {
                let resp = send(method.clone(), path, Some(value)).await;
                let parsed = challenge_of(&resp);
                assert_eq!(parsed.error, None, "{method} {path} {value:?}: no error for a missing token");
                assert!(resp.headers().get(X_MS_DIAGNOSTICS).is_none());
            }
        }
    }
}

#[tokio::test]
async fn no_authorization_passes_through_to_open_routes_only() {
    for method in [Method::GET, Method::HEAD, Method::POST] {
        let resp = send(method.clone(), "/_vti_bin/client.svc", None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{method}");
        assert!(resp.headers().get(WWW_AUTHENTICATE).is_none());
    }
    assert_eq!(body_text(send(Method::GET, "/_vti_bin/client.svc", None).await).await, "open");
    // Another scheme is not ours to judge.
    let resp = send(Method::GET, "/_vti_bin/client.svc", Some("Basic dXNlcjpwYXNz")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // A route with `Caller` asks for a token.
    let parsed = challenge_of(&send(Method::GET, "/whoami", None).await);
    assert_eq!(parsed.error, None);
}

#[tokio::test]
async fn audience_host_comes_from_the_host_header() {
    let token = actor_token(key_a());
    let req = Request::builder()
        .uri("/whoami")
        .header(HOST_HEADER, "other.litwareinc.com")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = app().oneshot(req).await.unwrap();
    challenge_of(&resp);
    let diagnostics = header(&resp, X_MS_DIAGNOSTICS).unwrap();
    assert!(diagnostics.starts_with(&format!("{};", RejectionKind::UnexpectedHostNameInAudience.code())));
}
