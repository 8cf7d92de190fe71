//! The authority's HTTP surface: `POST /<realm>/tokens/OAuth/2` (every body shape real clients
//! send: client secret with `resource` and/or `scope`, the legacy
//! `http://oauth.net/grant_type/jwt/1.0/bearer` assertion, RFC 7523 `client_assertion`), the
//! tenant's metadata document, OpenID discovery and JWKS.
//!
//! Form bodies are size-limited before parsing and parsed by hand (`url::form_urlencoded`) so that
//! every defect gets a precise answer: unknown fields and any query string are ignored, a repeated
//! known field is refused (RFC 6749 §3.2), empty values count as absent. Every refusal is an
//! [`OAuthError`], turned into the OAuth error JSON in one place ([`OAuthError::into_response`]),
//! with an `error_description` that names the missing piece and the `s2sd` command that adds it.
//! Error numbers follow Entra ID's `AADSTS` numbers where one fits, with ACS's `ACS` prefix.
//! Nothing here logs a secret, an assertion or a token.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use s2s::clock::UnixTime;
use s2s::metadata::{Endpoint, MetadataDocument, PROTOCOL_OAUTH2};
use s2s::middleware::request_authority;
use s2s::principal::{ACS, Principal};
use s2s::token::{ActorClaims, Assertion, AssertionError, Header, SigningKey};
use serde::Serialize;
use zeroize::Zeroizing;

use super::{ASSERTION_SKEW, Authority, IssuedToken, ServicePrincipal, TOKEN_LIFETIME, TOKEN_NBF_BACKDATE, Tenant};
use crate::server::AppState;

/// Largest token request body read.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// The grant type of the legacy (pre-RFC 7523) JWT bearer assertion Exchange and Lync send.
pub const GRANT_JWT_BEARER_LEGACY: &str = "http://oauth.net/grant_type/jwt/1.0/bearer";
/// `client_credentials`.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// RFC 7523's `client_assertion_type`.
pub const CLIENT_ASSERTION_TYPE_JWT: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The OAuth `error` values this endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidResource,
    ServerError,
}

/// A refused token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: ErrorCode,
    /// The number after `ACS` in the description.
    pub number: u32,
    /// What went wrong and how to fix it.
    pub text: String,
}

/// The fields of a token request this endpoint reads (all others are ignored).
#[derive(Default, PartialEq, Eq)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Zeroizing<String>>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    pub assertion: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

/// How the client authenticates.
enum ClientAuth {
    Secret {
        client_id: String,
        secret: Zeroizing<String>,
    },
    /// A signed assertion: RFC 7523 `client_assertion` (failures are `invalid_client`) or the legacy
    /// bearer assertion, which is the grant itself (failures are `invalid_grant`).
    Assertion {
        client_id: Option<String>,
        assertion: String,
        failure: ErrorCode,
    },
}

/// What the request was made to: for assertion audiences and messages.
struct Target {
    /// `scheme://host[:port]/path` as the client saw it.
    url: String,
    /// With the query, when there was one.
    url_with_query: Option<String>,
    /// The request's `host[:port]`.
    authority: String,
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

impl ErrorCode {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidResource => "invalid_resource",
            Self::ServerError => "server_error",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl OAuthError {
    fn new(error: ErrorCode, number: u32, text: impl Into<String>) -> Self {
        Self { error, number, text: text.into() }
    }

    /// `ACS<number>: <text>`.
    pub fn description(&self) -> String {
        format!("ACS{}: {}", self.number, self.text)
    }

    /// The one place a refusal becomes HTTP: status 400 (401 for `invalid_client`, 500 for
    /// `server_error`), `{"error":…,"error_description":…}`, never cached.
    pub fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error.as_str(), "error_description": self.description()});
        let mut response = (self.error.status(), axum::Json(body)).into_response();
        no_store(response.headers_mut());
        response
    }
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("client_assertion_type", &self.client_assertion_type)
            .field("client_assertion", &self.client_assertion.as_ref().map(|_| "<redacted>"))
            .field("assertion", &self.assertion.as_ref().map(|_| "<redacted>"))
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Parses an `application/x-www-form-urlencoded` token request body.
pub fn parse_form(body: &[u8]) -> Result<TokenRequest, OAuthError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(malformed(format!("the request body is {} bytes; at most {MAX_FORM_BYTES} are read", body.len())));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(malformed("the request body is not application/x-www-form-urlencoded text (it is not UTF-8)"));
    }
    let mut req = TokenRequest::default();
    for (name, value) in url::form_urlencoded::parse(body) {
        let slot: &mut Option<String> = match name.as_ref() {
            "grant_type" => &mut req.grant_type,
            "client_id" => &mut req.client_id,
            "client_assertion_type" => &mut req.client_assertion_type,
            "client_assertion" => &mut req.client_assertion,
            "assertion" => &mut req.assertion,
            "resource" => &mut req.resource,
            "scope" => &mut req.scope,
            "client_secret" => {
                if req.client_secret.is_some() {
                    return Err(repeated("client_secret"));
                }
                if value.contains('\u{FFFD}') {
                    return Err(not_utf8("client_secret"));
                }
                req.client_secret = (!value.is_empty()).then(|| Zeroizing::new(value.into_owned()));
                continue;
            }
            _ => continue,
        };
        if slot.is_some() {
            return Err(repeated(&name));
        }
        if value.contains('\u{FFFD}') {
            return Err(not_utf8(&name));
        }
        let value = value.trim();
        *slot = (!value.is_empty()).then(|| value.to_owned());
    }
    Ok(req)
}

