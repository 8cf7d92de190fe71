//! Client assertions: JWTs a client signs with its own certificate to authenticate at a token
//! endpoint — the legacy `http://oauth.net/grant_type/jwt/1.0/bearer` assertion (RS256 + `x5t`,
//! `iss`, `aud` = the authorization server's principal or token URL, `nbf`/`exp`) and RFC 7523
//! `client_assertion`s (also PS256 + `x5t#S256`, with `sub` and `jti`). Pure: the caller passes
//! the registered keys, the accepted audiences and `now`, and keeps the replay cache.

use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use super::jws::{Compact, Header};
use super::keys::VerifyingKey;
use super::{TokenError, claims};
use crate::clock::UnixTime;

/// Longest remaining lifetime (`exp - now`) an assertion may have when it is presented.
pub const MAX_ASSERTION_LIFETIME: i64 = 3600;

/// Why a client assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// Not a decodable JWS.
    #[error("the assertion is malformed: {0}")]
    Malformed(TokenError),
    /// `alg=none` or no signature.
    #[error("the assertion is unsigned")]
    Unsigned,
    /// No `iss`.
    #[error("the assertion has no iss")]
    MissingIssuer,
    /// No registered certificate has the header's thumbprint (or allows its algorithm).
    #[error("no certificate registered for {client} has thumbprint {thumbprint} with algorithm {alg}")]
    UnknownCertificate {
        /// The client.
        client: String,
        /// The header's `x5t`, `x5t#S256` or `kid`.
        thumbprint: String,
        /// The header's `alg`.
        alg: String,
    },
    /// The signature does not verify.
    #[error("the assertion's signature does not verify under certificate {0}")]
    BadSignature(String),
    /// `aud` is none of the accepted audiences.
    #[error("the assertion's audience {found:?} is not this token endpoint ({expected})")]
    WrongAudience {
        /// What it said.
        found: Vec<String>,
        /// What we accept.
        expected: String,
    },
    /// No `exp`.
    #[error("the assertion has no exp")]
    MissingExpiry,
    /// Past `exp`.
    #[error("the assertion expired {0} s ago")]
    Expired(i64),
    /// Before `nbf`.
    #[error("the assertion is not valid for another {0} s")]
    NotYetValid(i64),
    /// Lives longer than allowed.
    #[error("the assertion lives {lifetime} s; at most {max} s are accepted")]
    LifetimeTooLong {
        /// Its lifetime.
        lifetime: i64,
        /// The maximum.
        max: i64,
    },
}

/// The claims of a client assertion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AssertionClaims {
    /// The client (`<appId>@<realm>` for the legacy form, the bare client id for RFC 7523).
    #[serde(default)]
    pub iss: Option<String>,
    /// The subject (RFC 7523: the client id).
    #[serde(default)]
    pub sub: Option<String>,
    /// The audience(s).
    #[serde(default, deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Unique id (RFC 7523).
    #[serde(default)]
    pub jti: Option<String>,
    /// Not before.
    #[serde(default, deserialize_with = "claims::numeric_date")]
    pub nbf: Option<UnixTime>,
    /// Expiry.
    #[serde(default, deserialize_with = "claims::numeric_date")]
    pub exp: Option<UnixTime>,
    /// Issued at.
    #[serde(default, deserialize_with = "claims::numeric_date")]
    pub iat: Option<UnixTime>,
}

/// A decoded, not yet verified assertion.
#[derive(Debug, Clone)]
pub struct Assertion<'a> {
    /// Segments.
    pub compact: Compact<'a>,
    /// Header.
    pub header: Header,
    /// Claims.
    pub claims: AssertionClaims,
}

/// A verified assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// `iss` as sent.
    pub issuer: String,
    /// What identifies this assertion for replay detection: its `jti`, else its signature.
    pub replay_key: String,
    /// When it expires (replay entries can be dropped then).
    pub expires_at: UnixTime,
    /// The thumbprint of the certificate that verified it.
    pub x5t: String,
}

impl<'a> Assertion<'a> {
    /// Splits and decodes.
    pub fn decode(token: &'a str) -> Result<Self, AssertionError> {
        let compact = Compact::split(token).map_err(AssertionError::Malformed)?;
        let header = compact.header().map_err(AssertionError::Malformed)?;
        if header.is_unsigned() || compact.signature.is_empty() {
            return Err(AssertionError::Unsigned);
        }
        let claims = compact.claims().map_err(AssertionError::Malformed)?;
        Ok(Self { compact, header, claims })
    }

