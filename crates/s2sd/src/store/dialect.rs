//! What truly differs between the two backends of the configuration and the authority, as
//! constants of one [`Dialect`] trait implemented on the driver types: how a write transaction
//! takes the writers' lock, how a consistent read starts, and how `commit` bumps (and announces)
//! the configuration version. Everything else — every query text, every bind, every row — is the
//! same on both (`sql/*.rs`).
//!
//! Not here, because sqlx already makes it the same: placeholders (`$1, $2, …` are bound by number
//! on SQLite too), duplicate-key detection (`DatabaseError::is_unique_violation`), `ON CONFLICT …
//! DO NOTHING / DO UPDATE` and `RETURNING`. Not here, because only one backend has it: opening
//! (the SQLite file and its mode, the PostgreSQL pool and schema) and LISTEN/NOTIFY wake-ups.

/// The statements by which a backend starts reads and writes and ends writes.
pub(super) trait Dialect {
    /// Starts a write transaction. SQLite: `BEGIN IMMEDIATE`, which takes the database's write
    /// lock before anything is read (concurrent writers queue on `busy_timeout`).
    const BEGIN_WRITE: &'static str;
    /// Run first in a write transaction to take the writers' lock when [`Self::BEGIN_WRITE`] does
    /// not. PostgreSQL: `SELECT … FOR UPDATE` on the one `config_version` row, so writers queue
    /// behind each other and each reads what the previous one committed.
    const LOCK_WRITERS: Option<&'static str>;
    /// Starts a read of several statements that must see one state (a partner and its
    /// certificates, the authority snapshot).
    const BEGIN_READ: &'static str;
    /// Bumps the configuration version and returns the new one; on PostgreSQL also
    /// `pg_notify('s2s_config', '<schema>:<version>')`, sent if and only if the write commits.
    const BUMP_VERSION: &'static str;
}

impl Dialect for sqlx::Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const LOCK_WRITERS: Option<&'static str> = None;
    const BEGIN_READ: &'static str = "BEGIN";
    const BUMP_VERSION: &'static str = "UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version";
}

impl Dialect for sqlx::Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK_WRITERS: Option<&'static str> = Some("SELECT version FROM config_version WHERE id = 1 FOR UPDATE");
    const BEGIN_READ: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    const BUMP_VERSION: &'static str = "WITH bumped AS (UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version) \
         SELECT version FROM bumped, LATERAL (SELECT pg_notify('s2s_config', current_schema() || ':' || version)) n";
}
