//! The configuration half of [`Store`] — our OAuth configuration, our certificates, the partners —
//! written once for both backends.
//!
//! # One source, two backends
//!
//! This file, like `partners.rs`, `authority.rs` and `write.rs` beside it, is compiled twice:
//! `sqlite.rs` and `postgres.rs` each declare it as a child module (`#[path = "sql/config.rs"]`)
//! after defining `Db` (the sqlx driver: `sqlx::Sqlite` or `sqlx::Postgres`) and `Backend` (the
//! store type, with the fields `pool`, `url` and `key`, and an inherent `changed_within`). So every
//! query text and every bind exists once, and both instances are ordinary, fully type-checked Rust
//! against a concrete driver (the `clippy::duplicate_mod` allowances there say it is on purpose).
//! The alternatives were worse: functions generic over `sqlx::Database` need an executor bound and
//! an encode/decode bound per column type on every function (the bounds outgrow the queries), and
//! a `macro_rules!` body is neither formatted by rustfmt nor reported by the compiler at its own
//! lines. What truly differs between the backends is a [`Dialect`] constant (`dialect.rs`); what
//! only one backend has (opening, the SQLite file, LISTEN/NOTIFY) stays in its own file.
//!
//! The schemas agree (`migrations/sqlite/0006_shared_queries.sql`,
//! `migrations/postgres/0004_json_lists.sql`): names, thumbprints, realms, app ids, SPNs and
//! credential ids are looked up and ordered through generated ASCII-lower-case `*_key` columns
//! (binding the ASCII-lower-cased value), lists are JSON text, a partner's certificates hang off
//! its `id`. Child rows are read with a second query in the same transaction and grouped in Rust:
//! no arrays, no `UNNEST`.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Pool, Transaction};

use super::partners::{all_partners, insert_partner, partner_in, replace_partner_certificates};
use super::{Backend, Db};
use crate::store::crypto::{KeyCheck, KeySpec, StoreKey};
use crate::store::dialect::Dialect;
use crate::store::records::{MetadataStatus, unknown_value};
use crate::store::{
    AutoRenew, CertificateRecord, CertificateRole, ConfigTransaction, OAuthConfig, PartnerRecord, Snapshot, Store,
    StoreError, duplicate_or,
};

/// A transaction on this backend.
pub(super) type Tx = Transaction<'static, Db>;

#[derive(sqlx::FromRow)]
struct OAuthConfigRow {
    realm: String,
    service_name: String,
    /// JSON array of strings.
    hostnames: String,
    /// JSON array of strings.
    additional_realms: String,
    exchange_autodiscover_url: Option<String>,
    auto_renew_before_days: Option<i64>,
    auto_renew_lead_days: Option<i64>,
}

/// A `certificates` row (the private key still sealed).
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

/// Our OAuth configuration row.
const OAUTH_CONFIG_SELECT: &str = "SELECT realm, service_name, hostnames, additional_realms, \
     exchange_autodiscover_url, auto_renew_before_days, auto_renew_lead_days FROM oauth_config WHERE id = 1";

/// Starts a write transaction holding the writers' lock (see [`Dialect`]).
pub(super) async fn begin_write(pool: &Pool<Db>) -> Result<Tx, StoreError> {
    let mut tx = pool.begin_with(<Db as Dialect>::BEGIN_WRITE).await?;
    if let Some(lock) = <Db as Dialect>::LOCK_WRITERS {
        sqlx::query(lock).execute(&mut *tx).await?;
    }
    Ok(tx)
}

/// Starts a read whose statements all see one state.
pub(super) async fn begin_read(pool: &Pool<Db>) -> Result<Tx, StoreError> {
    Ok(pool.begin_with(<Db as Dialect>::BEGIN_READ).await?)
}

/// Bumps the version (announcing it where the backend can), commits, and returns the version.
pub(super) async fn bump_and_commit(mut tx: Tx) -> Result<i64, StoreError> {
    let version = sqlx::query_scalar::<_, i64>(<Db as Dialect>::BUMP_VERSION).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(version)
}

