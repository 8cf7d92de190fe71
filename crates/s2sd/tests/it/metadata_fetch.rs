//! Fetching partner metadata over redirects: an https URL that redirects to plain http is a
//! downgrade and is refused unless http is allowed; an https-to-https redirect is followed; a
//! redirect loop ends. Real servers on 127.0.0.1 — the https one with a certificate for that
//! address — and the real `s2sd partner-application new`, which must leave the store untouched.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum_server::tls_rustls::RustlsConfig;
use s2s::metadata::fetch::{FetchError, FetchOptions, fetch};
use s2s::metadata::{MetadataDocument, MetadataKey};

use crate::support::Site;

/// A metadata document any checker accepts: one signing certificate of ours.
fn document() -> String {
    let now = now();
    let cert = s2sd::issuer::generate("contoso.com", &[], 2048, 30, now).unwrap();
    MetadataDocument {
        id: Some("_exchange".into()),
        realm: Some("contoso.com".into()),
        service_name: Some(s2s::principal::EXCHANGE.into()),
        issuer: Some(format!("{}@contoso.com", s2s::principal::EXCHANGE)),
        keys: vec![MetadataKey::signing(cert.cert_der)],
        ..MetadataDocument::default()
    }
    .to_json()
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(s2sd::timestamp::now()).unwrap()
}

fn redirect(to: String) -> impl IntoResponse {
    (StatusCode::FOUND, [(header::LOCATION, to)])
}

/// Serves `document()` over plain http, and an https server (cert for 127.0.0.1) whose paths
/// redirect: `/to-http` → the plain server, `/to-https` → its own `/metadata/json/1`, `/loop` → itself.
/// Returns the https base URL, and the PEM of its certificate for `--tls-ca`.
async fn servers() -> (String, String) {
    let doc = document();
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    let served = doc.clone();
    let app = Router::new().route("/metadata/json/1", get(move || async move { served }));
    tokio::spawn(async move { axum::serve(plain, app).await.unwrap() });

    let tls = s2sd::issuer::generate_tls(&["127.0.0.1".to_owned()], 30, now()).unwrap();
    let (cert_pem, key_pem) = s2sd::issuer::to_pem_pair(&tls);
    let config = RustlsConfig::from_pem(cert_pem.clone().into_bytes(), key_pem.as_bytes().to_vec()).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("https://{addr}");
    let (b1, b2) = (base.clone(), base.clone());
    let app = Router::new()
        .route("/metadata/json/1", get(move || async move { doc }))
        .route("/to-http", get(move || async move { redirect(format!("http://{plain_addr}/metadata/json/1")) }))
        .route("/to-https", get(move || async move { redirect(format!("{b1}/metadata/json/1")) }))
        .route("/loop", get(move || async move { redirect(format!("{b2}/loop")) }));
    listener.set_nonblocking(true).unwrap();
    let server = axum_server::from_tcp_rustls(listener, config).unwrap();
    tokio::spawn(async move { server.serve(app.into_make_service()).await.unwrap() });
    (base, cert_pem)
}

fn options(ca: &str, allow_http: bool) -> FetchOptions {
    FetchOptions { allow_http, ca_pem: Some(ca.as_bytes().to_vec()), ..FetchOptions::default() }
}

#[tokio::test]
async fn a_redirect_from_https_to_http_is_refused_unless_http_is_allowed() {
    let (base, ca) = servers().await;
    let url = format!("{base}/to-http");
    match fetch(&url, &options(&ca, false)).await {
        Err(e @ FetchError::InsecureRedirect { .. }) => {
            let text = e.to_string();
            assert!(text.contains("/to-http") && text.contains("http://127.0.0.1"), "{text}");
            assert!(text.contains("--allow-http-metadata"), "{text}");
        }
        other => panic!("a downgrade must be refused, got {other:?}"),
    }
    let doc = fetch(&url, &options(&ca, true)).await.expect("allowed downgrade");
    assert_eq!(doc.realm.as_deref(), Some("contoso.com"));
}

#[tokio::test]
async fn https_redirects_are_followed_and_loops_end() {
    let (base, ca) = servers().await;
    let doc = fetch(&format!("{base}/to-https"), &options(&ca, false)).await.expect("https to https");
    assert_eq!(doc.keys.len(), 1);
    let looped = fetch(&format!("{base}/loop"), &options(&ca, false)).await;
    assert!(matches!(looped, Err(FetchError::TooManyRedirects { .. })), "{looped:?}");
}

#[test]
fn registering_a_partner_behind_a_downgrade_is_refused_and_stores_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (base, ca) = runtime.block_on(servers());
    let site = Site::new();
    site.configure("00000004-0000-0ff1-ce00-000000000000");
    let ca_file = site.path("tls-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let ca_arg = ca_file.to_str().unwrap();
    let url = format!("{base}/to-http");
    let refused = site.fails(&[
        "partner-application",
        "new",
        "--identity",
        "Exchange",
        "--metadata-url",
        &url,
        "--tls-ca",
        ca_arg,
    ]);
    assert!(refused.contains("redirects to") && refused.contains("--allow-http-metadata"), "{refused}");
    assert_eq!(site.partners(), serde_json::json!([]));
    site.ok(&[
        "partner-application",
        "new",
        "--identity",
        "Exchange",
        "--metadata-url",
        &format!("{base}/to-https"),
        "--tls-ca",
        ca_arg,
    ]);
    assert_eq!(site.partners().as_array().unwrap().len(), 1);
    drop(runtime);
}
