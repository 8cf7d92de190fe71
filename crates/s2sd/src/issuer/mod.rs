//! Our token-issuer certificates: generating self-signed RSA issuer (and TLS server)
//! certificates, importing them from PEM or PFX/PKCS#12 with every check a token issuer needs
//! (RSA, at least 2048 bits, private key matching the certificate), and exporting them as PEM.
//!
//! This module owns the certificate and key formats only. It never stores key material (the
//! store does) and never logs it: private keys live in [`zeroize::Zeroizing`] buffers, error
//! messages are written here and carry no key bytes, and `Debug` output redacts the key.

// used by the CLI and server, which land next
#![allow(dead_code)]

mod certificate;

// used by the CLI and server, which land next
#[allow(unused_imports)]
pub use certificate::{
    CertificateError, CertificateInfo, IssuerCertificate, MAX_INPUT_BYTES, MIN_KEY_BITS, export_pem, generate,
    generate_tls, import, import_pem, import_pfx, read_certificates, to_pem_pair, write_pem_files,
};

#[cfg(test)]
mod tests;
