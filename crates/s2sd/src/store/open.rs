//! Opening a store: the store URL (`sqlite:PATH`, `sqlite::memory:`, `postgres://…`), which key
//! file seals its private keys ([`OpenOptions`], `--store-key-file`, `S2S_STORE_KEY_FILE`, the
//! file beside an SQLite database), and the faces of one opened database ([`Stores`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::crypto::{KEY_FILE_ENV, KeySpec};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::{Store, StoreError, authority, mailbox};

/// How [`open_with`] opens a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// The store key file. `None`: beside an SQLite file (`<db>.key`, created with the store), a
    /// throw-away key for `sqlite::memory:`, refused for PostgreSQL.
    pub key_file: Option<PathBuf>,
}

/// A store URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StoreUrl {
    /// `sqlite:PATH`, also spelled `sqlite://PATH` (so `sqlite:///abs/path` is `/abs/path`).
    SqliteFile(PathBuf),
    /// `sqlite::memory:`: a private database that lives as long as the store.
    SqliteMemory,
    /// `postgres://…` or `postgresql://…`, passed to the driver as it is.
    Postgres(PgUrl),
}

/// A PostgreSQL URL; `Debug` hides any password.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct PgUrl(pub(super) String);

/// The key file named on the command line (`--store-key-file`) for every store this process opens;
/// it takes precedence over `S2S_STORE_KEY_FILE` (which the CLI cannot set: that needs `unsafe`).
static KEY_FILE_FLAG: RwLock<Option<PathBuf>> = RwLock::new(None);

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
    pub(super) fn parse(url: &str) -> Result<Self, StoreError> {
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

/// `url` with any password replaced by `***`, for error messages.
pub(super) fn redact_password(url: &str) -> String {
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