    /// Verifies against the client's registered keys (each key record fixes its algorithm; the
    /// header only selects among them), the accepted audiences (compared case-insensitively, a
    /// trailing `/` ignored), the lifetime and its maximum.
    pub fn verify(
        &self,
        client: &str,
        keys: &[Arc<VerifyingKey>],
        audiences: &[String],
        now: UnixTime,
        skew: i64,
    ) -> Result<VerifiedAssertion, AssertionError> {
        let issuer = self.claims.iss.clone().ok_or(AssertionError::MissingIssuer)?;
        let h = &self.header;
        let key = keys
            .iter()
            .filter(|k| k.algorithm().name() == h.alg)
            .find(|k| match (&h.x5t, &h.x5t_s256, &h.kid) {
                (Some(t), _, _) => k.matches_x5t(t),
                (None, Some(t), _) => k.matches_x5t_s256(t),
                (None, None, Some(t)) => k.matches_x5t(t),
                (None, None, None) => {
                    keys.len() == 1 || keys.iter().filter(|o| o.algorithm() == k.algorithm()).count() == 1
                }
            })
            .ok_or_else(|| AssertionError::UnknownCertificate {
                client: client.to_owned(),
                thumbprint: h.x5t.clone().or_else(|| h.x5t_s256.clone()).or_else(|| h.kid.clone()).unwrap_or_default(),
                alg: h.alg.clone(),
            })?;
        self.compact.verify(&h.alg, key).map_err(|_| AssertionError::BadSignature(key.x5t().to_owned()))?;
        let normalize = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
        if !self.claims.aud.iter().any(|a| audiences.iter().any(|b| normalize(a) == normalize(b))) {
            return Err(AssertionError::WrongAudience {
                found: self.claims.aud.clone(),
                expected: audiences.join(" or "),
            });
        }
        let exp = self.claims.exp.ok_or(AssertionError::MissingExpiry)?;
        // Saturating: the dates are the sender's, any i64 (or a float within ±1e15).
        if exp.saturating_add(skew) < now {
            return Err(AssertionError::Expired(now.saturating_sub(exp)));
        }
        if let Some(nbf) = self.claims.nbf.filter(|nbf| nbf.saturating_sub(skew) > now) {
            return Err(AssertionError::NotYetValid(nbf.saturating_sub(now)));
        }
        // What matters is how long a stolen assertion could still be used.
        let lifetime = exp.saturating_sub(now);
        if lifetime > MAX_ASSERTION_LIFETIME.saturating_add(skew) {
            return Err(AssertionError::LifetimeTooLong { lifetime, max: MAX_ASSERTION_LIFETIME });
        }
        Ok(VerifiedAssertion {
            issuer,
            replay_key: self.claims.jti.clone().unwrap_or_else(|| self.compact.signature.to_owned()),
            expires_at: exp,
            x5t: key.x5t().to_owned(),
        })
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::One(s)) => vec![s],
        Some(Raw::Many(v)) => v,
        None => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use super::*;
    use crate::token::{Algorithm, SigningKey, jws};

    const NOW: i64 = 1_800_000_000;
    const URL: &str = "https://sts.litwareinc.com/72f988bf-86f1-41af-91ab-2d7cd011db47/tokens/OAuth/2";

