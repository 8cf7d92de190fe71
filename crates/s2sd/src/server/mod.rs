//! The HTTP surface of a node: our metadata document at the paths Lync, Exchange and SharePoint
//! use, `/s2s/whoami` behind the validator, health, and the Bearer challenge on every path for an
//! empty token. `run` serves it over TLS (or plain http when explicitly asked) until cancelled.
//! It composes the roles (the authority's routes, EWS) over one [`AppState`]; each handler takes
//! its own part of it (`FromRef`), and no role depends on this module.

mod state;
#[cfg(test)]
mod tests;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use s2s::clock::SharedClock;
use s2s::metadata::Endpoint;
use s2s::middleware::{Caller, S2sLayer, request_authority};
use s2s::partner::refresh::RefreshPolicy;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

pub use state::{AppState, HealthState, MetadataState};
pub use tls::TlsSource;

use crate::store::{StoreError, Stores};

/// The paths our metadata document is served at.
pub const METADATA_PATHS: [&str; 4] =
    ["/metadata/json/1", "/autodiscover/metadata/json/1", "/_layouts/15/metadata/json/1", "/_layouts/metadata/json/1"];

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// TLS identity, or `None` for plain http.
    pub tls: Option<TlsSource>,
    /// Partner metadata refresh policy.
    pub refresh: RefreshPolicy,
    /// How often the store is polled for changes.
    pub poll: Duration,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store failed at start-up.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The TLS identity is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The listener failed.
    #[error("listener on {addr}: {source}")]
    Listen {
        /// Address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A started server.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https` or `http`.
    pub scheme: &'static str,
    /// The TLS certificate file clients should trust, when self-signed or given.
    pub tls_cert: Option<std::path::PathBuf>,
    /// The shared state (for in-process callers such as the demo).
    pub state: AppState,
    /// Resolves when the server has stopped.
    pub done: tokio::task::JoinHandle<Result<(), ServerError>>,
}

/// What incoming tokens are held to, beyond the protocol's own checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationLimits {
    /// Longest actor-token lifetime accepted (`exp - nbf`, or `exp - iat`).
    pub max_token_lifetime: Duration,
}

impl Default for ValidationLimits {
    fn default() -> Self {
        Self { max_token_lifetime: s2s::validate::DEFAULT_MAX_TOKEN_LIFETIME }
    }
}

/// Starts serving on `listener` until `cancel` fires, with the default [`ValidationLimits`].
pub async fn start(
    stores: Stores,
    clock: SharedClock,
    options: ServeOptions,
    listener: std::net::TcpListener,
    cancel: CancellationToken,
) -> Result<Running, ServerError> {
    start_with_limits(stores, clock, options, ValidationLimits::default(), listener, cancel).await
}

