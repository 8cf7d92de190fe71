//! The configuration store: our realm and service name, our issuer certificates (current, next,
//! previous) and the partner applications we trust, behind one [`Store`] trait.
//!
//! This module owns all SQL of the daemon: no other module builds a query or knows a table name.
//! Every write is one transaction that also bumps the configuration version (see
//! [`Store::version`]), so a change is wholly there or wholly absent after a crash, and a running
//! server can notice it by polling one row. The store never reads the clock (callers pass every
//! time in as unix seconds) and never validates what it stores beyond uniqueness: normalising
//! names and checking values is the job of the CLI and the issuer.
//!
//! Backends: SQLite (`sqlite:PATH`, `sqlite::memory:`) today; PostgreSQL is a later issue and will
//! pass the same contract suite (`tests.rs`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use self::sqlite::SqliteStore;

mod sqlite;

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
    /// `Full` or `Application`.
    pub trust_level: String,
    pub enabled: bool,
    pub allow_http_metadata: bool,
    pub tls_ca_pem: Option<String>,
    /// DER certificates, in order: from the metadata document or given by hand.
    pub certificates: Vec<Vec<u8>>,
    /// Unix seconds of the last metadata fetch.
    pub metadata_fetched_at: Option<i64>,
    /// `ok` or a one-line error of the last metadata fetch.
    pub metadata_status: Option<String>,
    /// This partner's metadata refresh interval in seconds; `None` = the server's default.
    #[serde(default)]
    pub metadata_refresh_interval: Option<i64>,
    /// The account whose role assignments give this partner's app-only tokens their rights.
    #[serde(default)]
    pub linked_account: Option<String>,
    /// Trust a Windows SID in `nameid` when `nii` is Active Directory.
    #[serde(default)]
    pub accept_security_identifier_information: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with this name (or thumbprint) already exists.
    #[error("{what} `{name}` already exists")]
    Duplicate { what: &'static str, name: String },
    /// The store URL is not one we can open.
    #[error(
        "unsupported store URL `{0}`: expected `sqlite:PATH` or `sqlite::memory:` (PostgreSQL is not supported yet)"
    )]
    UnsupportedUrl(String),
    /// The SQLite file or its parent directories could not be created.
    #[error("cannot create the store file {path}: {source}")]
    CreateFile { path: PathBuf, source: std::io::Error },
    /// The database could not be opened or connected to.
    #[error("cannot open the store {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    /// The schema migrations failed (or the database was migrated by a newer version).
    #[error("cannot migrate the store schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure.
    #[error("store database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A certificate role that is not `current`, `next` or `previous`.
    #[error("unknown certificate role `{0}`: expected current, next or previous")]
    UnknownCertificateRole(String),
    /// A stored value that cannot be read back (e.g. a list column that is not a JSON array).
    #[error("corrupt value in {table}.{column}: {detail}")]
    CorruptValue { table: &'static str, column: &'static str, detail: String },
}

