//! Differential tests against jsonwebtoken: it verifies the actor tokens we mint (by `Issuer` and by
//! `actor::sign`) with the certificate's public key, and our validator accepts what it signs.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation, decode, encode, errors::ErrorKind};
use s2s::client::{Issuer, IssuerIdentity};
use s2s::clock::{Clock as _, SystemClock};
use s2s::principal::{EXCHANGE, LYNC, Principal};
use s2s::token::{Compact, OuterClaims, OuterToken, actor, outer};
use s2s::validate::{RejectionKind, TokenKind};
use serde_json::{Value, json};

use crate::common::*;

fn decoding_key(k: &TestKey) -> DecodingKey {
    DecodingKey::from_rsa_der(&k.public_pkcs1())
}

fn encoding_key(k: &TestKey) -> EncodingKey {
    EncodingKey::from_rsa_pem(k.pair.serialize_pem().as_bytes()).unwrap()
}

/// RS256 only, `aud` must be `aud`, `exp` and `nbf` required and checked against the wall clock.
fn validation(aud: &str) -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_required_spec_claims(&["exp", "nbf", "aud"]);
    v.validate_exp = true;
    v.validate_nbf = true;
    v
}

fn lync_issuer() -> Issuer {
    let identity = IssuerIdentity { app_id: LYNC.into(), realm: REALM.into(), key: Some(Arc::clone(&key_a().signing)) };
    Issuer::new(identity, s2s::clock::system())
}

#[test]
fn jsonwebtoken_verifies_issuer_tokens() {
    let issuer = lync_issuer();
    let aud = issuer.audience(EXCHANGE, HOST);
    let aud_text = aud.to_string();
    let token = issuer.actor_token(&aud).unwrap();

    let data = decode::<Value>(&*token, &decoding_key(key_a()), &validation(&aud_text)).unwrap();
    assert_eq!(data.header.alg, Algorithm::RS256);
    assert_eq!(data.header.typ.as_deref(), Some("JWT"));
    assert_eq!(data.header.x5t, Some(key_a().x5t()), "x5t = base64url(SHA-1(DER))");
    assert_eq!(data.claims["aud"], json!(aud_text));
    assert_eq!(data.claims["iss"], json!(lync_principal()));
    assert_eq!(data.claims["nameid"], json!(lync_principal()));
    assert_eq!(data.claims["trustedfordelegation"], json!("true"));
    let now = SystemClock.now();
    let (nbf, exp) = (data.claims["nbf"].as_i64().unwrap(), data.claims["exp"].as_i64().unwrap());
    assert!(nbf <= now && now < exp, "nbf {nbf} ≤ now {now} < exp {exp}");

    // The actor inside an act-as token is the same token, and verifies the same way.
    let act_as = issuer.act_as_token(&aud, &ken()).unwrap();
    let compact = Compact::split(&act_as).unwrap();
    let outer = OuterToken::decode(&compact, &compact.header().unwrap()).unwrap();
    let inner = outer.claims.actortoken.as_deref().unwrap();
    assert_eq!(inner, &*token);
    decode::<Value>(inner, &decoding_key(key_a()), &validation(&aud_text)).unwrap();

    // Controls: the oracle does refuse another key, another audience and a tampered payload.
    let err = decode::<Value>(&*token, &decoding_key(key_b()), &validation(&aud_text)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidSignature);
    let err = decode::<Value>(&*token, &decoding_key(key_a()), &validation("someone-else")).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidAudience);
    let (head, rest) = token.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let mut claims: Value = serde_json::from_slice(&base64_decode(payload)).unwrap();
    claims["nameid"] = json!(format!("{EXCHANGE}@{REALM}"));
    let forged = format!("{head}.{}.{sig}", b64(claims.to_string()));
    let err = decode::<Value>(&forged, &decoding_key(key_a()), &validation(&aud_text)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidSignature);
}

#[test]
fn jsonwebtoken_verifies_actor_sign_and_checks_exp() {
    let now = SystemClock.now();
    let aud = Principal::audience(EXCHANGE, "mail.litwareinc.com:8443", REALM).to_string();
    let mut claims = actor_claims(now);
    claims.aud = Some(aud.clone());
    claims.iat = Some(now);
    claims.identityprovider = Some(format!("{LYNC}@{REALM}"));
    let token = actor::sign(&claims, &key_b().signing).unwrap();
    let data = decode::<Value>(&token, &decoding_key(key_b()), &validation(&aud)).unwrap();
    assert_eq!(data.header.x5t, Some(key_b().x5t()));
    assert_eq!(data.claims["iat"], json!(now));
    assert_eq!(data.claims["identityprovider"], json!(format!("{LYNC}@{REALM}")));

    // Expired beyond jsonwebtoken's default 60 s leeway.
    claims.nbf = Some(now - 7200);
    claims.exp = Some(now - 3600);
    let expired = actor::sign(&claims, &key_b().signing).unwrap();
    let err = decode::<Value>(&expired, &decoding_key(key_b()), &validation(&aud)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::ExpiredSignature);
}

