//! Actor tokens: the signed app identity (`aud`, `iss`, `nameid`, `nbf`, `exp`,
//! `trustedfordelegation`), RS256 with an `x5t` header.

use serde::{Deserialize, Serialize};

use super::jws::{self, Compact, Header};
use super::keys::SigningKey;
use super::{TokenError, claims};
use crate::clock::UnixTime;

/// The claims of an actor token (app-only tokens are actor tokens sent alone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorClaims {
    /// `<appId>/<host[:port]>@<realm>` of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// `<issuerId>@<realm>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `<clientId>@<realm>`: the calling application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameid: Option<String>,
    /// Not before (seconds).
    #[serde(default, deserialize_with = "claims::numeric_date", skip_serializing_if = "Option::is_none")]
    pub nbf: Option<UnixTime>,
    /// Expiry (seconds).
    #[serde(default, deserialize_with = "claims::numeric_date", skip_serializing_if = "Option::is_none")]
    pub exp: Option<UnixTime>,
    /// Issued at (seconds).
    #[serde(default, deserialize_with = "claims::numeric_date", skip_serializing_if = "Option::is_none")]
    pub iat: Option<UnixTime>,
    /// May this app carry a user (act-as)?
    #[serde(
        default,
        deserialize_with = "claims::lenient_bool",
        serialize_with = "claims::true_string",
        skip_serializing_if = "claims::is_false"
    )]
    pub trustedfordelegation: bool,
    /// The identity provider (ACS-issued actors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identityprovider: Option<String>,
}

/// A decoded (not yet verified) actor token.
#[derive(Debug, Clone)]
pub struct ActorToken<'a> {
    /// The segments, for signature verification.
    pub compact: Compact<'a>,
    /// The header.
    pub header: Header,
    /// The claims.
    pub claims: ActorClaims,
}

impl<'a> ActorToken<'a> {
    /// Splits and decodes an actor token. The signature is not checked here.
    pub fn decode(token: &'a str) -> Result<Self, TokenError> {
        let compact = Compact::split(token)?;
        let header = compact.header()?;
        let claims = compact.claims()?;
        Ok(Self { compact, header, claims })
    }
}

/// Signs actor `claims` with `key`: header `{"typ":"JWT","alg":"RS256","x5t":…}`.
pub fn sign(claims: &ActorClaims, key: &SigningKey) -> Result<String, TokenError> {
    let header = Header {
        typ: Some("JWT".into()),
        alg: key.algorithm().name().into(),
        x5t: Some(key.x5t().to_owned()),
        ..Header::default()
    };
    jws::sign(&header, claims, key)
}
