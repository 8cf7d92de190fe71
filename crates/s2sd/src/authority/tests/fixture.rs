//! The authority in-process: a node identity (issuer certificate, metadata document), a tenant
//! with service principals and credentials published as a configuration, a fixed clock, and the
//! authority's routes; requests go through `tower::ServiceExt::oneshot`, answers are read back
//! as JSON.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use s2s::client::Issuer;
use s2s::clock::FixedClock;
use s2s::partner::{LocalIdentity, Partner, PartnerKind, TrustLevel, TrustStore};
use s2s::principal::{ACS, EXCHANGE, SHAREPOINT};
use s2s::token::{Algorithm, SigningKey, VerifyingKey, jws, thumbprint};
use s2s::validate::Validator;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::{CLIENT, DISABLED, EXPIRED, FUTURE, HOST, NOW, REALM, SP_HOST, TOKEN_PATH, TOKEN_URL, form, resource};
use crate::authority::endpoint::{self, AuthorityState};
use crate::authority::grant::{CLIENT_ASSERTION_TYPE_JWT, GRANT_JWT_BEARER_LEGACY};
use crate::authority::{Authority, generate_pepper, generate_secret, secret_hash};
use crate::store::authority::{
    AuthoritySnapshot, CredentialKind, CredentialRecord, ServicePrincipalRecord, TenantRecord,
};
use crate::store::{CertificateRecord, CertificateRole, OAuthConfig};

/// RSA keys made once per test binary (generation is the slow part).
pub(super) struct Keys {
    pub node_der: Vec<u8>,
    pub node_pkcs8: Vec<u8>,
    pub client: (Vec<u8>, Vec<u8>),
    pub stranger: (Vec<u8>, Vec<u8>),
}

pub(super) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let at = time::OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        let node = crate::issuer::generate("litwareinc.com", &[], 2048, 730, at).unwrap();
        Keys {
            node_der: node.cert_der.clone(),
            node_pkcs8: node.key_pkcs8.to_vec(),
            client: client_certificate("client.litwareinc.com"),
            stranger: client_certificate("stranger.example"),
        }
    })
}

/// (PKCS#8, DER) of a self-signed RSA certificate valid a day either side of NOW.
fn client_certificate(cn: &str) -> (Vec<u8>, Vec<u8>) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 86_400).unwrap();
    let der = params.self_signed(&kp).unwrap().der().to_vec();
    (kp.serialize_der(), der)
}

fn signing_key((pkcs8, der): &(Vec<u8>, Vec<u8>)) -> SigningKey {
    SigningKey::from_pkcs8(pkcs8, der).unwrap()
}

pub(super) struct Fixture {
    pub authority: Arc<Authority>,
    pub state: AuthorityState,
    pub router: Router,
    /// The configuration in force; change it and [`Fixture::publish`] it.
    pub records: AuthoritySnapshot,
    pub secret: String,
    pub clock: Arc<FixedClock>,
}

impl Fixture {
    /// Puts `records` in force as the next configuration version (what a reload of a changed
    /// store does).
    pub fn publish(&mut self) {
        self.records.version += 1;
        self.authority.publish(&self.records);
    }
}

pub(super) fn sp(app_id: &str, enabled: bool, spns: &[String]) -> ServicePrincipalRecord {
    ServicePrincipalRecord {
        tenant: REALM.into(),
        app_id: app_id.into(),
        display_name: format!("App {app_id}"),
        enabled,
        spns: spns.to_vec(),
        created_at: NOW,
        updated_at: NOW,
    }
}

pub(super) fn secret_credential(n: u8, app_id: &str, hash: Vec<u8>, start_at: i64, end_at: i64) -> CredentialRecord {
    CredentialRecord {
        id: format!("00000000-0000-4000-8000-0000000000{n:02x}"),
        tenant: REALM.into(),
        app_id: app_id.into(),
        kind: CredentialKind::Symmetric,
        usage: "verify".into(),
        secret_hash: Some(hash),
        certificate_der: None,
        thumbprint: None,
        start_at,
        end_at,
        created_at: NOW,
    }
}