fn base64_decode(segment: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).unwrap()
}

fn jwt_header(x5t: Option<String>, alg: Algorithm) -> jsonwebtoken::Header {
    let mut header = jsonwebtoken::Header::new(alg);
    header.x5t = x5t;
    header
}

#[test]
fn validator_accepts_tokens_signed_by_jsonwebtoken() {
    let claims = json!({
        "aud": audience(), "iss": lync_principal(), "nameid": lync_principal(),
        "nbf": NOW - 60, "exp": NOW + 3600, "trustedfordelegation": "true",
    });
    let token = encode(&jwt_header(Some(key_a().x5t()), Algorithm::RS256), &claims, &encoding_key(key_a())).unwrap();
    let v = validator().validate(&token, HOST).unwrap();
    assert_eq!(v.kind, TokenKind::AppOnly);
    assert_eq!(v.partner, "Lync");
    assert_eq!(v.x5t, key_a().x5t());
    assert_eq!(v.expires_at, NOW + 3600);

    // Wrapped in our outer token, it acts for a user.
    let act_as = outer::build(&OuterClaims {
        aud: Some(audience()),
        iss: Some(lync_principal()),
        nbf: Some(NOW - 60),
        exp: Some(NOW + 600),
        actortoken: Some(token),
        user: ken(),
    })
    .unwrap();
    let v = validator().validate(&act_as, HOST).unwrap();
    assert_eq!((v.kind, v.expires_at), (TokenKind::ActAs, NOW + 600));
    assert_eq!(v.user.as_ref(), Some(&ken()));
}

#[test]
fn validator_accepts_real_callers_quirks_from_jsonwebtoken() {
    // node-sp-auth & co (interop.md #5): padded x5t, string/float dates, no nbf, boolean
    // trustedfordelegation, a host with its port.
    let claims = json!({
        "aud": format!("{EXCHANGE}/{HOST}:443@{REALM}"), "iss": lync_principal(), "nameid": lync_principal(),
        "exp": format!("{}", NOW + 3600), "iat": (NOW - 5) as f64 + 0.25, "trustedfordelegation": true,
    });
    let padded = format!("{}=", key_a().x5t());
    let token = encode(&jwt_header(Some(padded), Algorithm::RS256), &claims, &encoding_key(key_a())).unwrap();
    let v = validator().validate(&token, HOST).unwrap();
    assert_eq!((v.not_before, v.expires_at), (None, NOW + 3600));

    let mut claims = claims;
    claims["nbf"] = json!((NOW - 60) as f64 + 0.5);
    claims["aud"] = json!(audience());
    let token = encode(&jwt_header(Some(key_a().x5t()), Algorithm::RS256), &claims, &encoding_key(key_a())).unwrap();
    assert_eq!(validator().validate(&token, "mail.litwareinc.com:443").unwrap().not_before, Some(NOW - 60));
}

#[test]
fn validator_refuses_what_jsonwebtoken_signs_wrongly() {
    let claims = json!({
        "aud": audience(), "iss": lync_principal(), "nameid": lync_principal(), "nbf": NOW - 60, "exp": NOW + 3600,
    });
    // PS256 with Lync's key: the key record says RS256, so the header cannot choose another algorithm.
    let ps = encode(&jwt_header(Some(key_a().x5t()), Algorithm::PS256), &claims, &encoding_key(key_a())).unwrap();
    assert_eq!(validator().validate(&ps, HOST).unwrap_err().kind, RejectionKind::AlgorithmMismatch);
    // A thumbprint we know, a signature by somebody else (the SharePoint bypass shape).
    let forged = encode(&jwt_header(Some(key_a().x5t()), Algorithm::RS256), &claims, &encoding_key(key_c())).unwrap();
    assert_eq!(validator().validate(&forged, HOST).unwrap_err().kind, RejectionKind::InvalidSignature);
    // Expired at the fixed clock (beyond the 300 s skew).
    let mut old = claims.clone();
    old["exp"] = json!(NOW - 301);
    let expired = encode(&jwt_header(Some(key_a().x5t()), Algorithm::RS256), &old, &encoding_key(key_a())).unwrap();
    assert_eq!(validator().validate(&expired, HOST).unwrap_err().kind, RejectionKind::TokenExpired);
}