/// `POST /{realm}/tokens/OAuth/2`. Takes the request whole: the `Uri` and `HeaderMap` extractors
/// would copy them for every request.
pub async fn token(State(state): State<AppState>, Path(realm): Path<String>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (uri, headers) = (&parts.uri, &parts.headers);
    let authority = Arc::clone(&state.authority);
    let Some(tenant) = authority.tenant(&realm) else {
        return refused(None, None, unknown_tenant(&realm));
    };
    let req = match read_request(headers, body).await {
        Ok(req) => req,
        Err(e) => return refused(Some(&tenant), None, e),
    };
    let limiter_key = claimed_client(&req).map(|c| format!("{}|{c}", tenant.realm));
    if let Some(key) = &limiter_key
        && let Some(delay) = authority.delay_for(key, authority.now())
    {
        metrics::counter!("s2s_token_requests_delayed_total").increment(1);
        tracing::info!(tenant = %tenant.realm, delay_ms = delay.as_millis() as u64, "token request held back after repeated failures");
        tokio::time::sleep(delay).await;
    }
    // Built only for assertions, whose audience is the URL the client used.
    let target = || {
        let host = request_authority(uri, headers);
        let url = format!("{}://{host}{}", authority.scheme(), uri.path());
        Target { url_with_query: uri.query().map(|q| format!("{url}?{q}")), url, authority: host }
    };
    let outcome = issue(&state, &authority, &tenant, &req, &target).await;
    if let Some(key) = &limiter_key {
        match &outcome {
            Ok(_) => authority.record_success(key),
            Err(_) => authority.record_failure(key, authority.now()),
        }
    }
    match outcome {
        Ok(response) => {
            metrics::counter!("s2s_token_requests_total", "outcome" => "issued").increment(1);
            response
        }
        Err(e) => refused(Some(&tenant), claimed_client(&req).as_deref(), e),
    }
}

/// `GET /{realm}/metadata/json/1` (any query ignored).
pub async fn metadata(
    State(state): State<AppState>,
    Path(realm): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match state.authority.tenant(&realm) {
        Some(tenant) => metadata_response(&state, &tenant, &request_authority(&uri, &headers)),
        None => tenant_not_found(&realm),
    }
}

/// The tenant document for `GET /metadata/json/1?realm=<tenant>` (TokenHelper's and
/// node-sp-auth's URL), when the query names a tenant of this node's authority.
pub fn metadata_for_query(state: &AppState, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let realm = url::form_urlencoded::parse(uri.query()?.as_bytes()).find(|(k, _)| k == "realm").map(|(_, v)| v)?;
    let tenant = state.authority.tenant(&realm)?;
    Some(metadata_response(state, &tenant, &request_authority(uri, headers)))
}

