#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The authority: SPN matching, form parsing of every body shape real clients send (interop.md
//! #2), the failure counter and replay memory, and the token endpoint in-process
//! (`tower::ServiceExt::oneshot` on `server::router` over a temporary SQLite store and a fixed
//! clock): every bad input answers its exact OAuth error with a description that names the fix,
//! successes answer interop.md #3's shape, and issued tokens validate at a resource server that
//! trusts this authority.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use s2s::clock::FixedClock;
use s2s::partner::{LocalIdentity, Partner, PartnerKind, TrustLevel, TrustStore};
use s2s::principal::{ACS, EXCHANGE, SHAREPOINT};
use s2s::token::{Algorithm, SigningKey, VerifyingKey, jws, thumbprint};
use s2s::validate::Validator;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::endpoint::{CLIENT_ASSERTION_TYPE_JWT, GRANT_JWT_BEARER_LEGACY, parse_form};
use super::*;
use crate::server::{self, AppState};
use crate::store::authority::{CredentialRecord, ServicePrincipalRecord, TenantRecord};
use crate::store::{CertificateRecord, CertificateRole, OAuthConfig};

const NOW: i64 = 1_900_000_000;
const REALM: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const HOST: &str = "sts.litwareinc.com";
const TOKEN_PATH: &str = "/72f988bf-86f1-41af-91ab-2d7cd011db47/tokens/OAuth/2";
const TOKEN_URL: &str = "https://sts.litwareinc.com/72f988bf-86f1-41af-91ab-2d7cd011db47/tokens/OAuth/2";
const CLIENT: &str = "c3ab8885-458f-4864-8804-1608145e2ac4";
const EXPIRED: &str = "e0000000-0000-4000-8000-000000000001";
const FUTURE: &str = "f0000000-0000-4000-8000-000000000001";
const DISABLED: &str = "d0000000-0000-4000-8000-000000000001";
const SP_HOST: &str = "sp.contoso.com";

fn resource() -> String {
    format!("{SHAREPOINT}/{SP_HOST}@{REALM}")
}

// ---------------------------------------------------------------------------------------------
// SPNs

#[test]
fn spns_match_exact_hosts_and_one_label_wildcards() {
    let exact = Spn::parse(SHAREPOINT, &format!("{SHAREPOINT}/SP.Contoso.com")).unwrap();
    assert_eq!(exact.text(), format!("{SHAREPOINT}/sp.contoso.com"));
    assert!(exact.matches("sp.contoso.com"));
    assert!(exact.matches("SP.CONTOSO.COM:443"), "an SPN without a port matches any port");
    assert!(!exact.matches("sp.contoso.com.evil.example"));
    assert!(!exact.matches("contoso.com"));

    let wild = Spn::parse(SHAREPOINT, "*.contoso.com").unwrap();
    assert_eq!(wild.text(), format!("{SHAREPOINT}/*.contoso.com"), "a bare host gets the app id");
    assert!(wild.matches("mail.contoso.com"));
    assert!(wild.matches("Mail.Contoso.com:8443"));
    assert!(!wild.matches("contoso.com"), "the wildcard stands for one label, not none");
    assert!(!wild.matches("a.b.contoso.com"), "…and not two");
    assert!(!wild.matches("evilcontoso.com"));

    let ported = Spn::parse(SHAREPOINT, "sp.contoso.com:8443").unwrap();
    assert!(ported.matches("sp.contoso.com:8443"));
    assert!(ported.matches("sp.contoso.com"), "a resource without a port is compared by host");
    assert!(!ported.matches("sp.contoso.com:443"));
    assert!(Spn::parse(SHAREPOINT, "127.0.0.1").unwrap().matches("127.0.0.1:50123"));
}

#[test]
fn spns_refuse_what_is_not_a_host_of_this_principal() {
    assert!(matches!(
        Spn::parse(SHAREPOINT, &format!("{EXCHANGE}/mail.contoso.com")),
        Err(SpnError::OtherAppId { .. })
    ));
    for bad in ["", "x/", "*", "a.*.contoso.com", "*contoso.com", "sp contoso.com", "sp.contoso.com:", "sp..com", "h@r"]
    {
        let text = if bad.starts_with("x/") { format!("{SHAREPOINT}/") } else { bad.to_owned() };
        assert!(Spn::parse(SHAREPOINT, &text).is_err(), "`{text}` was accepted");
    }
}

// ---------------------------------------------------------------------------------------------
// Form bodies, as the clients of interop.md #2 send them

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

