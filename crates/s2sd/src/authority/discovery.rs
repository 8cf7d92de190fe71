//! What the authority publishes about a tenant, over HTTP: its metadata document (the node's
//! published certificates under the ACS principal in the tenant's realm, and the token endpoint at
//! the authority the client used), OpenID discovery, and the JWKS of the signing certificates.
//!
//! Read-only: nothing here issues a token or changes the configuration. An unknown tenant is a
//! 404 with the command that creates it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use s2s::metadata::{Endpoint, MetadataDocument, PROTOCOL_OAUTH2};
use s2s::middleware::request_authority;
use s2s::principal::ACS;

use super::endpoint::AuthorityState;
use super::grant::{GRANT_CLIENT_CREDENTIALS, GRANT_JWT_BEARER_LEGACY};
use super::{Authority, Tenant};

/// `GET /{realm}/metadata/json/1` (any query ignored).
pub async fn metadata(
    State(state): State<AuthorityState>,
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
pub fn metadata_for_query(state: &AuthorityState, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let realm = url::form_urlencoded::parse(uri.query()?.as_bytes()).find(|(k, _)| k == "realm").map(|(_, v)| v)?;
    let tenant = state.authority.tenant(&realm)?;
    Some(metadata_response(state, &tenant, &request_authority(uri, headers)))
}

/// `GET /{realm}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(state): State<AuthorityState>,
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
pub async fn jwks(State(state): State<AuthorityState>, Path(realm): Path<String>) -> Response {
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

fn metadata_response(state: &AuthorityState, tenant: &Tenant, host: &str) -> Response {
    let doc = tenant_document(&state.authority, &state.metadata.load(), tenant, host);
    ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], doc.to_json()).into_response()
}

fn tenant_not_found(realm: &str) -> Response {
    let body = serde_json::json!({
        "error": "not_found",
        "error_description": format!("unknown tenant {realm} (s2sd tenant new --realm {realm})"),
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
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
