//! Pairing a certificate with its private key, and the checks an issuer certificate needs: the
//! key is RSA of at least 2048 bits and matches the certificate's public key; PEM sections and
//! PFX archives are read with rustls-pki-types and p12-keystore, keys with aws-lc-rs. Error
//! messages name the input, never key bytes.

use std::net::IpAddr;

use aws_lc_rs::encoding::{AsDer as _, PublicKeyX509Der};
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::KeyPair as _;
use rustls_pki_types::pem::{self, PemObject as _, SectionKind};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

use super::certificate::*;

/// A private key as found in the input, before aws-lc-rs has read it.
pub(super) enum KeyInput<'a> {
    Pkcs8(&'a [u8]),
    Pkcs1(&'a [u8]),
    /// A key whose container says it is not RSA (a PEM "EC PRIVATE KEY").
    NotRsa,
}

/// A private key as read by aws-lc-rs (which refuses RSA keys under 2048 bits).
pub(super) enum ParsedKey {
    Rsa(RsaKeyPair),
    NotRsa,
    Rejected(KeyRejected),
}

pub(super) fn parse_key(input: KeyInput<'_>) -> ParsedKey {
    let parsed = match input {
        KeyInput::Pkcs8(der) => RsaKeyPair::from_pkcs8(der),
        KeyInput::Pkcs1(der) => RsaKeyPair::from_der(der),
        KeyInput::NotRsa => return ParsedKey::NotRsa,
    };
    match parsed {
        Ok(key) => ParsedKey::Rsa(key),
        Err(e) if e.description_() == "WrongAlgorithm" => ParsedKey::NotRsa,
        Err(e) => ParsedKey::Rejected(e),
    }
}

/// Pairs one certificate with one key, checking everything an issuer certificate needs.
/// `invalid` builds the error for a key that cannot be read at all (its wording names the input).
pub(super) fn pair(
    cert_der: &[u8],
    key: &ParsedKey,
    invalid: fn(String) -> CertificateError,
) -> Result<IssuerCertificate, CertificateError> {
    let info = CertificateInfo::from_der(cert_der)?;
    let cert = parse_certificate(cert_der)?;
    let Some(cert_numbers) = rsa_numbers(cert.public_key()) else {
        return Err(CertificateError::NotRsa);
    };
    if info.key_bits < MIN_KEY_BITS {
        return Err(CertificateError::KeyTooSmall { bits: info.key_bits });
    }
    let key = match key {
        ParsedKey::Rsa(key) => key,
        ParsedKey::NotRsa => return Err(CertificateError::NotRsa),
        // The certificate's key is large enough, so a smaller private key is another key.
        ParsedKey::Rejected(e) if e.description_() == "TooSmall" => {
            return Err(CertificateError::KeyDoesNotMatch);
        }
        ParsedKey::Rejected(e) => {
            return Err(invalid(format!("the private key is not a valid RSA key ({})", e.description_())));
        }
    };
    if key_numbers(key)?.as_ref() != Some(&cert_numbers) {
        return Err(CertificateError::KeyDoesNotMatch);
    }
    let pkcs8 = key.as_der().map_err(|_| invalid("the private key cannot be re-encoded as PKCS#8".into()))?;
    Ok(IssuerCertificate { cert_der: cert_der.to_vec(), key_pkcs8: Zeroizing::new(pkcs8.as_ref().to_vec()), info })
}

/// Tries (certificate, key) pairs in certificate order, keys in input order, for the pairs
/// `candidate(cert_index, key_index)` allows; returns the first that passes [`pair`], else the
/// error of the first pair tried (or `KeyDoesNotMatch` when no pair was a candidate).
pub(super) fn pair_first_match<'a, 'k>(
    certs: impl Iterator<Item = &'a [u8]>,
    keys: impl Iterator<Item = &'k ParsedKey> + Clone,
    candidate: impl Fn(usize, usize) -> bool,
    invalid: fn(String) -> CertificateError,
) -> Result<IssuerCertificate, CertificateError> {
    let mut first_error = None;
    for (cert_index, cert_der) in certs.enumerate() {
        for (key_index, key) in keys.clone().enumerate() {
            if !candidate(cert_index, key_index) {
                continue;
            }
            match pair(cert_der, key, invalid) {
                Ok(found) => return Ok(found),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    Err(first_error.unwrap_or(CertificateError::KeyDoesNotMatch))
}

/// RSA modulus and exponent without leading zero bytes, for comparing two encodings of a key.
#[derive(PartialEq, Eq)]
pub(super) struct RsaNumbers {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

pub(super) fn rsa_numbers(spki: &SubjectPublicKeyInfo<'_>) -> Option<RsaNumbers> {
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => Some(RsaNumbers {
            modulus: strip_leading_zeros(rsa.modulus).to_vec(),
            exponent: strip_leading_zeros(rsa.exponent).to_vec(),
        }),
        _ => None,
    }
}

/// The private key's public half, read back through x509-parser like the certificate's.
pub(super) fn key_numbers(key: &RsaKeyPair) -> Result<Option<RsaNumbers>, CertificateError> {
    let spki: PublicKeyX509Der<'static> = key.public_key().as_der().map_err(|_| CertificateError::KeyDoesNotMatch)?;
    let parsed = SubjectPublicKeyInfo::from_der(spki.as_ref()).map_err(|_| CertificateError::KeyDoesNotMatch)?;
    Ok(rsa_numbers(&parsed.1))
}

pub(super) fn public_key_bits(spki: &SubjectPublicKeyInfo<'_>) -> usize {
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => bit_length(rsa.modulus),
        Ok(other) => other.key_size(),
        Err(_) => 0,
    }
}

pub(super) fn bit_length(big_endian: &[u8]) -> usize {
    match strip_leading_zeros(big_endian) {
        [] => 0,
        [first, rest @ ..] => rest.len() * 8 + (8 - first.leading_zeros() as usize),
    }
}

pub(super) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

pub(super) fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, CertificateError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(CertificateError::Certificate("unexpected bytes after the certificate".into())),
        Err(e) => Err(CertificateError::Certificate(format!("not an X.509 certificate ({e})"))),
    }
}

pub(super) fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}

