//! What can go wrong reading or writing a token on the wire. The validator maps these onto
//! `Rejection`s with stable reasons and Exchange error numbers.

/// A token could not be split, decoded, signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is longer than the limit applied before any decoding.
    #[error("token is {len} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A compact JWS has exactly three dot-separated segments.
    #[error("token has {0} segments; a compact JWS has exactly 3")]
    SegmentCount(usize),
    /// A segment is not base64url without padding.
    #[error("the {0} segment is not base64url")]
    Base64(&'static str),
    /// The header or payload is not the JSON expected.
    #[error("the {part} is not valid JSON: {detail}")]
    Json {
        /// `header` or `payload`.
        part: &'static str,
        /// What serde said.
        detail: String,
    },
    /// The header names another algorithm than the key record's.
    #[error("header alg `{found}` does not match the key's algorithm {expected}")]
    AlgorithmMismatch {
        /// The key record's algorithm.
        expected: &'static str,
        /// The header's `alg`.
        found: String,
    },
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
    /// An `alg=none` token where a signed one is required.
    #[error("token is unsigned (alg none)")]
    Unsigned,
    /// A signed token where an unsigned outer token was expected.
    #[error("token is signed, but an outer token is unsigned (alg none, empty signature)")]
    Signed,
    /// The header's `crit` names extensions that must be understood (RFC 7515 §4.1.11); this
    /// implementation understands none, so any `crit` is refused. The names are not repeated.
    #[error("the header marks extensions critical (crit) that this implementation does not implement")]
    UnsupportedCritical,
    /// Signing failed inside the crypto library.
    #[error("signing failed")]
    SigningFailed,
}
