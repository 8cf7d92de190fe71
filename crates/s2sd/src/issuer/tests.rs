#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey, PrivateKeyChain,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA;
use x509_parser::prelude::FromDer as _;

use super::certificate::*;

const NOW: OffsetDateTime = datetime!(2026-01-15 12:34:56.789 UTC);

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/issuer/", $name)).as_slice()
    };
}

const FIXTURE_PASSWORD: &str = "s2s-fixture-password";
const RSA2048_CERT: &[u8] = fixture!("rsa2048-cert.pem");
const RSA2048_KEY_PKCS1: &[u8] = fixture!("rsa2048-key-pkcs1.pem");
const RSA2048_DEFAULT_PFX: &[u8] = fixture!("rsa2048-default.pfx");
const RSA2048_LEGACY_PFX: &[u8] = fixture!("rsa2048-legacy.pfx");
const RSA1024_CERT: &[u8] = fixture!("rsa1024-cert.pem");
const RSA1024_KEY: &[u8] = fixture!("rsa1024-key.pem");
const EC_CERT: &[u8] = fixture!("ec-cert.pem");
const EC_KEY: &[u8] = fixture!("ec-key.pem");

/// One generated RSA-2048 issuer certificate shared by the tests (key generation is slow).
fn generated() -> &'static IssuerCertificate {
    static CERT: OnceLock<IssuerCertificate> = OnceLock::new();
    CERT.get_or_init(|| {
        generate("litwareinc.com", &["fabrikam.com".to_owned(), "litwareinc.com".to_owned()], 2048, 365, NOW).unwrap()
    })
}

fn fixture_thumbprint() -> String {
    let ders = read_certificates(RSA2048_CERT).unwrap();
    s2s::token::thumbprint::hex_thumbprint(&ders[0])
}

/// The key signs, and the certificate's public key verifies, an RS256 signature.
fn assert_key_signs_for_cert(cert: &IssuerCertificate) {
    let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&cert.key_pkcs8).unwrap();
    let message = b"s2s issuer self-test";
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), message, &mut sig).unwrap();
    let (_, parsed) = X509Certificate::from_der(&cert.cert_der).unwrap();
    let spki = &parsed.public_key().subject_public_key.data;
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, spki.as_ref()).verify(message, &sig).unwrap();
}

#[test]
fn generate_2048_issuer_certificate() {
    let cert = generated();
    let info = &cert.info;
    assert_eq!(info.subject, "CN=litwareinc.com");
    assert_eq!(info.issuer, "CN=litwareinc.com");
    assert_eq!(info.sans, ["litwareinc.com", "fabrikam.com"]);
    let now = NOW.replace_nanosecond(0).unwrap();
    assert_eq!(info.not_before, (now - Duration::days(1)).unix_timestamp());
    assert_eq!(info.not_after, (now + Duration::days(365)).unix_timestamp());
    assert_eq!(info.x5t, s2s::token::thumbprint::x5t(&cert.cert_der));
    assert_eq!(info.thumbprint, s2s::token::thumbprint::hex_thumbprint(&cert.cert_der));
    assert_eq!(info.thumbprint.len(), 40);
    assert_eq!(info.thumbprint, info.thumbprint.to_uppercase());
    assert_eq!(info.key_bits, 2048);
    assert_eq!(*info, CertificateInfo::from_der(&cert.cert_der).unwrap());

    let (_, parsed) = X509Certificate::from_der(&cert.cert_der).unwrap();
    assert_eq!(parsed.signature_algorithm.algorithm, OID_PKCS1_SHA256WITHRSA);
    assert_eq!(parsed.raw_serial().len(), 16);
    assert!(parsed.key_usage().unwrap().unwrap().value.digital_signature());
    assert_key_signs_for_cert(cert);
}

#[test]
fn generate_3072_is_allowed() {
    let cert = generate("contoso.com", &[], 3072, 30, NOW).unwrap();
    assert_eq!(cert.info.key_bits, 3072);
    assert_eq!(cert.info.sans, ["contoso.com"]);
}

#[test]
fn generate_refuses_other_key_sizes() {
    for bits in [0, 1024, 2047, 2049, 8192] {
        assert!(
            matches!(
                generate("contoso.com", &[], bits, 365, NOW),
                Err(CertificateError::UnsupportedKeySize { bits: b }) if b == bits
            ),
            "{bits}"
        );
    }
}

