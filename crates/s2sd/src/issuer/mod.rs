//! Our token-issuer certificates: generating self-signed RSA issuer (and TLS server)
//! certificates, importing them from PEM or PFX/PKCS#12 with every check a token issuer needs
//! (RSA, at least 2048 bits, private key matching the certificate), and exporting them as PEM.
//!
//! This module owns the certificate and key formats only. It never stores key material (the
//! store does) and never logs it: private keys live in [`zeroize::Zeroizing`] buffers, error
//! messages are written here and carry no key bytes, and `Debug` output redacts the key.

mod certificate;
pub mod rollover;

pub use certificate::{
    CertificateError, CertificateInfo, IssuerCertificate, MAX_INPUT_BYTES, export_pem, generate, generate_tls, import,
    read_certificates, write_pem_files,
};

#[cfg(test)]
mod tests;
