//! The SQLite backend of [`Store`]: one file (or a private in-memory database), WAL journal,
//! foreign keys on, a small pool, and the schema in `migrations/sqlite/`.
//!
//! Writes start with `BEGIN IMMEDIATE`, so a writer takes the write lock before it reads anything
//! and concurrent writers queue on `busy_timeout` instead of failing on a lock upgrade. Reads run
//! in a deferred transaction so that a partner and its certificates come from one snapshot.
//!
//! Private keys are sealed with the store key (`crypto.rs`) in `certificates.private_key_sealed`.
//! A store made before encryption holds plain keys there; the first open seals them and writes
//! the key check value in one transaction. Change notification: none (the default
//! [`Store::wait_for_change`]); nodes poll the version, one indexed row.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::crypto::{KeyCheck, KeySpec, StoreKey};
use super::sqlite_transaction::SqliteTransaction;
use super::transaction::ConfigTransaction;
use super::{
    AutoRenew, CertificateRecord, CertificateRole, CertificateRow, KeyCheckRow, OAuthConfig, PartnerRecord, Snapshot,
    Store, StoreError, certificate_record, duplicate_or,
};

/// The embedded schema migrations.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in the pool of a file store.
const MAX_CONNECTIONS: u32 = 4;

/// [`Store`] on SQLite.
#[derive(Debug, Clone)]
pub(super) struct SqliteStore {
    pool: SqlitePool,
    url: String,
    /// Seals and opens private keys; replaced by [`Store::rotate_key`].
    key: Arc<ArcSwap<StoreKey>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct OAuthConfigRow {
    realm: String,
    service_name: String,
    hostnames: String,
    additional_realms: String,
    exchange_autodiscover_url: Option<String>,
    auto_renew_before_days: Option<i64>,
    auto_renew_lead_days: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct PartnerRow {
    name: String,
    application_id: String,
    realm: String,
    metadata_url: Option<String>,
    trust_level: String,
    enabled: bool,
    allow_http_metadata: bool,
    tls_ca_pem: Option<String>,
    metadata_fetched_at: Option<i64>,
    metadata_status: Option<String>,
    metadata_refresh_interval: Option<i64>,
    linked_account: Option<String>,
    accept_security_identifier_information: bool,
    kind: String,
    use_auth_server: bool,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct PartnerCertificateRow {
    partner_name: String,
    der: Vec<u8>,
}

/// A transaction on a pooled connection (writes start theirs with [`SqliteStore::begin_write`]).
pub(super) type Tx = Transaction<'static, Sqlite>;

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
        let key = Self::init_key(&pool, &url, key).await?;
        Ok(Self { pool, url, key: Arc::new(ArcSwap::from_pointee(key)) })
    }

    /// Resolves the store key against the stored check value. A store without one (new, or made
    /// before encryption) gets it now, and any plain private keys it holds are sealed, in one
    /// write transaction.
    async fn init_key(pool: &SqlitePool, url: &str, spec: &KeySpec) -> Result<StoreKey, StoreError> {
        if let Some(stored) = key_check(&mut *pool.acquire().await?).await? {
            return spec.resolve(Some(&stored), url);
        }
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let stored = key_check(&mut tx).await?;
        let key = spec.resolve(stored.as_ref(), url)?;
        if stored.is_none() {
            let check = key.check_value()?;
            sqlx::query("INSERT INTO store_key (id, key_id, check_value) VALUES (1, ?, ?)")
                .bind(&check.key_id)
                .bind(&check.check_value)
                .execute(&mut *tx)
                .await?;
            let plain = sqlx::query_as::<_, (String, Vec<u8>)>(
                "SELECT thumbprint, private_key_sealed FROM certificates WHERE private_key_sealed IS NOT NULL",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (thumbprint, pkcs8) in plain {
                let pkcs8 = zeroize::Zeroizing::new(pkcs8);
                sqlx::query("UPDATE certificates SET private_key_sealed = ? WHERE thumbprint = ?")
                    .bind(key.seal_private_key(&thumbprint, &pkcs8)?)
                    .bind(&thumbprint)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(key)
    }

    /// The key in force, checked inside a write transaction against the store's: a node whose key
    /// was rotated away must not seal new private keys with it.
    async fn current_key(&self, tx: &mut Tx) -> Result<Arc<StoreKey>, StoreError> {
        let key = self.key.load_full();
        match key_check(tx).await? {
            Some(stored) if stored.key_id != key.id() => {
                Err(StoreError::StaleKey { store_key_id: stored.key_id, node_key_id: key.id() })
            }
            _ => Ok(key),
        }
    }

    /// Starts a write transaction holding the database's write lock.
    async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Bumps the version and commits.
    async fn bump_and_commit(mut tx: Tx) -> Result<(), StoreError> {
        sqlx::query("UPDATE config_version SET version = version + 1 WHERE id = 1").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
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
        let row = sqlx::query_as::<_, OAuthConfigRow>(OAUTH_CONFIG_SELECT).fetch_optional(&self.pool).await?;
        row.map(OAuthConfig::try_from).transpose()
    }

    async fn certificates(&self) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows = sqlx::query_as::<_, CertificateRow>(
            "SELECT thumbprint, role, cert_der, private_key_sealed, not_before, not_after, effective_at, created_at \
             FROM certificates \
             ORDER BY CASE role WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END, created_at, thumbprint",
        )
        .fetch_all(&self.pool)
        .await?;
        let key = self.key.load();
        rows.into_iter().map(|row| certificate_record(row, &key)).collect()
    }

    async fn install_current_certificate(&self, record: &CertificateRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let key = self.current_key(&mut tx).await?;
        sqlx::query("DELETE FROM certificates WHERE role = 'previous'").execute(&mut *tx).await?;
        sqlx::query("UPDATE certificates SET role = 'previous' WHERE role = 'current'").execute(&mut *tx).await?;
        insert_certificate(&mut tx, &key, record, CertificateRole::Current).await?;
        Self::bump_and_commit(tx).await
    }

    async fn stage_next_certificate(&self, record: &CertificateRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let key = self.current_key(&mut tx).await?;
        sqlx::query("DELETE FROM certificates WHERE role = 'next'").execute(&mut *tx).await?;
        insert_certificate(&mut tx, &key, record, CertificateRole::Next).await?;
        Self::bump_and_commit(tx).await
    }

    async fn promote_next_certificate(&self) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let next = sqlx::query_scalar::<_, String>("SELECT thumbprint FROM certificates WHERE role = 'next'")
            .fetch_optional(&mut *tx)
            .await?;
        if next.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        // In this order, so that no role is ever held by two certificates.
        sqlx::query("DELETE FROM certificates WHERE role = 'previous'").execute(&mut *tx).await?;
        sqlx::query("UPDATE certificates SET role = 'previous' WHERE role = 'current'").execute(&mut *tx).await?;
        sqlx::query("UPDATE certificates SET role = 'current' WHERE role = 'next'").execute(&mut *tx).await?;
        Self::bump_and_commit(tx).await?;
        Ok(true)
    }

    async fn remove_certificate(&self, thumbprint: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query("DELETE FROM certificates WHERE thumbprint = ?")
            .bind(thumbprint)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::bump_and_commit(tx).await?;
        Ok(true)
    }

    async fn partners(&self) -> Result<Vec<PartnerRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let partners = all_partners(&mut tx).await?;
        tx.commit().await?;
        Ok(partners)
    }

    async fn partner(&self, name: &str) -> Result<Option<PartnerRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let partner = partner_in(&mut tx, name).await?;
        tx.commit().await?;
        Ok(partner)
    }