#[test]
fn generate_refuses_bad_parameters_before_key_generation() {
    assert!(matches!(generate("", &[], 2048, 365, NOW), Err(CertificateError::Generate(_))));
    assert!(matches!(generate("contoso.com", &[], 2048, 0, NOW), Err(CertificateError::Generate(_))));
    assert!(matches!(
        generate("contoso.com", &["bücher.example".to_owned()], 2048, 365, NOW),
        Err(CertificateError::Generate(_))
    ));
    assert!(matches!(generate_tls(&[], 365, NOW), Err(CertificateError::Generate(_))));
}

#[test]
fn generate_tls_certificate() {
    let names = ["s2s.contoso.com".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let cert = generate_tls(&names, 90, NOW).unwrap();
    // A distinct subject per certificate, so a bundle of several nodes' certificates finds each one.
    assert!(cert.info.subject.starts_with("CN=s2s.contoso.com (s2sd "), "{}", cert.info.subject);
    assert_ne!(generate_tls(&names, 90, NOW).unwrap().info.subject, cert.info.subject);
    assert_eq!(cert.info.sans, ["s2s.contoso.com", "127.0.0.1", "::1"]);
    assert_eq!(cert.info.key_bits, 2048);
    let (_, parsed) = X509Certificate::from_der(&cert.cert_der).unwrap();
    assert!(parsed.extended_key_usage().unwrap().unwrap().value.server_auth);
    let usage = parsed.key_usage().unwrap().unwrap().value;
    assert!(usage.digital_signature() && usage.key_encipherment());
    assert_key_signs_for_cert(&cert);
}

#[test]
fn pem_round_trip() {
    let cert = generated();
    let (cert_pem, key_pem) = to_pem_pair(cert);
    assert!(cert_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(key_pem.ends_with("-----END PRIVATE KEY-----\n"));
    assert!(key_pem.lines().all(|line| line.len() <= 64));

    let two_texts = import_pem(cert_pem.as_bytes(), Some(key_pem.as_bytes())).unwrap();
    assert_eq!(two_texts.info, cert.info);
    assert_eq!(*two_texts.key_pkcs8, *cert.key_pkcs8);

    // One text, key first, CRLF line ends and a UTF-8 byte order mark, as Windows tools write.
    let combined = format!("\u{feff}{}{}", key_pem.as_str(), cert_pem).replace('\n', "\r\n");
    let one_text = import_pem(combined.as_bytes(), None).unwrap();
    assert_eq!(one_text.info.thumbprint, cert.info.thumbprint);
    let indented = format!("\r\n\t {}", combined.trim_start_matches('\u{feff}'));
    let detected = import(indented.as_bytes(), None, None).unwrap();
    assert_eq!(detected.info.thumbprint, cert.info.thumbprint);
}

#[test]
fn pem_chain_picks_the_certificate_of_the_key() {
    let cert = generated();
    let (cert_pem, key_pem) = to_pem_pair(cert);
    let chain = format!("{}{cert_pem}", std::str::from_utf8(RSA2048_CERT).unwrap());
    let imported = import_pem(chain.as_bytes(), Some(key_pem.as_bytes())).unwrap();
    assert_eq!(imported.info.thumbprint, cert.info.thumbprint);
}

#[test]
fn pkcs1_key_is_imported_as_pkcs8() {
    let cert = import_pem(RSA2048_CERT, Some(RSA2048_KEY_PKCS1)).unwrap();
    assert_eq!(cert.info.thumbprint, fixture_thumbprint());
    assert_eq!(cert.info.subject, "CN=fabrikam.test");
    assert_eq!(cert.info.sans, ["fabrikam.test"]);
    assert_eq!(cert.info.key_bits, 2048);
    assert!(aws_lc_rs::rsa::KeyPair::from_pkcs8(&cert.key_pkcs8).is_ok());
    assert_key_signs_for_cert(&cert);
    let (_, key_pem) = to_pem_pair(&cert);
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn der_certificate_with_pem_key() {
    let der = read_certificates(RSA2048_CERT).unwrap().remove(0);
    let cert = import(&der, Some(RSA2048_KEY_PKCS1), None).unwrap();
    assert_eq!(cert.info.thumbprint, fixture_thumbprint());
}

#[test]
fn small_key_is_refused() {
    assert!(matches!(import_pem(RSA1024_CERT, Some(RSA1024_KEY)), Err(CertificateError::KeyTooSmall { bits: 1024 })));
    assert_eq!(CertificateInfo::from_der(&read_certificates(RSA1024_CERT).unwrap()[0]).unwrap().key_bits, 1024);
    // A large-enough certificate with a small key: that key cannot be the certificate's.
    assert!(matches!(import_pem(RSA2048_CERT, Some(RSA1024_KEY)), Err(CertificateError::KeyDoesNotMatch)));
}

#[test]
fn certificate_without_key() {
    assert!(matches!(import_pem(RSA2048_CERT, None), Err(CertificateError::MissingPrivateKey)));
    assert!(matches!(import(RSA2048_CERT, None, None), Err(CertificateError::MissingPrivateKey)));
    let der = read_certificates(RSA2048_CERT).unwrap().remove(0);
    assert!(matches!(import(&der, None, Some("secret")), Err(CertificateError::MissingPrivateKey)));
    assert!(matches!(import_pem(RSA2048_CERT, Some(RSA2048_CERT)), Err(CertificateError::Pem(_))));
    assert!(matches!(import_pem(RSA2048_KEY_PKCS1, None), Err(CertificateError::NoCertificate)));
}

#[test]
fn mismatched_key_is_refused() {
    let (cert_pem, key_pem) = to_pem_pair(generated());
    assert!(matches!(import_pem(cert_pem.as_bytes(), Some(RSA2048_KEY_PKCS1)), Err(CertificateError::KeyDoesNotMatch)));
    assert!(matches!(import_pem(RSA2048_CERT, Some(key_pem.as_bytes())), Err(CertificateError::KeyDoesNotMatch)));
}

#[test]
fn non_rsa_key_is_refused() {
    assert!(matches!(import_pem(EC_CERT, Some(EC_KEY)), Err(CertificateError::NotRsa)));
    assert!(matches!(import_pem(RSA2048_CERT, Some(EC_KEY)), Err(CertificateError::NotRsa)));
    let ec_info = CertificateInfo::from_der(&read_certificates(EC_CERT).unwrap()[0]).unwrap();
    assert_eq!(ec_info.key_bits, 256);
}

#[test]
fn encrypted_pem_key_is_explained() {
    let (cert_pem, _) = to_pem_pair(generated());
    let encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let err = import_pem(cert_pem.as_bytes(), Some(encrypted)).unwrap_err();
    assert!(err.to_string().contains("encrypted"), "{err}");
}

fn keystore_pfx(cert: &IssuerCertificate, password: &str, legacy: bool) -> Vec<u8> {
    let chain = PrivateKeyChain::new(
        b"s2s-key".as_slice(),
        PrivateKey::from_der(&cert.key_pkcs8).unwrap(),
        [Certificate::from_der(&cert.cert_der).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("issuer", KeyStoreEntry::PrivateKeyChain(chain));
    let writer = store.writer(password);
    let writer = if legacy {
        writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1)
    } else {
        writer
    };
    writer.write().unwrap()
}

#[test]
fn pfx_round_trip_with_p12_keystore() {
    let cert = generated();
    for legacy in [false, true] {
        let pfx = keystore_pfx(cert, "pfx pässword", legacy);
        let imported = import_pfx(&pfx, "pfx pässword").unwrap();
        assert_eq!(imported.info, cert.info, "legacy={legacy}");
        assert_eq!(*imported.key_pkcs8, *cert.key_pkcs8);
        let detected = import(&pfx, None, Some("pfx pässword")).unwrap();
        assert_eq!(detected.info.thumbprint, cert.info.thumbprint);
        assert!(matches!(import_pfx(&pfx, "wrong"), Err(CertificateError::WrongPassword)));
    }
}

#[test]
fn pfx_without_private_key() {
    let mut store = KeyStore::new();
    let cert = Certificate::from_der(&generated().cert_der).unwrap();
    store.add_entry("partner", KeyStoreEntry::Certificate(cert));
    let pfx = store.writer("pw").write().unwrap();
    assert!(matches!(import_pfx(&pfx, "pw"), Err(CertificateError::MissingPrivateKey)));
}

#[test]
fn pfx_made_by_openssl() {
    for pfx in [RSA2048_DEFAULT_PFX, RSA2048_LEGACY_PFX] {
        let imported = import_pfx(pfx, FIXTURE_PASSWORD).unwrap();
        assert_eq!(imported.info.thumbprint, fixture_thumbprint());
        assert_key_signs_for_cert(&imported);
        let detected = import(pfx, None, Some(FIXTURE_PASSWORD)).unwrap();
        assert_eq!(detected.info.thumbprint, imported.info.thumbprint);
    }
}

#[test]
fn wrong_pfx_password() {
    for pfx in [RSA2048_DEFAULT_PFX, RSA2048_LEGACY_PFX] {
        let err = import_pfx(pfx, "not the password").unwrap_err();
        assert!(matches!(err, CertificateError::WrongPassword), "{err:?}");
        assert_eq!(err.to_string(), "the PFX password is wrong");
        assert!(matches!(import(pfx, None, None), Err(CertificateError::WrongPassword)));
    }
}

#[test]
fn garbage_gives_clear_errors() {
    type Expected = fn(&CertificateError) -> bool;
    let cases: [(&[u8], Expected); 6] = [
        (b"", |e| matches!(e, CertificateError::Pfx(_))),
        (b"garbage, not a certificate", |e| matches!(e, CertificateError::Pfx(_))),
        (b"\x30\x03\x02\x01\x00", |e| matches!(e, CertificateError::Pfx(_))),
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", |e| matches!(e, CertificateError::Pem(_))),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", |e| matches!(e, CertificateError::Pem(_))),
        (b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", |e| {
            matches!(e, CertificateError::Certificate(_))
        }),
    ];
    for (input, expected) in cases {
        let err = import(input, None, Some("pw")).unwrap_err();
        assert!(expected(&err), "{input:?}: {err:?}");
        assert!(!err.to_string().is_empty());
    }
    assert!(matches!(read_certificates(b"\x30\x03\x02\x01\x00"), Err(CertificateError::Certificate(_))));
    assert!(matches!(read_certificates(b"  \n"), Err(CertificateError::NoCertificate)));
    assert!(matches!(
        read_certificates(b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"),
        Err(CertificateError::NoCertificate)
    ));
    let mut trailing = read_certificates(RSA2048_CERT).unwrap().remove(0);
    trailing.push(0);
    assert!(matches!(read_certificates(&trailing), Err(CertificateError::Certificate(_))));
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = vec![b'-'; MAX_INPUT_BYTES + 1];
    for result in [
        import(&big, None, None).map(|_| ()),
        import_pfx(&big, "").map(|_| ()),
        import_pem(RSA2048_CERT, Some(&big)).map(|_| ()),
        read_certificates(&big).map(|_| ()),
    ] {
        assert!(matches!(result, Err(CertificateError::TooLarge { limit: MAX_INPUT_BYTES })));
    }
}

#[test]
fn read_certificates_pem_and_der() {
    let chain = format!("{}{}", export_pem(&generated().cert_der), std::str::from_utf8(RSA2048_CERT).unwrap());
    let ders = read_certificates(chain.as_bytes()).unwrap();
    assert_eq!(ders.len(), 2);
    assert_eq!(ders[0], generated().cert_der);
    assert_eq!(read_certificates(&ders[1]).unwrap(), [ders[1].clone()]);
    // The fixture's own PEM text survives our PEM encoder unchanged.
    assert_eq!(export_pem(&ders[1]).as_bytes(), RSA2048_CERT);
}

#[test]
fn debug_redacts_the_key() {
    let cert = generated();
    let debug = format!("{cert:?}");
    assert!(debug.contains("<redacted>"));
    assert!(debug.contains(&cert.info.thumbprint));
    let (_, key_pem) = to_pem_pair(cert);
    let key_line = key_pem.lines().nth(1).unwrap();
    assert!(!debug.contains(key_line));
}

#[cfg(unix)]
#[test]
fn write_pem_files_sets_modes() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("tls.crt");
    let key_path = dir.path().join("tls.key");
    // An existing, world-readable key file is replaced, not reused with its mode.
    std::fs::write(&key_path, "old").unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let cert = generated();
    write_pem_files(cert, &cert_path, &key_path).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&cert_path) & 0o600, 0o600);
    assert_eq!(mode(&cert_path) & 0o022, 0);

    let read_back = import_pem(&std::fs::read(&cert_path).unwrap(), Some(&std::fs::read(&key_path).unwrap())).unwrap();
    assert_eq!(read_back.info.thumbprint, cert.info.thumbprint);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary files left");
    assert!(write_pem_files(cert, &key_path, &key_path).is_err());
}
