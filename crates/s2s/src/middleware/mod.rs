//! Accepting S2S tokens in any tower/axum service: `S2sLayer` validates a presented
//! `Authorization: Bearer` token (refreshing partner metadata once on an unknown key or bad
//! signature), answers an empty bearer with the challenge on every path, and hands the decision to
//! handlers through the `Caller` extractor. Refusals become 401 responses here and only here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, Request, StatusCode};
use tower::{Layer, Service};

use crate::challenge::BearerChallenge;
use crate::partner::TrustSnapshot;
#[cfg(feature = "fetch")]
use crate::partner::refresh::RefreshHandle;
use crate::validate::{Rejection, Validated, Validator};

/// The header carrying the Exchange-style diagnosis of a refusal.
pub const X_MS_DIAGNOSTICS: &str = "x-ms-diagnostics";

/// Validation shared by the layer and the extractor.
#[derive(Clone, Debug)]
pub struct S2sAuth {
    validator: Arc<Validator>,
    #[cfg(feature = "fetch")]
    refresher: Option<RefreshHandle>,
}

impl S2sAuth {
    /// Validates with `validator`.
    pub fn new(validator: Arc<Validator>) -> Self {
        Self {
            validator,
            #[cfg(feature = "fetch")]
            refresher: None,
        }
    }

    /// Refreshes partner metadata through `refresher` on an unknown key or bad signature, then retries once.
    #[cfg(feature = "fetch")]
    pub fn with_refresher(mut self, refresher: RefreshHandle) -> Self {
        self.refresher = Some(refresher);
        self
    }

    /// The validator.
    pub fn validator(&self) -> &Arc<Validator> {
        &self.validator
    }

    /// Validates `token` presented at `authority`, refreshing the partner's metadata once if that could help.
    pub async fn authenticate(&self, token: &str, authority: &str) -> Result<Arc<Validated>, Rejection> {
        #[cfg(feature = "fetch")]
        let before = self.validator.trust().load().generation;
        let first = self.validator.validate(token, authority);
        #[cfg(feature = "fetch")]
        if let (Err(rejection), Some(refresher)) = (&first, &self.refresher)
            && rejection.may_need_refresh()
            && let Some(partner) = &rejection.partner
        {
            // Another request may have refreshed meanwhile; otherwise ask (rate-limited) and wait.
            if self.validator.trust().load().generation == before {
                refresher.refresh_now(partner).await;
            }
            if self.validator.trust().load().generation != before {
                return self.validator.validate(token, authority);
            }
        }
        first
    }

    /// The 401 for a refusal (`Some`) or for a missing/empty token (`None`).
    pub fn challenge_response(&self, rejection: Option<&Rejection>) -> Response {
        challenge_response(&self.validator.trust().load(), rejection)
    }
}

/// Builds the 401 answer: `WWW-Authenticate: Bearer realm=…,client_id=…,trusted_issuers=…[,error=…]`,
/// plus `x-ms-diagnostics` and a JSON body when a token was refused.
pub fn challenge_response(snapshot: &TrustSnapshot, rejection: Option<&Rejection>) -> Response {
    let challenge = BearerChallenge {
        realm: (!snapshot.local.realm.is_empty()).then(|| snapshot.local.realm.clone()),
        client_id: snapshot.local.app_id.clone(),
        trusted_issuers: snapshot.trusted_issuers(),
        authorization_uri: None,
        error: rejection.map(|_| "invalid_token".to_owned()),
    };
    let body = match rejection {
        Some(r) => serde_json::json!({
            "error": "invalid_token",
            "error_description": r.detail,
            "reason": r.reason(),
            "code": r.code(),
        }),
        None => serde_json::json!({"error": "invalid_request", "error_description": "a bearer token is required"}),
    };
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&challenge.to_header_value()) {
        headers.insert(WWW_AUTHENTICATE, v);
    }
    if let Some(r) = rejection
        && let Ok(v) = HeaderValue::from_str(&r.diagnostics())
    {
        headers.insert(X_MS_DIAGNOSTICS, v);
    }
    response
}