#[test]
fn parses_every_body_shape_of_the_captures() {
    let secret = "3oJ+/f2x=";
    let client_id = format!("{CLIENT}@{REALM}");
    let resource = resource();
    let scope = format!("{resource}/.default");
    let extras = [
        ("client_info", "1"),
        ("x-client-SKU", "MSAL.Python"),
        ("x-client-Ver", "1.31.0"),
        ("x-client-OS", "linux"),
        ("client-request-id", "3f1c2a63-1b7a-4a55-9d0c-0f3b8c9a1d11"),
        ("return-client-request-id", "true"),
    ];
    let shapes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "client secret + resource",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", secret),
                ("resource", &resource),
            ],
        ),
        (
            "client secret + scope",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", secret),
                ("scope", &resource),
            ],
        ),
        (
            "client secret + scope + resource",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", secret),
                ("scope", &resource),
                ("resource", &resource),
            ],
        ),
        (
            "legacy assertion",
            vec![("grant_type", GRANT_JWT_BEARER_LEGACY), ("assertion", "a.b.c"), ("resource", &resource)],
        ),
        (
            "RFC 7523 client assertion",
            vec![
                ("client_id", CLIENT),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
                ("client_assertion", "a.b.c"),
                ("scope", &scope),
                ("grant_type", "client_credentials"),
            ],
        ),
    ];
    for (name, mut pairs) in shapes {
        pairs.extend(extras);
        let req = parse_form(form(&pairs).as_bytes()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        assert_eq!(req.grant_type, get("grant_type"), "{name}");
        assert_eq!(req.client_id, get("client_id"), "{name}");
        assert_eq!(req.client_secret.as_ref().map(|s| s.to_string()), get("client_secret"), "{name}");
        assert_eq!(req.client_assertion_type, get("client_assertion_type"), "{name}");
        assert_eq!(req.client_assertion, get("client_assertion"), "{name}");
        assert_eq!(req.assertion, get("assertion"), "{name}");
        assert_eq!(req.resource, get("resource"), "{name}");
        assert_eq!(req.scope, get("scope"), "{name}");
    }
    // Hand-written bodies: `+` is a space, `%2B` a plus; empty values count as absent.
    let req = parse_form(b"grant_type=client_credentials&client_secret=a%2Bb+c&resource=&unknown").unwrap();
    assert_eq!(req.client_secret.as_deref().map(String::as_str), Some("a+b c"));
    assert_eq!(req.resource, None);
    assert!(format!("{req:?}").contains("<redacted>") && !format!("{req:?}").contains("a+b c"), "Debug hides secrets");
}

#[test]
fn refuses_malformed_bodies() {
    for (body, why) in [
        (&b"grant_type=client_credentials&grant_type=client_credentials"[..], "appears more than once"),
        (b"client_secret=a&client_secret=b", "appears more than once"),
        (b"grant_type=\xff\xfe", "not UTF-8"),
        (b"grant_type=client%FF", "not UTF-8"),
    ] {
        let e = parse_form(body).unwrap_err();
        assert_eq!(e.error.as_str(), "invalid_request");
        assert!(e.description().contains(why), "{}", e.description());
    }
    let big = vec![b'a'; endpoint::MAX_FORM_BYTES + 1];
    assert!(parse_form(&big).unwrap_err().description().contains("at most"));
}

// ---------------------------------------------------------------------------------------------
// Memory: failing clients and replays

#[test]
fn failing_clients_wait_longer_and_longer_then_are_forgotten() {
    let a = Authority::new(None, Arc::new(FixedClock::new(NOW)));
    for i in 0..FAILURES_BEFORE_DELAY {
        assert_eq!(a.delay_for("t|c", NOW), None, "after {i} failures");
        a.record_failure("t|c", NOW);
    }
    let delays: Vec<u64> = (0..7)
        .map(|_| {
            let d = a.delay_for("t|c", NOW).unwrap().as_secs();
            a.record_failure("t|c", NOW);
            d
        })
        .collect();
    assert_eq!(delays, [1, 2, 3, 4, 5, 5, 5]);
    assert_eq!(a.delay_for("t|other", NOW), None, "per client");
    assert_eq!(a.delay_for("t|c", NOW + FAILURE_WINDOW), None, "a minute after the last failure");
    a.record_failure("t|c", NOW + FAILURE_WINDOW);
    assert_eq!(a.delay_for("t|c", NOW + FAILURE_WINDOW), None, "the count starts again");
    for _ in 0..FAILURES_BEFORE_DELAY {
        a.record_failure("t|c", NOW + FAILURE_WINDOW);
    }
    assert!(a.delay_for("t|c", NOW + FAILURE_WINDOW).is_some());
    a.record_success("t|c");
    assert_eq!(a.delay_for("t|c", NOW + FAILURE_WINDOW), None, "a success forgets");
}

#[test]
fn an_assertion_is_accepted_once_until_it_expires() {
    let a = Authority::new(None, Arc::new(FixedClock::new(NOW)));
    assert!(!a.replayed("t|c|jti-1", NOW + 600, NOW));
    assert!(a.replayed("t|c|jti-1", NOW + 600, NOW + 1));
    assert!(a.replayed("t|c|jti-1", NOW + 600, NOW + 600 + ASSERTION_SKEW), "still within its skewed lifetime");
    assert!(!a.replayed("t|c|jti-2", NOW + 600, NOW));
    assert!(!a.replayed("t|c|jti-1", NOW + 9000, NOW + 601 + ASSERTION_SKEW), "an expired entry is no replay");
}