/// `GET /{realm}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(state): State<AppState>,
    Path(realm): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(tenant) = state.authority.tenant(&realm) else { return tenant_not_found(&realm) };
    let base = format!("{}://{}/{}", state.authority.scheme(), request_authority(&uri, &headers), tenant.realm);
    axum::Json(serde_json::json!({
        "issuer": format!("{base}/v2.0"),
        "token_endpoint": format!("{base}/tokens/OAuth/2"),
        "jwks_uri": format!("{base}/discovery/keys"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "grant_types_supported": [GRANT_CLIENT_CREDENTIALS, GRANT_JWT_BEARER_LEGACY],
        "response_types_supported": ["token"],
        "subject_types_supported": ["pairwise"],
        "tenant_id": tenant.realm,
        "s2s_issuer": format!("{ACS}@{}", tenant.realm),
    }))
    .into_response()
}

/// `GET /{realm}/discovery/keys`: the node's published signing certificates as a JWKS (built once
/// per published metadata document).
pub async fn jwks(State(state): State<AppState>, Path(realm): Path<String>) -> Response {
    if state.authority.tenant(&realm).is_none() {
        return tenant_not_found(&realm);
    }
    let jwks = state.authority.jwks(state.metadata.load_full(), |doc| {
        let keys: Vec<serde_json::Value> = doc
            .keys
            .iter()
            .filter_map(|k| {
                let (n, e) = rsa_public_numbers(&k.certificate)?;
                Some(serde_json::json!({
                    "kty": "RSA",
                    "use": "sig",
                    "kid": k.x5t,
                    "x5t": k.x5t,
                    "n": URL_SAFE_NO_PAD.encode(n),
                    "e": URL_SAFE_NO_PAD.encode(e),
                    "x5c": [STANDARD.encode(&k.certificate)],
                }))
            })
            .collect();
        serde_json::json!({"keys": keys})
    });
    axum::Json(jwks.as_ref().clone()).into_response()
}

/// The tenant's metadata document: the node's published certificates, the ACS principal in the
/// tenant's realm, and the token endpoint at the authority the client used.
pub fn tenant_document(
    authority: &Authority,
    node: &MetadataDocument,
    tenant: &Tenant,
    host: &str,
) -> MetadataDocument {
    let issuer = format!("{ACS}@{}", tenant.realm);
    let (bare, _) = s2s::principal::split_authority(host);
    let mut audiences = vec![format!("{ACS}/{host}@{}", tenant.realm)];
    if bare != host {
        audiences.push(format!("{ACS}/{bare}@{}", tenant.realm));
    }
    MetadataDocument {
        id: Some(document_id(&issuer)),
        version: Some("1.0".into()),
        name: Some(if tenant.name.is_empty() { "s2s authority".into() } else { tenant.name.clone() }),
        realm: Some(tenant.realm.clone()),
        service_name: Some(ACS.into()),
        issuer: Some(issuer),
        allowed_audiences: audiences,
        keys: node.keys.clone(),
        endpoints: vec![Endpoint {
            location: format!("{}://{host}/{}/tokens/OAuth/2", authority.scheme(), tenant.realm),
            protocol: PROTOCOL_OAUTH2.into(),
            usage: "issuance".into(),
        }],
    }
}

fn metadata_response(state: &AppState, tenant: &Tenant, host: &str) -> Response {
    let doc = tenant_document(&state.authority, &state.metadata.load(), tenant, host);
    ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], doc.to_json()).into_response()
}

async fn read_request(headers: &HeaderMap, body: Body) -> Result<TokenRequest, OAuthError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let mime = ct.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(malformed(format!(
                "the body is `{mime}`; token requests are application/x-www-form-urlencoded forms"
            )));
        }
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| malformed(format!("the request body is over {MAX_FORM_BYTES} bytes or unreadable")))?;
    let mut req = parse_form(&bytes)?;
    if let Some((id, secret)) = basic_credentials(headers)? {
        if req.client_secret.is_some() || req.client_assertion.is_some() {
            return Err(malformed(
                "the client authenticates twice (Authorization: Basic and a client_secret or client_assertion in the body): use one",
            ));
        }
        if req.client_id.as_deref().is_some_and(|c| !c.eq_ignore_ascii_case(&id)) {
            return Err(malformed("client_id in the body differs from the one in Authorization: Basic"));
        }
        req.client_id = Some(id);
        req.client_secret = Some(secret);
    }
    Ok(req)
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, Zeroizing<String>)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let Some((scheme, b64)) = value.trim().split_once(' ') else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad = || malformed("Authorization: Basic is not base64 of <client id>:<client secret>");
    let raw = Zeroizing::new(STANDARD.decode(b64.trim()).map_err(|_| bad())?);
    let text = std::str::from_utf8(&raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    let id = decode(id).unwrap_or_default();
    let secret = Zeroizing::new(decode(secret).unwrap_or_default());
    if id.is_empty() || secret.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, secret)))
}

