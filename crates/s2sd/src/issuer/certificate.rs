//! Issuer certificates: generation with rcgen, PEM parsing with rustls-pki-types, PFX parsing
//! with p12-keystore, X.509 parsing with x509-parser and RSA key checks with aws-lc-rs.
//! Nothing here encodes or decodes ASN.1 or does cryptography by hand; the only hand-written
//! format is the PEM armour (base64 lines between BEGIN/END markers) when exporting.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::{AsDer as _, PublicKeyX509Der};
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p12_keystore::Pkcs12Archive;
use rcgen::string::Ia5String;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose, RsaKeySize, SanType,
    SerialNumber,
};
use rustls_pki_types::pem::{self, PemObject as _, SectionKind};
use time::{Duration, OffsetDateTime, UtcOffset};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

/// Largest input accepted by the import and read functions, checked before any parsing.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Smallest RSA modulus a token issuer may use (Lync/SfB and Exchange require 2048).
pub const MIN_KEY_BITS: usize = 2048;

/// Why a certificate could not be generated, imported or read.
///
/// Messages are written for the administrator running the CLI and never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    #[error("the key has {bits} bits; token issuers need RSA keys of at least 2048 bits")]
    KeyTooSmall { bits: usize },
    #[error("cannot generate a {bits}-bit RSA key; choose 2048, 3072 or 4096 bits")]
    UnsupportedKeySize { bits: usize },
    #[error("the private key is not an RSA key; token signing uses RS256")]
    NotRsa,
    #[error("the file holds a certificate without its private key; export it with the private key (PFX) or give --key")]
    MissingPrivateKey,
    #[error("the private key does not belong to the certificate")]
    KeyDoesNotMatch,
    #[error("the PFX password is wrong")]
    WrongPassword,
    #[error("cannot read the PFX file: {0}")]
    Pfx(String),
    #[error("cannot read the PEM input: {0}")]
    Pem(String),
    #[error("invalid certificate: {0}")]
    Certificate(String),
    #[error("cannot generate the certificate: {0}")]
    Generate(String),
    #[error("the input is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("no certificate found in the input")]
    NoCertificate,
}

/// A parsed certificate with its private key, ready to store. `key_pkcs8` is zeroized on drop.
///
/// Every constructor in this module has checked that the key is RSA, has at least
/// [`MIN_KEY_BITS`] bits and belongs to the certificate. `key_pkcs8` is always a plain PKCS#8 v1
/// `PrivateKeyInfo` as re-encoded by aws-lc-rs, whatever form the input had.
pub struct IssuerCertificate {
    pub cert_der: Vec<u8>,
    pub key_pkcs8: Zeroizing<Vec<u8>>,
    pub info: CertificateInfo,
}

impl fmt::Debug for IssuerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerCertificate")
            .field("info", &self.info)
            .field("cert_der", &format_args!("<{} bytes>", self.cert_der.len()))
            .field("key_pkcs8", &format_args!("<redacted>"))
            .finish()
    }
}

/// What an administrator needs to recognise a certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateInfo {
    /// Upper-case hex SHA-1 of the DER certificate, as Windows shows it.
    pub thumbprint: String,
    /// base64url SHA-1 of the DER certificate, as JWS headers and metadata carry it.
    pub x5t: String,
    /// E.g. `CN=litwareinc.com`.
    pub subject: String,
    pub issuer: String,
    /// Subject alternative names: DNS names, and IP addresses in text form (TLS certificates).
    pub sans: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// Size of the public key (the RSA modulus length in bits for RSA keys).
    pub key_bits: usize,
}

impl CertificateInfo {
    /// Reads the summary of one DER certificate (no trailing bytes allowed).
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        check_size(der)?;
        let cert = parse_certificate(der)?;
        let sans = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => ip_from_bytes(bytes).map(|ip| ip.to_string()),
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => {
                return Err(CertificateError::Certificate(format!("unreadable subject alternative names ({e})")));
            }
        };
        Ok(Self {
            thumbprint: s2s::token::thumbprint::hex_thumbprint(der),
            x5t: s2s::token::thumbprint::x5t(der),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            sans,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            key_bits: public_key_bits(cert.public_key()),
        })
    }
}

