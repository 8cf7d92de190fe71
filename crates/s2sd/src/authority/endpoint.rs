//! The authority's HTTP surface: the routes of the authorization-server role, the state its
//! handlers take ([`AuthorityState`], from whatever state the router composes, by `FromRef`), and
//! the token endpoint `POST /<realm>/tokens/OAuth/2`.
//!
//! The token endpoint is three steps: read the request (`request.rs`: every body shape → a
//! [`TokenRequest`]), decide (`grant.rs`: pure, request + snapshot + time → a [`Grant`] or an
//! [`OAuthError`]), answer: sign a token for the grant on the signing threads, or give again the
//! one issued for the same grant while more than half its lifetime remains, and write the OAuth
//! JSON. Around them, the handler holds back failed requests of clients and addresses that keep
//! failing (after deciding, so a valid credential never waits: `limiter.rs`), counts outcomes and
//! logs refusals ([`refused`]); a refusal becomes HTTP only in [`OAuthError::into_response`].
//! Nothing here logs a secret, an assertion or a token.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{ConnectInfo, FromRef, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use s2s::client::Issuer;
use s2s::clock::UnixTime;
use s2s::metadata::MetadataDocument;
use s2s::middleware::request_authority;
use s2s::principal::ACS;
use s2s::token::{ActorClaims, Header, SigningKey};
use serde::Serialize;

use super::error::{ErrorCode, OAuthError, no_store, unknown_tenant};
use super::grant::{self, Grant, SeenAssertions, Spend, Target};
use super::request::{self, TokenRequest};
use super::{Authority, IssuedToken, Snapshot, TOKEN_LIFETIME, TOKEN_NBF_BACKDATE, Tenant, discovery};

/// What the authority's handlers read: one `Arc`, so that handing it to a request is one
/// reference count.
#[derive(Clone)]
pub struct AuthorityState(Arc<AuthorityParts>);

/// The contents of [`AuthorityState`].
pub struct AuthorityParts {
    /// Tenants, service principals, and the token endpoint's memory and signing threads.
    pub authority: Arc<Authority>,
    /// The node's issuer: its signing key in force signs the tokens issued here.
    pub issuer: Arc<Issuer>,
    /// The node's metadata document: its published certificates are every tenant's keys.
    pub metadata: Arc<ArcSwap<MetadataDocument>>,
}

impl AuthorityState {
    /// The state over the node's authority, issuer and metadata document.
    pub fn new(authority: Arc<Authority>, issuer: Arc<Issuer>, metadata: Arc<ArcSwap<MetadataDocument>>) -> Self {
        Self(Arc::new(AuthorityParts { authority, issuer, metadata }))
    }
}

impl std::ops::Deref for AuthorityState {
    type Target = AuthorityParts;

    fn deref(&self) -> &AuthorityParts {
        &self.0
    }
}

impl SeenAssertions for Authority {
    fn replayed(&self, key: &str, expires_at: UnixTime, now: UnixTime) -> bool {
        Authority::replayed(self, key, expires_at, now)
    }
}

