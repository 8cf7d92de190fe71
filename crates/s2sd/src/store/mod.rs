//! The configuration store: our realm and service name, our issuer certificates (current, next,
//! previous) and the partner applications we trust, behind one [`Store`] trait.
//!
//! This module owns all SQL of the daemon: no other module builds a query or knows a table name.
//! Every write is one transaction that also bumps the configuration version (see
//! [`Store::version`]), so a change is wholly there or wholly absent after a crash, and a running
//! server can notice it by polling one row (or sooner, when the backend pushes change
//! notifications: [`Store::wait_for_change`]). The store never reads the clock (callers pass every
//! time in as unix seconds) and never validates what it stores beyond uniqueness: normalising
//! names and checking values is the job of the CLI and the issuer.
//!
//! Private keys are encrypted at rest under the store key (`crypto.rs`): the backends seal them on
//! the way in and open them on the way out, so callers only ever see plaintext
//! [`CertificateRecord`]s and the database never holds a key in plain text.
//!
//! Backends: SQLite (`sqlite:PATH`, `sqlite::memory:`) and PostgreSQL (`postgres://…`), one
//! contract suite (`tests.rs`) for both.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use self::crypto::KeySpec;
use self::postgres::PgStore;
use self::sqlite::SqliteStore;

/// A statement assembled from a backend's column-list constants (never from input: every value is
/// bound). Defined before the backend modules so that they all see it.
macro_rules! dynamic {
    ($($t:tt)*) => {
        sqlx::AssertSqlSafe(format!($($t)*))
    };
}

pub mod authority;
mod crypto;
pub mod mailbox;
mod mailbox_queries;
mod mailbox_rows;
mod postgres;
mod sqlite;
pub mod transaction;

pub use s2s::partner::PartnerKind;
mod postgres_authority;
mod postgres_transaction;
mod sqlite_authority;
mod sqlite_transaction;

pub use self::transaction::ConfigTransaction;

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
    /// `Full` or `Application`.
    pub trust_level: String,
    pub enabled: bool,
    pub allow_http_metadata: bool,
    pub tls_ca_pem: Option<String>,
    /// DER certificates, in order: from the metadata document or given by hand. Standard base64 in JSON.
    #[serde(with = "der_base64_list")]
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

pub use self::crypto::{KEY_FILE_ENV, StoreKey};

/// Everything a store holds (mailbox data aside), read in one consistent state: what `s2sd store
/// export` writes and `s2sd store import` reads. Private keys are in plain text here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The configuration version the snapshot was read at (ignored by [`Store::import`]).
    pub version: i64,
    pub oauth_config: Option<OAuthConfig>,
    /// Ordered as [`Store::certificates`] orders them.
    pub certificates: Vec<CertificateRecord>,
    /// Ordered by name.
    pub partners: Vec<PartnerRecord>,
}