/// Self-signed RSA token-issuer certificate: subject CN = realm, SANs = realm + additional realms (DNS names),
/// validity from `now - 1 day` to `now + validity_days`, RSA PKCS#1 SHA-256 signature, serial random.
pub fn generate(
    realm: &str,
    additional_realms: &[String],
    key_bits: usize,
    validity_days: u32,
    now: OffsetDateTime,
) -> Result<IssuerCertificate, CertificateError> {
    let key_size = match key_bits {
        2048 => RsaKeySize::_2048,
        3072 => RsaKeySize::_3072,
        4096 => RsaKeySize::_4096,
        bits => return Err(CertificateError::UnsupportedKeySize { bits }),
    };
    if realm.is_empty() {
        return Err(CertificateError::Generate("the realm is empty".into()));
    }
    let mut names: Vec<&str> = vec![realm];
    for extra in additional_realms {
        if extra.is_empty() {
            return Err(CertificateError::Generate("an additional realm is empty".into()));
        }
        if !names.contains(&extra.as_str()) {
            names.push(extra);
        }
    }
    let sans = names.iter().map(|name| dns_san(name)).collect::<Result<Vec<_>, _>>()?;
    self_signed(realm, sans, key_size, validity_days, now, vec![KeyUsagePurpose::DigitalSignature], Vec::new())
}

/// The same for a TLS server certificate: CN = first name, SANs = names (DNS or IP addresses), RSA 2048, key usage for TLS server auth.
pub fn generate_tls(
    names: &[String],
    validity_days: u32,
    now: OffsetDateTime,
) -> Result<IssuerCertificate, CertificateError> {
    let Some(first) = names.first() else {
        return Err(CertificateError::Generate("a TLS certificate needs at least one host name or IP address".into()));
    };
    let mut sans = Vec::with_capacity(names.len());
    for name in names {
        if name.is_empty() {
            return Err(CertificateError::Generate("a host name is empty".into()));
        }
        let san = match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => dns_san(name)?,
        };
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    // A distinct subject per certificate: clients that trust several nodes' self-signed
    // certificates in one bundle find each one by its subject.
    let mut tag = [0u8; 4];
    aws_lc_rs::rand::fill(&mut tag).map_err(|_| CertificateError::Generate("no randomness".into()))?;
    let common_name = format!("{first} (s2sd {:02x}{:02x}{:02x}{:02x})", tag[0], tag[1], tag[2], tag[3]);
    self_signed(
        &common_name,
        sans,
        RsaKeySize::_2048,
        validity_days,
        now,
        vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment],
        vec![ExtendedKeyUsagePurpose::ServerAuth],
    )
}

/// PEM input: a certificate plus a private key (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"), in one text or two (key_pem None = look in cert_pem).
///
/// When the text holds a chain, the certificate that belongs to the key is taken.
/// Encrypted PEM keys are refused with a message saying so.
pub fn import_pem(cert_pem: &[u8], key_pem: Option<&[u8]>) -> Result<IssuerCertificate, CertificateError> {
    check_size(cert_pem)?;
    if let Some(key_pem) = key_pem {
        check_size(key_pem)?;
    }
    let sections = pem_sections(cert_pem)?;
    let certs: Vec<&[u8]> =
        sections.iter().filter(|(kind, _)| *kind == SectionKind::Certificate).map(|(_, der)| der.as_slice()).collect();
    if certs.is_empty() {
        return Err(CertificateError::NoCertificate);
    }
    for cert in &certs {
        parse_certificate(cert)?;
    }

    let key_text = key_pem.unwrap_or(cert_pem);
    if contains(key_text, b"Proc-Type: 4,ENCRYPTED") {
        return Err(encrypted_pem_key());
    }
    let key_sections;
    let key_sections = match key_pem {
        Some(key_pem) => {
            key_sections = pem_sections(key_pem)?;
            &key_sections
        }
        None => &sections,
    };
    let key = key_sections.iter().find_map(|(kind, der)| match kind {
        SectionKind::PrivateKey => Some(KeyInput::Pkcs8(der)),
        SectionKind::RsaPrivateKey => Some(KeyInput::Pkcs1(der)),
        SectionKind::EcPrivateKey => Some(KeyInput::NotRsa),
        _ => None,
    });
    let Some(key) = key else {
        if contains(key_text, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(encrypted_pem_key());
        }
        if key_pem.is_some() {
            return Err(CertificateError::Pem("no private key found in the key input".into()));
        }
        return Err(CertificateError::MissingPrivateKey);
    };
    let key = parse_key(key);
    pair_first_match(certs.iter().copied(), [&key].into_iter(), |_, _| true, pem_key_error)
}