#[test]
fn secrets_guids_and_hashes() {
    let s = generate_secret().unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).unwrap().len(), SECRET_BYTES);
    assert_ne!(*s, *generate_secret().unwrap());
    let g = new_guid().unwrap();
    assert!(s2s::principal::is_guid(&g) && g.as_bytes()[14] == b'4', "{g}");
    assert_eq!(secret_hash(&[1; 32], "x"), secret_hash(&[1; 32], "x"));
    assert_ne!(secret_hash(&[1; 32], "x"), secret_hash(&[2; 32], "x"), "the pepper keys the hash");
}

// ---------------------------------------------------------------------------------------------
// The token endpoint in-process

/// RSA keys made once per test binary (generation is the slow part).
struct Keys {
    node_der: Vec<u8>,
    node_pkcs8: Vec<u8>,
    client: (Vec<u8>, Vec<u8>),
    stranger: (Vec<u8>, Vec<u8>),
}

fn keys() -> &'static Keys {
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

struct Fixture {
    _dir: TempDir,
    state: AppState,
    router: Router,
    secret: String,
    clock: Arc<FixedClock>,
    cancel: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn sp(app_id: &str, enabled: bool, spns: &[String]) -> ServicePrincipalRecord {
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

fn secret_credential(n: u8, app_id: &str, hash: Vec<u8>, start_at: i64, end_at: i64) -> CredentialRecord {
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

/// A node (realm litwareinc.com, issuer certificate) whose authority has tenant REALM with:
/// the client CLIENT (a secret and the client certificate), SharePoint as a resource with SPNs
/// `sp.contoso.com` and `*.contoso.com`, and clients whose secret expired, is not yet valid, or
/// which are disabled (all with the same secret).
async fn fixture() -> Fixture {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("s2s.db").display());
    let stores = crate::store::open_stores(&url).await.unwrap();
    let config = stores.config.clone();
    config
        .set_oauth_config(&OAuthConfig {
            realm: "litwareinc.com".into(),
            service_name: "00000007-0000-4000-8000-000000000000".into(),
            hostnames: vec![HOST.into()],
            additional_realms: Vec::new(),
            exchange_autodiscover_url: None,
            auto_renew: None,
        })
        .await
        .unwrap();
    config
        .install_current_certificate(&CertificateRecord {
            thumbprint: thumbprint::hex_thumbprint(&k.node_der),
            role: CertificateRole::Current,
            cert_der: k.node_der.clone(),
            private_key_pkcs8: Some(k.node_pkcs8.clone()),
            not_before: NOW - 86_400,
            not_after: NOW + 730 * 86_400,
            effective_at: None,
            created_at: NOW,
        })
        .await
        .unwrap();
    let store = crate::store::open_authority(&url).await.unwrap();
    store.insert_tenant(&TenantRecord { realm: REALM.into(), name: "Litware".into(), created_at: NOW }).await.unwrap();
    let spns = [format!("{SHAREPOINT}/{SP_HOST}"), format!("{SHAREPOINT}/*.contoso.com")];
    store.insert_service_principal(&sp(SHAREPOINT, true, &spns)).await.unwrap();
    store.insert_service_principal(&sp(EXCHANGE, false, &[format!("{EXCHANGE}/mail.contoso.com")])).await.unwrap();
    for (app, enabled) in [(CLIENT, true), (EXPIRED, true), (FUTURE, true), (DISABLED, false)] {
        store.insert_service_principal(&sp(app, enabled, &[])).await.unwrap();
    }
    let pepper = store.pepper_or_insert(&generate_pepper().unwrap()).await.unwrap();
    let secret = generate_secret().unwrap().to_string();
    let hash = secret_hash(&pepper, &secret);
    for (n, app, start, end) in [
        (1, CLIENT, NOW - 100, NOW + 86_400),
        (2, EXPIRED, NOW - 86_400, NOW - 10),
        (3, FUTURE, NOW + 3600, NOW + 86_400),
        (4, DISABLED, NOW - 100, NOW + 86_400),
    ] {
        store.insert_credential(&secret_credential(n, app, hash.clone(), start, end)).await.unwrap();
    }
    store
        .insert_credential(&CredentialRecord {
            id: "00000000-0000-4000-8000-0000000000cc".into(),
            kind: CredentialKind::Asymmetric,
            secret_hash: None,
            certificate_der: Some(k.client.1.clone()),
            thumbprint: Some(thumbprint::hex_thumbprint(&k.client.1)),
            ..secret_credential(5, CLIENT, Vec::new(), NOW - 86_400, NOW + 86_400)
        })
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let clock = Arc::new(FixedClock::new(NOW));
    let state = AppState::start(
        stores,
        clock.clone(),
        s2s::partner::refresh::RefreshPolicy::default(),
        Duration::from_millis(100),
        cancel.clone(),
    )
    .await
    .unwrap();
    assert!(state.authority.snapshot().warnings.is_empty(), "{:?}", state.authority.snapshot().warnings);
    let router = server::router(state.clone());
    Fixture { _dir: dir, state, router, secret, clock, cancel }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
}

impl Answer {
    /// Asserts an OAuth error `error` whose description contains every one of `needles`.
    #[track_caller]
    fn refused(&self, error: &str, needles: &[&str]) {
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
    fn issued(&self) -> String {
        assert_eq!(self.status, StatusCode::OK, "{}", self.json);
        self.json["access_token"].as_str().unwrap().to_owned()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Answer { status, headers, json }
}

async fn post_to(router: &Router, path: &str, body: String) -> Answer {
    let request = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(router, request).await
}

async fn post(f: &Fixture, pairs: &[(&str, &str)]) -> Answer {
    post_to(&f.router, TOKEN_PATH, form(pairs)).await
}

async fn get(f: &Fixture, path: &str) -> Answer {
    send(&f.router, Request::get(path).header(header::HOST, HOST).body(Body::empty()).unwrap()).await
}

async fn with_secret(f: &Fixture, client: &str, secret: &str) -> Answer {
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
fn assertion(key: &(Vec<u8>, Vec<u8>), alg: Algorithm, claims: Value) -> String {
    let mut header = jws::Header { typ: Some("JWT".into()), alg: alg.name().into(), ..Default::default() };
    match alg {
        Algorithm::Rs256 => header.x5t = Some(thumbprint::x5t(&key.1)),
        Algorithm::Ps256 => header.x5t_s256 = Some(thumbprint::x5t_s256(&key.1)),
    }
    jws::sign(&header, &claims, &signing_key(key)).unwrap()
}

/// RFC 7523 claims: iss = sub = the bare client id, aud the token URL, 10 minutes, a jti.
fn rfc7523_claims(jti: &str) -> Value {
    json!({"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "jti": jti, "nbf": NOW - 5, "exp": NOW + 600, "iat": NOW - 5})
}

/// Exchange's legacy claims: iss `<app>@<realm>`, aud the ACS principal at our host.
fn legacy_claims() -> Value {
    json!({"iss": format!("{CLIENT}@{REALM}"), "aud": format!("{ACS}/{HOST}@{REALM}"), "nbf": NOW - 5, "exp": NOW + 600})
}

async fn with_client_assertion(f: &Fixture, token: &str) -> Answer {
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

async fn with_legacy_assertion(f: &Fixture, token: &str) -> Answer {
    post(f, &[("grant_type", GRANT_JWT_BEARER_LEGACY), ("assertion", token), ("resource", &resource())]).await
}

/// A resource server (SharePoint in REALM) that trusts the authority's certificate as an auth
/// server and takes CLIENT's tokens from it.
fn resource_server() -> Validator {
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

#[tokio::test]
async fn a_client_secret_buys_a_token_the_resource_server_accepts() {
    let f = fixture().await;
    let answer = with_secret(&f, CLIENT, &f.secret).await;
    let token = answer.issued();
    let j = &answer.json;
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], TOKEN_LIFETIME.to_string(), "numbers are strings (interop.md #3)");
    assert_eq!(j["not_before"], (NOW - TOKEN_NBF_BACKDATE).to_string());
    assert_eq!(j["expires_on"], (NOW + TOKEN_LIFETIME).to_string());
    assert_eq!(j["resource"], resource());
    assert!(j.get("scope").is_none(), "no scope asked, none answered");
    let keys_in_order: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys_in_order.len(), 6, "{j}");
    assert_eq!(answer.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");

    // The token: ACS-style header and claims.
    let compact = jws::Compact::split(&token).unwrap();
    let header = compact.header().unwrap();
    let node_x5t = thumbprint::x5t(&keys().node_der);
    assert_eq!((header.typ.as_deref(), header.alg.as_str()), (Some("JWT"), "RS256"));
    assert_eq!(header.x5t.as_deref(), Some(node_x5t.as_str()));
    assert_eq!(header.kid.as_deref(), Some(node_x5t.as_str()));
    let claims: Value = compact.claims().unwrap();
    assert_eq!(claims["aud"], resource());
    assert_eq!(claims["iss"], format!("{ACS}@{REALM}"));
    assert_eq!(claims["identityprovider"], format!("{ACS}@{REALM}"));
    assert_eq!(claims["nameid"], format!("{CLIENT}@{REALM}"));
    assert_eq!(claims["trustedfordelegation"], "true");
    assert_eq!(claims["nbf"], NOW - TOKEN_NBF_BACKDATE, "dates are JSON numbers in the token");
    assert_eq!(claims["exp"], NOW + TOKEN_LIFETIME);
    assert_eq!(claims["iat"], NOW);

    // A resource server that trusts this authority takes it, as the client's call.
    let validated = resource_server().validate(&token, SP_HOST).unwrap();
    assert_eq!(validated.partner, "ClientApp");
    assert_eq!(validated.auth_server.as_deref(), Some("LitwareAuthority"));
    // Client id without the realm, and client_secret_basic, work too.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{}", urlencode(&f.secret)));
    let request = Request::post(format!("{TOKEN_PATH}?api-version=1.0"))
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")
        .body(Body::from(form(&[("grant_type", "client_credentials"), ("resource", &resource())])))
        .unwrap();
    send(&f.router, request).await.issued();
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", &f.secret),
            ("resource", &resource()),
        ],
    )
    .await
    .issued();
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn scope_is_echoed_unchanged_and_may_stand_for_the_resource() {
    let f = fixture().await;
    let client_id = format!("{CLIENT}@{REALM}");
    let base =
        [("grant_type", "client_credentials"), ("client_id", client_id.as_str()), ("client_secret", f.secret.as_str())];
    // Office365-REST-Python-Client: both, the same value.
    let mut both = base.to_vec();
    let res = resource();
    both.extend([("scope", res.as_str()), ("resource", res.as_str())]);
    let a = post(&f, &both).await;
    a.issued();
    assert_eq!((a.json["scope"].as_str(), a.json["resource"].as_str()), (Some(res.as_str()), Some(res.as_str())));
    // S2S CreateAccessTokenRequestWithClientCredentials: scope only; with /.default (MSAL style).
    for scope in [res.clone(), format!("{res}/.default"), format!("{SHAREPOINT}/Mail.Contoso.com/.default")] {
        let mut only = base.to_vec();
        only.push(("scope", &scope));
        let a = post(&f, &only).await;
        let token = a.issued();
        assert_eq!(a.json["scope"], scope, "oauthlib raises when the scope changes");
        let expected = scope.strip_suffix("/.default").unwrap_or(&scope);
        assert_eq!(a.json["resource"], expected);
        let claims: Value = jws::Compact::split(&token).unwrap().claims().unwrap();
        assert_eq!(claims["aud"], aud_of(expected), "aud normalised, lower case, with the realm");
    }
    // Resource and scope naming different resources.
    let mut clash = base.to_vec();
    let other = format!("{SHAREPOINT}/other.contoso.com@{REALM}");
    clash.extend([("resource", res.as_str()), ("scope", other.as_str())]);
    post(&f, &clash).await.refused("invalid_request", &["different resources"]);
}

/// The audience the authority puts in a token for `resource` (realm added, lower case).
fn aud_of(resource: &str) -> String {
    let full = if resource.contains('@') { resource.to_owned() } else { format!("{resource}@{REALM}") };
    s2s::principal::Principal::parse(&full).unwrap().to_string()
}

#[tokio::test]
async fn client_assertions_rs256_ps256_and_the_legacy_grant() {
    let f = fixture().await;
    let k = keys();
    // RFC 7523, RS256 + x5t, the exact token URL as audience.
    with_client_assertion(&f, &assertion(&k.client, Algorithm::Rs256, rfc7523_claims("j-rs"))).await.issued();
    // RFC 7523, PS256 + x5t#S256, MSAL's shape: scope=<resource>/.default, extras, a query string.
    let ps = assertion(&k.client, Algorithm::Ps256, rfc7523_claims("j-ps"));
    let scope = format!("{}/.default", resource());
    let body = form(&[
        ("client_id", CLIENT),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
        ("client_assertion", &ps),
        ("scope", &scope),
        ("grant_type", "client_credentials"),
        ("client_info", "1"),
        ("x-client-SKU", "MSAL.Python"),
        ("x-client-Ver", "1.31.0"),
        ("client-request-id", "3f1c2a63-1b7a-4a55-9d0c-0f3b8c9a1d11"),
    ]);
    let a = post_to(&f.router, &format!("{TOKEN_PATH}?dc=ESTS-PUB-WEUR"), body).await;
    resource_server().validate(&a.issued(), SP_HOST).unwrap();
    assert_eq!(a.json["scope"], scope);
    // The audience may also be the URL with its query, or the ACS principal with or without the port.
    let mut with_query = rfc7523_claims("j-q");
    with_query["aud"] = json!(format!("{TOKEN_URL}?dc=x"));
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
        ("client_assertion", &assertion(&k.client, Algorithm::Rs256, with_query)),
        ("resource", &resource()),
    ]);
    post_to(&f.router, &format!("{TOKEN_PATH}?dc=x"), body).await.issued();
    // Exchange's legacy grant: iss <app>@<realm>, aud 00000001-…/<host>@<realm>, no jti.
    let legacy = with_legacy_assertion(&f, &assertion(&k.client, Algorithm::Rs256, legacy_claims())).await;
    resource_server().validate(&legacy.issued(), SP_HOST).unwrap();
}

#[tokio::test]
async fn bad_credentials_get_precise_errors() {
    let f = fixture().await;
    let fix_secret =
        format!("s2sd service-principal credential add --tenant {REALM} --app-id {CLIENT} --type symmetric");
    with_secret(&f, CLIENT, "wrong").await.refused("invalid_client", &["invalid client secret", &fix_secret]);
    let unknown = "0a0a0a0a-0000-4000-8000-000000000001";
    with_secret(&f, unknown, &f.secret).await.refused(
        "invalid_client",
        &[
            &format!("unknown client {unknown}@{REALM}"),
            &format!("s2sd service-principal new --tenant {REALM} --app-id {unknown}"),
        ],
    );
    with_secret(&f, DISABLED, &f.secret).await.refused(
        "unauthorized_client",
        &["disabled", &format!("s2sd service-principal set --tenant {REALM} --app-id {DISABLED} --enabled true")],
    );
    with_secret(&f, EXPIRED, &f.secret)
        .await
        .refused("invalid_client", &["expired", "credential add", "credential remove"]);
    with_secret(&f, FUTURE, &f.secret).await.refused("invalid_client", &["not yet valid", "credential list"]);
    // A principal without secrets.
    with_secret(&f, SHAREPOINT, &f.secret)
        .await
        .refused("invalid_client", &["has no client secret", "--type symmetric"]);
    // client_id in another realm.
    let elsewhere = format!("{CLIENT}@0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11");
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &elsewhere),
            ("client_secret", &f.secret),
            ("resource", &resource()),
        ],
    )
    .await
    .refused(
        "invalid_client",
        &["belongs to realm 0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11", &format!("use client_id {CLIENT}@{REALM}")],
    );
    // No credential at all.
    post(&f, &[("grant_type", "client_credentials"), ("client_id", CLIENT), ("resource", &resource())])
        .await
        .refused("invalid_client", &["no client credential"]);
}

#[tokio::test]
async fn bad_assertions_get_precise_errors() {
    let f = fixture().await;
    let k = keys();
    // Signed by a certificate nobody registered.
    let stranger = assertion(&k.stranger, Algorithm::Rs256, rfc7523_claims("s1"));
    let add = format!(
        "s2sd service-principal credential add --tenant {REALM} --app-id {CLIENT} --type asymmetric --usage verify --certificate FILE"
    );
    with_client_assertion(&f, &stranger).await.refused("invalid_client", &["no certificate registered", &add]);
    let legacy_stranger = assertion(&k.stranger, Algorithm::Rs256, legacy_claims());
    with_legacy_assertion(&f, &legacy_stranger).await.refused("invalid_grant", &["no certificate registered", &add]);
    // Replayed.
    let once = assertion(&k.client, Algorithm::Rs256, rfc7523_claims("r1"));
    with_client_assertion(&f, &once).await.issued();
    with_client_assertion(&f, &once).await.refused("invalid_client", &["presented before", "single-use"]);
    let legacy = assertion(&k.client, Algorithm::Rs256, legacy_claims());
    with_legacy_assertion(&f, &legacy).await.issued();
    with_legacy_assertion(&f, &legacy).await.refused("invalid_grant", &["presented before"]);
    // A far-future exp.
    let mut far = rfc7523_claims("f1");
    far["exp"] = json!(NOW + 30 * 86_400);
    with_client_assertion(&f, &assertion(&k.client, Algorithm::Rs256, far))
        .await
        .refused("invalid_client", &["at most", "expire within minutes"]);
    // Expired, and for another audience.
    let mut old = rfc7523_claims("o1");
    old["exp"] = json!(NOW - 3600);
    with_client_assertion(&f, &assertion(&k.client, Algorithm::Rs256, old))
        .await
        .refused("invalid_client", &["expired"]);
    let mut other = rfc7523_claims("a1");
    other["aud"] = json!("https://login.microsoftonline.com/x/oauth2/v2.0/token");
    with_client_assertion(&f, &assertion(&k.client, Algorithm::Rs256, other))
        .await
        .refused("invalid_client", &["audience", TOKEN_URL]);
    // client_id that is not the assertion's issuer; garbage; alg none.
    let mismatched = assertion(&k.client, Algorithm::Rs256, rfc7523_claims("m1"));
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DISABLED),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT),
            ("client_assertion", &mismatched),
            ("resource", &resource()),
        ],
    )
    .await
    .refused("invalid_client", &["differs from the assertion's issuer"]);
    with_client_assertion(&f, "not-a-jwt").await.refused("invalid_client", &["unusable"]);
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rfc7523_claims("n1").to_string());
    with_client_assertion(&f, &format!("eyJhbGciOiJub25lIn0.{claims}.")).await.refused("invalid_client", &["unsigned"]);
    // The wrong client_assertion_type.
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
            ("client_assertion", &once),
            ("resource", &resource()),
        ],
    )
    .await
    .refused("invalid_request", &["client_assertion_type must be"]);
}

