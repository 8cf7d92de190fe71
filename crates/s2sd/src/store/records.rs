//! The records the configuration store holds and hands out: our OAuth identity, our issuer
//! certificates, the partners we trust, the [`Snapshot`] of all of them, and the stored spelling
//! of every enumerated column (how each value is written, and read back strictly: an unknown
//! stored value is [`StoreError::CorruptValue`] naming the record, never a silent default).

use std::fmt;
use std::str::FromStr;

use s2s::partner::{PartnerKind, TrustLevel};
use serde::{Deserialize, Serialize};

use super::StoreError;

/// Our own OAuth identity (`Set-CsOAuthConfiguration`, `Set-AuthConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthConfig {
    /// Lower-case realm, e.g. `litwareinc.com`.
    pub realm: String,
    /// Our application id (a GUID), lower-case.
    pub service_name: String,
    /// Our host names, lower-case; may be empty.
    pub hostnames: Vec<String>,
    pub additional_realms: Vec<String>,
    pub exchange_autodiscover_url: Option<String>,
    /// Automatic renewal of our issuer certificate; `None` = off.
    #[serde(default)]
    pub auto_renew: Option<AutoRenew>,
}

/// When a running server creates and stages the next self-signed issuer certificate by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoRenew {
    /// Renew when the current certificate expires within this many days.
    pub renew_before_days: u32,
    /// The new certificate starts signing this many days after it is staged.
    pub lead_days: u32,
}

/// Where an issuer certificate stands in the rollover. Stored as `current`, `next`, `previous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertificateRole {
    /// Signs our tokens now.
    Current,
    /// Published in our metadata ahead of a rollover; starts signing at `effective_at`.
    Next,
    /// Replaced by the current one; still published so that partners with stale caches cope.
    Previous,
}

/// One of our issuer certificates.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Upper-case hex SHA-1 of `cert_der`; unique (compared case-insensitively).
    pub thumbprint: String,
    pub role: CertificateRole,
    /// Standard base64 in JSON.
    #[serde(with = "der_base64")]
    pub cert_der: Vec<u8>,
    /// PKCS#8 DER. Never serialised and never printed by `Debug`.
    #[serde(skip)]
    pub private_key_pkcs8: Option<Vec<u8>>,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// For a next certificate: when it starts signing (unix seconds).
    pub effective_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A partner application we accept tokens from (`New-CsPartnerApplication`, `New-PartnerApplication`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRecord {
    /// Unique, compared case-insensitively (ASCII): `Exchange` and `exchange` are the same partner.
    pub name: String,
    /// Lower-case GUID.
    pub application_id: String,
    /// `*` means any realm.
    pub realm: String,
    pub metadata_url: Option<String>,
    /// What the partner may do; stored as `Full` or `Application`.
    pub trust_level: TrustLevel,
    pub enabled: bool,
    pub allow_http_metadata: bool,
    pub tls_ca_pem: Option<String>,
    /// DER certificates, in order: from the metadata document or given by hand. Standard base64 in JSON.
    #[serde(with = "der_base64_list")]
    pub certificates: Vec<Vec<u8>>,
    /// Unix seconds of the last metadata fetch.
    pub metadata_fetched_at: Option<i64>,
    /// How the last metadata fetch went; stored as `ok` or its one-line error.
    pub metadata_status: Option<MetadataStatus>,
    /// This partner's metadata refresh interval in seconds; `None` = the server's default.
    #[serde(default)]
    pub metadata_refresh_interval: Option<i64>,
    /// The account whose role assignments give this partner's app-only tokens their rights.
    #[serde(default)]
    pub linked_account: Option<String>,
    /// Trust a Windows SID in `nameid` when `nii` is Active Directory.
    #[serde(default)]
    pub accept_security_identifier_information: bool,
    /// A partner application, or an authorization server (`New-AuthServer`).
    #[serde(default)]
    pub kind: PartnerKind,
    /// For applications: accept actor tokens an authorization server issues for it.
    #[serde(default)]
    pub use_auth_server: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Everything a store holds (mailbox data aside), read in one consistent state: what `s2sd store
/// export` writes and `s2sd store import` reads. Private keys are in plain text here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The configuration version the snapshot was read at (ignored by [`Store::import`](super::Store::import)).
    pub version: i64,
    pub oauth_config: Option<OAuthConfig>,
    /// Ordered as [`Store::certificates`](super::Store::certificates) orders them.
    pub certificates: Vec<CertificateRecord>,
    /// Ordered by name.
    pub partners: Vec<PartnerRecord>,
}

impl fmt::Debug for CertificateRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let private_key: &dyn fmt::Debug = match self.private_key_pkcs8 {
            Some(_) => &"<redacted>",
            None => &None::<()>,
        };
        f.debug_struct("CertificateRecord")
            .field("thumbprint", &self.thumbprint)
            .field("role", &self.role)
            .field("cert_der", &self.cert_der)
            .field("private_key", private_key)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("effective_at", &self.effective_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl CertificateRole {
    /// The stored (and serialised) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Next => "next",
            Self::Previous => "previous",
        }
    }

    /// The role with this stored spelling.
    pub(super) fn from_stored(text: &str) -> Option<Self> {
        match text {
            "current" => Some(Self::Current),
            "next" => Some(Self::Next),
            "previous" => Some(Self::Previous),
            _ => None,
        }
    }
}