/// PFX/PKCS#12 input with its password (also legacy 3DES/RC2 PFX as Windows exports them). Takes the first certificate that has a private key.
///
/// A certificate "has" a key when their `localKeyId` bag attributes agree (as Windows and
/// OpenSSL write them); bags without that attribute are paired by public key.
pub fn import_pfx(pfx: &[u8], password: &str) -> Result<IssuerCertificate, CertificateError> {
    check_size(pfx)?;
    let archive = Pkcs12Archive::from_pkcs12(pfx, password).map_err(pfx_error)?;
    if archive.certs.is_empty() {
        return Err(CertificateError::NoCertificate);
    }
    if archive.keys.is_empty() {
        return Err(CertificateError::MissingPrivateKey);
    }
    let keys: Vec<(Option<&[u8]>, ParsedKey)> = archive
        .keys
        .iter()
        .map(|bag| {
            let id = bag.local_key_id.as_ref().map(|id| id.0.as_slice());
            (id, parse_key(KeyInput::Pkcs8(bag.key.as_der())))
        })
        .collect();
    let cert_ders = || archive.certs.iter().map(|bag| bag.cert.as_der());
    let parsed_keys = || keys.iter().map(|(_, key)| key);
    let ids = |cert_index: usize, key_index: usize| {
        let cert_id = archive.certs.get(cert_index).and_then(|bag| bag.local_key_id.as_deref());
        let key_id = keys.get(key_index).and_then(|(id, _)| *id);
        (cert_id, key_id)
    };
    let linked = pair_first_match(
        cert_ders(),
        parsed_keys(),
        |c, k| matches!(ids(c, k), (Some(cert_id), Some(key_id)) if cert_id == key_id),
        pfx_key_error,
    );
    match linked {
        // No key is linked to a certificate by localKeyId: try the bags that lack the attribute.
        Err(CertificateError::KeyDoesNotMatch) => pair_first_match(
            cert_ders(),
            parsed_keys(),
            |c, k| matches!(ids(c, k), (None, _) | (_, None)),
            pfx_key_error,
        ),
        other => other,
    }
}

/// Detects PEM vs PFX (PEM starts with "-----BEGIN" after optional whitespace).
///
/// A DER certificate (a `.cer` file) is also recognised: with `key_pem` it is paired with that
/// key, without it the answer is [`CertificateError::MissingPrivateKey`]. A PFX without a
/// password is read with the empty password.
pub fn import(
    data: &[u8],
    key_pem: Option<&[u8]>,
    password: Option<&str>,
) -> Result<IssuerCertificate, CertificateError> {
    check_size(data)?;
    if is_pem(data) {
        return import_pem(data, key_pem);
    }
    if parse_certificate(data).is_ok() {
        let Some(key_pem) = key_pem else {
            return Err(CertificateError::MissingPrivateKey);
        };
        let cert_pem = export_pem(data);
        return import_pem(cert_pem.as_bytes(), Some(key_pem));
    }
    import_pfx(data, password.unwrap_or(""))
}

/// PEM "CERTIFICATE" text of a DER certificate: the public certificate only.
pub fn export_pem(cert_der: &[u8]) -> String {
    let mut out = String::with_capacity(pem_len("CERTIFICATE", cert_der.len()));
    pem_encode_into("CERTIFICATE", cert_der, &mut out);
    out
}

/// Parses a certificate-only file (PEM "CERTIFICATE" or raw DER, e.g. a partner's certificate) → DER list.
///
/// Every certificate is checked to parse as X.509; other PEM sections are ignored.
pub fn read_certificates(data: &[u8]) -> Result<Vec<Vec<u8>>, CertificateError> {
    check_size(data)?;
    if is_pem(data) {
        let mut certs = Vec::new();
        for (kind, der) in pem_sections(data)? {
            if kind == SectionKind::Certificate {
                parse_certificate(&der)?;
                certs.push(der.to_vec());
            }
        }
        if certs.is_empty() {
            return Err(CertificateError::NoCertificate);
        }
        return Ok(certs);
    }
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(CertificateError::NoCertificate);
    }
    parse_certificate(data)?;
    Ok(vec![data.to_vec()])
}

/// PEM key + cert for writing TLS files: (cert_pem, key_pem) where key_pem is PKCS#8 "PRIVATE KEY".
pub fn to_pem_pair(cert: &IssuerCertificate) -> (String, Zeroizing<String>) {
    // Sized up front so the key text is never reallocated (which would leave unzeroized copies).
    let mut key_pem = Zeroizing::new(String::with_capacity(pem_len("PRIVATE KEY", cert.key_pkcs8.len())));
    pem_encode_into("PRIVATE KEY", &cert.key_pkcs8, &mut key_pem);
    (export_pem(&cert.cert_der), key_pem)
}

