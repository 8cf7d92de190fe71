//! Our token-issuer certificates: generating self-signed RSA issuer (and TLS server)
//! certificates, importing them from PEM or PFX/PKCS#12 with every check a token issuer needs
//! (RSA, at least 2048 bits, private key matching the certificate), and exporting them as PEM.
//!
//! This module owns the certificate and key formats only. It never stores key material (the
//! store does) and never logs it: private keys live in [`zeroize::Zeroizing`] buffers, error
//! messages are written here and carry no key bytes, and `Debug` output redacts the key.

mod certificate;
mod pairing;
pub mod rollover;

pub use certificate::{
    CertificateError, CertificateInfo, IssuerCertificate, MAX_INPUT_BYTES, export_pem, generate, generate_tls, import,
    read_certificates, to_pem_pair, write_pem_files,
};

#[cfg(test)]
mod tests;

/// The store record for a certificate with its key, in `role`.
pub fn store_record(
    cert: IssuerCertificate,
    role: crate::store::CertificateRole,
    effective_at: Option<i64>,
    now: i64,
) -> crate::store::CertificateRecord {
    crate::store::CertificateRecord {
        thumbprint: cert.info.thumbprint.clone(),
        role,
        private_key_pkcs8: Some(cert.key_pkcs8.to_vec()),
        not_before: cert.info.not_before,
        not_after: cert.info.not_after,
        cert_der: cert.cert_der,
        effective_at,
        created_at: now,
    }
}