/// The configuration store. Used as `Arc<dyn Store>`; every write is one transaction that bumps
/// [`Store::version`]. A write that finds nothing to change (returns `false`) changes nothing,
/// the version included.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The store's URL, for messages; never includes a password.
    fn url(&self) -> String;

    /// The configuration version: one row, bumped in the same transaction by every write below.
    async fn version(&self) -> Result<i64, StoreError>;

    async fn oauth_config(&self) -> Result<Option<OAuthConfig>, StoreError>;

    /// Creates or replaces our OAuth configuration.
    async fn set_oauth_config(&self, config: &OAuthConfig) -> Result<(), StoreError>;

    /// Our certificates, ordered: current, next, previous, then by `created_at`.
    async fn certificates(&self) -> Result<Vec<CertificateRecord>, StoreError>;

    /// Makes `record` the current certificate: the existing current one (if any) becomes previous,
    /// the old previous is deleted; any next certificate is left alone. One transaction.
    /// `record.role` is ignored. [`StoreError::Duplicate`] when the thumbprint is already stored
    /// (other than as the previous certificate, which is deleted first).
    async fn install_current_certificate(&self, record: &CertificateRecord) -> Result<(), StoreError>;

    /// Stores a next certificate (replacing an existing next one). One transaction.
    /// `record.role` is ignored. [`StoreError::Duplicate`] when the thumbprint is stored as the
    /// current or previous certificate.
    async fn stage_next_certificate(&self, record: &CertificateRecord) -> Result<(), StoreError>;

    /// Promotes next to current (current -> previous, old previous deleted). Returns false when
    /// there is no next.
    async fn promote_next_certificate(&self) -> Result<bool, StoreError>;

    /// Removes the certificate with this thumbprint (compared case-insensitively), whatever its
    /// role. false when absent.
    async fn remove_certificate(&self, thumbprint: &str) -> Result<bool, StoreError>;

    /// All partners, ordered by name (case-insensitively).
    async fn partners(&self) -> Result<Vec<PartnerRecord>, StoreError>;

    /// The partner with this name, compared case-insensitively.
    async fn partner(&self, name: &str) -> Result<Option<PartnerRecord>, StoreError>;

    /// [`StoreError::Duplicate`] on a name clash (case-insensitive).
    async fn insert_partner(&self, record: &PartnerRecord) -> Result<(), StoreError>;

    /// Replaces the stored partner named `record.name` (case-insensitive) wholly, certificates
    /// included (the stored name takes the case of `record.name`). false when absent.
    async fn update_partner(&self, record: &PartnerRecord) -> Result<bool, StoreError>;

    /// Removes the partner and its certificates. false when absent.
    async fn remove_partner(&self, name: &str) -> Result<bool, StoreError>;

    /// Records a metadata fetch: time and status always; certificates replaced only when Some.
    /// `updated_at` is left alone (it tracks admin changes). false when the partner is absent.
    async fn record_metadata_fetch(
        &self,
        name: &str,
        fetched_at: i64,
        status: &str,
        certificates: Option<&[Vec<u8>]>,
    ) -> Result<bool, StoreError>;
}

/// A store URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StoreUrl {
    /// `sqlite:PATH`, also spelled `sqlite://PATH` (so `sqlite:///abs/path` is `/abs/path`).
    SqliteFile(PathBuf),
    /// `sqlite::memory:`: a private database that lives as long as the store.
    SqliteMemory,
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
}

impl fmt::Display for CertificateRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertificateRole {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "current" => Ok(Self::Current),
            "next" => Ok(Self::Next),
            "previous" => Ok(Self::Previous),
            other => Err(StoreError::UnknownCertificateRole(other.to_owned())),
        }
    }
}

impl StoreUrl {
    fn parse(url: &str) -> Result<Self, StoreError> {
        let unsupported = || StoreError::UnsupportedUrl(redact_password(url));
        let rest = url
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("sqlite:"))
            .and_then(|_| url.get(7..))
            .ok_or_else(unsupported)?;
        if rest == ":memory:" || rest == "//:memory:" {
            return Ok(Self::SqliteMemory);
        }
        let path = rest.strip_prefix("//").unwrap_or(rest);
        // sqlx-style `?mode=…` parameters are not supported: refuse rather than treat them as
        // part of the file name.
        if path.is_empty() || path.contains('?') {
            return Err(unsupported());
        }
        Ok(Self::SqliteFile(PathBuf::from(path)))
    }
}

/// Opens the store named by `url` (`sqlite:PATH` or `sqlite::memory:`), creating the SQLite file
/// and its parent directories if missing (mode 0600 on unix: it holds private keys), and brings
/// the schema up to date.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match StoreUrl::parse(url)? {
        StoreUrl::SqliteFile(path) => Arc::new(SqliteStore::open_file(&path).await?),
        StoreUrl::SqliteMemory => Arc::new(SqliteStore::open_memory().await?),
    };
    Ok(store)
}

/// `url` with any password replaced by `***`, for error messages.
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => match parsed.set_password(Some("***")) {
            Ok(()) => parsed.to_string(),
            Err(()) => String::from("<store URL with a password>"),
        },
        Ok(_) => url.to_owned(),
        // Not a URL, so nothing recognisable as a password; but refuse to echo credentials-like text.
        Err(_) if url.contains('@') => String::from("<unparsable store URL>"),
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