/// The client id a request claims, before anything is verified: for the failure counter.
fn claimed_client(req: &TokenRequest) -> Option<String> {
    let from_assertion = || {
        let token = req.client_assertion.as_deref().or(req.assertion.as_deref())?;
        let a = Assertion::decode(token).ok()?;
        a.claims.iss.or(a.claims.sub)
    };
    let id = req.client_id.clone().or_else(from_assertion)?;
    let app = id.rsplit_once('@').map_or(id.as_str(), |(app, _)| app).trim().to_ascii_lowercase();
    (!app.is_empty()).then_some(app)
}

/// The grant: authenticate the client, check the resource, sign.
async fn issue(
    state: &AppState,
    authority: &Authority,
    tenant: &Tenant,
    req: &TokenRequest,
    target: &(dyn Fn() -> Target + Sync),
) -> Result<Response, OAuthError> {
    let realm = &tenant.realm;
    let auth = client_auth(req)?;
    let now = authority.now();
    let snapshot = authority.snapshot();
    let client = match &auth {
        ClientAuth::Secret { client_id, secret } => {
            let app = client_app_id(client_id, tenant)?;
            let principal = client_principal(tenant, &app)?;
            check_secret(&snapshot, &principal, secret, realm, now)?;
            principal
        }
        ClientAuth::Assertion { client_id, assertion, failure } => {
            check_assertion(authority, tenant, client_id.as_deref(), assertion, &target(), now, *failure)?
        }
    };
    let (requested, audience) = resource(req, tenant)?;
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
        resource: &requested,
        scope: req.scope.as_deref(),
    };
    let mut response = axum::Json(body).into_response();
    no_store(response.headers_mut());
    Ok(response)
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

fn client_auth(req: &TokenRequest) -> Result<ClientAuth, OAuthError> {
    let grant = req.grant_type.as_deref().ok_or_else(|| {
        missing(format!(
            "the request has no grant_type: use {GRANT_CLIENT_CREDENTIALS} (client secret or client_assertion) or {GRANT_JWT_BEARER_LEGACY} (assertion)"
        ))
    })?;
    if grant.eq_ignore_ascii_case(GRANT_CLIENT_CREDENTIALS) {
        return match (&req.client_assertion, &req.client_secret) {
            (Some(_), Some(_)) => {
                Err(malformed("the request carries both client_secret and client_assertion: use one"))
            }
            (Some(assertion), None) => {
                let kind = req.client_assertion_type.as_deref().unwrap_or_default();
                if !kind.eq_ignore_ascii_case(CLIENT_ASSERTION_TYPE_JWT) {
                    return Err(malformed(format!(
                        "client_assertion_type must be {CLIENT_ASSERTION_TYPE_JWT} (it is `{kind}`)"
                    )));
                }
                Ok(ClientAuth::Assertion {
                    client_id: req.client_id.clone(),
                    assertion: assertion.clone(),
                    failure: ErrorCode::InvalidClient,
                })
            }
            (None, Some(secret)) => {
                let client_id =
                    req.client_id.clone().ok_or_else(|| missing("the request has a client_secret but no client_id"))?;
                Ok(ClientAuth::Secret { client_id, secret: secret.clone() })
            }
            (None, None) => Err(OAuthError::new(
                ErrorCode::InvalidClient,
                7000216,
                "the request carries no client credential: send client_secret (s2sd service-principal credential add --type symmetric) or client_assertion with client_assertion_type (--type asymmetric)",
            )),
        };
    }
    if grant.eq_ignore_ascii_case(GRANT_JWT_BEARER_LEGACY) {
        if req.client_secret.is_some() || req.client_assertion.is_some() {
            return Err(malformed(format!(
                "grant_type {GRANT_JWT_BEARER_LEGACY} authenticates by its assertion; drop client_secret / client_assertion"
            )));
        }
        let assertion = req
            .assertion
            .clone()
            .ok_or_else(|| missing(format!("grant_type {GRANT_JWT_BEARER_LEGACY} needs an assertion")))?;
        return Ok(ClientAuth::Assertion {
            client_id: req.client_id.clone(),
            assertion,
            failure: ErrorCode::InvalidGrant,
        });
    }
    Err(OAuthError::new(
        ErrorCode::UnsupportedGrantType,
        70003,
        format!(
            "grant_type `{grant}` is not supported here: use {GRANT_CLIENT_CREDENTIALS} or {GRANT_JWT_BEARER_LEGACY}"
        ),
    ))
}

