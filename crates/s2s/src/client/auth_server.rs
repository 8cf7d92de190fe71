//! Actor tokens from an authorization server (ACS and compatible): we authenticate with a
//! certificate assertion signed by our issuer key (`grant_type=http://oauth.net/grant_type/jwt/1.0/bearer`,
//! as Exchange and Lync do in hybrid deployments), and cache each token per resource until a minute
//! before its `expires_on`. Wrap a token in an outer token with `Issuer::act_as_with_actor` to act
//! for a user.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use quick_cache::sync::Cache;
use serde::Serialize;

use crate::clock::{SharedClock, UnixTime};
use crate::principal::{ACS, Principal};
use crate::token::{SigningKey, TokenError, jws};

/// Lifetime of our assertions (Exchange uses 10 minutes).
pub const ASSERTION_LIFETIME: i64 = 600;
/// The legacy JWT bearer grant type S2S hybrid callers use.
pub const JWT_BEARER_GRANT: &str = "http://oauth.net/grant_type/jwt/1.0/bearer";
/// Largest token response read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why no token came back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthServerError {
    /// The token URL is not usable.
    #[error("token endpoint `{0}` is not an https URL with a host")]
    BadUrl(String),
    /// Signing the assertion failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Connection, TLS or timeout.
    #[error("authorization server {url} is unreachable: {detail}")]
    Unreachable {
        /// The token URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// An OAuth error answer.
    #[error("authorization server refused the token request (HTTP {status}, {error}): {description}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The OAuth `error`.
        error: String,
        /// The `error_description`.
        description: String,
    },
    /// A 2xx answer that is not a token response.
    #[error("authorization server answered something that is not a token response: {0}")]
    BadResponse(String),
}

#[derive(Debug)]
struct Cached {
    token: Arc<str>,
    refresh_at: UnixTime,
}

/// A client of one authorization server's token endpoint, for one tenant.
pub struct AuthServerClient {
    http: reqwest::Client,
    token_url: url::Url,
    tenant: String,
    clock: SharedClock,
    cache: Cache<String, Arc<Cached>>,
}

impl std::fmt::Debug for AuthServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServerClient")
            .field("token_url", &self.token_url.as_str())
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl AuthServerClient {
    /// A client of `token_url` (from the server's metadata: the `OAuth2` endpoint) for `tenant`.
    pub fn new(
        token_url: &str,
        tenant: &str,
        http: reqwest::Client,
        clock: SharedClock,
    ) -> Result<Self, AuthServerError> {
        let url = url::Url::parse(token_url).map_err(|_| AuthServerError::BadUrl(token_url.to_owned()))?;
        if url.host_str().is_none() || !matches!(url.scheme(), "https" | "http") {
            return Err(AuthServerError::BadUrl(token_url.to_owned()));
        }
        Ok(Self { http, token_url: url, tenant: tenant.to_ascii_lowercase(), clock, cache: Cache::new(1024) })
    }

    /// An actor token for calling `resource` (`<appId>/<host>@<tenant>`) as application `client_app_id`,
    /// authenticated by an assertion signed with `key`. Cached until a minute before it expires.
    pub async fn actor_token(
        &self,
        key: &SigningKey,
        client_app_id: &str,
        resource: &Principal,
    ) -> Result<Arc<str>, AuthServerError> {
        let cache_key = format!("{client_app_id}|{}|{resource}", key.x5t());
        let now = self.clock.now();
        if let Some(hit) = self.cache.get(&cache_key).filter(|c| now < c.refresh_at) {
            return Ok(Arc::clone(&hit.token));
        }
        let assertion = self.assertion(key, client_app_id, now)?;
        let resource_text = resource.to_string();
        let form =
            [("grant_type", JWT_BEARER_GRANT), ("assertion", assertion.as_str()), ("resource", resource_text.as_str())];
        let url = self.token_url.as_str().to_owned();
        let unreachable = |e: reqwest::Error| AuthServerError::Unreachable { url: url.clone(), detail: e.to_string() };
        let mut response = self
            .http
            .post(self.token_url.clone())
            .header("client-request-id", request_id())
            .form(&form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(AuthServerError::BadResponse(format!("more than {MAX_RESPONSE_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| AuthServerError::BadResponse(format!("HTTP {status}, not JSON")))?;
        if !status.is_success() || json.get("error").is_some() {
            return Err(AuthServerError::Refused {
                status: status.as_u16(),
                error: json["error"].as_str().unwrap_or("unknown").to_owned(),
                description: json["error_description"].as_str().unwrap_or_default().to_owned(),
            });
        }
        let token: Arc<str> =
            json["access_token"].as_str().ok_or_else(|| AuthServerError::BadResponse("no access_token".into()))?.into();
        // Derive expiry from expires_on (not not_before + expires_in): numbers or strings.
        let number = |v: &serde_json::Value| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
        let expires_on =
            number(&json["expires_on"]).or_else(|| number(&json["expires_in"]).map(|s| now + s)).unwrap_or(now + 300);
        self.cache.insert(cache_key, Arc::new(Cached { token: Arc::clone(&token), refresh_at: expires_on - 60 }));
        Ok(token)
    }

    /// Our assertion: `iss` = `<app>@<tenant>`, `aud` = the ACS principal at the token endpoint's host.
    fn assertion(&self, key: &SigningKey, client_app_id: &str, now: UnixTime) -> Result<String, TokenError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            aud: String,
            iss: &'a str,
            nbf: UnixTime,
            exp: UnixTime,
            jti: String,
        }
        let iss = format!("{}@{}", client_app_id.to_ascii_lowercase(), self.tenant);
        let host = self.token_url.host_str().unwrap_or_default();
        let authority = match self.token_url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let claims = Claims {
            aud: Principal::audience(ACS, &authority, &self.tenant).to_string(),
            iss: &iss,
            nbf: now - 60,
            exp: now + ASSERTION_LIFETIME,
            jti: request_id(),
        };
        let header = jws::Header {
            typ: Some("JWT".into()),
            alg: key.algorithm().name().into(),
            x5t: Some(key.x5t().into()),
            ..Default::default()
        };
        jws::sign(&header, &claims, key)
    }
}

/// A random id for `client-request-id` and `jti`.
fn request_id() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return "0".into();
    }
    URL_SAFE_NO_PAD.encode(bytes)
}