/// Writes a private key file with mode 0600 (created with that mode, not chmod afterwards), and the cert file 0644.
///
/// Each file is written to a new temporary file next to its target (created with its final
/// mode), synced, then renamed over the target, so an existing file is replaced whole and an
/// existing key file's looser mode is not inherited.
pub fn write_pem_files(cert: &IssuerCertificate, cert_path: &Path, key_path: &Path) -> io::Result<()> {
    if cert_path == key_path {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the certificate and key files must be different files",
        ));
    }
    let (cert_pem, key_pem) = to_pem_pair(cert);
    let key_tmp = write_temp(key_path, key_pem.as_bytes(), 0o600)?;
    let cert_tmp = match write_temp(cert_path, cert_pem.as_bytes(), 0o644) {
        Ok(tmp) => tmp,
        Err(e) => {
            let _ = fs::remove_file(&key_tmp);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&key_tmp, key_path) {
        let _ = fs::remove_file(&key_tmp);
        let _ = fs::remove_file(&cert_tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&cert_tmp, cert_path) {
        let _ = fs::remove_file(&cert_tmp);
        return Err(e);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generation

fn dns_san(name: &str) -> Result<SanType, CertificateError> {
    Ia5String::try_from(name)
        .map(SanType::DnsName)
        .map_err(|_| CertificateError::Generate(format!("{name:?} cannot be a DNS name (ASCII only)")))
}

fn self_signed(
    common_name: &str,
    sans: Vec<SanType>,
    key_size: RsaKeySize,
    validity_days: u32,
    now: OffsetDateTime,
    key_usages: Vec<KeyUsagePurpose>,
    extended_key_usages: Vec<ExtendedKeyUsagePurpose>,
) -> Result<IssuerCertificate, CertificateError> {
    if validity_days == 0 {
        return Err(CertificateError::Generate("the validity must be at least one day".into()));
    }
    let now =
        now.to_offset(UtcOffset::UTC).replace_nanosecond(0).map_err(|e| CertificateError::Generate(e.to_string()))?;
    let out_of_range = || CertificateError::Generate("the validity period is out of range".into());
    let not_before = now.checked_sub(Duration::days(1)).ok_or_else(out_of_range)?;
    let not_after = now.checked_add(Duration::days(i64::from(validity_days))).ok_or_else(out_of_range)?;
    if not_after.year() > 9999 {
        return Err(out_of_range());
    }

    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    params.subject_alt_names = sans;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    params.key_usages = key_usages;
    params.extended_key_usages = extended_key_usages;

    let generate_error = |e: rcgen::Error| CertificateError::Generate(e.to_string());
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, key_size).map_err(generate_error)?;
    let cert = params.self_signed(&key).map_err(generate_error)?;
    let key_pkcs8 = Zeroizing::new(key.serialize_der());
    let parsed = parse_key(KeyInput::Pkcs8(&key_pkcs8));
    pair(cert.der(), &parsed, CertificateError::Generate)
}

/// 16 random bytes, positive and without a leading zero byte, so the DER INTEGER keeps 16 bytes.
fn random_serial() -> Result<SerialNumber, CertificateError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| CertificateError::Generate("no randomness for the serial number".into()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

// ---------------------------------------------------------------------------------------------
// Key and certificate checks

/// A private key as found in the input, before aws-lc-rs has read it.
enum KeyInput<'a> {
    Pkcs8(&'a [u8]),
    Pkcs1(&'a [u8]),
    /// A key whose container says it is not RSA (a PEM "EC PRIVATE KEY").
    NotRsa,
}

/// A private key as read by aws-lc-rs (which refuses RSA keys under 2048 bits).
enum ParsedKey {
    Rsa(RsaKeyPair),
    NotRsa,
    Rejected(KeyRejected),
}

fn parse_key(input: KeyInput<'_>) -> ParsedKey {
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
fn pair(
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
fn pair_first_match<'a, 'k>(
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
struct RsaNumbers {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

fn rsa_numbers(spki: &SubjectPublicKeyInfo<'_>) -> Option<RsaNumbers> {
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => Some(RsaNumbers {
            modulus: strip_leading_zeros(rsa.modulus).to_vec(),
            exponent: strip_leading_zeros(rsa.exponent).to_vec(),
        }),
        _ => None,
    }
}

/// The private key's public half, read back through x509-parser like the certificate's.
fn key_numbers(key: &RsaKeyPair) -> Result<Option<RsaNumbers>, CertificateError> {
    let spki: PublicKeyX509Der<'static> = key.public_key().as_der().map_err(|_| CertificateError::KeyDoesNotMatch)?;
    let parsed = SubjectPublicKeyInfo::from_der(spki.as_ref()).map_err(|_| CertificateError::KeyDoesNotMatch)?;
    Ok(rsa_numbers(&parsed.1))
}

fn public_key_bits(spki: &SubjectPublicKeyInfo<'_>) -> usize {
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => bit_length(rsa.modulus),
        Ok(other) => other.key_size(),
        Err(_) => 0,
    }
}

fn bit_length(big_endian: &[u8]) -> usize {
    match strip_leading_zeros(big_endian) {
        [] => 0,
        [first, rest @ ..] => rest.len() * 8 + (8 - first.leading_zeros() as usize),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, CertificateError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(CertificateError::Certificate("unexpected bytes after the certificate".into())),
        Err(e) => Err(CertificateError::Certificate(format!("not an X.509 certificate ({e})"))),
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}

// ---------------------------------------------------------------------------------------------
// Input formats

fn check_size(data: &[u8]) -> Result<(), CertificateError> {
    if data.len() > MAX_INPUT_BYTES {
        return Err(CertificateError::TooLarge { limit: MAX_INPUT_BYTES });
    }
    Ok(())
}

fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
}

/// The PEM text proper: no byte order mark, no leading whitespace (BEGIN lines must not be
/// indented for the PEM reader).
fn pem_text(data: &[u8]) -> &[u8] {
    strip_bom(data).trim_ascii_start()
}

fn is_pem(data: &[u8]) -> bool {
    pem_text(data).starts_with(b"-----BEGIN")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Recognised PEM sections in input order, each body in a zeroizing buffer (some may be keys).
type PemSections = Vec<(SectionKind, Zeroizing<Vec<u8>>)>;

fn pem_sections(data: &[u8]) -> Result<PemSections, CertificateError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(pem_text(data))
        .map(|section| match section {
            Ok((kind, body)) => Ok((kind, Zeroizing::new(body))),
            Err(e) => Err(pem_error(&e)),
        })
        .collect()
}

/// Our own wording for PEM errors: some library messages quote input lines.
fn pem_error(e: &pem::Error) -> CertificateError {
    let message = match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64",
        pem::Error::SectionTooLarge => "a PEM section is too large",
        _ => "the PEM text cannot be read",
    };
    CertificateError::Pem(message.into())
}

fn encrypted_pem_key() -> CertificateError {
    CertificateError::Pem(
        "the private key is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem) or import a PFX"
            .into(),
    )
}

fn pem_key_error(message: String) -> CertificateError {
    CertificateError::Pem(message)
}

fn pfx_key_error(message: String) -> CertificateError {
    CertificateError::Pfx(message)
}

fn pfx_error(e: p12_keystore::error::Error) -> CertificateError {
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

// ---------------------------------------------------------------------------------------------
// Output

/// Room for the PEM text [`pem_encode_into`] writes (a few bytes more than it needs).
fn pem_len(label: &str, der_len: usize) -> usize {
    let lines = der_len.div_ceil(48);
    let armour = 2 * (label.len() + "-----BEGIN -----\n".len());
    armour + der_len.div_ceil(3) * 4 + lines
}

/// PEM armour: base64 in 64-character lines between BEGIN and END markers (RFC 7468).
fn pem_encode_into(label: &str, der: &[u8], out: &mut String) {
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // One zeroized line buffer: the body may be a private key.
    let mut line = Zeroizing::new([0u8; 64]);
    for chunk in der.chunks(48) {
        match STANDARD.encode_slice(chunk, &mut line[..]) {
            Ok(len) => out.extend(line.iter().take(len).map(|&b| char::from(b))),
            // 48 bytes always fit in 64 characters.
            Err(_) => STANDARD.encode_string(chunk, out),
        }
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
}

/// Writes `contents` to a new file next to `target`, created with `mode`, and syncs it.
fn write_temp(target: &Path, contents: &[u8], mode: u32) -> io::Result<PathBuf> {
    let Some(file_name) = target.file_name() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a file path", target.display())));
    };
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| io::Error::other("no randomness"))?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = target.with_file_name(format!(".{}.{suffix}.tmp", file_name.to_string_lossy()));

    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}
