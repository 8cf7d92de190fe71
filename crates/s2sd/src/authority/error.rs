//! The token endpoint's refusals: the OAuth `error` values it answers with, [`OAuthError`] (the
//! value, ACS number and description of one refusal), and the one place a refusal becomes HTTP
//! ([`OAuthError::into_response`]: status, OAuth error JSON, no caching).
//!
//! Descriptions name the missing piece and the `s2sd` command that adds it. Error numbers follow
//! Entra ID's `AADSTS` numbers where one fits, with ACS's `ACS` prefix. A description never
//! carries a secret, an assertion or a token. Nothing here decides whether a request is granted.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

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
    pub(super) fn new(error: ErrorCode, number: u32, text: impl Into<String>) -> Self {
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

/// A request this endpoint cannot read as it is (90013).
pub(super) fn malformed(text: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, 90013, text)
}

/// A request without a piece it needs (90014).
pub(super) fn missing(text: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, 90014, text)
}

/// A token request to a realm this authority does not serve (90002).
pub(super) fn unknown_tenant(realm: &str) -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequest,
        90002,
        format!("unknown tenant {realm}: this authority has no such realm (s2sd tenant new --realm {realm})"),
    )
}

/// `Cache-Control: no-store` and `Pragma: no-cache`: token answers, granted or refused.
pub(super) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