/// `<id>@<realm>` or bare `<id>` → the lower-case app id; the realm, if any, must be the tenant's.
fn client_app_id(client_id: &str, tenant: &Tenant) -> Result<String, OAuthError> {
    let (app, realm) = match client_id.rsplit_once('@') {
        Some((app, realm)) => (app, Some(realm)),
        None => (client_id, None),
    };
    if let Some(realm) = realm
        && !realm.eq_ignore_ascii_case(&tenant.realm)
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            700016,
            format!(
                "client {client_id} belongs to realm {realm}, but this is the token endpoint of tenant {t}: send it to /{realm}/tokens/OAuth/2, or use client_id {app}@{t}",
                t = tenant.realm
            ),
        ));
    }
    let app = app.trim().to_ascii_lowercase();
    if app.is_empty() {
        return Err(missing("client_id names no application id"));
    }
    Ok(app)
}

fn client_principal(tenant: &Tenant, app: &str) -> Result<Arc<ServicePrincipal>, OAuthError> {
    let realm = &tenant.realm;
    let principal = tenant.principals.get(app).cloned().ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidClient,
            700016,
            format!(
                "unknown client {app}@{realm}: tenant {realm} has no service principal with this app id (s2sd service-principal new --tenant {realm} --app-id {app} --display-name NAME)"
            ),
        )
    })?;
    if !principal.enabled {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            7000112,
            format!(
                "service principal {app}@{realm} ({}) is disabled (s2sd service-principal set --tenant {realm} --app-id {app} --enabled true)",
                principal.display_name
            ),
        ));
    }
    Ok(principal)
}

fn check_secret(
    snapshot: &super::Snapshot,
    principal: &ServicePrincipal,
    secret: &str,
    realm: &str,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let app = &principal.app_id;
    // Only refusals name the command; a granted request does not format it.
    let add = || format!("s2sd service-principal credential add --tenant {realm} --app-id {app} --type symmetric");
    if principal.secrets.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            7000215,
            format!("service principal {app}@{realm} has no client secret ({})", add()),
        ));
    }
    let credential = snapshot.matching_secret(principal, secret).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidClient,
            7000215,
            format!(
                "invalid client secret for {app}@{realm}: it matches none of its {} secret(s); secrets are shown only once, so add a new one if it is lost ({})",
                principal.secrets.len(),
                add()
            ),
        )
    })?;
    credential_dates(
        "client secret",
        &credential.id,
        credential.start_at,
        credential.end_at,
        app,
        realm,
        now,
        &add,
        ErrorCode::InvalidClient,
    )
}

/// Checks a credential's start and end dates.
#[allow(clippy::too_many_arguments)]
fn credential_dates(
    what: &str,
    id: &str,
    start: UnixTime,
    end: UnixTime,
    app: &str,
    realm: &str,
    now: UnixTime,
    add: &dyn Fn() -> String,
    error: ErrorCode,
) -> Result<(), OAuthError> {
    if now < start {
        return Err(OAuthError::new(
            error,
            7000222,
            format!(
                "the {what} {id} of {app}@{realm} is not yet valid: it starts at {} (see s2sd service-principal credential list --tenant {realm} --app-id {app})",
                crate::timestamp::rfc3339(start)
            ),
        ));
    }
    if now > end {
        return Err(OAuthError::new(
            error,
            7000222,
            format!(
                "the {what} {id} of {app}@{realm} expired at {} ({}; then s2sd service-principal credential remove --tenant {realm} --app-id {app} --id {id})",
                crate::timestamp::rfc3339(end),
                add()
            ),
        ));
    }
    Ok(())
}