/// The authorization-server role's routes: per-tenant metadata, OpenID discovery, JWKS, token
/// endpoint; over any router state that gives an [`AuthorityState`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AuthorityState: FromRef<S>,
{
    Router::new()
        .route("/{realm}/metadata/json/1", get(discovery::metadata))
        .route("/{realm}/v2.0/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/{realm}/discovery/keys", get(discovery::jwks))
        .route("/{realm}/tokens/OAuth/2", post(token))
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    token_type: &'static str,
    access_token: &'a serde_json::value::RawValue,
    expires_in: String,
    not_before: String,
    expires_on: String,
    resource: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// `POST /{realm}/tokens/OAuth/2`. Takes the request whole: the `Uri` and `HeaderMap` extractors
/// would copy them for every request.
pub async fn token(State(state): State<AuthorityState>, Path(realm): Path<String>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (uri, headers) = (&parts.uri, &parts.headers);
    let authority = &state.authority;
    let snapshot = authority.snapshot();
    let Some(tenant) = snapshot.tenant(&realm) else {
        return refused(None, None, unknown_tenant(&realm));
    };
    let req = match request::read(headers, body).await {
        Ok(req) => req,
        Err(e) => return refused(Some(tenant), None, e),
    };
    // Authenticate first, hold back only what failed: a request whose credential holds never waits,
    // whatever others sent under its client id (see `limiter.rs`).
    let source = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let limiter_key = req.claimed_client().map(|c| format!("{}|{c}", tenant.realm));
    // Built only for assertions, whose audience is the URL the client used.
    let target = || {
        let host = request_authority(uri, headers);
        let url = format!("{}://{host}{}", authority.scheme(), uri.path());
        Target { url_with_query: uri.query().map(|q| format!("{url}?{q}")), url, authority: host }
    };
    match issue(&state, &snapshot, tenant, &req, &target).await {
        Ok(response) => {
            if let Some(key) = &limiter_key {
                authority.record_success(key, source);
            }
            metrics::counter!("s2s_token_requests_total", "outcome" => "issued").increment(1);
            response
        }
        Err(e) => {
            let now = authority.now();
            if let Some(delay) = authority.delay_for(limiter_key.as_deref(), source, now) {
                metrics::counter!("s2s_token_requests_delayed_total").increment(1);
                tracing::info!(tenant = ?tenant.realm, delay_ms = delay.as_millis() as u64, "failed token request held back after repeated failures");
                tokio::time::sleep(delay).await;
            }
            authority.record_failure(limiter_key.as_deref(), source, now);
            refused(Some(tenant), req.claimed_client().as_deref(), e)
        }
    }
}

/// Decides the request, then signs a token for the grant (or gives the one issued for it before)
/// and writes the answer.
async fn issue(
    state: &AuthorityState,
    snapshot: &Snapshot,
    tenant: &Tenant,
    req: &TokenRequest,
    target: &(dyn Fn() -> Target + Sync),
) -> Result<Response, OAuthError> {
    let authority = &state.authority;
    let realm = &tenant.realm;
    let now = authority.now();
    let Grant { client, resource, audience, spend } =
        grant::decide(snapshot, tenant, req, target, now, authority.as_ref())?;
    if let Some(spend) = spend {
        spend_in_store(authority, &spend, now).await?;
    }
    let key = state.issuer.identity().key.clone().ok_or_else(|| {
        OAuthError::new(
            ErrorCode::ServerError,
            50000,
            "this authority has no signing certificate yet (s2sd certificate new on the authority node)",
        )
    })?;
    let grant = format!("{realm} {} {audience} {}", client.app_id, key.x5t());
    let issued = match authority.reusable_token(&grant, now) {
        Some(issued) => {
            metrics::counter!("s2s_tokens_reused_total").increment(1);
            tracing::debug!(tenant = %realm, client = %client.app_id, aud = %audience, "token reused");
            issued
        }
        None => {
            let issued = Arc::new(sign(authority, realm, &client.app_id, audience.to_string(), key, now).await?);
            authority.remember_token(grant, Arc::clone(&issued));
            tracing::debug!(tenant = %realm, client = %client.app_id, aud = %audience, "token issued");
            issued
        }
    };
    let body = TokenResponse {
        token_type: "Bearer",
        access_token: &issued.access_token,
        expires_in: (issued.exp - now).to_string(),
        not_before: issued.nbf.to_string(),
        expires_on: issued.exp.to_string(),
        resource: &resource,
        scope: req.scope.as_deref(),
    };
    let mut response = axum::Json(body).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// Spends an assertion this node had not seen in the store, so that no node of the store accepts it
/// again, before or after a restart. A store that cannot say refuses the request (the assertion is
/// not spent, so the client may try again).
async fn spend_in_store(authority: &Authority, spend: &Spend, now: UnixTime) -> Result<(), OAuthError> {
    match authority.spend(&spend.key, spend.until, now).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(spend.replayed()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a spent client assertion in the store");
            Err(OAuthError::new(
                ErrorCode::ServerError,
                50000,
                "the authority cannot record the assertion as used right now; try again with a new assertion",
            ))
        }
    }
}

/// Signs a token for `app_id@realm` to `audience`, valid from `now` (back-dated) for
/// [`TOKEN_LIFETIME`] or until the signing certificate expires.
async fn sign(
    authority: &Authority,
    realm: &str,
    app_id: &str,
    audience: String,
    key: Arc<SigningKey>,
    now: UnixTime,
) -> Result<IssuedToken, OAuthError> {
    let iss = format!("{ACS}@{realm}");
    let exp = (now + TOKEN_LIFETIME).min(key.not_after());
    let nbf = now - TOKEN_NBF_BACKDATE;
    let claims = ActorClaims {
        aud: Some(audience),
        iss: Some(iss.clone()),
        nameid: Some(format!("{app_id}@{realm}")),
        nbf: Some(nbf),
        exp: Some(exp),
        iat: Some(now),
        trustedfordelegation: true,
        identityprovider: Some(iss),
    };
    let header = Header {
        typ: Some("JWT".into()),
        alg: key.algorithm().name().into(),
        x5t: Some(key.x5t().to_owned()),
        kid: Some(key.x5t().to_owned()),
        ..Header::default()
    };
    let failed = |e: &dyn std::fmt::Display| OAuthError::new(ErrorCode::ServerError, 50000, e.to_string());
    let token = authority.signer.sign(header, claims, key).await.map_err(|e| failed(&e))?;
    // A compact JWS is base64url and dots: it needs no escaping, so it is encoded once here.
    let access_token = serde_json::value::to_raw_value(&token).map_err(|e| failed(&e))?;
    Ok(IssuedToken { access_token, iat: now, nbf, exp })
}

/// Counts and logs a refusal, and answers it. The fields are structured and Debug-formatted
/// (`?`): quoted, with control characters escaped, so no value can start a line of its own — on
/// top of `client` being a GUID (see [`TokenRequest::claimed_client`]) and the description naming
/// fields rather than repeating their values (`error.rs`).
fn refused(tenant: Option<&Tenant>, client: Option<&str>, e: OAuthError) -> Response {
    metrics::counter!("s2s_token_requests_total", "outcome" => e.error.as_str()).increment(1);
    tracing::info!(
        tenant = ?tenant.map(|t| t.realm.as_str()).unwrap_or("?"),
        client = ?client.unwrap_or("?"),
        error = e.error.as_str(),
        reason = ?e.description(),
        "token request refused"
    );
    e.into_response()
}
