//! Outer ("context") tokens: unsigned JWTs (`alg=none`, empty signature segment) that name a user
//! and carry the signed actor token in `actortoken`. This is the ONLY module that parses or
//! produces `alg=none`; an outer token is never trusted except through the actor inside it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::jws::{self, Compact, Header};
use super::{TokenError, claims};
use crate::clock::UnixTime;

/// `base64url({"typ":"JWT","alg":"none"})`.
const NONE_HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0";

/// Name-id issuer meaning "the nameid is an on-premises Active Directory SID".
pub const NII_ACTIVE_DIRECTORY: &str = "urn:office:idp:activedirectory";
/// Name-id issuer meaning "the nameid is a Microsoft Online NetID".
pub const NII_MICROSOFT_ONLINE: &str = "urn:federation:MicrosoftOnline";

/// The claims that identify the user an outer token acts for. All optional; at least one is needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    /// User id; a lower-case SID when `nii` is Active Directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameid: Option<String>,
    /// Name-id issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nii: Option<String>,
    /// User principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Primary SMTP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<String>,
    /// SIP address without the `sip:` prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<String>,
    /// Exchange-internal user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msexchuid: Option<String>,
}

impl UserClaims {
    /// True when no claim identifies anybody.
    pub fn is_empty(&self) -> bool {
        self.nameid.is_none()
            && self.upn.is_none()
            && self.smtp.is_none()
            && self.sip.is_none()
            && self.msexchuid.is_none()
    }

    /// Builds the claims from a typed address as admins write it: `sip:…`, `smtp:…`, `upn:…`, or a bare
    /// address (taken as both SMTP and SIP). `None` for an empty or malformed address.
    pub fn from_address(address: &str) -> Option<Self> {
        let (kind, value) = match address.split_once(':') {
            Some((k, v)) if ["sip", "smtp", "upn"].contains(&k.to_ascii_lowercase().as_str()) => {
                (k.to_ascii_lowercase(), v)
            }
            _ => (String::new(), address),
        };
        let value = value.trim().to_ascii_lowercase();
        let (local, domain) = value.split_once('@')?;
        if local.is_empty() || domain.is_empty() || value.contains(char::is_whitespace) {
            return None;
        }
        let mut claims = Self::default();
        match kind.as_str() {
            "sip" => claims.sip = Some(value),
            "smtp" => claims.smtp = Some(value),
            "upn" => claims.upn = Some(value),
            _ => {
                claims.smtp = Some(value.clone());
                claims.sip = Some(value);
            }
        }
        Some(claims)
    }
}

/// The claims of an outer token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OuterClaims {
    /// Same as the actor's `aud`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// `<clientId>@<realm>`: must equal the actor's `nameid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Not before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<UnixTime>,
    /// Expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<UnixTime>,
    /// The signed actor token (`actort` accepted on input, as one spec example spells it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actortoken: Option<String>,
    /// Who the caller acts for.
    #[serde(flatten)]
    pub user: UserClaims,
}

/// The wire form read without `flatten` (which would buffer the whole payload).
#[derive(Deserialize)]
struct OuterWire<'a> {
    #[serde(default)]
    aud: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default, deserialize_with = "claims::numeric_date")]
    nbf: Option<UnixTime>,
    #[serde(default, deserialize_with = "claims::numeric_date")]
    exp: Option<UnixTime>,
    #[serde(default, borrow, alias = "actort")]
    actortoken: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    nameid: Option<String>,
    #[serde(default)]
    nii: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    smtp: Option<String>,
    #[serde(default)]
    sip: Option<String>,
    #[serde(default)]
    msexchuid: Option<String>,
}

impl<'de> Deserialize<'de> for OuterClaims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = OuterWire::deserialize(d)?;
        Ok(Self {
            aud: w.aud,
            iss: w.iss,
            nbf: w.nbf,
            exp: w.exp,
            actortoken: w.actortoken.map(std::borrow::Cow::into_owned),
            user: UserClaims {
                nameid: w.nameid,
                nii: w.nii,
                upn: w.upn,
                smtp: w.smtp,
                sip: w.sip,
                msexchuid: w.msexchuid,
            },
        })
    }
}

/// A decoded outer token. Nothing in it is trusted until the actor inside verifies.
#[derive(Debug, Clone)]
pub struct OuterToken {
    /// The claims.
    pub claims: OuterClaims,
}

impl OuterToken {
    /// Decodes an outer token: header `alg` `none` and an empty signature segment, or `Signed`.
    pub fn decode(compact: &Compact<'_>, header: &Header) -> Result<Self, TokenError> {
        if !header.is_unsigned() || !compact.signature.is_empty() {
            return Err(TokenError::Signed);
        }
        Ok(Self { claims: compact.claims()? })
    }
}

/// Builds an outer token: `base64url(header).base64url(claims).` (note the trailing dot).
pub fn build(claims: &OuterClaims) -> Result<String, TokenError> {
    let mut out = String::with_capacity(
        NONE_HEADER_B64.len() + 2 + claims.actortoken.as_ref().map_or(0, String::len) * 4 / 3 + 512,
    );
    out.push_str(NONE_HEADER_B64);
    out.push('.');
    jws::encode_json(claims, "payload", &mut out)?;
    out.push('.');
    Ok(out)
}

/// An outer-token template bound to one actor token: the fixed part of the payload is encoded
/// once, so minting an act-as token for a user costs only the user claims. Base64 of a prefix whose
/// length is a multiple of three concatenates cleanly with base64 of what follows.
#[derive(Debug, Clone)]
pub struct OuterTemplate {
    prefix_b64: String,
}

impl OuterTemplate {
    /// Prepares the template for `actor` (a compact actor token) with the shared `aud`/`iss`/`nbf`/`exp`.
    pub fn new(aud: &str, iss: &str, nbf: UnixTime, exp: UnixTime, actor: &str) -> Result<Self, TokenError> {
        #[derive(Serialize)]
        struct Fixed<'a> {
            aud: &'a str,
            iss: &'a str,
            nbf: UnixTime,
            exp: UnixTime,
            actortoken: &'a str,
        }
        let mut json = serde_json::to_vec(&Fixed { aud, iss, nbf, exp, actortoken: actor })
            .map_err(|e| TokenError::Json { part: "payload", detail: e.to_string() })?;
        json.pop(); // the closing brace; user claims follow
        while json.len() % 3 != 0 {
            json.push(b' ');
        }
        let mut prefix_b64 = String::with_capacity(NONE_HEADER_B64.len() + 1 + json.len() * 4 / 3);
        prefix_b64.push_str(NONE_HEADER_B64);
        prefix_b64.push('.');
        URL_SAFE_NO_PAD.encode_string(&json, &mut prefix_b64);
        Ok(Self { prefix_b64 })
    }

    /// The outer token for `user`.
    pub fn mint(&self, user: &UserClaims) -> Result<String, TokenError> {
        let mut tail =
            serde_json::to_vec(user).map_err(|e| TokenError::Json { part: "payload", detail: e.to_string() })?;
        // `{…}` → `,…}`, or `}` alone when the user claims are empty.
        if tail.len() <= 2 {
            tail = b"}".to_vec();
        } else {
            tail[0] = b',';
        }
        let mut out = String::with_capacity(self.prefix_b64.len() + tail.len() * 4 / 3 + 4);
        out.push_str(&self.prefix_b64);
        URL_SAFE_NO_PAD.encode_string(&tail, &mut out);
        out.push('.');
        Ok(out)
    }
}