/// How [`open_with`] opens a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// The store key file. `None`: beside an SQLite file (`<db>.key`, created with the store), a
    /// throw-away key for `sqlite::memory:`, refused for PostgreSQL.
    pub key_file: Option<PathBuf>,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with this name (or thumbprint) already exists.
    #[error("{what} `{name}` already exists")]
    Duplicate { what: &'static str, name: String },
    /// A record a write refers to (a tenant, a service principal) does not exist.
    #[error("{what} `{name}` does not exist")]
    NotFound { what: &'static str, name: String },
    /// The store URL is not one we can open.
    #[error("unsupported store URL `{0}`: expected `sqlite:PATH`, `sqlite::memory:` or `postgres://…`")]
    UnsupportedUrl(String),
    /// The SQLite file or its parent directories could not be created.
    #[error("cannot create the store file {path}: {source}")]
    CreateFile { path: PathBuf, source: std::io::Error },
    /// The database could not be opened or connected to.
    #[error("cannot open the store {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    /// A PostgreSQL connection whose search_path names no existing schema.
    #[error(
        "the store {url} has no schema to live in: no schema of its search_path exists; create it (CREATE SCHEMA …) \
         or change `options=-c search_path=…` in the URL"
    )]
    NoSchema { url: String },
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
    /// The store key file cannot be read, is not a key, or is open to group or others.
    #[error("cannot use the store key file {path}: {detail}")]
    KeyFile { path: PathBuf, detail: String },
    /// A store that needs a key file to be named (PostgreSQL) was opened without one.
    #[error(
        "the store {url} keeps private keys encrypted and needs its key: set S2S_STORE_KEY_FILE or pass \
         --store-key-file FILE (for a new store, make one with `s2sd store generate-key --out FILE`)"
    )]
    KeyRequired { url: String },
    /// An SQLite store holds encrypted keys but the key file beside it is gone.
    #[error(
        "the store {url} holds private keys encrypted with store key {key_id}, but its key file {path} is \
         missing: restore it from a backup, or name the key file with S2S_STORE_KEY_FILE / --store-key-file"
    )]
    KeyFileMissing { url: String, path: PathBuf, key_id: String },
    /// The key given is not the key the store's private keys are sealed with.
    #[error(
        "wrong store key: the store's private keys are encrypted with store key {store_key_id}, but {key_source} \
         holds store key {given_key_id}; set S2S_STORE_KEY_FILE / --store-key-file to the store's key file"
    )]
    WrongKey { store_key_id: String, given_key_id: String, key_source: String },
    /// The store key was rotated while this node kept the old one; it must not seal with it.
    #[error(
        "the store key was rotated (the store now uses store key {store_key_id}, this node has {node_key_id}): \
         restart it with the current key file (S2S_STORE_KEY_FILE / --store-key-file)"
    )]
    StaleKey { store_key_id: String, node_key_id: String },
    /// A stored private key that does not decrypt.
    #[error("cannot decrypt the private key of certificate {thumbprint}: {detail}")]
    Undecryptable { thumbprint: String, detail: String },
    /// The crypto library failed (no randomness, …).
    #[error("store encryption failed: {0}")]
    Crypto(&'static str),
    /// An import into a store that already holds a configuration.
    #[error(
        "the store {url} is not empty (it holds {what}): import only into an empty store, or pass --replace to \
         replace its contents"
    )]
    NotEmpty { url: String, what: String },
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

    /// Starts a write transaction on the configuration (see [`ConfigTransaction`]): it holds the
    /// writers' lock until it commits or is dropped.
    async fn write(&self) -> Result<Box<dyn ConfigTransaction>, StoreError>;

    /// Creates or replaces our OAuth configuration.
    async fn set_oauth_config(&self, config: &OAuthConfig) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        tx.set_oauth_config(config).await?;
        tx.commit().await?;
        Ok(())
    }

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
    async fn insert_partner(&self, record: &PartnerRecord) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        tx.insert_partner(record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the stored partner named `record.name` (case-insensitive) wholly, certificates
    /// included (the stored name takes the case of `record.name`). false when absent.
    async fn update_partner(&self, record: &PartnerRecord) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        if !tx.update_partner(record).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Removes the partner and its certificates. false when absent.
    async fn remove_partner(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        if !tx.remove_partner(name).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records a node's metadata fetch: time and status always; certificates replaced only when
    /// Some. A fetch result is not configuration: the version is not bumped (other nodes fetch for
    /// themselves and do not reload for it), and `updated_at` is left alone (it tracks admin
    /// changes). false when the partner is absent.
    async fn record_metadata_fetch(
        &self,
        name: &str,
        fetched_at: i64,
        status: &str,
        certificates: Option<&[Vec<u8>]>,
    ) -> Result<bool, StoreError>;

    /// The schema version: the number of the latest migration applied.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// The id of the key that seals this store's private keys (16 hex digits; never the key).
    fn key_id(&self) -> String;

    /// Re-encrypts every private key under `new_key` and replaces the key check value, in one
    /// transaction that bumps the version; this handle uses `new_key` from then on. Returns how
    /// many private keys were re-encrypted. Other nodes must restart with the new key file.
    async fn rotate_key(&self, new_key: StoreKey) -> Result<u64, StoreError>;

    /// Loads `snapshot` (its `version` aside) in one transaction that bumps the version.
    /// [`StoreError::NotEmpty`] when the store holds an OAuth configuration, a certificate or a
    /// partner, unless `replace`, which removes those first.
    async fn import(&self, snapshot: &Snapshot, replace: bool) -> Result<(), StoreError>;

    /// Waits up to `timeout` for a change written by any node; true when a change notification
    /// arrived (PostgreSQL: LISTEN/NOTIFY). Backends without notifications sleep the timeout and
    /// return false: callers still poll [`Store::version`], which finds every change.
    async fn wait_for_change(&self, timeout: Duration) -> bool {
        tokio::time::sleep(timeout).await;
        false
    }

    /// Everything the store holds, at one version (re-read if a write landed in between).
    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut attempts = 0;
        loop {
            let version = self.version().await?;
            let snapshot = Snapshot {
                version,
                oauth_config: self.oauth_config().await?,
                certificates: self.certificates().await?,
                partners: self.partners().await?,
            };
            attempts += 1;
            if self.version().await? == version || attempts >= 10 {
                return Ok(snapshot);
            }
        }
    }
}

/// A store URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StoreUrl {
    /// `sqlite:PATH`, also spelled `sqlite://PATH` (so `sqlite:///abs/path` is `/abs/path`).
    SqliteFile(PathBuf),
    /// `sqlite::memory:`: a private database that lives as long as the store.
    SqliteMemory,
    /// `postgres://…` or `postgresql://…`, passed to the driver as it is.
    Postgres(PgUrl),
}

