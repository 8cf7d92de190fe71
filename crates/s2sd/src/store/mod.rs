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
//! contract suite (`tests/`, `authority_tests.rs`) for both. Every query of the configuration, the
//! authority and the write transaction is written once (`sql/*.rs`, compiled per backend; see
//! `sql/config.rs`), what truly differs is a `Dialect` constant (`dialect.rs`), and the backend files
//! (`sqlite.rs`, `postgres.rs`) keep only opening, pools and change notification. The records are
//! in `records.rs`, [`StoreError`] in `error.rs`, URLs, key files and opening in `open.rs`.

use std::time::Duration;

/// A statement assembled from column-list constants (never from input: every value is bound).
/// Defined before the backend modules so that they all see it.
macro_rules! dynamic {
    ($($t:tt)*) => {
        sqlx::AssertSqlSafe(format!($($t)*))
    };
}

pub mod authority;
mod crypto;
mod dialect;
mod error;
pub mod mailbox;
mod mailbox_queries;
mod mailbox_rows;
mod open;
mod postgres;
mod records;
mod sqlite;
pub mod transaction;

pub use s2s::partner::{PartnerKind, TrustLevel};

pub use self::crypto::{KEY_FILE_ENV, StoreKey};
pub use self::error::StoreError;
use self::open::redact_password;
pub use self::open::{
    OpenOptions, Stores, default_key_file, key_file_beside, open, open_authority, open_authority_with, open_mailbox,
    open_mailbox_with, open_stores, open_stores_with, open_with, set_key_file,
};
pub use self::records::{
    AutoRenew, CertificateRecord, CertificateRole, MetadataStatus, OAuthConfig, PartnerRecord, Snapshot,
};
pub use self::transaction::ConfigTransaction;

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
    async fn install_current_certificate(&self, record: &CertificateRecord) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        tx.install_current_certificate(record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a next certificate (replacing an existing next one). One transaction.
    /// `record.role` is ignored. [`StoreError::Duplicate`] when the thumbprint is stored as the
    /// current or previous certificate.
    async fn stage_next_certificate(&self, record: &CertificateRecord) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        tx.stage_next_certificate(record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Promotes next to current (current -> previous, old previous deleted). Returns false when
    /// there is no next.
    async fn promote_next_certificate(&self) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        if !tx.promote_next_certificate().await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Removes the certificate with this thumbprint (compared case-insensitively), whatever its
    /// role. false when absent.
    async fn remove_certificate(&self, thumbprint: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        if !tx.remove_certificate(thumbprint).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

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
        status: &MetadataStatus,
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

/// A unique-constraint violation becomes [`StoreError::Duplicate`]; anything else stays a database error.
fn duplicate_or(error: sqlx::Error, what: &'static str, name: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::Duplicate { what, name: name.to_owned() }
        }
        _ => StoreError::Database(error),
    }
}

#[cfg(test)]
mod authority_tests;
#[cfg(test)]
mod mailbox_schema_tests;
#[cfg(test)]
mod mailbox_tests;
#[cfg(test)]
mod spent_assertions_tests;
#[cfg(test)]
pub(crate) mod tests;
