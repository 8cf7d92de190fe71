#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The hot paths, one token per iteration: signing an actor token, verifying a signature, full
//! validation cold (no cache) and warm (cache hit), minting an act-as token around a cached actor,
//! and parsing a metadata document. Compare with `openssl speed rsa2048` in the same session.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use s2s::client::{Issuer, IssuerIdentity};
use s2s::clock::FixedClock;
use s2s::metadata::{MetadataDocument, MetadataKey};
use s2s::partner::{LocalIdentity, Partner, TrustLevel, TrustStore};
use s2s::principal::{EXCHANGE, LYNC, Principal};
use s2s::token::{ActorClaims, Compact, OuterClaims, SigningKey, UserClaims, VerifyingKey, actor, outer};
use s2s::validate::Validator;

const NOW: i64 = 1_800_000_000;
const REALM: &str = "litwareinc.com";
const HOST: &str = "mail.litwareinc.com";

struct Fixture {
    key: Arc<SigningKey>,
    cert: Vec<u8>,
    next_cert: Vec<u8>,
}

fn fixture() -> Fixture {
    let make = |cn: &str| {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).unwrap();
        params.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 365 * 86_400).unwrap();
        let cert = params.self_signed(&pair).unwrap().der().to_vec();
        (Arc::new(SigningKey::from_pkcs8(&pair.serialize_der(), &cert).unwrap()), cert)
    };
    let (key, cert) = make("lync.litwareinc.com");
    let (_, next_cert) = make("lync-next.litwareinc.com");
    Fixture { key, cert, next_cert }
}

fn actor_claims() -> ActorClaims {
    let lync = format!("{LYNC}@{REALM}");
    ActorClaims {
        aud: Some(format!("{EXCHANGE}/{HOST}@{REALM}")),
        iss: Some(lync.clone()),
        nameid: Some(lync),
        nbf: Some(NOW - 300),
        exp: Some(NOW + 86_400),
        trustedfordelegation: true,
        ..ActorClaims::default()
    }
}

fn user() -> UserClaims {
    UserClaims {
        smtp: Some("kenmyer@litwareinc.com".into()),
        sip: Some("kenmyer@litwareinc.com".into()),
        ..UserClaims::default()
    }
}

fn act_as(actor: &str) -> String {
    outer::build(&OuterClaims {
        aud: Some(format!("{EXCHANGE}/{HOST}@{REALM}")),
        iss: Some(format!("{LYNC}@{REALM}")),
        nbf: Some(NOW - 300),
        exp: Some(NOW + 86_400),
        actortoken: Some(actor.to_owned()),
        user: user(),
    })
    .unwrap()
}

fn validator(f: &Fixture, cache: usize) -> Validator {
    let partner = Arc::new(Partner {
        name: "Lync".into(),
        app_id: LYNC.into(),
        realm: REALM.into(),
        trust_level: TrustLevel::Full,
        enabled: true,
        accept_security_identifier_information: false,
        refresh_interval: None,
        linked_account: None,
        kind: Default::default(),
        use_auth_server: false,
        metadata: None,
        keys: vec![
            Arc::new(VerifyingKey::from_certificate(&f.next_cert).unwrap()),
            Arc::new(VerifyingKey::from_certificate(&f.cert).unwrap()),
        ],
    });
    let local = LocalIdentity { app_id: EXCHANGE.into(), realm: REALM.into(), ..LocalIdentity::default() };
    let trust = Arc::new(TrustStore::new(local, vec![partner]));
    Validator::new(trust, Arc::new(FixedClock::new(NOW))).with_cache_capacity(cache)
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let claims = actor_claims();
    let actor_token = actor::sign(&claims, &f.key).unwrap();
    let act_as_token = act_as(&actor_token);

    let mut g = c.benchmark_group("sign_actor");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rs256_2048", |b| b.iter(|| actor::sign(black_box(&claims), &f.key).unwrap()));
    g.finish();

    let verifying = VerifyingKey::from_certificate(&f.cert).unwrap();
    let compact = Compact::split(&actor_token).unwrap();
    let mut g = c.benchmark_group("verify_signature");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rs256_2048", |b| b.iter(|| black_box(&compact).verify("RS256", &verifying).unwrap()));
    g.finish();

    let cold = validator(&f, 0);
    assert!(cold.validate(&act_as_token, HOST).is_ok());
    let mut g = c.benchmark_group("validate_uncached");
    g.throughput(Throughput::Elements(1));
    g.bench_function("act_as", |b| b.iter(|| cold.validate(black_box(&act_as_token), HOST).unwrap()));
    g.bench_function("app_only", |b| b.iter(|| cold.validate(black_box(&actor_token), HOST).unwrap()));
    g.finish();

    let warm = validator(&f, 1024);
    warm.validate(&act_as_token, HOST).unwrap();
    let mut g = c.benchmark_group("validate_cached");
    g.throughput(Throughput::Elements(1));
    g.bench_function("act_as", |b| b.iter(|| warm.validate(black_box(&act_as_token), HOST).unwrap()));
    g.finish();

    let issuer = Issuer::new(
        IssuerIdentity { app_id: LYNC.into(), realm: REALM.into(), key: Some(Arc::clone(&f.key)) },
        Arc::new(FixedClock::new(NOW)),
    );
    let audience = Principal::audience(EXCHANGE, HOST, REALM);
    let user = user();
    issuer.actor_token(&audience).unwrap();
    let mut g = c.benchmark_group("mint_act_as_cached_actor");
    g.throughput(Throughput::Elements(1));
    g.bench_function("issuer", |b| b.iter(|| issuer.act_as_token(black_box(&audience), &user).unwrap()));
    g.finish();

    let doc = MetadataDocument {
        id: Some("_70b34511-d105-4e2b-9675-39f53305bb01".into()),
        version: Some("1.0".into()),
        name: Some("Lync".into()),
        realm: Some(REALM.into()),
        service_name: Some(LYNC.into()),
        issuer: Some(format!("{LYNC}@{REALM}")),
        allowed_audiences: vec![format!("{LYNC}@{REALM}")],
        keys: vec![MetadataKey::signing(f.cert.clone()), MetadataKey::signing(f.next_cert.clone())],
        endpoints: Vec::new(),
    }
    .to_json();
    let mut g = c.benchmark_group("parse_metadata");
    g.throughput(Throughput::Elements(1));
    g.bench_function("two_keys", |b| b.iter(|| MetadataDocument::parse(black_box(doc.as_bytes())).unwrap()));
    g.finish();
}

fn config() -> Criterion {
    // ~4.5 s per benchmark, about 35 s in all; no plots (they cost more time than the measurements).
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).without_plots()
}

criterion_group! {
    name = token;
    config = config();
    targets = benches
}
criterion_main!(token);