/// Verifies a client assertion (or a legacy grant assertion): its client, signature, audience,
/// lifetime, credential dates and that it was not presented before. Failures are `error`.
fn check_assertion(
    authority: &Authority,
    tenant: &Tenant,
    client_id: Option<&str>,
    token: &str,
    target: &Target,
    now: UnixTime,
    error: ErrorCode,
) -> Result<Arc<ServicePrincipal>, OAuthError> {
    let realm = &tenant.realm;
    let fail = |number: u32, text: String| OAuthError::new(error, number, text);
    let assertion = Assertion::decode(token).map_err(|e| fail(50027, format!("the assertion is unusable: {e}")))?;
    let claimed = assertion
        .claims
        .iss
        .clone()
        .or_else(|| assertion.claims.sub.clone())
        .ok_or_else(|| fail(50027, "the assertion has no iss (the client, <app id>@<realm>)".into()))?;
    let app = client_app_id(&claimed, tenant)?;
    if let Some(id) = client_id {
        let given = client_app_id(id, tenant)?;
        if given != app {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                700021,
                format!("client_id {id} differs from the assertion's issuer {claimed}"),
            ));
        }
    }
    let principal = client_principal(tenant, &app)?;
    // Only refusals name the command, as in check_secret.
    let add = || {
        format!(
            "s2sd service-principal credential add --tenant {realm} --app-id {app} --type asymmetric --usage verify --certificate FILE"
        )
    };
    let keys = principal.assertion_keys();
    if keys.is_empty() {
        return Err(fail(
            700027,
            format!("service principal {app}@{realm} has no certificate to verify assertions with ({})", add()),
        ));
    }
    let (host, _) = s2s::principal::split_authority(&target.authority);
    let mut audiences = vec![target.url.clone()];
    audiences.extend(target.url_with_query.clone());
    audiences.push(format!("{ACS}/{host}@{realm}"));
    if host != target.authority {
        audiences.push(format!("{ACS}/{}@{realm}", target.authority));
    }
    let verified =
        assertion.verify(&format!("{app}@{realm}"), &keys, &audiences, now, ASSERTION_SKEW).map_err(|e| {
            let number = match e {
                AssertionError::Expired(_) | AssertionError::NotYetValid(_) | AssertionError::MissingExpiry => 700024,
                AssertionError::LifetimeTooLong { .. } | AssertionError::WrongAudience { .. } => 50013,
                _ => 700027,
            };
            let fix = match &e {
                AssertionError::UnknownCertificate { .. } => format!(" ({})", add()),
                AssertionError::LifetimeTooLong { .. } => {
                    " (sign assertions that expire within minutes: Exchange uses 10 min)".to_owned()
                }
                AssertionError::WrongAudience { .. } => format!(" (set aud to {})", target.url),
                _ => String::new(),
            };
            fail(number, format!("{e}{fix}"))
        })?;
    if let Some(c) = principal.certificate(&verified.x5t) {
        credential_dates("certificate", &c.id, c.start_at, c.end_at, &app, realm, now, &add, error)?;
    }
    let replay_key = format!("{realm}|{app}|{}", verified.replay_key);
    if authority.replayed(&replay_key, verified.expires_at, now) {
        return Err(fail(
            50013,
            format!(
                "this assertion of {app}@{realm} was presented before: assertions are single-use, sign a new one for each request (with a fresh jti)"
            ),
        ));
    }
    Ok(principal)
}

