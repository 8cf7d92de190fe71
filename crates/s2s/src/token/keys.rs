//! Keys parsed once: `SigningKey` (our RSA private key with its certificate's thumbprints) and
//! `VerifyingKey` (a partner certificate's public key, validity and thumbprints). The algorithm
//! lives in the key record; tokens never choose it.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey, RsaKeyPair};

use super::thumbprint;
use crate::clock::UnixTime;

/// The smallest RSA modulus accepted for signing or verifying, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Signature algorithms of S2S tokens and client assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: actor tokens and most assertions.
    Rs256,
    /// RSASSA-PSS with SHA-256: RFC 7523 client assertions from MSAL-style clients.
    Ps256,
}

impl Algorithm {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Self::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        }
    }

    fn encoding(self) -> &'static dyn signature::RsaEncoding {
        match self {
            Self::Rs256 => &signature::RSA_PKCS1_SHA256,
            Self::Ps256 => &signature::RSA_PSS_SHA256,
        }
    }
}

/// Why a key or certificate could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The certificate is not parseable DER X.509.
    #[error("certificate is not valid X.509 DER: {0}")]
    Certificate(String),
    /// The key is not an RSA key.
    #[error("the key is not an RSA key; S2S tokens use RS256")]
    NotRsa,
    /// The RSA modulus is too short.
    #[error("the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")]
    KeyTooSmall {
        /// Its size.
        bits: usize,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate")]
    KeyDoesNotMatch,
    /// The crypto library refused the key.
    #[error("key rejected: {0}")]
    Rejected(String),
}

/// Our private signing key with the certificate it belongs to. Parsed once, shared by `Arc`.
pub struct SigningKey {
    pair: RsaKeyPair,
    alg: Algorithm,
    x5t: String,
    cert_der: Arc<[u8]>,
    not_after: UnixTime,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("x5t", &self.x5t).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads a PKCS#8 RSA key and checks it against its certificate (DER).
    pub fn from_pkcs8(pkcs8: &[u8], cert_der: &[u8]) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| KeyError::Rejected(e.to_string()))?;
        let bits = pair.public_modulus_len() * 8;
        if bits < MIN_RSA_BITS {
            return Err(KeyError::KeyTooSmall { bits });
        }
        let cert = CertificateFacts::parse(cert_der)?;
        if cert.public_key_pkcs1 != pair.public_key().as_ref() {
            return Err(KeyError::KeyDoesNotMatch);
        }
        Ok(Self {
            pair,
            alg: Algorithm::Rs256,
            x5t: thumbprint::x5t(cert_der),
            cert_der: cert_der.into(),
            not_after: cert.not_after,
            rng: SystemRandom::new(),
        })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The certificate's `x5t`.
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// When the certificate expires.
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }

    /// Signs `message`, returning the raw signature.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, super::TokenError> {
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(self.alg.encoding(), &self.rng, message, &mut sig)
            .map_err(|_| super::TokenError::SigningFailed)?;
        Ok(sig)
    }

    /// Signs with PSS instead of PKCS#1 v1.5 (client assertions for PS256 endpoints).
    pub fn sign_with(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, super::TokenError> {
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair.sign(alg.encoding(), &self.rng, message, &mut sig).map_err(|_| super::TokenError::SigningFailed)?;
        Ok(sig)
    }
}

/// A partner certificate's public key, parsed once, with the facts validation needs.
pub struct VerifyingKey {
    key: ParsedPublicKey,
    alg: Algorithm,
    x5t: String,
    x5t_s256: String,
    subject: String,
    not_before: UnixTime,
    not_after: UnixTime,
    cert_der: Arc<[u8]>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("x5t", &self.x5t)
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Parses a DER certificate into an RS256 verifying key.
    pub fn from_certificate(der: &[u8]) -> Result<Self, KeyError> {
        Self::with_algorithm(der, Algorithm::Rs256)
    }

    /// Parses a DER certificate into a verifying key for `alg`.
    pub fn with_algorithm(der: &[u8], alg: Algorithm) -> Result<Self, KeyError> {
        let cert = CertificateFacts::parse(der)?;
        let bits = cert.modulus_bits;
        if bits < MIN_RSA_BITS {
            return Err(KeyError::KeyTooSmall { bits });
        }
        let key = ParsedPublicKey::new(alg.verification(), &cert.public_key_pkcs1)
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Ok(Self {
            key,
            alg,
            x5t: thumbprint::x5t(der),
            x5t_s256: thumbprint::x5t_s256(der),
            subject: cert.subject,
            not_before: cert.not_before,
            not_after: cert.not_after,
            cert_der: der.into(),
        })
    }

    /// Verifies `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }

    /// The algorithm of this key record.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The certificate's `x5t` (SHA-1).
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// The certificate's `x5t#S256`.
    pub fn x5t_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// The certificate's subject, for messages.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Start of the certificate's validity.
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }

    /// End of the certificate's validity.
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// True when a header's `x5t` (padded or not) names this key.
    pub fn matches_x5t(&self, x5t: &str) -> bool {
        thumbprint::normalize_x5t(x5t) == self.x5t
    }

    /// True when a header's `x5t#S256` names this key.
    pub fn matches_x5t_s256(&self, x5t_s256: &str) -> bool {
        thumbprint::normalize_x5t(x5t_s256) == self.x5t_s256
    }
}

/// What we read out of a certificate.
struct CertificateFacts {
    subject: String,
    not_before: UnixTime,
    not_after: UnixTime,
    public_key_pkcs1: Vec<u8>,
    modulus_bits: usize,
}

impl CertificateFacts {
    fn parse(der: &[u8]) -> Result<Self, KeyError> {
        use x509_parser::prelude::*;
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| KeyError::Certificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(KeyError::Certificate("trailing bytes after the certificate".into()));
        }
        let spki = cert.public_key();
        let modulus_bits = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size(),
            _ => return Err(KeyError::NotRsa),
        };
        Ok(Self {
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            public_key_pkcs1: spki.subject_public_key.data.to_vec(),
            modulus_bits,
        })
    }
}
