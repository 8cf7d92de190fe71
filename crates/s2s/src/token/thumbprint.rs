//! Certificate thumbprints: `x5t` (base64url SHA-1 of the DER certificate, the form Windows shows
//! re-encoded), `x5t#S256`, and the hex thumbprint admins type. Pure functions, no I/O.

use std::borrow::Cow;

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

/// Normalises an `x5t` as callers send it to base64url without padding: trailing `=` dropped,
/// standard-base64 `+`/`/` mapped to `-`/`_`, and a 40-digit hex thumbprint (what admins copy from
/// certificate tools into clients such as node-sp-auth's `shaThumbprint`) re-encoded. This only
/// selects a key; the signature is verified regardless.
pub fn normalize_x5t(x5t: &str) -> Cow<'_, str> {
    let trimmed = x5t.trim_end_matches('=');
    if trimmed.len() == 40 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Vec<u8> = (0..20).filter_map(|i| u8::from_str_radix(&trimmed[2 * i..2 * i + 2], 16).ok()).collect();
        return Cow::Owned(URL_SAFE_NO_PAD.encode(bytes));
    }
    if trimmed.contains(['+', '/']) {
        return Cow::Owned(trimmed.replace('+', "-").replace('/', "_"));
    }
    Cow::Borrowed(trimmed)
}

/// Converts an `x5t` to the hex thumbprint, or `None` when it is not base64url of 20 bytes.
pub fn x5t_to_hex(x5t: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(normalize_x5t(x5t).as_bytes()).ok()?;
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
    fn normalizes_the_spellings_callers_send() {
        let x5t = "i_gz5qfYp5YPWAK1__0YhZnipLI";
        assert_eq!(normalize_x5t(x5t), x5t);
        assert_eq!(normalize_x5t("i_gz5qfYp5YPWAK1__0YhZnipLI="), x5t);
        assert_eq!(normalize_x5t("i/gz5qfYp5YPWAK1//0YhZnipLI="), x5t);
        assert_eq!(normalize_x5t("8BF833E6A7D8A7960F5802B5FFFD188599E2A4B2"), x5t);
        assert_eq!(normalize_x5t("8bf833e6a7d8a7960f5802b5fffd188599e2a4b2"), x5t);
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(x5t_to_hex("AAAA"), None);
        assert_eq!(x5t_to_hex("!!"), None);
    }
}
