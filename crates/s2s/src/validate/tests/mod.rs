#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The validator against good tokens and a table of bad ones, each refused with its own reason.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::clock::FixedClock;
use crate::partner::{LocalIdentity, Partner, TrustLevel};
use crate::principal::{EXCHANGE, LYNC};
use crate::token::{ActorClaims, OuterClaims, SigningKey, VerifyingKey, actor, jws, outer};

const NOW: i64 = 1_800_000_000;
const REALM: &str = "litwareinc.com";
const HOST: &str = "mail.litwareinc.com";

struct Keys {
    lync: SigningKey,
    lync_cert: Vec<u8>,
    other: SigningKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = |cn: &str| {
            let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
            let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).unwrap();
            params.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400).unwrap();
            params.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 365 * 86_400).unwrap();
            let cert = params.self_signed(&kp).unwrap();
            let der = cert.der().to_vec();
            (SigningKey::from_pkcs8(&kp.serialize_der(), &der).unwrap(), der)
        };
        let (lync, lync_cert) = make(REALM);
        let (other, _) = make("attacker.example");
        Keys { lync, lync_cert, other }
    })
}

fn partner(name: &str, app: &str, trust: TrustLevel, enabled: bool) -> Arc<Partner> {
    Arc::new(Partner {
        name: name.into(),
        app_id: app.into(),
        realm: REALM.into(),
        trust_level: trust,
        enabled,
        accept_security_identifier_information: false,
        metadata: None,
        keys: vec![Arc::new(VerifyingKey::from_certificate(&keys().lync_cert).unwrap())],
        refresh_interval: None,
        linked_account: None,
        kind: Default::default(),
        use_auth_server: false,
    })
}

const APP_PARTNER: &str = "11111111-2222-3333-4444-555555555555";
const OFF_PARTNER: &str = "99999999-2222-3333-4444-555555555555";

fn validator() -> Validator {
    let local = LocalIdentity { app_id: EXCHANGE.into(), realm: REALM.into(), ..Default::default() };
    let trust = Arc::new(TrustStore::new(
        local,
        vec![
            partner("Lync", LYNC, TrustLevel::Full, true),
            partner("Reports", APP_PARTNER, TrustLevel::Application, true),
            partner("Retired", OFF_PARTNER, TrustLevel::Full, false),
        ],
    ));
    Validator::new(trust, Arc::new(FixedClock::new(NOW)))
}

fn good_claims() -> ActorClaims {
    ActorClaims {
        aud: Some(format!("{EXCHANGE}/{HOST}@{REALM}")),
        iss: Some(format!("{LYNC}@{REALM}")),
        nameid: Some(format!("{LYNC}@{REALM}")),
        nbf: Some(NOW - 60),
        exp: Some(NOW + 3600),
        trustedfordelegation: true,
        ..Default::default()
    }
}

fn sign(claims: &ActorClaims) -> String {
    actor::sign(claims, &keys().lync).unwrap()
}

fn user() -> UserClaims {
    UserClaims {
        sip: Some("kenmyer@litwareinc.com".into()),
        smtp: Some("kenmyer@litwareinc.com".into()),
        ..Default::default()
    }
}

fn outer_for(actor_token: &str, tweak: impl FnOnce(&mut OuterClaims)) -> String {
    let mut o = OuterClaims {
        aud: Some(format!("{EXCHANGE}/{HOST}@{REALM}")),
        iss: Some(format!("{LYNC}@{REALM}")),
        nbf: Some(NOW - 60),
        exp: Some(NOW + 3600),
        actortoken: Some(actor_token.to_owned()),
        user: user(),
    };
    tweak(&mut o);
    outer::build(&o).unwrap()
}

