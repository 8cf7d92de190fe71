#![allow(clippy::unwrap_used, clippy::expect_used)]

//! What the authority publishes about a tenant: its metadata document, OpenID discovery, JWKS.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use base64::Engine as _;
use s2s::principal::ACS;
use s2s::token::thumbprint;
use serde_json::{Value, json};

use super::fixture::*;
use super::{CLIENT, HOST, NOW, REALM, TOKEN_URL, resource};
use crate::authority::discovery::metadata_for_query;

fn host() -> HeaderMap {
    HeaderMap::from_iter([(header::HOST, HeaderValue::from_static(HOST))])
}

#[tokio::test]
async fn tenant_metadata_discovery_and_keys() {
    let f = fixture();
    let node_x5t = thumbprint::x5t(&keys().node_der);
    for path in [
        format!("/{REALM}/metadata/json/1"),
        format!("/{REALM}/metadata/json/1?realm={REALM}"),
        format!("/metadata/json/1?realm={REALM}"),
    ] {
        let doc = match path.strip_prefix("/metadata/json/1") {
            // The node's own metadata path: the server asks the authority first.
            Some(_) => read(metadata_for_query(&f.state, &path.parse().unwrap(), &host()).unwrap()).await,
            None => get(&f, &path).await,
        };
        assert_eq!(doc.status, StatusCode::OK, "{path}");
        let parsed = s2s::metadata::MetadataDocument::parse(doc.json.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.issuer.as_deref(), Some(format!("{ACS}@{REALM}").as_str()), "{path}");
        assert_eq!(parsed.realm.as_deref(), Some(REALM));
        assert_eq!(parsed.service_name.as_deref(), Some(ACS));
        assert_eq!(parsed.token_endpoint(), Some(TOKEN_URL), "node-sp-auth hangs without an OAuth2 endpoint");
        assert_eq!(doc.json["endpoints"][0]["usage"], "issuance");
        assert_eq!(parsed.keys[0].x5t, node_x5t);
        assert!(parsed.allowed_audiences.contains(&format!("{ACS}/{HOST}@{REALM}")));
        // What a resource server registering the authority needs.
        parsed.check(NOW).unwrap();
    }
    // Without a tenant realm in the query, the node's own document is served (the server's).
    for path in ["/metadata/json/1", "/metadata/json/1?realm=litwareinc.com", "/metadata/json/1?x=1"] {
        assert!(metadata_for_query(&f.state, &path.parse().unwrap(), &host()).is_none(), "{path}");
    }
    let unknown = get(&f, "/0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11/metadata/json/1").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.json["error_description"].as_str().unwrap().contains("s2sd tenant new --realm"));

    let oidc = get(&f, &format!("/{REALM}/v2.0/.well-known/openid-configuration")).await.json;
    assert_eq!(oidc["token_endpoint"], TOKEN_URL);
    assert_eq!(oidc["issuer"], format!("https://{HOST}/{REALM}/v2.0"));
    assert_eq!(oidc["token_endpoint_auth_methods_supported"][0], "client_secret_post");
    assert!(oidc["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("private_key_jwt")));
    assert_eq!(oidc["id_token_signing_alg_values_supported"], json!(["RS256"]));
    let jwks_uri = oidc["jwks_uri"].as_str().unwrap();
    assert_eq!(jwks_uri, format!("https://{HOST}/{REALM}/discovery/keys"));
    let jwks = get(&f, &format!("/{REALM}/discovery/keys")).await.json;
    let key = &jwks["keys"][0];
    assert_eq!((key["kty"].as_str(), key["use"].as_str()), (Some("RSA"), Some("sig")));
    assert_eq!(key["kid"], node_x5t);
    assert_eq!(key["x5t"], node_x5t);
    assert_eq!(key["e"], "AQAB");
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 256, "an RSA-2048 modulus without a leading zero");
    let x5c = base64::engine::general_purpose::STANDARD.decode(key["x5c"][0].as_str().unwrap()).unwrap();
    assert_eq!(x5c, keys().node_der);
    // A token the authority issued verifies with jsonwebtoken from these n/e alone.
    let token = with_secret(&f, CLIENT, &f.secret).await.issued();
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), "AQAB").unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[resource()]);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
}
