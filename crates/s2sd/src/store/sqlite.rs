//! The SQLite backend: one file (or a private in-memory database), WAL journal, foreign keys on,
//! a small pool, and the schema in `migrations/sqlite/`. What only SQLite has is here: creating
//! the file (mode 0600) and opening the pool. Every query of the configuration, the authority and
//! the write transaction is in `sql/*.rs`, compiled here with `Db = sqlx::Sqlite` (see
//! `sql/config.rs` for how and why), and shared word for word with PostgreSQL.
//!
//! Writes start with `BEGIN IMMEDIATE` (`dialect.rs`), so a writer takes the write lock before it
//! reads anything and concurrent writers queue on `busy_timeout` instead of failing on a lock
//! upgrade. Reads of several statements run in one deferred transaction, one snapshot.
//!
//! Private keys are sealed with the store key (`crypto.rs`) in `certificates.private_key_sealed`.
//! A store made before encryption holds plain keys there; the first open seals them and writes
//! the key check value in one transaction. Change notification: none ([`Store::wait_for_change`]
//! sleeps); nodes poll the version, one indexed row.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

#[cfg(doc)]
use super::Store;
use super::StoreError;
use super::crypto::{KeySpec, StoreKey};

/// The queries, compiled for this backend.
type Db = sqlx::Sqlite;
/// The store type the queries implement the traits on.
type Backend = SqliteStore;

// The same files are compiled for PostgreSQL in `postgres.rs`: on purpose (see `sql/config.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "sql/authority.rs"]
mod authority;
#[allow(clippy::duplicate_mod)]
#[path = "sql/config.rs"]
mod config;
#[allow(clippy::duplicate_mod)]
#[path = "sql/partners.rs"]
mod partners;
#[allow(clippy::duplicate_mod)]
#[path = "sql/write.rs"]
mod write;

/// The embedded schema migrations.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in the pool of a file store.
const MAX_CONNECTIONS: u32 = 4;

/// The store on SQLite: [`Store`], the authority and the mailboxes over one pool.
#[derive(Debug, Clone)]
pub(super) struct SqliteStore {
    pool: SqlitePool,
    url: String,
    /// Seals and opens private keys; replaced by [`Store::rotate_key`].
    key: Arc<ArcSwap<StoreKey>>,
}

impl SqliteStore {
    /// Opens (creating if missing, with mode 0600 on unix) the SQLite file at `path`, migrates it
    /// and checks (or, for a store without encrypted keys yet, sets) its key.
    pub(super) async fn open_file_with(path: &Path, key: &KeySpec) -> Result<Self, StoreError> {
        create_file(path).await?;
        let url = format!("sqlite:{}", path.display());
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open { url: url.clone(), source })?;
        Self::migrated(pool, url, key).await
    }

    /// Opens a private in-memory database. It lives as long as the pool's only connection, which
    /// the pool keeps open (no idle timeout, no maximum lifetime); so this backend serialises all
    /// access, which is fine for tests and throw-away runs, what it is for.
    pub(super) async fn open_memory_with(key: &KeySpec) -> Result<Self, StoreError> {
        let url = String::from("sqlite::memory:");
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|source| StoreError::Open { url: url.clone(), source })?
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open { url: url.clone(), source })?;
        Self::migrated(pool, url, key).await
    }

    /// The connection pool (the mailbox store shares this backend).
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn migrated(pool: SqlitePool, url: String, key: &KeySpec) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        let key = config::init_key(&pool, &url, key).await?;
        Ok(Self { pool, url, key: Arc::new(ArcSwap::from_pointee(key)) })
    }

    /// No change notifications on SQLite: sleeps the timeout (callers poll the version).
    async fn changed_within(&self, timeout: Duration) -> bool {
        tokio::time::sleep(timeout).await;
        false
    }
}

/// Creates `path` (mode 0600 on unix) and its missing parent directories (mode 0700 on unix) if
/// missing; an existing file is left as it is.
async fn create_file(path: &Path) -> Result<(), StoreError> {
    let failed = |source| StoreError::CreateFile { path: path.to_owned(), source };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        let mut builder = tokio::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(parent).await.map_err(failed)?;
    }
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await.map_err(failed)?;
    Ok(())
}