#[tokio::test]
async fn resources_need_a_principal_with_a_matching_spn() {
    let f = fixture().await;
    let client_id = format!("{CLIENT}@{REALM}");
    let ask = |resource: String| {
        let f = &f;
        let client_id = client_id.clone();
        async move {
            post(
                f,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client_id),
                    ("client_secret", &f.secret),
                    ("resource", &resource),
                ],
            )
            .await
        }
    };
    // No SPN for the host.
    let fix = format!(
        "s2sd service-principal spn add --tenant {REALM} --app-id {SHAREPOINT} --spn {SHAREPOINT}/other.fabrikam.com"
    );
    ask(format!("{SHAREPOINT}/other.fabrikam.com@{REALM}"))
        .await
        .refused("invalid_resource", &["no service principal name", &fix]);
    ask(format!("{SHAREPOINT}/a.b.contoso.com@{REALM}"))
        .await
        .refused("invalid_resource", &["no service principal name"]);
    // The wildcard takes one label; a port on the resource is fine; case does not matter.
    let a = ask(format!("{SHAREPOINT}/Team.Contoso.com:8443@{}", REALM.to_uppercase())).await;
    let claims: Value = jws::Compact::split(&a.issued()).unwrap().claims().unwrap();
    assert_eq!(claims["aud"], format!("{SHAREPOINT}/team.contoso.com:8443@{REALM}"));
    // No principal for the app id; disabled resource.
    let lync = "00000004-0000-0ff1-ce00-000000000000";
    ask(format!("{lync}/pool.contoso.com@{REALM}"))
        .await
        .refused("invalid_resource", &[&format!("s2sd service-principal new --tenant {REALM} --app-id {lync}")]);
    ask(format!("{EXCHANGE}/mail.contoso.com@{REALM}"))
        .await
        .refused("invalid_resource", &["disabled", "--enabled true"]);
    // Not of the <app id>/<host>@<realm> form, or in another realm.
    ask(format!("https://{SP_HOST}/")).await.refused("invalid_resource", &["is a URL"]);
    ask(format!("{SHAREPOINT}@{REALM}")).await.refused("invalid_resource", &["names no host"]);
    ask(format!("{SHAREPOINT}/{SP_HOST}@fabrikam.com")).await.refused("invalid_resource", &["realm fabrikam.com"]);
    post(&f, &[("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", &f.secret)])
        .await
        .refused("invalid_request", &["names no resource"]);
}

