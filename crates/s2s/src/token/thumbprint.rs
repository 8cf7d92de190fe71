//! Certificate thumbprints: `x5t` (base64url SHA-1 of the DER certificate, the form Windows shows
//! re-encoded), `x5t#S256`, and the hex thumbprint admins type. Pure functions, no I/O.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `base64url(SHA-1(der))` without padding, as carried in a JWS `x5t` header.
pub fn x5t(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der))
}

/// `base64url(SHA-256(der))` without padding, as carried in a JWS `x5t#S256` header.
pub fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, der))
}

/// The SHA-1 thumbprint in upper-case hex, as Windows and the admin tools print it.
pub fn hex_thumbprint(der: &[u8]) -> String {
    hex_upper(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref())
}

/// Normalises an `x5t` as callers send it: trailing `=` padding dropped.
pub fn normalize_x5t(x5t: &str) -> &str {
    x5t.trim_end_matches('=')
}

/// Converts an `x5t` to the hex thumbprint, or `None` when it is not base64url of 20 bytes.
pub fn x5t_to_hex(x5t: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(normalize_x5t(x5t)).ok()?;
    (raw.len() == 20).then(|| hex_upper(&raw))
}

fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Conformance vectors of the protocol reference §9 item 6.
    #[test]
    fn x5t_hex_vectors() {
        for (x5t, hex) in [
            ("mH-TTlt-HAXC9-vjKVFtX6bAsR0", "987f934e5b7e1c05c2f7ebe329516d5fa6c0b11d"),
            ("7MjK99QvkVdwz6UrKldx8AG7ydM", "ecc8caf7d42f915770cfa52b2a5771f001bbc9d3"),
            ("LRxHRIp-BKD7xG7-ktKmgoNT7Eo", "2d1c47448a7e04a0fbc46efe92d2a6828353ec4a"),
            ("enh9BJrVPU5ijV1qjZjV-fL2bco", "7a787d049ad53d4e628d5d6a8d98d5f9f2f66dca"),
            ("i_gz5qfYp5YPWAK1__0YhZnipLI", "8bf833e6a7d8a7960f5802b5fffd188599e2a4b2"),
        ] {
            assert_eq!(x5t_to_hex(x5t).as_deref(), Some(hex.to_uppercase().as_str()));
            assert_eq!(x5t_to_hex(&format!("{x5t}=")).as_deref(), Some(hex.to_uppercase().as_str()));
        }
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(x5t_to_hex("AAAA"), None);
        assert_eq!(x5t_to_hex("!!"), None);
    }
}