/// Resolves the store key against the stored check value. A store without one (new, or an SQLite
/// store made before encryption) gets it now, under the writers' lock (two nodes starting at once
/// agree on one key), and any plain private keys it holds are sealed in the same transaction.
pub(super) async fn init_key(pool: &Pool<Db>, url: &str, spec: &KeySpec) -> Result<StoreKey, StoreError> {
    if let Some(stored) = key_check(pool).await? {
        return spec.resolve(Some(&stored), url);
    }
    let mut tx = begin_write(pool).await?;
    let stored = key_check(&mut *tx).await?;
    let key = spec.resolve(stored.as_ref(), url)?;
    if stored.is_none() {
        let check = key.check_value()?;
        sqlx::query("INSERT INTO store_key (id, key_id, check_value) VALUES (1, $1, $2)")
            .bind(&check.key_id)
            .bind(&check.check_value)
            .execute(&mut *tx)
            .await?;
        for (thumbprint, pkcs8) in private_keys(&mut tx).await? {
            let pkcs8 = zeroize::Zeroizing::new(pkcs8);
            set_private_key(&mut tx, &thumbprint, key.seal_private_key(&thumbprint, &pkcs8)?).await?;
        }
    }
    tx.commit().await?;
    Ok(key)
}

/// The stored key id and check value, if the store has them yet.
async fn key_check<'e>(executor: impl sqlx::Executor<'e, Database = Db>) -> Result<Option<KeyCheck>, StoreError> {
    let row = sqlx::query_as::<_, KeyCheckRow>("SELECT key_id, check_value FROM store_key WHERE id = 1")
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|row| KeyCheck { key_id: row.key_id, check_value: row.check_value }))
}

/// Every stored private key (as stored: sealed, or plain before the first open sealed them).
async fn private_keys(tx: &mut Tx) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    Ok(sqlx::query_as::<_, (String, Vec<u8>)>(
        "SELECT thumbprint, private_key_sealed FROM certificates WHERE private_key_sealed IS NOT NULL",
    )
    .fetch_all(&mut **tx)
    .await?)
}

async fn set_private_key(tx: &mut Tx, thumbprint: &str, sealed: Vec<u8>) -> Result<(), StoreError> {
    sqlx::query("UPDATE certificates SET private_key_sealed = $1 WHERE thumbprint_key = $2")
        .bind(sealed)
        .bind(thumbprint.to_ascii_lowercase())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `key`, checked inside a write transaction against the store's: a node whose key was rotated
/// away must not seal new private keys with it.
pub(super) async fn key_in_force(tx: &mut Tx, key: Arc<StoreKey>) -> Result<Arc<StoreKey>, StoreError> {
    match key_check(&mut **tx).await? {
        Some(stored) if stored.key_id != key.id() => {
            Err(StoreError::StaleKey { store_key_id: stored.key_id, node_key_id: key.id() })
        }
        _ => Ok(key),
    }
}

/// Our certificates, ordered: current, next, previous, then by `created_at`; private keys opened with `key`.
pub(super) async fn certificates_in<'e>(
    executor: impl sqlx::Executor<'e, Database = Db>,
    key: &StoreKey,
) -> Result<Vec<CertificateRecord>, StoreError> {
    let rows = sqlx::query_as::<_, CertificateRow>(
        "SELECT thumbprint, role, cert_der, private_key_sealed, not_before, not_after, effective_at, created_at \
         FROM certificates \
         ORDER BY CASE role WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END, created_at, thumbprint_key",
    )
    .fetch_all(executor)
    .await?;
    rows.into_iter().map(|row| certificate_record(row, key)).collect()
}

/// Makes `record` the current certificate (current → previous, old previous deleted).
pub(super) async fn install_current(tx: &mut Tx, key: &StoreKey, record: &CertificateRecord) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM certificates WHERE role = 'previous'").execute(&mut **tx).await?;
    sqlx::query("UPDATE certificates SET role = 'previous' WHERE role = 'current'").execute(&mut **tx).await?;
    insert_certificate(tx, key, record, CertificateRole::Current).await
}

/// Stores `record` as the next certificate, replacing an existing next one.
pub(super) async fn stage_next(tx: &mut Tx, key: &StoreKey, record: &CertificateRecord) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM certificates WHERE role = 'next'").execute(&mut **tx).await?;
    insert_certificate(tx, key, record, CertificateRole::Next).await
}

/// Promotes next to current (current → previous, old previous deleted); false without a next.
pub(super) async fn promote_next(tx: &mut Tx) -> Result<bool, StoreError> {
    let next = sqlx::query_scalar::<_, String>("SELECT thumbprint FROM certificates WHERE role = 'next'")
        .fetch_optional(&mut **tx)
        .await?;
    if next.is_none() {
        return Ok(false);
    }
    // In this order, so that no role is ever held by two certificates.
    sqlx::query("DELETE FROM certificates WHERE role = 'previous'").execute(&mut **tx).await?;
    sqlx::query("UPDATE certificates SET role = 'previous' WHERE role = 'current'").execute(&mut **tx).await?;
    sqlx::query("UPDATE certificates SET role = 'current' WHERE role = 'next'").execute(&mut **tx).await?;
    Ok(true)
}