/// The resource as requested and as the audience: `resource`, else the `scope` (with any
/// `/.default` suffix removed); `<appId>/<host>[@<realm>]`, the realm the tenant's.
fn resource(req: &TokenRequest, tenant: &Tenant) -> Result<(String, Principal), OAuthError> {
    let realm = &tenant.realm;
    let from_scope = req.scope.as_deref().and_then(|s| {
        s.split_whitespace()
            .find(|s| !matches!(*s, "openid" | "profile" | "offline_access" | "email"))
            .map(|s| s.strip_suffix("/.default").unwrap_or(s).to_owned())
    });
    let requested = req.resource.clone().or_else(|| from_scope.clone()).ok_or_else(|| {
        missing(format!(
            "the request names no resource: send resource=<app id>/<host>@{realm} (or scope=<app id>/<host>@{realm}/.default)"
        ))
    })?;
    let audience = parse_resource(&requested, tenant)?;
    if req.resource.is_some()
        && let Some(scope) = &from_scope
        && let Ok(other) = parse_resource(scope, tenant)
        && other != audience
    {
        return Err(malformed(format!("resource {requested} and scope {scope} name different resources: send one")));
    }
    let app = &audience.app_id;
    let host = audience.host.clone().unwrap_or_default();
    let principal = tenant.principals.get(app).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidResource,
            500011,
            format!(
                "no service principal {app}@{realm} for resource {requested} (s2sd service-principal new --tenant {realm} --app-id {app} --display-name NAME --spn {app}/{host})"
            ),
        )
    })?;
    if !principal.enabled {
        return Err(OAuthError::new(
            ErrorCode::InvalidResource,
            500014,
            format!(
                "the resource's service principal {app}@{realm} ({}) is disabled (s2sd service-principal set --tenant {realm} --app-id {app} --enabled true)",
                principal.display_name
            ),
        ));
    }
    if principal.spn_for(&host).is_none() {
        let known: Vec<String> = principal.spns.iter().map(super::Spn::text).collect();
        return Err(OAuthError::new(
            ErrorCode::InvalidResource,
            500011,
            format!(
                "service principal {app}@{realm} has no service principal name for host {host} (it has {}): s2sd service-principal spn add --tenant {realm} --app-id {app} --spn {app}/{host}",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ),
        ));
    }
    Ok((requested, audience))
}

fn parse_resource(text: &str, tenant: &Tenant) -> Result<Principal, OAuthError> {
    let realm = &tenant.realm;
    let invalid = |why: &str| {
        OAuthError::new(
            ErrorCode::InvalidResource,
            500011,
            format!("resource `{text}` {why}: this authority issues for <app id>/<host>@{realm}"),
        )
    };
    if text.contains("://") {
        return Err(invalid("is a URL"));
    }
    let full = if text.contains('@') { text.to_owned() } else { format!("{text}@{realm}") };
    let p = Principal::parse(&full).map_err(|_| invalid("is not of the form <app id>/<host>@<realm>"))?;
    if p.host.is_none() {
        return Err(invalid("names no host"));
    }
    if !p.realm.eq_ignore_ascii_case(realm) {
        return Err(invalid(&format!("is in realm {}, not in this tenant's", p.realm)));
    }
    Ok(p)
}

/// Counts and logs a refusal, and answers it.
fn refused(tenant: Option<&Tenant>, client: Option<&str>, e: OAuthError) -> Response {
    metrics::counter!("s2s_token_requests_total", "outcome" => e.error.as_str()).increment(1);
    tracing::info!(
        tenant = tenant.map(|t| t.realm.as_str()).unwrap_or("?"),
        client = client.unwrap_or("?"),
        error = e.error.as_str(),
        reason = %e.description(),
        "token request refused"
    );
    e.into_response()
}

fn unknown_tenant(realm: &str) -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequest,
        90002,
        format!("unknown tenant {realm}: this authority has no such realm (s2sd tenant new --realm {realm})"),
    )
}

fn tenant_not_found(realm: &str) -> Response {
    let body = serde_json::json!({
        "error": "not_found",
        "error_description": format!("unknown tenant {realm} (s2sd tenant new --realm {realm})"),
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

fn malformed(text: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, 90013, text)
}

fn missing(text: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, 90014, text)
}

fn repeated(name: &str) -> OAuthError {
    malformed(format!("the parameter {name} appears more than once"))
}

fn not_utf8(name: &str) -> OAuthError {
    malformed(format!("the parameter {name} is not UTF-8 text once percent-decoded"))
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The RSA modulus and exponent of a certificate, without leading zero bytes.
fn rsa_public_numbers(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    match cert.public_key().parsed().ok()? {
        x509_parser::public_key::PublicKey::RSA(rsa) => {
            let strip = |b: &[u8]| b.iter().skip_while(|x| **x == 0).copied().collect::<Vec<u8>>();
            Some((strip(rsa.modulus), strip(rsa.exponent)))
        }
        _ => None,
    }
}

/// A stable document id in Exchange's `_<guid>` form, derived from the issuer name.
fn document_id(issuer: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, issuer.as_bytes());
    let h: String = d.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("_{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