#[tokio::test]
async fn unknown_tenants_and_malformed_requests() {
    let f = fixture().await;
    let unknown = "0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11";
    post_to(&f.router, &format!("/{unknown}/tokens/OAuth/2"), form(&[("grant_type", "client_credentials")]))
        .await
        .refused(
            "invalid_request",
            &[&format!("unknown tenant {unknown}"), &format!("s2sd tenant new --realm {unknown}")],
        );
    let json_body = Request::post(TOKEN_PATH)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"grant_type":"client_credentials"}"#))
        .unwrap();
    send(&f.router, json_body).await.refused("invalid_request", &["application/x-www-form-urlencoded"]);
    post_to(&f.router, TOKEN_PATH, "grant_type=client_credentials&grant_type=password".into())
        .await
        .refused("invalid_request", &["more than once"]);
    post_to(&f.router, TOKEN_PATH, "x".repeat(endpoint::MAX_FORM_BYTES + 10))
        .await
        .refused("invalid_request", &["bytes"]);
    post(&f, &[("client_id", CLIENT)]).await.refused("invalid_request", &["no grant_type"]);
    post(&f, &[("grant_type", "password"), ("username", "u"), ("password", "p")])
        .await
        .refused("unsupported_grant_type", &["client_credentials"]);
    post(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", "x"),
            ("client_assertion", "a.b.c"),
        ],
    )
    .await
    .refused("invalid_request", &["use one"]);
    post(&f, &[("grant_type", GRANT_JWT_BEARER_LEGACY), ("resource", &resource())])
        .await
        .refused("invalid_request", &["needs an assertion"]);
}