/// Removes the certificate with this thumbprint (case-insensitive); false when absent.
pub(super) async fn remove_certificate_in(tx: &mut Tx, thumbprint: &str) -> Result<bool, StoreError> {
    let removed = sqlx::query("DELETE FROM certificates WHERE thumbprint_key = $1")
        .bind(thumbprint.to_ascii_lowercase())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(removed > 0)
}

#[async_trait::async_trait]
impl Store for Backend {
    fn url(&self) -> String {
        self.url.clone()
    }

    async fn version(&self) -> Result<i64, StoreError> {
        let version = sqlx::query_scalar::<_, i64>("SELECT version FROM config_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(version)
    }

    async fn oauth_config(&self) -> Result<Option<OAuthConfig>, StoreError> {
        oauth_config_in(&self.pool).await
    }

    async fn write(&self) -> Result<Box<dyn ConfigTransaction>, StoreError> {
        Ok(Box::new(super::write::WriteTransaction { tx: begin_write(&self.pool).await?, key: self.key.load_full() }))
    }

    async fn certificates(&self) -> Result<Vec<CertificateRecord>, StoreError> {
        certificates_in(&self.pool, &self.key.load()).await
    }

    async fn partners(&self) -> Result<Vec<PartnerRecord>, StoreError> {
        let mut tx = begin_read(&self.pool).await?;
        let partners = all_partners(&mut tx).await?;
        tx.commit().await?;
        Ok(partners)
    }

    async fn partner(&self, name: &str) -> Result<Option<PartnerRecord>, StoreError> {
        let mut tx = begin_read(&self.pool).await?;
        let partner = partner_in(&mut tx, name).await?;
        tx.commit().await?;
        Ok(partner)
    }

    async fn record_metadata_fetch(
        &self,
        name: &str,
        fetched_at: i64,
        status: &MetadataStatus,
        certificates: Option<&[Vec<u8>]>,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let id = sqlx::query_scalar::<_, i64>(
            "UPDATE partners SET metadata_fetched_at = $1, metadata_status = $2 WHERE name_key = $3 RETURNING id",
        )
        .bind(fetched_at)
        .bind(status.as_str())
        .bind(name.to_ascii_lowercase())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            tx.rollback().await?;
            return Ok(false);
        };
        if let Some(certificates) = certificates {
            replace_partner_certificates(&mut tx, id, certificates).await?;
        }
        // A fetch result is not configuration: no version bump, so nodes do not reload for it.
        tx.commit().await?;
        Ok(true)
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let version = sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await?;
        Ok(version.unwrap_or(0))
    }

    fn key_id(&self) -> String {
        self.key.load().id()
    }

    async fn rotate_key(&self, new_key: StoreKey) -> Result<u64, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let old_key = key_in_force(&mut tx, self.key.load_full()).await?;
        let sealed = private_keys(&mut tx).await?;
        let count = sealed.len() as u64;
        for (thumbprint, sealed) in sealed {
            let pkcs8 = zeroize::Zeroizing::new(old_key.open_private_key(&thumbprint, &sealed)?);
            set_private_key(&mut tx, &thumbprint, new_key.seal_private_key(&thumbprint, &pkcs8)?).await?;
        }
        let check = new_key.check_value()?;
        sqlx::query("UPDATE store_key SET key_id = $1, check_value = $2 WHERE id = 1")
            .bind(&check.key_id)
            .bind(&check.check_value)
            .execute(&mut *tx)
            .await?;
        bump_and_commit(tx).await?;
        self.key.store(Arc::new(new_key));
        Ok(count)
    }

    async fn import(&self, snapshot: &Snapshot, replace: bool) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let key = key_in_force(&mut tx, self.key.load_full()).await?;
        let (config, certificates, partners) = sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT (SELECT COUNT(*) FROM oauth_config), (SELECT COUNT(*) FROM certificates), \
                 (SELECT COUNT(*) FROM partners)",
        )
        .fetch_one(&mut *tx)
        .await?;
        if config + certificates + partners > 0 {
            if !replace {
                tx.rollback().await?;
                return Err(StoreError::NotEmpty {
                    url: self.url.clone(),
                    what: contents(config > 0, certificates, partners),
                });
            }
            // The partners' certificates go with them (ON DELETE CASCADE).
            sqlx::query("DELETE FROM partners").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM certificates").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM oauth_config").execute(&mut *tx).await?;
        }
        if let Some(config) = &snapshot.oauth_config {
            upsert_oauth_config(&mut tx, config).await?;
        }
        for record in &snapshot.certificates {
            insert_certificate(&mut tx, &key, record, record.role).await?;
        }
        for record in &snapshot.partners {
            insert_partner(&mut tx, record).await?;
        }
        bump_and_commit(tx).await?;
        Ok(())
    }

    async fn wait_for_change(&self, timeout: Duration) -> bool {
        self.changed_within(timeout).await
    }
}

