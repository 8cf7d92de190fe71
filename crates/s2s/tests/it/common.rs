//! Shared fixtures: RSA-2048 certificates made with rcgen (generated once per test binary), the
//! trust configuration of a small Exchange-like server, and token builders.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s2s::clock::{FixedClock, UnixTime};
use s2s::partner::{LocalIdentity, MetadataSource, Partner, TrustLevel, TrustStore};
use s2s::principal::{EXCHANGE, LYNC};
use s2s::token::{ActorClaims, OuterClaims, SigningKey, UserClaims, VerifyingKey, actor, outer};
use s2s::validate::Validator;

/// The fixed "now" of clock-driven tests (2027-01-15).
pub const NOW: UnixTime = 1_800_000_000;
/// Our realm.
pub const REALM: &str = "litwareinc.com";
/// The authority requests are addressed to.
pub const HOST: &str = "mail.litwareinc.com";
/// Certificates are valid from 2000-01-01 …
const NOT_BEFORE: UnixTime = 946_684_800;
/// … to 2100-01-01, so they serve both the fixed clock and the wall clock (jsonwebtoken reads the latter).
const NOT_AFTER: UnixTime = 4_102_444_800;

/// An RSA-2048 key with a self-signed certificate.
pub struct TestKey {
    /// rcgen's key pair, to issue more certificates for the same key.
    pub pair: rcgen::KeyPair,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// Our signing key, parsed once.
    pub signing: Arc<SigningKey>,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey").field("x5t", &self.x5t()).finish_non_exhaustive()
    }
}

impl TestKey {
    fn generate(cn: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key generation");
        let cert_der = certificate(&pair, cn, NOT_BEFORE, NOT_AFTER);
        let signing = Arc::new(SigningKey::from_pkcs8(&pair.serialize_der(), &cert_der).expect("signing key"));
        Self { pair, cert_der, signing }
    }

    /// The certificate's public key, parsed.
    pub fn verifying(&self) -> Arc<VerifyingKey> {
        Arc::new(VerifyingKey::from_certificate(&self.cert_der).expect("verifying key"))
    }

    /// The certificate's `x5t`.
    pub fn x5t(&self) -> String {
        s2s::token::thumbprint::x5t(&self.cert_der)
    }

    /// The PKCS#1 `RSAPublicKey` of the certificate, as x509-parser reads it out of the SPKI.
    pub fn public_pkcs1(&self) -> Vec<u8> {
        use x509_parser::prelude::FromDer as _;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&self.cert_der).expect("x509");
        cert.public_key().subject_public_key.data.to_vec()
    }
}

/// A self-signed certificate for `pair` valid from `not_before` to `not_after`.
pub fn certificate(pair: &rcgen::KeyPair, cn: &str, not_before: UnixTime, not_after: UnixTime) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).expect("time");
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).expect("time");
    params.self_signed(pair).expect("self-signed certificate").der().to_vec()
}

/// Key A: the Lync partner's current certificate.
pub fn key_a() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("lync-a.litwareinc.com"))
}

/// Key B: the Lync partner's next certificate (rollover).
pub fn key_b() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("lync-b.litwareinc.com"))
}

/// Key C: nobody's.
pub fn key_c() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("attacker.example"))
}

/// Our identity: Exchange in `REALM`.
pub fn local() -> LocalIdentity {
    LocalIdentity { app_id: EXCHANGE.into(), realm: REALM.into(), ..Default::default() }
}

/// An enabled application partner with trust level Full (the one place that builds `Partner`).
pub fn partner(
    name: &str,
    app_id: &str,
    realm: &str,
    keys: Vec<Arc<VerifyingKey>>,
    metadata: Option<MetadataSource>,
) -> Arc<Partner> {
    Arc::new(Partner {
        name: name.into(),
        app_id: app_id.to_ascii_lowercase(),
        realm: realm.to_ascii_lowercase(),
        trust_level: TrustLevel::Full,
        enabled: true,
        accept_security_identifier_information: false,
        refresh_interval: None,
        linked_account: None,
        kind: Default::default(),
        use_auth_server: false,
        metadata,
        keys,
    })
}

/// The Lync partner with `keys`.
pub fn lync_partner(keys: Vec<Arc<VerifyingKey>>, metadata: Option<MetadataSource>) -> Arc<Partner> {
    partner("Lync", LYNC, REALM, keys, metadata)
}

/// A trust store with the Lync partner holding key A.
pub fn trust_store() -> Arc<TrustStore> {
    Arc::new(TrustStore::new(local(), vec![lync_partner(vec![key_a().verifying()], None)]))
}

/// A validator over `trust_store()` at `NOW`.
pub fn validator() -> Validator {
    Validator::new(trust_store(), Arc::new(FixedClock::new(NOW)))
}

/// `<EXCHANGE>/<HOST>@<REALM>`.
pub fn audience() -> String {
    format!("{EXCHANGE}/{HOST}@{REALM}")
}

/// `<LYNC>@<REALM>`.
pub fn lync_principal() -> String {
    format!("{LYNC}@{REALM}")
}

/// Good actor claims from Lync to us, valid around `now`.
pub fn actor_claims(now: UnixTime) -> ActorClaims {
    ActorClaims {
        aud: Some(audience()),
        iss: Some(lync_principal()),
        nameid: Some(lync_principal()),
        nbf: Some(now - 60),
        exp: Some(now + 3600),
        trustedfordelegation: true,
        ..Default::default()
    }
}

/// An actor token from Lync signed with `key`, valid around `NOW`.
pub fn actor_token(key: &TestKey) -> String {
    actor::sign(&actor_claims(NOW), &key.signing).expect("sign")
}

/// A user.
pub fn ken() -> UserClaims {
    UserClaims {
        smtp: Some("kenmyer@litwareinc.com".into()),
        sip: Some("kenmyer@litwareinc.com".into()),
        ..Default::default()
    }
}

/// An act-as token for `ken()` carrying `actor`.
pub fn act_as_token(actor: &str) -> String {
    outer::build(&OuterClaims {
        aud: Some(audience()),
        iss: Some(lync_principal()),
        nbf: Some(NOW - 60),
        exp: Some(NOW + 3600),
        actortoken: Some(actor.to_owned()),
        user: ken(),
    })
    .expect("outer token")
}

/// base64url without padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact token from literal JSON texts and an already encoded signature segment.
pub fn compact(header_json: &str, payload_json: &str, signature_b64: &str) -> String {
    format!("{}.{}.{}", b64(header_json), b64(payload_json), signature_b64)
}