    fn key() -> (SigningKey, Vec<u8>) {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["client".to_owned()]).unwrap();
        params.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 86_400).unwrap();
        let der = params.self_signed(&kp).unwrap().der().to_vec();
        (SigningKey::from_pkcs8(&kp.serialize_der(), &der).unwrap(), der)
    }

    fn assertion(key: &SigningKey, der: &[u8], alg: Algorithm, claims: serde_json::Value) -> String {
        let mut header = jws::Header { typ: Some("JWT".into()), alg: alg.name().into(), ..Default::default() };
        match alg {
            Algorithm::Rs256 => header.x5t = Some(key.x5t().into()),
            Algorithm::Ps256 => header.x5t_s256 = Some(crate::token::thumbprint::x5t_s256(der)),
        }
        jws::sign(&header, &claims, key).unwrap()
    }

    #[test]
    fn verifies_rs256_and_ps256_and_refuses_the_rest() {
        let (k, der) = key();
        let records = vec![
            Arc::new(VerifyingKey::with_algorithm(&der, Algorithm::Rs256).unwrap()),
            Arc::new(VerifyingKey::with_algorithm(&der, Algorithm::Ps256).unwrap()),
        ];
        let aud = vec![URL.to_owned()];
        let good = serde_json::json!({"iss": "client-id", "sub": "client-id", "aud": URL, "jti": "j1", "nbf": NOW - 5, "exp": NOW + 600});
        for alg in [Algorithm::Rs256, Algorithm::Ps256] {
            let a = assertion(&k, &der, alg, good.clone());
            let v = Assertion::decode(&a).unwrap().verify("client-id", &records, &aud, NOW, 300).unwrap();
            assert_eq!(v.replay_key, "j1");
        }
        let check = |claims: serde_json::Value| {
            let a = assertion(&k, &der, Algorithm::Rs256, claims);
            Assertion::decode(&a).unwrap().verify("client-id", &records, &aud, NOW, 300).unwrap_err()
        };
        let mut far = good.clone();
        far["exp"] = serde_json::json!(NOW + 30 * 86_400);
        assert!(matches!(check(far), AssertionError::LifetimeTooLong { .. }));
        let mut old = good.clone();
        old["exp"] = serde_json::json!(NOW - 3600);
        assert!(matches!(check(old), AssertionError::Expired(_)));
        let mut other = good.clone();
        other["aud"] = serde_json::json!("https://elsewhere.example/tokens/OAuth/2");
        assert!(matches!(check(other), AssertionError::WrongAudience { .. }));
        // Only the RS256 record registered: a PS256 assertion finds no key.
        let a = assertion(&k, &der, Algorithm::Ps256, good.clone());
        let err = Assertion::decode(&a).unwrap().verify("client-id", &records[..1], &aud, NOW, 300).unwrap_err();
        assert!(matches!(err, AssertionError::UnknownCertificate { .. }), "{err}");
        // Another key under the registered thumbprint.
        let (other_key, _) = key();
        let mut header = jws::Header {
            typ: Some("JWT".into()),
            alg: "RS256".into(),
            x5t: Some(k.x5t().into()),
            ..Default::default()
        };
        header.kid = None;
        let forged = jws::sign(&header, &good, &other_key).unwrap();
        let err = Assertion::decode(&forged).unwrap().verify("client-id", &records, &aud, NOW, 300).unwrap_err();
        assert!(matches!(err, AssertionError::BadSignature(_)));
        let none = format!("{}.{}.", "eyJhbGciOiJub25lIn0", forged.split('.').nth(1).unwrap());
        assert!(matches!(Assertion::decode(&none), Err(AssertionError::Unsigned)));
    }

    #[test]
    fn an_assertion_marking_any_extension_critical_is_refused() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (k, _) = key();
        let claims = serde_json::json!({"iss": "client-id", "aud": URL, "jti": "j1", "exp": NOW + 600});
        let signed = |header: &str| {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
            );
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(k.sign(input.as_bytes()).unwrap()))
        };
        let x5t = k.x5t();
        assert!(Assertion::decode(&signed(&format!(r#"{{"alg":"RS256","x5t":"{x5t}"}}"#))).is_ok());
        for crit in [r#"["b64"]"#, r#"["urn:example:ext"]"#, "[]"] {
            let token = signed(&format!(r#"{{"alg":"RS256","x5t":"{x5t}","crit":{crit},"b64":false}}"#));
            let err = Assertion::decode(&token).unwrap_err();
            assert!(matches!(err, AssertionError::Malformed(TokenError::UnsupportedCritical)), "{crit}: {err}");
            assert!(!err.to_string().contains("urn:example"), "the names are not echoed: {err}");
        }
    }

    #[test]
    fn absurd_assertion_dates_are_refused_without_overflow() {
        let (k, der) = key();
        let records = vec![Arc::new(VerifyingKey::with_algorithm(&der, Algorithm::Rs256).unwrap())];
        let aud = vec![URL.to_owned()];
        let values = [
            serde_json::json!(i64::MAX),
            serde_json::json!(i64::MIN),
            serde_json::json!(-1),
            serde_json::json!(1e300),
            serde_json::json!(NOW),
            serde_json::Value::Null,
        ];
        for nbf in &values {
            for exp in &values {
                let claims = serde_json::json!({"iss": "client-id", "aud": URL, "jti": "j", "nbf": nbf, "exp": exp});
                let a = assertion(&k, &der, Algorithm::Rs256, claims);
                if let Ok(decoded) = Assertion::decode(&a) {
                    for skew in [0, 300] {
                        let r = decoded.verify("client-id", &records, &aud, NOW, skew);
                        if let Ok(v) = r {
                            assert!(v.expires_at >= NOW - 300 && v.expires_at <= NOW + 7200, "{nbf} {exp}");
                        }
                    }
                }
            }
        }
    }
}