fn b64(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

fn with_claims(tweak: impl FnOnce(&mut ActorClaims)) -> String {
    let mut c = good_claims();
    tweak(&mut c);
    sign(&c)
}

#[test]
fn accepts_app_only_and_act_as() {
    let v = validator();
    let app_only = v.validate(&sign(&good_claims()), HOST).unwrap();
    assert_eq!(app_only.kind, TokenKind::AppOnly);
    assert_eq!(app_only.partner, "Lync");
    assert_eq!(app_only.trust_level, TrustLevel::Full);

    let act_as = v.validate(&outer_for(&sign(&good_claims()), |_| {}), &format!("{HOST}:443")).unwrap();
    assert_eq!(act_as.kind, TokenKind::ActAs);
    assert_eq!(act_as.user.as_ref().unwrap().sip.as_deref(), Some("kenmyer@litwareinc.com"));
}

#[test]
fn application_trust_may_call_as_itself() {
    let v = validator();
    let t = with_claims(|c| {
        c.iss = Some(format!("{APP_PARTNER}@{REALM}"));
        c.nameid = c.iss.clone();
    });
    assert_eq!(v.validate(&t, HOST).unwrap().trust_level, TrustLevel::Application);
}

#[test]
fn lenient_on_what_real_callers_send() {
    let v = validator();
    // string NumericDates, boolean trustedfordelegation, padded x5t, no nbf, uppercase GUIDs
    let claims = format!(
        r#"{{"aud":"{}/{HOST}@{REALM}","iss":"{}@{REALM}","nameid":"{}@{REALM}","exp":"{}","trustedfordelegation":true}}"#,
        EXCHANGE.to_uppercase(),
        LYNC.to_uppercase(),
        LYNC,
        NOW + 100
    );
    let header = jws::Header {
        typ: Some("JWT".into()),
        alg: "RS256".into(),
        x5t: Some(format!("{}=", keys().lync.x5t())),
        ..Default::default()
    };
    let claims: serde_json::Value = serde_json::from_str(&claims).unwrap();
    let token = jws::sign(&header, &claims, &keys().lync).unwrap();
    let actor_ok = v.validate(&token, HOST).unwrap();
    assert_eq!(actor_ok.expires_at, NOW + 100);
    // float exp
    let token = jws::sign(&header, &serde_json::json!({"aud": format!("{EXCHANGE}/{HOST}@{REALM}"), "iss": format!("{LYNC}@{REALM}"), "exp": (NOW + 100) as f64 + 0.5}), &keys().lync).unwrap();
    assert!(v.validate(&token, HOST).is_ok());
}

#[test]
fn cache_hits_expire_and_follow_configuration() {
    let clock = Arc::new(FixedClock::new(NOW));
    let local = LocalIdentity { app_id: EXCHANGE.into(), realm: REALM.into(), ..Default::default() };
    let trust = Arc::new(TrustStore::new(local.clone(), vec![partner("Lync", LYNC, TrustLevel::Full, true)]));
    let v = Validator::new(Arc::clone(&trust), clock.clone());
    let token = sign(&good_claims());
    assert!(v.validate(&token, HOST).is_ok());
    assert!(v.validate(&token, HOST).is_ok()); // cached
    trust.publish(local.clone(), vec![partner("Lync", LYNC, TrustLevel::Full, false)]);
    assert_eq!(v.validate(&token, HOST).unwrap_err().kind, RejectionKind::PartnerDisabled);

    // Expiry: the same token at the same host, cached under a generation that stays current.
    trust.publish(local, vec![partner("Lync", LYNC, TrustLevel::Full, true)]);
    let cached = v.validate(&token, HOST).unwrap();
    assert_eq!(cached.expires_at, NOW + 3600);
    clock.advance(3600 + DEFAULT_SKEW_SECONDS); // the last second inside the skew: still the cached hit
    assert!(Arc::ptr_eq(&v.validate(&token, HOST).unwrap(), &cached), "served from the cache");
    clock.advance(1);
    assert_eq!(v.validate(&token, HOST).unwrap_err().kind, RejectionKind::TokenExpired);
}

#[test]
fn cache_does_not_serve_a_token_before_its_nbf() {
    // Accepted inside the skew before nbf; once the clock goes back past it, the hit is refused.
    let clock = Arc::new(FixedClock::new(NOW));
    let local = LocalIdentity { app_id: EXCHANGE.into(), realm: REALM.into(), ..Default::default() };
    let trust = Arc::new(TrustStore::new(local, vec![partner("Lync", LYNC, TrustLevel::Full, true)]));
    let v = Validator::new(trust, clock.clone());
    let token = with_claims(|c| c.nbf = Some(NOW + DEFAULT_SKEW_SECONDS));
    assert!(v.validate(&token, HOST).is_ok());
    clock.set(NOW - 1);
    assert_eq!(v.validate(&token, HOST).unwrap_err().kind, RejectionKind::TokenNotYetValid);
}

#[test]
fn refuses_each_bad_token_with_its_own_reason() {
    use RejectionKind as K;
    let good = sign(&good_claims());
    let (gh, gp, _) = {
        let mut it = good.split('.');
        (it.next().unwrap().to_owned(), it.next().unwrap().to_owned(), it.next().unwrap().to_owned())
    };
    let hs256 = {
        // HS256 "signed" with the partner's public certificate as the HMAC secret.
        let header = b64(&format!(r#"{{"typ":"JWT","alg":"HS256","x5t":"{}"}}"#, keys().lync.x5t()));
        let input = format!("{header}.{gp}");
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &keys().lync_cert),
            input.as_bytes(),
        );
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let forged_sig = format!("{gh}.{gp}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
    let other_key = {
        let header = jws::Header {
            typ: Some("JWT".into()),
            alg: "RS256".into(),
            x5t: Some(keys().lync.x5t().into()),
            ..Default::default()
        };
        jws::sign(&header, &good_claims(), &keys().other).unwrap()
    };
    let alg_none_actor = format!("{}.{gp}.", b64(r#"{"typ":"JWT","alg":"none"}"#));
    let signed_outer = {
        let o = OuterClaims {
            aud: good_claims().aud,
            iss: good_claims().iss,
            nbf: Some(NOW),
            exp: Some(NOW + 60),
            actortoken: Some(good.clone()),
            user: user(),
        };
        let header = jws::Header {
            typ: Some("JWT".into()),
            alg: "RS256".into(),
            x5t: Some(keys().lync.x5t().into()),
            ..Default::default()
        };
        jws::sign(&header, &o, &keys().lync).unwrap()
    };
    let cases: Vec<(&str, String, &str, K)> = vec![
        ("not a JWS", "abc".into(), HOST, K::MalformedToken),
        ("four segments", format!("{good}.x"), HOST, K::MalformedToken),
        ("header not base64", format!("!!.{gp}.x"), HOST, K::MalformedToken),
        ("payload not JSON", format!("{gh}.{}.x", b64("nope")), HOST, K::MalformedToken),
        ("oversized", "a".repeat(17 * 1024), HOST, K::TokenTooLarge),
        ("expired", with_claims(|c| c.exp = Some(NOW - 3600)), HOST, K::TokenExpired),
        ("not yet valid beyond skew", with_claims(|c| c.nbf = Some(NOW + 3600)), HOST, K::TokenNotYetValid),
        ("no exp", with_claims(|c| c.exp = None), HOST, K::MissingExpiry),
        (
            "wrong audience app id",
            with_claims(|c| c.aud = Some(format!("{LYNC}/{HOST}@{REALM}"))),
            HOST,
            K::WrongAudience,
        ),
        ("wrong audience host", good.clone(), "evil.example", K::UnexpectedHostNameInAudience),
        (
            "wrong audience port",
            with_claims(|c| c.aud = Some(format!("{EXCHANGE}/{HOST}:444@{REALM}"))),
            "mail.litwareinc.com:443",
            K::UnexpectedHostNameInAudience,
        ),
        (
            "audience without host",
            with_claims(|c| c.aud = Some(format!("{EXCHANGE}@{REALM}"))),
            HOST,
            K::InvalidAudience,
        ),
        (
            "audience with empty realm",
            with_claims(|c| c.aud = Some(format!("{EXCHANGE}/{HOST}@"))),
            HOST,
            K::EmptyRealmFromAudience,
        ),
        ("no aud", with_claims(|c| c.aud = None), HOST, K::InvalidAudience),
        ("no iss", with_claims(|c| c.iss = None), HOST, K::MissingIssuer),
        ("iss without realm", with_claims(|c| c.iss = Some(LYNC.into())), HOST, K::InvalidIssuerFormat),
        (
            "unknown issuer",
            with_claims(|c| c.iss = Some(format!("12345678-1234-1234-1234-123456789012@{REALM}"))),
            HOST,
            K::NoConfiguredIssuerMatched,
        ),
        (
            "issuer from another realm",
            with_claims(|c| c.iss = Some(format!("{LYNC}@fabrikam.com"))),
            HOST,
            K::NoConfiguredIssuerMatched,
        ),
        (
            "disabled partner",
            with_claims(|c| {
                c.iss = Some(format!("{OFF_PARTNER}@{REALM}"));
                c.nameid = c.iss.clone();
            }),
            HOST,
            K::PartnerDisabled,
        ),
        (
            "aud realm differs from iss realm",
            with_claims(|c| c.aud = Some(format!("{EXCHANGE}/{HOST}@fabrikam.com"))),
            HOST,
            K::MismatchedRealmBetweenAudienceAndIssuer,
        ),
        (
            "unknown x5t",
            {
                let header = jws::Header {
                    typ: Some("JWT".into()),
                    alg: "RS256".into(),
                    x5t: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
                    ..Default::default()
                };
                jws::sign(&header, &good_claims(), &keys().lync).unwrap()
            },
            HOST,
            K::NoCertificateFound,
        ),
        ("garbage signature under a known x5t", forged_sig, HOST, K::InvalidSignature),
        ("signed by another key under a known x5t", other_key, HOST, K::InvalidSignature),
        ("HS256 actor keyed with the public certificate", hs256, HOST, K::AlgorithmMismatch),
        ("alg none without an actor", alg_none_actor.clone(), HOST, K::ActorTokenMustBeSigned),
        ("alg none actor inside an outer token", outer_for(&alg_none_actor, |_| {}), HOST, K::ActorTokenMustBeSigned),
        ("signed outer token", signed_outer, HOST, K::OuterTokenAlsoSigned),
        (
            "outer alg none with a signature",
            {
                let o = outer_for(&good, |_| {});
                format!("{o}c2ln")
            },
            HOST,
            K::OuterTokenAlsoSigned,
        ),
        ("nameid without realm", with_claims(|c| c.nameid = Some("x".into())), HOST, K::InvalidNameIdFormat),
        (
            "nameid of another app",
            with_claims(|c| c.nameid = Some(format!("{EXCHANGE}@{REALM}"))),
            HOST,
            K::UnexpectedAppIdInNameId,
        ),
        (
            "nameid realm differs",
            with_claims(|c| c.nameid = Some(format!("{LYNC}@fabrikam.com"))),
            HOST,
            K::UnexpectedRealmInNameId,
        ),
        (
            "outer iss is not the actor's app",
            outer_for(&good, |o| o.iss = Some(format!("{EXCHANGE}@{REALM}"))),
            HOST,
            K::InvalidOuterTokenIssuerIdValue,
        ),
        (
            "outer iss without realm",
            outer_for(&good, |o| o.iss = Some("lync".into())),
            HOST,
            K::InvalidOuterTokenIssuerFormat,
        ),
        (
            "outer aud differs",
            outer_for(&good, |o| o.aud = Some(format!("{EXCHANGE}/other.host@{REALM}"))),
            HOST,
            K::OuterAudienceMismatch,
        ),
        ("outer token expired", outer_for(&good, |o| o.exp = Some(NOW - 3600)), HOST, K::TokenExpired),
        (
            "Application-trust partner naming a user",
            outer_for(
                &with_claims(|c| {
                    c.iss = Some(format!("{APP_PARTNER}@{REALM}"));
                    c.nameid = c.iss.clone();
                }),
                |o| o.iss = Some(format!("{APP_PARTNER}@{REALM}")),
            ),
            HOST,
            K::ActAsNotAllowed,
        ),
        (
            "actor not trusted for delegation naming a user",
            outer_for(&with_claims(|c| c.trustedfordelegation = false), |_| {}),
            HOST,
            K::ActorNotTrustedForDelegation,
        ),
        ("outer token naming nobody", outer_for(&good, |o| o.user = UserClaims::default()), HOST, K::NoUserClaimsFound),
    ];
    let v = validator();
    let mut reasons = std::collections::BTreeSet::new();
    for (name, token, host, expected) in &cases {
        let err = v.validate(token, host).expect_err(name);
        // The trace takes the same path: its one failed step is the last, with the same reason.
        let (traced, trace) = v.validate_traced(token, host);
        assert_eq!(traced.as_ref().unwrap_err(), &err, "{name}");
        let last = trace.steps.last().expect(name);
        assert_eq!((last.outcome, last.reason), (Outcome::Failed, Some(err.reason())), "{name}: {trace:#?}");
        assert_eq!(trace.steps.iter().filter(|s| s.outcome == Outcome::Failed).count(), 1, "{name}");
        assert_eq!(last.detail, err.detail, "{name}");
        assert!(matches!(&trace.verdict, Verdict::Refused { reason, .. } if *reason == err.reason()), "{name}");
        for step in &trace.steps {
            assert!(!step.detail.contains(token.as_str()) || token.len() < 8, "{name}: a step echoes the token");
            if let Some(sig) = token.rsplit('.').next().filter(|s| s.len() > 16) {
                assert!(!step.detail.contains(sig), "{name}: a step echoes the signature");
            }
        }
        assert_eq!(err.kind, *expected, "{name}: {err}");
        assert!(err.diagnostics().starts_with(&format!("{};reason=\"", expected.code())), "{name}");
        assert!(!err.detail.contains(token.as_str()) || token.len() < 8, "{name}: the detail must not echo the token");
        reasons.insert(err.reason());
    }
    assert!(cases.len() >= 25, "{} cases", cases.len());
    assert!(reasons.len() >= 25, "only {} distinct reasons", reasons.len());
}

#[test]
fn unknown_realm_of_ours_is_refused() {
    // A partner that serves any realm, calling in a realm that is not ours.
    let local = LocalIdentity { app_id: EXCHANGE.into(), realm: REALM.into(), ..Default::default() };
    let mut any = Arc::try_unwrap(partner("Any", LYNC, TrustLevel::Full, true)).unwrap();
    any.realm = "*".into();
    let trust = Arc::new(TrustStore::new(local, vec![Arc::new(any)]));
    let v = Validator::new(trust, Arc::new(FixedClock::new(NOW)));
    let t = with_claims(|c| {
        c.aud = Some(format!("{EXCHANGE}/{HOST}@fabrikam.com"));
        c.iss = Some(format!("{LYNC}@fabrikam.com"));
        c.nameid = c.iss.clone();
    });
    assert_eq!(v.validate(&t, HOST).unwrap_err().kind, RejectionKind::OrganizationIdNotFoundFromRealm);
}

const ACS_REALM: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// An auth server (ACS) for the tenant, signing with the lync test key, and partner applications
/// that do or do not take their tokens from it.
fn hybrid_validator(use_auth_server: bool, enabled: bool) -> Validator {
    let local = LocalIdentity { app_id: EXCHANGE.into(), realm: ACS_REALM.into(), ..Default::default() };
    let mut acs = Arc::try_unwrap(partner("WindowsAzureACS", crate::principal::ACS, TrustLevel::Full, true)).unwrap();
    acs.kind = crate::partner::PartnerKind::AuthServer;
    acs.realm = "*".into();
    let mut sfb = Arc::try_unwrap(partner("SfBOnline", LYNC, TrustLevel::Full, enabled)).unwrap();
    sfb.realm = ACS_REALM.into();
    sfb.keys.clear();
    sfb.use_auth_server = use_auth_server;
    let trust = Arc::new(TrustStore::new(local, vec![Arc::new(acs), Arc::new(sfb)]));
    Validator::new(trust, Arc::new(FixedClock::new(NOW)))
}

fn acs_issued(nameid_app: &str) -> String {
    sign(&ActorClaims {
        aud: Some(format!("{EXCHANGE}/{HOST}@{ACS_REALM}")),
        iss: Some(format!("{}@{ACS_REALM}", crate::principal::ACS)),
        nameid: Some(format!("{nameid_app}@{ACS_REALM}")),
        nbf: Some(NOW - 60),
        exp: Some(NOW + 3600),
        trustedfordelegation: true,
        identityprovider: Some(format!("{}@{ACS_REALM}", crate::principal::ACS)),
        ..Default::default()
    })
}

#[test]
fn accepts_actors_an_auth_server_issued_for_a_partner_marked_to_use_it() {
    let v = hybrid_validator(true, true);
    let actor = acs_issued(LYNC);
    let app_only = v.validate(&actor, HOST).unwrap();
    assert_eq!(app_only.partner, "SfBOnline");
    assert_eq!(app_only.auth_server.as_deref(), Some("WindowsAzureACS"));
    let outer = outer_for(&actor, |o| {
        o.iss = Some(format!("{LYNC}@{ACS_REALM}"));
        o.aud = Some(format!("{EXCHANGE}/{HOST}@{ACS_REALM}"));
    });
    let act_as = v.validate(&outer, HOST).unwrap();
    assert_eq!(act_as.kind, TokenKind::ActAs);
    assert_eq!(act_as.partner, "SfBOnline");
}

#[test]
fn refuses_auth_server_actors_without_a_matching_partner() {
    let k = hybrid_validator(false, true).validate(&acs_issued(LYNC), HOST).unwrap_err();
    assert_eq!(k.kind, RejectionKind::NoMatchingPartnerAppFound, "{k}");
    assert_eq!(k.code(), 7001);
    let k = hybrid_validator(true, true).validate(&acs_issued(APP_PARTNER), HOST).unwrap_err();
    assert_eq!(k.kind, RejectionKind::NoMatchingPartnerAppFound);
    let k = hybrid_validator(true, false).validate(&acs_issued(LYNC), HOST).unwrap_err();
    assert_eq!(k.kind, RejectionKind::PartnerDisabled);
    assert_eq!(k.partner.as_deref(), Some("SfBOnline"));
}

/// The steps of a trace with their outcomes.
fn outline(trace: &Trace) -> Vec<(Step, Outcome)> {
    trace.steps.iter().map(|s| (s.step, s.outcome)).collect()
}

#[test]
fn traces_every_step_in_order_and_ends_with_the_verdict() {
    use Outcome::{Passed, Skipped};
    let v = validator();
    let (result, trace) = v.validate_traced(&outer_for(&sign(&good_claims()), |_| {}), HOST);
    let validated = result.unwrap();
    assert_eq!(trace.verdict, Verdict::Accepted(Box::new(validated)));
    assert!(trace.accepted() && trace.failed_step().is_none());
    let expected: Vec<(Step, Outcome)> = Step::ALL.iter().map(|s| (*s, Passed)).collect();
    assert_eq!(outline(&trace), expected);
    let signature = trace.steps.iter().find(|s| s.step == Step::Signature).unwrap();
    assert!(
        signature.detail.contains(keys().lync.x5t()) && signature.detail.contains("selected by x5t"),
        "{signature:?}"
    );

    // App-only: the outer steps are skipped, not passed.
    let (result, trace) = v.validate_traced(&sign(&good_claims()), HOST);
    assert!(result.is_ok());
    let outline = outline(&trace);
    assert_eq!(outline.len(), Step::ALL.len());
    assert_eq!(outline[..8].iter().filter(|(_, o)| *o == Passed).count(), 8);
    assert!(outline[8..].iter().all(|(_, o)| *o == Skipped), "{outline:?}");
}

#[test]
fn traced_lifetime_says_when_the_skew_saved_the_token() {
    let v = validator();
    let (result, trace) = v.validate_traced(&with_claims(|c| c.exp = Some(NOW - 60)), HOST);
    assert!(result.is_ok(), "60 s past exp is inside the 300 s skew");
    let lifetime = trace.steps.iter().find(|s| s.step == Step::Lifetime).unwrap();
    assert_eq!(lifetime.outcome, Outcome::Passed);
    assert!(lifetime.detail.contains("expired 60 s ago, within the allowed clock skew of 300 s"), "{lifetime:?}");
}

#[test]
fn traced_signature_names_the_x5t_s256_form() {
    let header = jws::Header {
        typ: Some("JWT".into()),
        alg: "RS256".into(),
        x5t_s256: Some(crate::token::thumbprint::x5t_s256(&keys().lync_cert)),
        ..Default::default()
    };
    let token = jws::sign(&header, &good_claims(), &keys().lync).unwrap();
    let (result, trace) = validator().validate_traced(&token, HOST);
    assert!(result.is_ok(), "{result:?}");
    let signature = trace.steps.iter().find(|s| s.step == Step::Signature).unwrap();
    assert!(signature.detail.contains("selected by x5t#S256"), "{signature:?}");

    // An unknown x5t#S256 is refused at the signature step, naming the form.
    let header = jws::Header { x5t_s256: Some(URL_SAFE_NO_PAD.encode([7u8; 32])), ..header };
    let token = jws::sign(&header, &good_claims(), &keys().lync).unwrap();
    let (result, trace) = validator().validate_traced(&token, HOST);
    assert_eq!(result.unwrap_err().kind, RejectionKind::NoCertificateFound);
    let failed = trace.failed_step().unwrap();
    assert_eq!(failed.step, Step::Signature);
    assert!(failed.detail.contains("x5t#S256"), "{failed:?}");
}

mod limits;