/// The 401 for a token that validated but names nobody the service can act for (an act-as user
/// or a linked account that does not resolve): the same Bearer challenge with
/// `error="invalid_token"`, and `x-ms-diagnostics: <code>;reason="<reason>";error_category="<category>"`.
pub fn unresolved_caller_response(snapshot: &TrustSnapshot, code: u32, reason: &str, category: &str) -> Response {
    let challenge = BearerChallenge {
        realm: (!snapshot.local.realm.is_empty()).then(|| snapshot.local.realm.clone()),
        client_id: snapshot.local.app_id.clone(),
        trusted_issuers: snapshot.trusted_issuers(),
        authorization_uri: None,
        error: Some("invalid_token".to_owned()),
    };
    let body = serde_json::json!({"error": "invalid_token", "error_description": reason, "code": code});
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&challenge.to_header_value()) {
        headers.insert(WWW_AUTHENTICATE, v);
    }
    let diagnostics = crate::validate::diagnostics_header(code, reason, category);
    if let Ok(v) = HeaderValue::from_str(&diagnostics) {
        headers.insert(X_MS_DIAGNOSTICS, v);
    }
    response
}

/// The authority a request was addressed to: `Host`, else the URI's.
pub fn request_authority(parts_uri: &http::Uri, headers: &http::HeaderMap) -> String {
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts_uri.authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default()
}

/// What the `Authorization` header holds.
enum Presented<'a> {
    None,
    EmptyBearer,
    Bearer(&'a str),
}

fn presented(headers: &http::HeaderMap) -> Presented<'_> {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return Presented::None };
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() { Presented::EmptyBearer } else { Presented::Bearer(token) }
        }
        None if value.eq_ignore_ascii_case("bearer") => Presented::EmptyBearer,
        _ => Presented::None,
    }
}

/// The tower layer.
#[derive(Clone, Debug)]
pub struct S2sLayer {
    auth: S2sAuth,
}

impl S2sLayer {
    /// A layer validating with `auth`.
    pub fn new(auth: S2sAuth) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for S2sLayer {
    type Service = S2sService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        S2sService { inner, auth: self.auth.clone() }
    }
}

/// The service `S2sLayer` wraps around an inner one.
#[derive(Clone, Debug)]
pub struct S2sService<S> {
    inner: S,
    auth: S2sAuth,
}

/// The outcome the layer leaves in request extensions for `Caller`.
#[derive(Clone, Debug)]
enum Outcome {
    Accepted(Arc<Validated>),
    Absent,
}

impl<S, B> Service<Request<B>> for S2sService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let auth = self.auth.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let outcome = match presented(req.headers()) {
                Presented::None => Outcome::Absent,
                Presented::EmptyBearer => return Ok(auth.challenge_response(None)),
                Presented::Bearer(token) => {
                    let authority = request_authority(req.uri(), req.headers());
                    match auth.authenticate(token, &authority).await {
                        Ok(v) => Outcome::Accepted(v),
                        Err(rejection) => {
                            tracing::info!(
                                reason = rejection.reason(),
                                code = rejection.code(),
                                partner = rejection.partner.as_deref().unwrap_or(""),
                                detail = ?rejection.detail,
                                "bearer token refused"
                            );
                            metrics::counter!("s2s_validation_rejected_total", "reason" => rejection.reason())
                                .increment(1);
                            return Ok(auth.challenge_response(Some(&rejection)));
                        }
                    }
                }
            };
            req.extensions_mut().insert(outcome);
            req.extensions_mut().insert(auth);
            inner.call(req).await
        })
    }
}

/// The authenticated caller of a request behind `S2sLayer`; rejects with the challenge when none.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Validated>);

/// The refusal `Caller` produces.
#[derive(Debug)]
pub struct Unauthenticated(Response);

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Outcome>() {
            Some(Outcome::Accepted(v)) => Ok(Self(Arc::clone(v))),
            _ => match parts.extensions.get::<S2sAuth>() {
                Some(auth) => Err(Unauthenticated(auth.challenge_response(None))),
                None => Err(Unauthenticated(
                    (StatusCode::INTERNAL_SERVER_ERROR, "the Caller extractor needs S2sLayer on the route")
                        .into_response(),
                )),
            },
        }
    }
}
