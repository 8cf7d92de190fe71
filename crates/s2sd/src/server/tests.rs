#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The router composes the roles over one `AppState`, each handler taking its own part: on the
//! shared metadata paths the node's document, or an authority tenant's when `?realm=` names one;
//! the authority's routes; health. In-process over a temporary SQLite store and a fixed clock.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use s2s::clock::FixedClock;
use s2s::principal::ACS;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::{AppState, METADATA_PATHS, router};
use crate::store::authority::TenantRecord;
use crate::store::{CertificateRecord, CertificateRole, OAuthConfig};

const NOW: i64 = 1_900_000_000;
const REALM: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const HOST: &str = "sts.litwareinc.com";
const SERVICE: &str = "00000007-0000-4000-8000-000000000000";

async fn get(router: &axum::Router, path: &str) -> (StatusCode, Value) {
    let request = Request::get(path).header(header::HOST, HOST).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_router_serves_each_role_from_its_own_state() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("s2s.db").display());
    let stores = crate::store::open_stores(&url).await.unwrap();
    stores
        .config
        .set_oauth_config(&OAuthConfig {
            realm: "litwareinc.com".into(),
            service_name: SERVICE.into(),
            hostnames: vec![HOST.into()],
            additional_realms: Vec::new(),
            exchange_autodiscover_url: None,
            auto_renew: None,
        })
        .await
        .unwrap();
    let at = time::OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    let node = crate::issuer::generate("litwareinc.com", &[], 2048, 730, at).unwrap();
    stores
        .config
        .install_current_certificate(&CertificateRecord {
            thumbprint: s2s::token::thumbprint::hex_thumbprint(&node.cert_der),
            role: CertificateRole::Current,
            cert_der: node.cert_der.clone(),
            private_key_pkcs8: Some(node.key_pkcs8.to_vec()),
            not_before: NOW - 86_400,
            not_after: NOW + 730 * 86_400,
            effective_at: None,
            created_at: NOW,
        })
        .await
        .unwrap();
    stores
        .authority
        .insert_tenant(&TenantRecord { realm: REALM.into(), name: "Litware".into(), created_at: NOW })
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let clock = Arc::new(FixedClock::new(NOW));
    let policy = s2s::partner::refresh::RefreshPolicy::default();
    let state = AppState::start(stores, clock, policy, Duration::from_secs(3600), cancel.clone()).await.unwrap();
    let router = router(state);

    let ours = format!("{SERVICE}@litwareinc.com");
    let tenant = format!("{ACS}@{REALM}");
    for path in METADATA_PATHS {
        let (status, doc) = get(&router, path).await;
        assert_eq!((status, doc["issuer"].as_str()), (StatusCode::OK, Some(ours.as_str())), "{path}");
        assert_eq!(doc["endpoints"][0]["location"], format!("https://{HOST}{path}"));
        let (_, doc) = get(&router, &format!("{path}?realm={REALM}")).await;
        assert_eq!(doc["issuer"].as_str(), Some(tenant.as_str()), "{path}?realm=");
    }
    let (_, doc) = get(&router, "/metadata/json/1?realm=litwareinc.com").await;
    assert_eq!(doc["issuer"].as_str(), Some(ours.as_str()), "not a tenant: the node's document");
    let (_, doc) = get(&router, &format!("/{REALM}/metadata/json/1")).await;
    assert_eq!(doc["issuer"].as_str(), Some(tenant.as_str()));
    let (_, oidc) = get(&router, &format!("/{REALM}/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(oidc["token_endpoint"], format!("https://{HOST}/{REALM}/tokens/OAuth/2"));
    let (status, health) = get(&router, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((health["realm"].as_str(), health["service_name"].as_str()), (Some("litwareinc.com"), Some(SERVICE)));
    assert_eq!(health["signing_certificate"], s2s::token::thumbprint::x5t(&node.cert_der));
    let (status, _) = get(&router, &format!("/{REALM}/tokens/OAuth/2")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "the token endpoint takes POST");
    cancel.cancel();
}