/// A PostgreSQL URL; `Debug` hides any password.
#[derive(Clone, PartialEq, Eq)]
struct PgUrl(String);

/// The key file named on the command line (`--store-key-file`) for every store this process opens;
/// it takes precedence over `S2S_STORE_KEY_FILE` (which the CLI cannot set: that needs `unsafe`).
static KEY_FILE_FLAG: RwLock<Option<PathBuf>> = RwLock::new(None);

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

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PgUrl").field(&redact_password(&self.0)).finish()
    }
}

impl OpenOptions {
    /// The key file from `--store-key-file` (see [`set_key_file`]), else `S2S_STORE_KEY_FILE`.
    pub fn from_env() -> Self {
        let flag = KEY_FILE_FLAG.read().ok().and_then(|flag| flag.clone());
        let key_file = flag.or_else(|| std::env::var_os(KEY_FILE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from));
        Self { key_file }
    }

    fn key_spec(&self, url: &StoreUrl) -> KeySpec {
        match (&self.key_file, url) {
            (Some(path), _) => KeySpec::File(path.clone()),
            (None, StoreUrl::SqliteFile(path)) => KeySpec::BesideDatabase(key_file_beside(path)),
            (None, StoreUrl::SqliteMemory) => KeySpec::Ephemeral,
            (None, StoreUrl::Postgres(_)) => KeySpec::Missing,
        }
    }
}

