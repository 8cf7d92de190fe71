//! Issuer certificates: generation with rcgen, PEM parsing with rustls-pki-types, PFX parsing
//! with p12-keystore, X.509 parsing with x509-parser and RSA key checks with aws-lc-rs.
//! Nothing here encodes or decodes ASN.1 or does cryptography by hand; the only hand-written
//! format is the PEM armour (base64 lines between BEGIN/END markers) when exporting.

use std::fmt;

use super::pairing::*;
use std::fs;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p12_keystore::Pkcs12Archive;
use rcgen::string::Ia5String;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose, RsaKeySize, SanType,
    SerialNumber,
};
use rustls_pki_types::pem::SectionKind;
use time::{Duration, OffsetDateTime, UtcOffset};
use x509_parser::extensions::GeneralName;
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
