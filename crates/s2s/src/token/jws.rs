//! Compact JWS: split into exactly three segments after a size check, decode the header and
//! payload, sign and verify `header.payload`. The verification algorithm is the key record's;
//! the header's `alg` must merely equal it. `alg=none` is not handled here (see `outer`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::TokenError;
use super::keys::{SigningKey, VerifyingKey};

/// Largest token accepted, checked before any decoding (an outer token embeds the actor).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A compact JWS split into its segments, still encoded.
#[derive(Debug, Clone, Copy)]
pub struct Compact<'a> {
    /// `base64url(header) . base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The encoded header.
    pub header: &'a str,
    /// The encoded payload.
    pub payload: &'a str,
    /// The encoded signature (empty for `alg=none`).
    pub signature: &'a str,
}

/// A JOSE header as S2S peers send it. Unknown members are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `JWT`; optional on input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The algorithm the sender claims.
    pub alg: String,
    /// Base64url SHA-1 certificate thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    /// Base64url SHA-256 certificate thumbprint.
    #[serde(default, rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    /// Key id (ACS puts the x5t here too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

impl Header {
    /// True for `alg` `none` in any case.
    pub fn is_unsigned(&self) -> bool {
        self.alg.eq_ignore_ascii_case("none")
    }
}

/// Whether a header has a `crit` member at all (whatever its value, `null` included).
#[derive(Deserialize)]
struct CritProbe {
    #[serde(default, deserialize_with = "present")]
    crit: Option<()>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| Some(()))
}

impl<'a> Compact<'a> {
    /// Splits a token into exactly three segments, refusing oversized input first.
    pub fn split(token: &'a str) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge { len: token.len(), limit: MAX_TOKEN_BYTES });
        }
        let mut parts = token.splitn(4, '.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::SegmentCount(token.split('.').count()));
        };
        Ok(Self { signing_input: &token[..header.len() + 1 + payload.len()], header, payload, signature })
    }

    /// Decodes the header. A header with a `crit` member is refused ([`TokenError::UnsupportedCritical`]):
    /// RFC 7515 §4.1.11 requires refusing a JWS whose critical extensions are not understood, and
    /// this implementation understands none (an empty or malformed `crit` is refused as well).
    pub fn header(&self) -> Result<Header, TokenError> {
        let bytes = URL_SAFE_NO_PAD.decode(self.header).map_err(|_| TokenError::Base64("header"))?;
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| json_err("header", &e))?;
        let probe: CritProbe = serde_json::from_slice(&bytes).map_err(|e| json_err("header", &e))?;
        if probe.crit.is_some() {
            return Err(TokenError::UnsupportedCritical);
        }
        Ok(header)
    }

    /// Decodes the payload into `T`.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, TokenError> {
        decode_json(self.payload, "payload")
    }

    /// Verifies the signature with `key`, whose record fixes the algorithm; `header_alg` must name the same.
    pub fn verify(&self, header_alg: &str, key: &VerifyingKey) -> Result<(), TokenError> {
        let expected = key.algorithm().name();
        if header_alg != expected {
            return Err(TokenError::AlgorithmMismatch { expected, found: header_alg.to_owned() });
        }
        let mut sig = [0u8; 1024];
        let n = URL_SAFE_NO_PAD.decode_slice(self.signature, &mut sig).map_err(|_| TokenError::Base64("signature"))?;
        if key.verify(self.signing_input.as_bytes(), &sig[..n]) { Ok(()) } else { Err(TokenError::BadSignature) }
    }
}

/// Signs `claims` under `header` with `key`, returning the compact token.
pub fn sign<C: Serialize + ?Sized>(header: &Header, claims: &C, key: &SigningKey) -> Result<String, TokenError> {
    let header_json = serde_json::to_vec(header).map_err(|e| json_err("header", &e))?;
    let claims_json = serde_json::to_vec(claims).map_err(|e| json_err("payload", &e))?;
    let mut out = String::with_capacity((header_json.len() + claims_json.len() + 512) * 4 / 3 + 4);
    URL_SAFE_NO_PAD.encode_string(&header_json, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims_json, &mut out);
    let alg = key.algorithm();
    let signature = if header.alg == alg.name() {
        key.sign(out.as_bytes())?
    } else if header.alg == super::Algorithm::Ps256.name() {
        key.sign_with(super::Algorithm::Ps256, out.as_bytes())?
    } else {
        return Err(TokenError::AlgorithmMismatch { expected: alg.name(), found: header.alg.clone() });
    };
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut out);
    Ok(out)
}

pub(crate) fn decode_json<T: DeserializeOwned>(segment: &str, part: &'static str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| TokenError::Base64(part))?;
    serde_json::from_slice(&bytes).map_err(|e| json_err(part, &e))
}

pub(crate) fn encode_json<T: Serialize + ?Sized>(
    value: &T,
    part: &'static str,
    out: &mut String,
) -> Result<(), TokenError> {
    let json = serde_json::to_vec(value).map_err(|e| json_err(part, &e))?;
    URL_SAFE_NO_PAD.encode_string(json, out);
    Ok(())
}

fn json_err(part: &'static str, e: &serde_json::Error) -> TokenError {
    TokenError::Json { part, detail: e.to_string() }
}