/// Our OAuth configuration.
pub(super) async fn oauth_config_in<'e>(
    executor: impl sqlx::Executor<'e, Database = Db>,
) -> Result<Option<OAuthConfig>, StoreError> {
    let row = sqlx::query_as::<_, OAuthConfigRow>(OAUTH_CONFIG_SELECT).fetch_optional(executor).await?;
    row.map(oauth_config_record).transpose()
}

/// Creates or replaces our OAuth configuration.
pub(super) async fn upsert_oauth_config(tx: &mut Tx, config: &OAuthConfig) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oauth_config \
             (id, realm, service_name, hostnames, additional_realms, exchange_autodiscover_url, \
              auto_renew_before_days, auto_renew_lead_days) \
         VALUES (1, $1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET \
             realm = excluded.realm, \
             service_name = excluded.service_name, \
             hostnames = excluded.hostnames, \
             additional_realms = excluded.additional_realms, \
             exchange_autodiscover_url = excluded.exchange_autodiscover_url, \
             auto_renew_before_days = excluded.auto_renew_before_days, \
             auto_renew_lead_days = excluded.auto_renew_lead_days",
    )
    .bind(&config.realm)
    .bind(&config.service_name)
    .bind(json_list(&config.hostnames))
    .bind(json_list(&config.additional_realms))
    .bind(config.exchange_autodiscover_url.as_deref())
    .bind(config.auto_renew.map(|a| i64::from(a.renew_before_days)))
    .bind(config.auto_renew.map(|a| i64::from(a.lead_days)))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts `record` with `role` (not `record.role`), its private key sealed with `key`; a
/// thumbprint clash is [`StoreError::Duplicate`].
async fn insert_certificate(
    tx: &mut Tx,
    key: &StoreKey,
    record: &CertificateRecord,
    role: CertificateRole,
) -> Result<(), StoreError> {
    let sealed =
        record.private_key_pkcs8.as_deref().map(|pkcs8| key.seal_private_key(&record.thumbprint, pkcs8)).transpose()?;
    sqlx::query(
        "INSERT INTO certificates \
             (thumbprint, role, cert_der, private_key_sealed, not_before, not_after, effective_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&record.thumbprint)
    .bind(role.as_str())
    .bind(record.cert_der.as_slice())
    .bind(sealed)
    .bind(record.not_before)
    .bind(record.not_after)
    .bind(record.effective_at)
    .bind(record.created_at)
    .execute(&mut **tx)
    .await
    .map_err(|error| duplicate_or(error, "certificate", &record.thumbprint))?;
    Ok(())
}

fn oauth_config_record(row: OAuthConfigRow) -> Result<OAuthConfig, StoreError> {
    let days = |value: i64, column: &'static str| {
        u32::try_from(value).map_err(|e| StoreError::CorruptValue {
            table: "oauth_config",
            column,
            detail: format!("the OAuth configuration has `{value}`: {e}"),
        })
    };
    Ok(OAuthConfig {
        realm: row.realm,
        service_name: row.service_name,
        hostnames: parse_json_list(&row.hostnames, "hostnames")?,
        additional_realms: parse_json_list(&row.additional_realms, "additional_realms")?,
        exchange_autodiscover_url: row.exchange_autodiscover_url,
        auto_renew: match (row.auto_renew_before_days, row.auto_renew_lead_days) {
            (Some(before), Some(lead)) => Some(AutoRenew {
                renew_before_days: days(before, "auto_renew_before_days")?,
                lead_days: days(lead, "auto_renew_lead_days")?,
            }),
            _ => None,
        },
    })
}

/// A certificate row with its private key opened; an unknown role is corrupt.
fn certificate_record(row: CertificateRow, key: &StoreKey) -> Result<CertificateRecord, StoreError> {
    let role = CertificateRole::from_stored(&row.role).ok_or_else(|| {
        unknown_value("certificates", "role", "certificate", &row.thumbprint, &row.role, "current, next or previous")
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

fn json_list(values: &[String]) -> String {
    serde_json::Value::from(values.to_vec()).to_string()
}

fn parse_json_list(text: &str, column: &'static str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::CorruptValue {
        table: "oauth_config",
        column,
        detail: format!("the OAuth configuration has `{text}`, not a JSON array of strings: {error}"),
    })
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
