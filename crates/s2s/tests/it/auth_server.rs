//! Obtaining actor tokens from an authorization server: our certificate assertion verifies at a
//! token endpoint (with the checks an authority makes), the response's `expires_on` drives the
//! cache, and refusals come back as OAuth errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Form, State};
use axum::routing::post;
use s2s::client::auth_server::{AuthServerClient, AuthServerError, JWT_BEARER_GRANT};
use s2s::clock::{Clock as _, FixedClock};
use s2s::principal::{ACS, EXCHANGE, LYNC, Principal};
use s2s::token::Assertion;

use crate::common::{NOW, key_a};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

#[derive(Clone)]
struct Endpoint {
    calls: Arc<AtomicUsize>,
    aud: String,
    clock: Arc<FixedClock>,
}

async fn token(State(ep): State<Endpoint>, Form(form): Form<Vec<(String, String)>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    ep.calls.fetch_add(1, Ordering::SeqCst);
    let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(field("grant_type"), JWT_BEARER_GRANT);
    let assertion = field("assertion");
    let now = ep.clock.now();
    let verified = Assertion::decode(&assertion)
        .and_then(|a| a.verify("lync", &[key_a().verifying()], std::slice::from_ref(&ep.aud), now, 300));
    match verified {
        Ok(v) if v.issuer == format!("{LYNC}@{TENANT}") => axum::Json(serde_json::json!({
            "token_type": "Bearer",
            "access_token": format!("actor-for-{}", field("resource")),
            "expires_in": "3599",
            "not_before": (now - 300).to_string(),
            "expires_on": (now + 3600).to_string(),
            "resource": field("resource"),
        }))
        .into_response(),
        other => (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "invalid_client", "error_description": format!("{other:?}")})),
        )
            .into_response(),
    }
}

#[tokio::test]
async fn assertion_verifies_and_the_token_is_cached_until_expiry() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(FixedClock::new(NOW));
    let ep = Endpoint {
        calls: calls.clone(),
        aud: format!("{ACS}/127.0.0.1:{}@{TENANT}", addr.port()),
        clock: clock.clone(),
    };
    let app = axum::Router::new().route(&format!("/{TENANT}/tokens/OAuth/2"), post(token)).with_state(ep);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let url = format!("http://127.0.0.1:{}/{TENANT}/tokens/OAuth/2", addr.port());
    let client = AuthServerClient::new(&url, TENANT, reqwest::Client::new(), clock.clone()).unwrap();
    let resource = Principal::audience(EXCHANGE, "mail.litwareinc.com", TENANT);
    let first = client.actor_token(&key_a().signing, LYNC, &resource).await.unwrap();
    assert_eq!(&*first, format!("actor-for-{resource}"));
    let again = client.actor_token(&key_a().signing, LYNC, &resource).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "served from the cache");
    clock.advance(3600 - 30); // within a minute of expires_on
    client.actor_token(&key_a().signing, LYNC, &resource).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "renewed before expiry");

    // Another client id: the endpoint refuses; the error carries the OAuth fields.
    let err =
        client.actor_token(&key_a().signing, "11111111-2222-3333-4444-555555555555", &resource).await.unwrap_err();
    let AuthServerError::Refused { status: 401, error, .. } = err else { panic!("{err}") };
    assert_eq!(error, "invalid_client");
}