/// The configuration of tenant REALM: the client CLIENT (a secret and the client certificate),
/// SharePoint as a resource with SPNs `sp.contoso.com` and `*.contoso.com`, a disabled Exchange,
/// and clients whose secret expired, is not yet valid, or which are disabled (all with the same
/// secret, returned).
pub(super) fn configuration() -> (AuthoritySnapshot, String) {
    let k = keys();
    let pepper = generate_pepper().unwrap();
    let secret = generate_secret().unwrap().to_string();
    let hash = secret_hash(&pepper, &secret);
    let spns = [format!("{SHAREPOINT}/{SP_HOST}"), format!("{SHAREPOINT}/*.contoso.com")];
    let mut service_principals =
        vec![sp(SHAREPOINT, true, &spns), sp(EXCHANGE, false, &[format!("{EXCHANGE}/mail.contoso.com")])];
    for (app, enabled) in [(CLIENT, true), (EXPIRED, true), (FUTURE, true), (DISABLED, false)] {
        service_principals.push(sp(app, enabled, &[]));
    }
    let mut credentials: Vec<CredentialRecord> = [
        (1, CLIENT, NOW - 100, NOW + 86_400),
        (2, EXPIRED, NOW - 86_400, NOW - 10),
        (3, FUTURE, NOW + 3600, NOW + 86_400),
        (4, DISABLED, NOW - 100, NOW + 86_400),
    ]
    .into_iter()
    .map(|(n, app, start, end)| secret_credential(n, app, hash.clone(), start, end))
    .collect();
    credentials.push(CredentialRecord {
        id: "00000000-0000-4000-8000-0000000000cc".into(),
        kind: CredentialKind::Asymmetric,
        secret_hash: None,
        certificate_der: Some(k.client.1.clone()),
        thumbprint: Some(thumbprint::hex_thumbprint(&k.client.1)),
        ..secret_credential(5, CLIENT, Vec::new(), NOW - 86_400, NOW + 86_400)
    });
    let records = AuthoritySnapshot {
        version: 1,
        tenants: vec![TenantRecord { realm: REALM.into(), name: "Litware".into(), created_at: NOW }],
        service_principals,
        credentials,
        pepper: Some(pepper),
    };
    (records, secret)
}

/// A node (realm litwareinc.com, issuer certificate) whose authority serves [`configuration`].
pub(super) fn fixture() -> Fixture {
    fixture_on(None)
}

/// The same node over `store` (where it spends assertions; its configuration is published from
/// memory, as in [`fixture`]).
pub(super) fn fixture_on(store: Option<Arc<dyn crate::store::authority::AuthorityStore>>) -> Fixture {
    let k = keys();
    let config = OAuthConfig {
        realm: "litwareinc.com".into(),
        service_name: "00000007-0000-4000-8000-000000000000".into(),
        hostnames: vec![HOST.into()],
        additional_realms: Vec::new(),
        exchange_autodiscover_url: None,
        auto_renew: None,
    };
    let certificate = CertificateRecord {
        thumbprint: thumbprint::hex_thumbprint(&k.node_der),
        role: CertificateRole::Current,
        cert_der: k.node_der.clone(),
        private_key_pkcs8: Some(k.node_pkcs8.clone()),
        not_before: NOW - 86_400,
        not_after: NOW + 730 * 86_400,
        effective_at: None,
        created_at: NOW,
    };
    let node = crate::trust::build(1, Some(&config), &[certificate], &[], NOW);
    let (records, secret) = configuration();
    let clock = Arc::new(FixedClock::new(NOW));
    let authority = Arc::new(Authority::new(store, clock.clone()));
    authority.publish(&records);
    assert!(authority.snapshot().warnings.is_empty(), "{:?}", authority.snapshot().warnings);
    let issuer = Arc::new(Issuer::new(node.issuer, clock.clone()));
    let state = AuthorityState::new(Arc::clone(&authority), issuer, Arc::new(ArcSwap::from_pointee(node.metadata)));
    let router = endpoint::routes().with_state(state.clone());
    Fixture { authority, state, router, records, secret, clock }
}

pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: Value,
}