    async fn write(&self) -> Result<Box<dyn ConfigTransaction>, StoreError> {
        Ok(Box::new(SqliteTransaction { tx: self.begin_write().await? }))
    }

    async fn record_metadata_fetch(
        &self,
        name: &str,
        fetched_at: i64,
        status: &str,
        certificates: Option<&[Vec<u8>]>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query("UPDATE partners SET metadata_fetched_at = ?, metadata_status = ? WHERE name = ?")
            .bind(fetched_at)
            .bind(status)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(certificates) = certificates {
            replace_partner_certificates(&mut tx, name, certificates).await?;
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
        let mut tx = self.begin_write().await?;
        let old_key = self.current_key(&mut tx).await?;
        let sealed = sqlx::query_as::<_, (String, Vec<u8>)>(
            "SELECT thumbprint, private_key_sealed FROM certificates WHERE private_key_sealed IS NOT NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        let count = sealed.len() as u64;
        for (thumbprint, sealed) in sealed {
            let pkcs8 = zeroize::Zeroizing::new(old_key.open_private_key(&thumbprint, &sealed)?);
            sqlx::query("UPDATE certificates SET private_key_sealed = ? WHERE thumbprint = ?")
                .bind(new_key.seal_private_key(&thumbprint, &pkcs8)?)
                .bind(&thumbprint)
                .execute(&mut *tx)
                .await?;
        }
        let check = new_key.check_value()?;
        sqlx::query("UPDATE store_key SET key_id = ?, check_value = ? WHERE id = 1")
            .bind(&check.key_id)
            .bind(&check.check_value)
            .execute(&mut *tx)
            .await?;
        Self::bump_and_commit(tx).await?;
        self.key.store(Arc::new(new_key));
        Ok(count)
    }

    async fn import(&self, snapshot: &Snapshot, replace: bool) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let key = self.current_key(&mut tx).await?;
        let (config, certificates, partners) = sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT (SELECT COUNT(*) FROM oauth_config), (SELECT COUNT(*) FROM certificates), \
                 (SELECT COUNT(*) FROM partners)",
        )
        .fetch_one(&mut *tx)
        .await?;
        if config + certificates + partners > 0 {
            if !replace {
                return Err(StoreError::NotEmpty {
                    url: self.url.clone(),
                    what: super::contents(config > 0, certificates, partners),
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
            insert_partner_row(&mut tx, record).await?;
            replace_partner_certificates(&mut tx, &record.name, &record.certificates).await?;
        }
        Self::bump_and_commit(tx).await
    }
}

impl TryFrom<OAuthConfigRow> for OAuthConfig {
    type Error = StoreError;

    fn try_from(row: OAuthConfigRow) -> Result<Self, StoreError> {
        Ok(Self {
            realm: row.realm,
            service_name: row.service_name,
            hostnames: parse_json_list(&row.hostnames, "hostnames")?,
            additional_realms: parse_json_list(&row.additional_realms, "additional_realms")?,
            exchange_autodiscover_url: row.exchange_autodiscover_url,
            auto_renew: match (row.auto_renew_before_days, row.auto_renew_lead_days) {
                (Some(before), Some(lead)) => Some(AutoRenew {
                    renew_before_days: u32::try_from(before).map_err(|e| corrupt("auto_renew_before_days", e))?,
                    lead_days: u32::try_from(lead).map_err(|e| corrupt("auto_renew_lead_days", e))?,
                }),
                _ => None,
            },
        })
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

/// The stored key id and check value, if the store has them yet.
async fn key_check(conn: &mut SqliteConnection) -> Result<Option<KeyCheck>, StoreError> {
    let row = sqlx::query_as::<_, KeyCheckRow>("SELECT key_id, check_value FROM store_key WHERE id = 1")
        .fetch_optional(conn)
        .await?;
    Ok(row.map(KeyCheck::from))
}

pub(super) async fn upsert_oauth_config(tx: &mut Tx, config: &OAuthConfig) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oauth_config \
             (id, realm, service_name, hostnames, additional_realms, exchange_autodiscover_url, \
              auto_renew_before_days, auto_renew_lead_days) \
         VALUES (1, ?, ?, ?, ?, ?, ?, ?) \
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

/// Inserts the partner row (not its certificates); a name clash is [`StoreError::Duplicate`].
pub(super) async fn insert_partner_row(tx: &mut Tx, record: &PartnerRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO partners (name, application_id, realm, metadata_url, trust_level, enabled, \
             allow_http_metadata, tls_ca_pem, metadata_fetched_at, metadata_status, metadata_refresh_interval, \
             linked_account, accept_security_identifier_information, kind, use_auth_server, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&record.name)
    .bind(&record.application_id)
    .bind(&record.realm)
    .bind(record.metadata_url.as_deref())
    .bind(&record.trust_level)
    .bind(record.enabled)
    .bind(record.allow_http_metadata)
    .bind(record.tls_ca_pem.as_deref())
    .bind(record.metadata_fetched_at)
    .bind(record.metadata_status.as_deref())
    .bind(record.metadata_refresh_interval)
    .bind(record.linked_account.as_deref())
    .bind(record.accept_security_identifier_information)
    .bind(super::kind_text(record.kind))
    .bind(record.use_auth_server)
    .bind(record.created_at)
    .bind(record.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(|error| duplicate_or(error, "partner application", &record.name))?;
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
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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

/// Our OAuth configuration row.
pub(super) const OAUTH_CONFIG_SELECT: &str = "SELECT realm, service_name, hostnames, additional_realms, exchange_autodiscover_url, \
         auto_renew_before_days, auto_renew_lead_days \
     FROM oauth_config WHERE id = 1";

/// The columns of a partner row.
const PARTNER_SELECT: &str = "SELECT name, application_id, realm, metadata_url, trust_level, enabled, allow_http_metadata, \
         tls_ca_pem, metadata_fetched_at, metadata_status, metadata_refresh_interval, linked_account, \
         accept_security_identifier_information, kind, use_auth_server, created_at, updated_at \
     FROM partners";

/// Every partner with its certificates, ordered by name, read in `tx`.
pub(super) async fn all_partners(tx: &mut Tx) -> Result<Vec<PartnerRecord>, StoreError> {
    let rows = sqlx::query_as::<_, PartnerRow>(dynamic!("{PARTNER_SELECT} ORDER BY name")).fetch_all(&mut **tx).await?;
    let certificates = sqlx::query_as::<_, PartnerCertificateRow>(
        "SELECT partner_name, der FROM partner_certificates ORDER BY partner_name, position",
    )
    .fetch_all(&mut **tx)
    .await?;
    // Names are unique case-insensitively (ASCII, like SQLite's NOCASE), so group on that.
    let mut by_partner: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for row in certificates {
        by_partner.entry(row.partner_name.to_ascii_lowercase()).or_default().push(row.der);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let certificates = by_partner.remove(&row.name.to_ascii_lowercase()).unwrap_or_default();
            partner_record(row, certificates)
        })
        .collect())
}

/// The partner named `name` (compared case-insensitively) with its certificates, read in `tx`.
pub(super) async fn partner_in(tx: &mut Tx, name: &str) -> Result<Option<PartnerRecord>, StoreError> {
    let row = sqlx::query_as::<_, PartnerRow>(dynamic!("{PARTNER_SELECT} WHERE name = ?"))
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let certificates = partner_certificates(tx, name).await?;
    Ok(Some(partner_record(row, certificates)))
}

async fn partner_certificates(tx: &mut Tx, name: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    let certificates = sqlx::query_scalar::<_, Vec<u8>>(
        "SELECT der FROM partner_certificates WHERE partner_name = ? ORDER BY position",
    )
    .bind(name)
    .fetch_all(&mut **tx)
    .await?;
    Ok(certificates)
}

pub(super) async fn replace_partner_certificates(
    tx: &mut Tx,
    name: &str,
    certificates: &[Vec<u8>],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM partner_certificates WHERE partner_name = ?").bind(name).execute(&mut **tx).await?;
    for (position, der) in (0_i64..).zip(certificates) {
        sqlx::query("INSERT INTO partner_certificates (partner_name, position, der) VALUES (?, ?, ?)")
            .bind(name)
            .bind(position)
            .bind(der.as_slice())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn partner_record(row: PartnerRow, certificates: Vec<Vec<u8>>) -> PartnerRecord {
    PartnerRecord {
        name: row.name,
        application_id: row.application_id,
        realm: row.realm,
        metadata_url: row.metadata_url,
        trust_level: row.trust_level,
        enabled: row.enabled,
        allow_http_metadata: row.allow_http_metadata,
        tls_ca_pem: row.tls_ca_pem,
        certificates,
        metadata_fetched_at: row.metadata_fetched_at,
        metadata_status: row.metadata_status,
        metadata_refresh_interval: row.metadata_refresh_interval,
        linked_account: row.linked_account,
        accept_security_identifier_information: row.accept_security_identifier_information,
        kind: super::kind_from_text(&row.kind),
        use_auth_server: row.use_auth_server,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn json_list(values: &[String]) -> String {
    serde_json::Value::from(values.to_vec()).to_string()
}

fn parse_json_list(text: &str, column: &'static str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::CorruptValue {
        table: "oauth_config",
        column,
        detail: format!("not a JSON array of strings: {error}"),
    })
}

fn corrupt(column: &'static str, error: impl std::fmt::Display) -> StoreError {
    StoreError::CorruptValue { table: "oauth_config", column, detail: error.to_string() }
}