/// Starts serving on `listener` until `cancel` fires, validating tokens within `limits`.
pub async fn start_with_limits(
    stores: Stores,
    clock: SharedClock,
    options: ServeOptions,
    limits: ValidationLimits,
    listener: std::net::TcpListener,
    cancel: CancellationToken,
) -> Result<Running, ServerError> {
    let addr = listener.local_addr().map_err(|source| ServerError::Listen { addr: "?".into(), source })?;
    listener.set_nonblocking(true).map_err(|source| ServerError::Listen { addr: addr.to_string(), source })?;
    metrics_handle();
    let state = AppState::start_with_limits(
        stores,
        clock.clone(),
        options.refresh.clone(),
        options.poll,
        limits,
        cancel.clone(),
    )
    .await?;
    state.authority.set_https(options.tls.is_some());
    let app = router(state.clone());
    let listen_err = move |source| ServerError::Listen { addr: addr.to_string(), source };
    match options.tls {
        Some(source) => {
            let now =
                time::OffsetDateTime::from_unix_timestamp(clock.now()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            let (config, cert) = source.config(now).await?;
            tokio::spawn(tls::watch(config.clone(), source.clone(), cancel.clone()));
            let handle = axum_server::Handle::new();
            let server = axum_server::from_tcp_rustls(listener, config).map_err(listen_err)?.handle(handle.clone());
            tokio::spawn(async move {
                cancel.cancelled().await;
                handle.graceful_shutdown(Some(Duration::from_secs(5)));
            });
            let done = tokio::spawn(async move {
                server.serve(app.into_make_service_with_connect_info::<SocketAddr>()).await.map_err(listen_err)
            });
            Ok(Running { addr, scheme: "https", tls_cert: Some(cert), state, done })
        }
        None => {
            tracing::warn!(%addr, "serving PLAIN HTTP (--insecure-http): tokens cross the network unencrypted");
            let listener = tokio::net::TcpListener::from_std(listener).map_err(listen_err)?;
            let done = tokio::spawn(async move {
                axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(cancel.cancelled_owned())
                    .await
                    .map_err(listen_err)
            });
            Ok(Running { addr, scheme: "http", tls_cert: None, state, done })
        }
    }
}

/// The router over `state`.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for path in METADATA_PATHS {
        router = router.route(path, get(metadata));
    }
    router
        .route("/s2s/whoami", get(whoami).post(whoami))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics_text))
        .merge(crate::authority::endpoint::routes())
        .fallback(not_found)
        // Each `Router::layer` call wraps every route in one more boxed service, cloned per request:
        // the layers go on in two stacks rather than one call each (outermost first).
        .layer(
            tower::ServiceBuilder::new()
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
                .layer(S2sLayer::new(state.auth.clone())),
        )
        // EWS enforces its own, larger limit and answers it with a SOAP fault.
        .merge(crate::mailbox::ews::router(&axum::extract::FromRef::from_ref(&state)))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION]))
                .layer(CatchPanicLayer::new()),
        )
        .with_state(state)
}

async fn metadata(State(state): State<MetadataState>, uri: Uri, headers: HeaderMap) -> Response {
    // `/metadata/json/1?realm=<tenant>`: an authority tenant's document (TokenHelper, node-sp-auth).
    if let Some(tenant_document) = crate::authority::discovery::metadata_for_query(&state.authority, &uri, &headers) {
        return tenant_document;
    }
    let authority = request_authority(&uri, &headers);
    let mut doc = (**state.document.load()).clone();
    if !authority.is_empty() {
        doc.endpoints = vec![Endpoint {
            location: format!("https://{authority}{}", uri.path()),
            protocol: s2s::metadata::PROTOCOL_OAUTH2.into(),
            usage: "metadata".into(),
        }];
    }
    ([(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], doc.to_json()).into_response()
}

/// What `/s2s/whoami` answers, borrowed from the validation result (no copies, no map); fields
/// in alphabetical order, as before.
#[derive(serde::Serialize)]
struct WhoAmI<'a> {
    app_id: &'a str,
    expires_at: s2s::clock::UnixTime,
    partner: &'a str,
    realm: &'a str,
    token_kind: &'a s2s::validate::TokenKind,
    trust_level: &'a s2s::partner::TrustLevel,
    user: &'a Option<s2s::token::UserClaims>,
    x5t: &'a str,
}

async fn whoami(Caller(caller): Caller) -> Response {
    Json(WhoAmI {
        app_id: &caller.app_id,
        expires_at: caller.expires_at,
        partner: &caller.partner,
        realm: &caller.realm,
        token_kind: &caller.kind,
        trust_level: &caller.trust_level,
        user: &caller.user,
        x5t: &caller.x5t,
    })
    .into_response()
}

async fn health(State(state): State<HealthState>) -> Response {
    let snapshot = state.trust.load();
    let identity = state.issuer.identity();
    let schedule = state.schedule.load();
    Json(serde_json::json!({
        "status": if schedule.expiring.is_empty() { "ok" } else { "warning" },
        "expiring_certificates": schedule.expiring,
        "config_version": state.version.load(std::sync::atomic::Ordering::Relaxed),
        "realm": snapshot.local.realm,
        "service_name": snapshot.local.app_id,
        "signing_certificate": identity.key.as_ref().map(|k| k.x5t()),
        "partners": snapshot.partners.len(),
    }))
    .into_response()
}

async fn metrics_text() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics_handle().render()).into_response()
}

/// The process-wide Prometheus recorder, installed on first use.
fn metrics_handle() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed by an embedding program; ours then stays empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

async fn not_found(uri: Uri) -> Response {
    (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "not_found", "path": uri.path()}))).into_response()
}
