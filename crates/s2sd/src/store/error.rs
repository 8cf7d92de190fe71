//! [`StoreError`]: everything that can go wrong in the store, one enum for all its faces
//! (configuration, authority, mailboxes) and both backends.

use std::path::PathBuf;

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
