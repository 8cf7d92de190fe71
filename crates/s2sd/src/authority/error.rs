//! The token endpoint's refusals: the OAuth `error` values it answers with, [`OAuthError`] (the
//! value, ACS number and description of one refusal), and the one place a refusal becomes HTTP
//! ([`OAuthError::into_response`]: status, OAuth error JSON, no caching).
//!
//! Descriptions name the missing piece and the `s2sd` command that adds it. Error numbers follow
//! Entra ID's `AADSTS` numbers where one fits, with ACS's `ACS` prefix. A description never
//! carries a secret, an assertion or a token, nor any value of the request that was not first
//! validated: a refusal names the field, and shows its value only when it is a word of a fixed
//! vocabulary or passed a strict check (a GUID, a DNS name) — a secret smuggled into another field
//! (a body with `;` separators) or a line break meant to forge a log line is never repeated.
//! Nothing here decides whether a request is granted.

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

/// A token request to a realm this authority does not serve (90002). The realm comes from the URL:
/// it is shown only when it is a GUID or a DNS name.
pub(super) fn unknown_tenant(realm: &str) -> OAuthError {
    let text = if is_realm(realm) {
        format!("unknown tenant {realm}: this authority has no such realm (s2sd tenant new --realm {realm})")
    } else {
        "unknown tenant: the realm in the token URL is not a tenant of this authority (a realm is a GUID: s2sd tenant list)"
            .to_owned()
    };
    OAuthError::new(ErrorCode::InvalidRequest, 90002, text)
}

/// True for a value safe to show as a realm: a GUID or a DNS name (letters, digits, `-`, dots).
pub(super) fn is_realm(s: &str) -> bool {
    s2s::principal::is_guid(s) || is_dns_name(s)
}

/// True for a DNS name: 1–253 characters, labels of 1–63 letters, digits, `-` or `_`.
pub(super) fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `Cache-Control: no-store` and `Pragma: no-cache`: token answers, granted or refused.
pub(super) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