impl fmt::Display for CertificateRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertificateRole {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_stored(s).ok_or_else(|| StoreError::UnknownCertificateRole(s.to_owned()))
    }
}

/// Binary values as standard base64 strings in JSON (the store dump), not arrays of numbers.
mod der_base64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text.trim()).map_err(serde::de::Error::custom)
    }
}

/// Lists of binary values as lists of standard base64 strings in JSON.
mod der_base64_list {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(list: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(list.iter().map(|bytes| STANDARD.encode(bytes)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let list = Vec::<String>::deserialize(deserializer)?;
        list.iter().map(|text| STANDARD.decode(text.trim()).map_err(serde::de::Error::custom)).collect()
    }
}

/// How a partner's last metadata fetch went. Stored (and serialised) as `ok` or the fetch's
/// one-line error text; an empty stored text is neither, and reads back as corrupt (so an empty
/// error is stored as `failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum MetadataStatus {
    /// The document was fetched and its keys taken.
    Ok,
    /// The fetch failed with this (one-line) error; the last good keys stay in force.
    Failed(String),
}

impl MetadataStatus {
    /// The stored spelling: `ok` or the error.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ok => "ok",
            Self::Failed(error) if error.is_empty() => "failed",
            Self::Failed(error) => error,
        }
    }

    /// The status with this stored spelling; `None` for the empty text.
    pub(super) fn from_stored(text: &str) -> Option<Self> {
        match text {
            "" => None,
            "ok" => Some(Self::Ok),
            error => Some(Self::Failed(error.to_owned())),
        }
    }
}

impl fmt::Display for MetadataStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<MetadataStatus> for String {
    fn from(status: MetadataStatus) -> Self {
        status.as_str().to_owned()
    }
}

impl From<String> for MetadataStatus {
    fn from(text: String) -> Self {
        if text == "ok" { Self::Ok } else { Self::Failed(text) }
    }
}

/// How a partner kind is stored.
pub(super) fn kind_text(kind: PartnerKind) -> &'static str {
    match kind {
        PartnerKind::Application => "application",
        PartnerKind::AuthServer => "auth-server",
    }
}

/// The partner kind with this stored spelling.
pub(super) fn kind_from_text(text: &str) -> Option<PartnerKind> {
    match text {
        "application" => Some(PartnerKind::Application),
        "auth-server" => Some(PartnerKind::AuthServer),
        _ => None,
    }
}

/// How a trust level is stored: its display name.
pub(super) fn trust_level_text(level: TrustLevel) -> &'static str {
    match level {
        TrustLevel::Full => "Full",
        TrustLevel::Application => "Application",
    }
}

/// The trust level with this stored spelling (exactly as [`trust_level_text`] writes it).
pub(super) fn trust_level_from_text(text: &str) -> Option<TrustLevel> {
    match text {
        "Full" => Some(TrustLevel::Full),
        "Application" => Some(TrustLevel::Application),
        _ => None,
    }
}

/// A stored value that is none of its column's values: [`StoreError::CorruptValue`] naming the
/// record (`what` and `name`) and the value.
pub(super) fn unknown_value(
    table: &'static str,
    column: &'static str,
    what: &str,
    name: &str,
    value: &str,
    expected: &str,
) -> StoreError {
    StoreError::CorruptValue {
        table,
        column,
        detail: format!("{what} `{name}` has the unknown value `{value}` (expected {expected})"),
    }
}