#[tokio::test]
async fn repeated_failures_slow_the_client_down_and_are_counted() {
    let f = fixture().await;
    get(&f, "/metrics").await; // installs the recorder
    for _ in 0..FAILURES_BEFORE_DELAY {
        let start = Instant::now();
        with_secret(&f, CLIENT, "wrong").await.refused("invalid_client", &[]);
        assert!(start.elapsed() < Duration::from_millis(900), "the first failures are not held back");
    }
    // The sixth request is held back a second, even with the right secret; a success forgets.
    let start = Instant::now();
    with_secret(&f, CLIENT, &f.secret).await.issued();
    assert!(start.elapsed() >= Duration::from_secs(1), "{:?}", start.elapsed());
    let start = Instant::now();
    with_secret(&f, CLIENT, &f.secret).await.issued();
    assert!(start.elapsed() < Duration::from_millis(900));
    // Another client is not affected by this one's failures.
    assert!(f.state.authority.delay_for(&format!("{REALM}|{DISABLED}"), NOW).is_none());
    let metrics = get(&f, "/metrics").await.json;
    let text = metrics.as_str().unwrap();
    for outcome in ["invalid_client", "issued"] {
        assert!(text.contains(&format!("s2s_token_requests_total{{outcome=\"{outcome}\"}}")), "{text}");
    }
    assert!(text.contains("s2s_token_requests_delayed_total"), "{text}");
}