// ---------------------------------------------------------------------------------------------
// Input formats

pub(super) fn check_size(data: &[u8]) -> Result<(), CertificateError> {
    if data.len() > MAX_INPUT_BYTES {
        return Err(CertificateError::TooLarge { limit: MAX_INPUT_BYTES });
    }
    Ok(())
}

pub(super) fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
}

/// The PEM text proper: no byte order mark, no leading whitespace (BEGIN lines must not be
/// indented for the PEM reader).
pub(super) fn pem_text(data: &[u8]) -> &[u8] {
    strip_bom(data).trim_ascii_start()
}

pub(super) fn is_pem(data: &[u8]) -> bool {
    pem_text(data).starts_with(b"-----BEGIN")
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Recognised PEM sections in input order, each body in a zeroizing buffer (some may be keys).
type PemSections = Vec<(SectionKind, Zeroizing<Vec<u8>>)>;

pub(super) fn pem_sections(data: &[u8]) -> Result<PemSections, CertificateError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(pem_text(data))
        .map(|section| match section {
            Ok((kind, body)) => Ok((kind, Zeroizing::new(body))),
            Err(e) => Err(pem_error(&e)),
        })
        .collect()
}

/// Our own wording for PEM errors: some library messages quote input lines.
pub(super) fn pem_error(e: &pem::Error) -> CertificateError {
    let message = match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64",
        pem::Error::SectionTooLarge => "a PEM section is too large",
        _ => "the PEM text cannot be read",
    };
    CertificateError::Pem(message.into())
}

pub(super) fn encrypted_pem_key() -> CertificateError {
    CertificateError::Pem(
        "the private key is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem) or import a PFX"
            .into(),
    )
}

pub(super) fn pem_key_error(message: String) -> CertificateError {
    CertificateError::Pem(message)
}

pub(super) fn pfx_key_error(message: String) -> CertificateError {
    CertificateError::Pfx(message)
}

pub(super) fn pfx_error(e: p12_keystore::error::Error) -> CertificateError {
    use p12_keystore::error::Error as E;
    match e {
        E::MacError(_) | E::UnpadError => CertificateError::WrongPassword,
        E::Pkcs5Error(message) if message.contains("decryption failed") => CertificateError::WrongPassword,
        E::DerError(_) | E::InvalidVersion | E::UnsupportedContentType => {
            CertificateError::Pfx("the input is not a PFX/PKCS#12 file, or it is damaged".into())
        }
        E::UnsupportedEncryptionScheme | E::UnsupportedMacAlgorithm => {
            CertificateError::Pfx("the PFX uses an encryption or MAC algorithm that is not supported".into())
        }
        other => CertificateError::Pfx(other.to_string()),
    }
}
