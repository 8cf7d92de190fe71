//! Reading a token request: every body shape real clients send (client secret with `resource`
//! and/or `scope`, the legacy `http://oauth.net/grant_type/jwt/1.0/bearer` assertion, RFC 7523
//! `client_assertion`, the client secret in `Authorization: Basic`) becomes one typed
//! [`TokenRequest`].
//!
//! Form bodies are size-limited before parsing and parsed by hand (`url::form_urlencoded`) so that
//! every defect gets a precise answer: unknown fields and any query string are ignored, a repeated
//! known field is refused (RFC 6749 §3.2), empty values count as absent. Nothing here decides
//! whether the request is granted (`grant.rs` does), and nothing here logs what it reads.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use s2s::token::Assertion;
use zeroize::Zeroizing;

use super::error::{OAuthError, malformed};

/// Largest token request body read.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

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

impl TokenRequest {
    /// The application id the request claims, before anything is verified: for the failure counter
    /// and the log. Only a GUID (lower case) is returned — anything else names no client this
    /// authority could have, and is never logged.
    pub fn claimed_client(&self) -> Option<String> {
        let from_assertion = || {
            let token = self.client_assertion.as_deref().or(self.assertion.as_deref())?;
            let a = Assertion::decode(token).ok()?;
            a.claims.iss.or(a.claims.sub)
        };
        let id = self.client_id.clone().or_else(from_assertion)?;
        let app = id.rsplit_once('@').map_or(id.as_str(), |(app, _)| app).trim().to_ascii_lowercase();
        s2s::principal::is_guid(&app).then_some(app)
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

/// Reads the request: its content type, its body (at most [`MAX_FORM_BYTES`]) and any
/// `Authorization: Basic` client credentials.
pub async fn read(headers: &HeaderMap, body: Body) -> Result<TokenRequest, OAuthError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let mime = ct.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            // The header is the client's: named only when it is a plain media type.
            let token = |s: &str| {
                !s.is_empty()
                    && s.len() <= 64
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
            };
            let shown = match mime.split_once('/') {
                Some((a, b)) if token(a) && token(b) => format!("`{mime}`"),
                _ => "not a media type".to_owned(),
            };
            return Err(malformed(format!(
                "the body's Content-Type is {shown}; token requests are application/x-www-form-urlencoded forms"
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

fn repeated(name: &str) -> OAuthError {
    malformed(format!("the parameter {name} appears more than once"))
}

fn not_utf8(name: &str) -> OAuthError {
    malformed(format!("the parameter {name} is not UTF-8 text once percent-decoded"))
}
