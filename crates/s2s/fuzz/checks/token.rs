//! Bearer tokens: compact split, header and claims decoding, the outer (`alg=none`) path, and the
//! whole validator on a fixed trust store (one partner whose RSA-2048 key is generated once).
//!
//! Shared by the fuzz target `token` and the seed replay test of the crate (`tests/it/fuzz_seeds.rs`),
//! which runs every file of `seeds/token/` through it on stable Rust.

use std::sync::{Arc, OnceLock};

use s2s::clock::FixedClock;
use s2s::partner::{LocalIdentity, Partner, TrustLevel, TrustStore};
use s2s::principal::{EXCHANGE, LYNC};
use s2s::token::{ActorClaims, ActorToken, Compact, OuterToken, VerifyingKey};
use s2s::validate::Validator;

const NOW: i64 = 1_800_000_000;
const REALM: &str = "litwareinc.com";
const HOST: &str = "mail.litwareinc.com";

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let mut params = rcgen::CertificateParams::new(vec!["lync.litwareinc.com".to_owned()]).expect("params");
        params.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400).expect("time");
        params.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 86_400).expect("time");
        let cert = params.self_signed(&pair).expect("certificate");
        let partner = Arc::new(Partner {
            name: "Lync".into(),
            app_id: LYNC.into(),
            realm: REALM.into(),
            trust_level: TrustLevel::Full,
            enabled: true,
            accept_security_identifier_information: false,
            metadata: None,
            refresh_interval: None,
            linked_account: None,
            kind: Default::default(),
            use_auth_server: false,
            keys: vec![Arc::new(VerifyingKey::from_certificate(cert.der()).expect("key"))],
        });
        let local = LocalIdentity { app_id: EXCHANGE.into(), realm: REALM.into(), ..LocalIdentity::default() };
        let trust = Arc::new(TrustStore::new(local, vec![partner]));
        // No cache: every input goes through the whole validation.
        Validator::new(trust, Arc::new(FixedClock::new(NOW))).with_cache_capacity(0)
    })
}

/// One input, as the fuzzer gives it (and as the seed replay test does).
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(compact) = Compact::split(text) {
        if let Ok(header) = compact.header()
            && let Ok(outer) = OuterToken::decode(&compact, &header)
            && let Some(actor) = outer.claims.actortoken.as_deref()
        {
            let _ = ActorToken::decode(actor);
        }
        let _ = compact.claims::<ActorClaims>();
    }
    let _ = validator().validate(text, HOST);
}