impl StoreUrl {
    fn parse(url: &str) -> Result<Self, StoreError> {
        let unsupported = || StoreError::UnsupportedUrl(redact_password(url));
        if let Some((scheme, rest)) = url.split_once("://")
            && (scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql"))
        {
            if rest.is_empty() {
                return Err(unsupported());
            }
            return Ok(Self::Postgres(PgUrl(url.to_owned())));
        }
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

/// Opens the store named by `url` (`sqlite:PATH`, `sqlite::memory:` or `postgres://…`), creating
/// the SQLite file and its parent directories if missing (mode 0600 on unix), brings the schema
/// up to date and checks the store key: the one named by `--store-key-file` / `S2S_STORE_KEY_FILE`,
/// else the key file beside an SQLite file (`<db>.key`, created 0600 with a new store). See
/// [`open_with`].
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &OpenOptions::from_env()).await
}

/// Opens the store named by `url` with the key file of `options` (see [`OpenOptions::key_file`]).
/// A store whose private keys are sealed with another key fails here, naming both key ids.
pub async fn open_with(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>, StoreError> {
    Ok(open_stores_with(url, options).await?.config)
}

/// The three faces of one store: configuration, mailboxes and the authority, over one database
/// handle (one connection pool, one store key). A server opens this once.
#[derive(Clone)]
pub struct Stores {
    pub config: Arc<dyn Store>,
    pub mailbox: Arc<dyn mailbox::MailboxStore>,
    pub authority: Arc<dyn authority::AuthorityStore>,
}

/// Opens every face of the store at `url` with one database handle (see [`open`]).
pub async fn open_stores(url: &str) -> Result<Stores, StoreError> {
    open_stores_with(url, &OpenOptions::from_env()).await
}

/// [`open_stores`] with the key file of `options`.
pub async fn open_stores_with(url: &str, options: &OpenOptions) -> Result<Stores, StoreError> {
    let parsed = StoreUrl::parse(url)?;
    let key = options.key_spec(&parsed);
    fn faces<T: Store + mailbox::MailboxStore + authority::AuthorityStore>(store: T) -> Stores {
        let store = Arc::new(store);
        Stores { config: store.clone(), mailbox: store.clone(), authority: store }
    }
    Ok(match parsed {
        StoreUrl::SqliteFile(path) => faces(SqliteStore::open_file_with(&path, &key).await?),
        StoreUrl::SqliteMemory => faces(SqliteStore::open_memory_with(&key).await?),
        StoreUrl::Postgres(PgUrl(url)) => faces(PgStore::open(&url, &key).await?),
    })
}

/// Names the store key file for every store this process opens from now on (`--store-key-file`);
/// it takes precedence over `S2S_STORE_KEY_FILE`.
pub fn set_key_file(path: PathBuf) {
    if let Ok(mut flag) = KEY_FILE_FLAG.write() {
        *flag = Some(path);
    }
}

/// The key file a store at `url` uses when none is named: beside an SQLite file; `None` for
/// `sqlite::memory:`, PostgreSQL and URLs that are not store URLs.
pub fn default_key_file(url: &str) -> Option<PathBuf> {
    match StoreUrl::parse(url) {
        Ok(StoreUrl::SqliteFile(path)) => Some(key_file_beside(&path)),
        _ => None,
    }
}

/// The key file kept beside an SQLite database: `<db>.key` (`s2s.db` → `s2s.db.key`).
pub fn key_file_beside(database: &Path) -> PathBuf {
    let mut name = database.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(".key");
    database.with_file_name(name)
}

/// Opens the mailbox store (users, folders, items, role assignments) at `url`: the same database
/// (and key file) as [`open`], with a handle of its own. Like [`open_with`], it migrates the schema
/// and checks the store key. A `sqlite::memory:` URL gives a private, empty in-memory database.
pub async fn open_mailbox(url: &str) -> Result<Arc<dyn mailbox::MailboxStore>, StoreError> {
    Ok(open_stores(url).await?.mailbox)
}

/// [`open_mailbox`] with the key file of `options`.
pub async fn open_mailbox_with(url: &str, options: &OpenOptions) -> Result<Arc<dyn mailbox::MailboxStore>, StoreError> {
    Ok(open_stores_with(url, options).await?.mailbox)
}

/// Opens the authority store (tenants, service principals, credentials) at `url`: the same
/// database (and key file) as [`open`], with a handle of its own; on PostgreSQL several nodes
/// share it like the rest of the configuration. A `sqlite::memory:` URL gives a private, empty
/// in-memory database.
pub async fn open_authority(url: &str) -> Result<Arc<dyn authority::AuthorityStore>, StoreError> {
    Ok(open_stores(url).await?.authority)
}

/// [`open_authority`] with the key file of `options`.
pub async fn open_authority_with(
    url: &str,
    options: &OpenOptions,
) -> Result<Arc<dyn authority::AuthorityStore>, StoreError> {
    Ok(open_stores_with(url, options).await?.authority)
}

/// A `certificates` row, as both backends read it (the private key still sealed).
#[derive(sqlx::FromRow)]
struct CertificateRow {
    thumbprint: String,
    role: String,
    cert_der: Vec<u8>,
    private_key_sealed: Option<Vec<u8>>,
    not_before: i64,
    not_after: i64,
    effective_at: Option<i64>,
    created_at: i64,
}

/// The `store_key` row.
#[derive(sqlx::FromRow)]
struct KeyCheckRow {
    key_id: String,
    check_value: Vec<u8>,
}

impl From<KeyCheckRow> for crypto::KeyCheck {
    fn from(row: KeyCheckRow) -> Self {
        Self { key_id: row.key_id, check_value: row.check_value }
    }
}

/// A certificate row with its private key opened.
fn certificate_record(row: CertificateRow, key: &StoreKey) -> Result<CertificateRecord, StoreError> {
    let role = row.role.parse().map_err(|_| StoreError::CorruptValue {
        table: "certificates",
        column: "role",
        detail: format!("unknown role `{}`", row.role),
    })?;
    let private_key_pkcs8 =
        row.private_key_sealed.map(|sealed| key.open_private_key(&row.thumbprint, &sealed)).transpose()?;
    Ok(CertificateRecord {
        thumbprint: row.thumbprint,
        role,
        cert_der: row.cert_der,
        private_key_pkcs8,
        not_before: row.not_before,
        not_after: row.not_after,
        effective_at: row.effective_at,
        created_at: row.created_at,
    })
}

/// A unique-constraint violation becomes [`StoreError::Duplicate`]; anything else stays a database error.
fn duplicate_or(error: sqlx::Error, what: &'static str, name: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::Duplicate { what, name: name.to_owned() }
        }
        _ => StoreError::Database(error),
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

/// What a non-empty store holds, for [`StoreError::NotEmpty`].
fn contents(oauth_config: bool, certificates: i64, partners: i64) -> String {
    let mut parts = Vec::new();
    if oauth_config {
        parts.push(String::from("an OAuth configuration"));
    }
    match certificates {
        0 => {}
        1 => parts.push(String::from("1 certificate")),
        n => parts.push(format!("{n} certificates")),
    }
    match partners {
        0 => {}
        1 => parts.push(String::from("1 partner application")),
        n => parts.push(format!("{n} partner applications")),
    }
    parts.join(", ")
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
mod authority_tests;
#[cfg(test)]
mod mailbox_schema_tests;
#[cfg(test)]
mod mailbox_tests;
#[cfg(test)]
pub(crate) mod tests;

/// How a partner kind is stored.
fn kind_text(kind: PartnerKind) -> &'static str {
    match kind {
        PartnerKind::Application => "application",
        PartnerKind::AuthServer => "auth-server",
    }
}

/// A stored partner kind.
fn kind_from_text(text: &str) -> PartnerKind {
    if text == "auth-server" { PartnerKind::AuthServer } else { PartnerKind::Application }
}