impl Answer {
    /// Asserts an OAuth error `error` whose description contains every one of `needles`.
    #[track_caller]
    pub fn refused(&self, error: &str, needles: &[&str]) {
        let expected = if error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
        assert_eq!(self.status, expected, "{}", self.json);
        assert_eq!(self.json["error"], error, "{}", self.json);
        let description = self.json["error_description"].as_str().unwrap();
        assert!(description.starts_with("ACS"), "{description}");
        for n in needles {
            assert!(description.contains(n), "`{n}` missing from: {description}");
        }
        assert_eq!(self.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    }

    #[track_caller]
    pub fn issued(&self) -> String {
        assert_eq!(self.status, StatusCode::OK, "{}", self.json);
        self.json["access_token"].as_str().unwrap().to_owned()
    }
}

pub(super) async fn send(router: &Router, request: Request<Body>) -> Answer {
    read(router.clone().oneshot(request).await.unwrap()).await
}

/// The status, headers and JSON (or text, as a JSON string) of `response`.
pub(super) async fn read(response: Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Answer { status, headers, json }
}

pub(super) async fn post_to(router: &Router, path: &str, body: String) -> Answer {
    let request = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(router, request).await
}

pub(super) async fn post(f: &Fixture, pairs: &[(&str, &str)]) -> Answer {
    post_to(&f.router, TOKEN_PATH, form(pairs)).await
}

pub(super) async fn get(f: &Fixture, path: &str) -> Answer {
    send(&f.router, Request::get(path).header(header::HOST, HOST).body(Body::empty()).unwrap()).await
}

pub(super) async fn with_secret(f: &Fixture, client: &str, secret: &str) -> Answer {
    let client_id = format!("{client}@{REALM}");
    post(
        f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", secret),
            ("resource", &resource()),
        ],
    )
    .await
}

/// A client assertion signed with `key` under `alg` (RS256 + x5t or PS256 + x5t#S256).
pub(super) fn assertion(key: &(Vec<u8>, Vec<u8>), alg: Algorithm, claims: Value) -> String {
    let mut header = jws::Header { typ: Some("JWT".into()), alg: alg.name().into(), ..Default::default() };
    match alg {
        Algorithm::Rs256 => header.x5t = Some(thumbprint::x5t(&key.1)),
        Algorithm::Ps256 => header.x5t_s256 = Some(thumbprint::x5t_s256(&key.1)),
    }
    jws::sign(&header, &claims, &signing_key(key)).unwrap()
}

/// RFC 7523 claims: iss = sub = the bare client id, aud the token URL, 10 minutes, a jti.
pub(super) fn rfc7523_claims(jti: &str) -> Value {
    json!({"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "jti": jti, "nbf": NOW - 5, "exp": NOW + 600, "iat": NOW - 5})
}

/// Exchange's legacy claims: iss `<app>@<realm>`, aud the ACS principal at our host.
pub(super) fn legacy_claims() -> Value {
    json!({"iss": format!("{CLIENT}@{REALM}"), "aud": format!("{ACS}/{HOST}@{REALM}"), "nbf": NOW - 5, "exp": NOW + 600})
}

pub(super) async fn with_client_assertion(f: &Fixture, token: &str) -> Answer {
    post(
        f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
            ("client_assertion", token),
            ("resource", &resource()),
        ],
    )
    .await
}

pub(super) async fn with_legacy_assertion(f: &Fixture, token: &str) -> Answer {
    post(f, &[("grant_type", GRANT_JWT_BEARER_LEGACY), ("assertion", token), ("resource", &resource())]).await
}

/// A resource server (SharePoint in REALM) that trusts the authority's certificate as an auth
/// server and takes CLIENT's tokens from it.
pub(super) fn resource_server() -> Validator {
    let local = LocalIdentity { app_id: SHAREPOINT.into(), realm: REALM.into(), ..Default::default() };
    let partner = |name: &str, app_id: &str, kind, use_auth_server, keys| Partner {
        name: name.into(),
        app_id: app_id.into(),
        realm: REALM.into(),
        trust_level: TrustLevel::Full,
        enabled: true,
        accept_security_identifier_information: false,
        metadata: None,
        keys,
        refresh_interval: None,
        linked_account: None,
        kind,
        use_auth_server,
    };
    let authority_key = Arc::new(VerifyingKey::from_certificate(&keys().node_der).unwrap());
    let trust = TrustStore::new(
        local,
        vec![
            Arc::new(partner("LitwareAuthority", ACS, PartnerKind::AuthServer, false, vec![authority_key])),
            Arc::new(partner("ClientApp", CLIENT, PartnerKind::Application, true, Vec::new())),
        ],
    );
    Validator::new(Arc::new(trust), Arc::new(FixedClock::new(NOW + 60)))
}