#[tokio::test]
async fn tenant_metadata_discovery_and_keys() {
    let f = fixture().await;
    let node_x5t = thumbprint::x5t(&keys().node_der);
    for path in [
        format!("/{REALM}/metadata/json/1"),
        format!("/{REALM}/metadata/json/1?realm={REALM}"),
        format!("/metadata/json/1?realm={REALM}"),
    ] {
        let doc = get(&f, &path).await;
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
    // The node's own document is unchanged without a tenant realm in the query.
    let own = get(&f, "/metadata/json/1").await;
    assert_eq!(own.json["issuer"], "00000007-0000-4000-8000-000000000000@litwareinc.com");
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

#[tokio::test]
async fn store_changes_apply_on_reload() {
    let f = fixture().await;
    let unknown = "0a0a0a0a-0000-4000-8000-000000000002";
    with_secret(&f, unknown, &f.secret).await.refused("invalid_client", &["unknown client"]);
    let url = f.state.store.url();
    let store = crate::store::open_authority(&url).await.unwrap();
    store.insert_service_principal(&sp(unknown, true, &[])).await.unwrap();
    let pepper = store.pepper_or_insert(&[0; 32]).await.unwrap();
    store
        .insert_credential(&secret_credential(9, unknown, secret_hash(&pepper, "s3cret"), NOW - 1, NOW + 86_400))
        .await
        .unwrap();
    f.state.reload().await.unwrap();
    with_secret(&f, unknown, "s3cret").await.issued();
}

#[tokio::test]
async fn a_repeated_grant_gets_the_same_token_while_more_than_half_its_lifetime_remains() {
    let f = fixture().await;
    let first = with_secret(&f, CLIENT, &f.secret).await;
    let token = first.issued();

    f.clock.advance(3600);
    let again = with_secret(&f, CLIENT, &f.secret).await;
    assert_eq!(again.issued(), token, "the same grant reuses the token");
    assert_eq!(again.json["expires_in"], (TOKEN_LIFETIME - 3600).to_string(), "what is left of it");
    assert_eq!(again.json["expires_on"], first.json["expires_on"]);
    assert_eq!(again.json["not_before"], first.json["not_before"]);

    // The client is still authenticated on every request; another resource is another token.
    with_secret(&f, CLIENT, "not-the-secret").await.refused("invalid_client", &["invalid client secret"]);
    let other = format!("{SHAREPOINT}/other.contoso.com@{REALM}");
    let client_id = format!("{CLIENT}@{REALM}");
    let grant = [
        ("grant_type", "client_credentials"),
        ("client_id", &client_id),
        ("client_secret", &f.secret),
        ("resource", &other),
    ];
    let for_other = post(&f, &grant).await.issued();
    assert_ne!(for_other, token);
    assert_eq!(jws::Compact::split(&for_other).unwrap().claims::<Value>().unwrap()["aud"], other);

    // Half the lifetime gone: a new token.
    f.clock.advance(TOKEN_LIFETIME / 2 - 3600);
    let renewed = with_secret(&f, CLIENT, &f.secret).await;
    assert_ne!(renewed.issued(), token);
    assert_eq!(renewed.json["expires_in"], TOKEN_LIFETIME.to_string());
    let claims: Value = jws::Compact::split(&renewed.issued()).unwrap().claims().unwrap();
    assert_eq!(claims["iat"], NOW + TOKEN_LIFETIME / 2);
}

#[tokio::test]
async fn a_reused_token_is_not_given_to_a_client_disabled_since() {
    let f = fixture().await;
    with_secret(&f, CLIENT, &f.secret).await.issued();
    let store = crate::store::open_authority(&f.state.store.url()).await.unwrap();
    let mut client = store.service_principal(REALM, CLIENT).await.unwrap().unwrap();
    client.enabled = false;
    assert!(store.update_service_principal(&client).await.unwrap());
    f.state.reload().await.unwrap();
    with_secret(&f, CLIENT, &f.secret).await.refused("unauthorized_client", &["disabled"]);
}
