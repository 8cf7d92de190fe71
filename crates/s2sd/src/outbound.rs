//! Calling partners: the `Authorization` header for a request to a partner application — our own
//! actor token, or, when our record of that partner says it takes tokens from an authorization
//! server, an actor token from our registered auth server (its token endpoint found in its
//! metadata, authenticated by a certificate assertion), wrapped in our outer token for act-as.

use std::time::Duration;

use s2s::client::Issuer;
use s2s::client::auth_server::{AuthServerClient, AuthServerError};
use s2s::clock::SharedClock;
use s2s::metadata::fetch::{FetchError, FetchOptions, fetch};
use s2s::principal::Principal;
use s2s::token::UserClaims;

use crate::store::{PartnerKind, PartnerRecord};

/// Why no `Authorization` header could be made.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Minting our own token failed.
    #[error(transparent)]
    Issue(#[from] s2s::client::IssueError),
    /// The partner takes tokens from an auth server, but none is registered.
    #[error(
        "partner {0} takes its tokens from an authorization server, but none is registered (s2sd auth-server new --name … --metadata-url …)"
    )]
    NoAuthServer(String),
    /// The auth server's metadata could not be read.
    #[error("cannot read auth server {name}'s metadata: {source}")]
    Metadata {
        /// The auth server.
        name: String,
        /// Why.
        source: FetchError,
    },
    /// The auth server's metadata names no token endpoint.
    #[error("auth server {0}'s metadata lists no OAuth2 token endpoint")]
    NoTokenEndpoint(String),
    /// The auth server's metadata names a token endpoint that is not https (plain http is allowed only by the server's flag).
    #[error(
        "auth server {name}'s token endpoint `{url}` is not https; our signed assertion never travels in clear text: publish the endpoint over https, or register the server with --allow-http-metadata (s2sd auth-server new … --allow-http-metadata) to accept it"
    )]
    InsecureTokenEndpoint {
        /// The auth server.
        name: String,
        /// The endpoint its metadata names.
        url: String,
    },
    /// The auth server refused or failed.
    #[error(transparent)]
    AuthServer(#[from] AuthServerError),
    /// The URL has no host.
    #[error("target URL `{0}` has no host")]
    NoHost(String),
}

/// The `Authorization` header value for calling `url` on `target`, for `user` if given.
pub async fn authorization(
    issuer: &Issuer,
    partners: &[PartnerRecord],
    target: &PartnerRecord,
    url: &url::Url,
    user: Option<&UserClaims>,
    clock: SharedClock,
) -> Result<String, OutboundError> {
    if !target.use_auth_server {
        return Ok(issuer.authorization(&target.application_id, url, user)?);
    }
    let server = partners
        .iter()
        .find(|p| p.kind == PartnerKind::AuthServer && p.enabled)
        .ok_or_else(|| OutboundError::NoAuthServer(target.name.clone()))?;
    let metadata_url =
        server.metadata_url.clone().ok_or_else(|| OutboundError::NoTokenEndpoint(server.name.clone()))?;
    let options = FetchOptions {
        allow_http: server.allow_http_metadata,
        ca_pem: server.tls_ca_pem.as_ref().map(|p| p.as_bytes().to_vec()),
        timeout: Duration::from_secs(10),
    };
    let doc = fetch(&metadata_url, &options)
        .await
        .map_err(|source| OutboundError::Metadata { name: server.name.clone(), source })?;
    let token_url = doc.token_endpoint().ok_or_else(|| OutboundError::NoTokenEndpoint(server.name.clone()))?.to_owned();
    check_token_endpoint(&server.name, &token_url, server.allow_http_metadata)?;
    let identity = issuer.identity();
    let key = identity.key.clone().ok_or(s2s::client::IssueError::NoSigningKey)?;
    let mut http = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(pem) = &server.tls_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| OutboundError::Metadata {
            name: server.name.clone(),
            source: FetchError::BadCa(e.to_string()),
        })?;
        http = http.tls_certs_only(certs);
    }
    let http =
        http.build().map_err(|e| AuthServerError::Unreachable { url: token_url.clone(), detail: e.to_string() })?;
    let client = AuthServerClient::new(&token_url, &identity.realm, http, clock)?;
    let host = url.host_str().ok_or_else(|| OutboundError::NoHost(url.to_string()))?;
    let authority = url.port().map_or_else(|| host.to_owned(), |p| format!("{host}:{p}"));
    let resource = Principal::audience(&target.application_id, &authority, &identity.realm);
    let actor = client.actor_token(&key, &identity.app_id, &resource).await?;
    Ok(match user {
        Some(u) => format!("Bearer {}", issuer.act_as_with_actor(&actor, u)?),
        None => format!("Bearer {actor}"),
    })
}

/// Refuses a token endpoint our assertion would reach in clear text (unless `allow_http`). Anything
/// that is not an https URL is refused: the endpoint comes from a document a third party serves.
fn check_token_endpoint(name: &str, token_url: &str, allow_http: bool) -> Result<(), OutboundError> {
    let scheme = url::Url::parse(token_url).map(|u| u.scheme().to_owned()).unwrap_or_default();
    match scheme.as_str() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        _ => Err(OutboundError::InsecureTokenEndpoint { name: name.to_owned(), url: token_url.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_endpoint_must_be_https_unless_allowed() {
        assert!(check_token_endpoint("acs", "https://acs.example/tokens/OAuth/2", false).is_ok());
        let refused = check_token_endpoint("acs", "http://acs.example/tokens/OAuth/2", false).unwrap_err();
        assert!(matches!(refused, OutboundError::InsecureTokenEndpoint { .. }));
        assert!(refused.to_string().contains("--allow-http-metadata"), "{refused}");
        assert!(check_token_endpoint("acs", "http://acs.example/tokens/OAuth/2", true).is_ok());
        for odd in ["ftp://acs.example/t", "not a url", ""] {
            assert!(check_token_endpoint("acs", odd, true).is_err(), "{odd}");
        }
    }
}
