//! The PostgreSQL backend of [`Store`]: a connection pool, the schema in `migrations/postgres/`
//! (created in the connection's current schema, so `?options=-c search_path=NAME` puts a store in
//! its own schema), and change notification with LISTEN/NOTIFY, for several nodes on one database.
//!
//! Every write transaction starts by locking the one `config_version` row (`SELECT … FOR UPDATE`):
//! writers queue behind each other, so no update is lost and a read-then-write (rotation,
//! promotion) sees the previous writer's result. The write bumps the version and calls
//! `pg_notify('s2s_config', '<schema>:<version>')` in the same transaction, so the notification is
//! sent if and only if the change commits. Reads are single statements (a partner's certificates
//! come with it as an array), each one consistent snapshot.
//!
//! Names and thumbprints compare case-insensitively in ASCII only, as on SQLite: the tables carry
//! generated lower-case key columns, and lookups bind the ASCII-lower-cased value.
//! [`Store::wait_for_change`] starts, on first use, a task that holds one pooled connection
//! LISTENing on `s2s_config`; the node's version poll stays the fallback when it is down.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgExecutor, Postgres, Transaction};
use tokio::sync::{Notify, watch};

use super::crypto::{KeyCheck, KeySpec, StoreKey};
use super::postgres_transaction::PgTransaction;
use super::transaction::ConfigTransaction;
use super::{
    AutoRenew, CertificateRecord, CertificateRole, CertificateRow, KeyCheckRow, OAuthConfig, PartnerRecord, Snapshot,
    Store, StoreError, certificate_record, duplicate_or, redact_password,
};

/// The embedded schema migrations.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The NOTIFY channel of configuration changes.
const CHANNEL: &str = "s2s_config";
/// Connections in the pool (one of them is the listener's while it runs).
const MAX_CONNECTIONS: u32 = 8;
/// How long a query waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before the listener reconnects after a failure.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// [`Store`] on PostgreSQL. Its `Debug` shows the URL without password and the key id only.
pub(super) struct PgStore {
    pool: PgPool,
    /// The URL without its password.
    url: String,
    /// The schema the store lives in (`current_schema()`): notifications of other schemas in the
    /// same database are ignored.
    schema: String,
    /// Seals and opens private keys; replaced by [`Store::rotate_key`].
    key: ArcSwap<StoreKey>,
    changes: Arc<Changes>,
}

/// Change notifications, as the listener task reports them.
#[derive(Debug)]
struct Changes {
    /// One permit per burst of notifications: a change that arrives while nobody waits is kept
    /// for the next [`Store::wait_for_change`].
    notify: Notify,
    /// Whether the listener is connected and LISTENing.
    listening: watch::Sender<bool>,
    /// The listener task, once started; aborted when the store is dropped.
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct OAuthConfigRow {
    realm: String,
    service_name: String,
    hostnames: Vec<String>,
    additional_realms: Vec<String>,
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
    certificates: Vec<Vec<u8>>,
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

/// A write transaction (started by [`PgStore::begin_write`]) or a plain one.
pub(super) type Tx = Transaction<'static, Postgres>;

pub(super) const PARTNER_COLUMNS: &str = "SELECT name, application_id, realm, metadata_url, trust_level, enabled, \
     allow_http_metadata, tls_ca_pem, \
     ARRAY(SELECT c.der FROM partner_certificates c WHERE c.partner_id = p.id ORDER BY c.position) AS certificates, \
     metadata_fetched_at, metadata_status, metadata_refresh_interval, linked_account, \
     accept_security_identifier_information, kind, use_auth_server, created_at, updated_at \
     FROM partners p";

impl PgStore {
    /// Connects, migrates, and checks (or, for a new store, sets) the store key. Refuses without
    /// a key file before connecting.
    pub(super) async fn open(url: &str, key: &KeySpec) -> Result<Self, StoreError> {
        let shown = redact_password(url);
        if *key == KeySpec::Missing {
            return Err(StoreError::KeyRequired { url: shown });
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(|source| StoreError::Open { url: shown.clone(), source })?
            .application_name("s2sd")
            // The server's NOTICEs ("relation … already exists, skipping" on every migration check)
            // would reach the log at INFO on every command.
            .options([("client_min_messages", "warning")]);
        // One connection first: a server that is down or refuses us is reported at once, with the
        // driver's reason (a pool would retry until its timeout and report only that).
        let mut first = options.connect().await.map_err(|source| StoreError::Open { url: shown.clone(), source })?;
        let schema = sqlx::query_scalar::<_, Option<String>>("SELECT current_schema()").fetch_one(&mut first).await?;
        let schema = schema.ok_or_else(|| StoreError::NoSchema { url: shown.clone() })?;
        MIGRATOR.run(&mut first).await?;
        first.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let key = Self::init_key(&pool, &shown, key).await?;
        let (listening, _) = watch::channel(false);
        Ok(Self {
            pool,
            url: shown,
            schema,
            key: ArcSwap::from_pointee(key),
            changes: Arc::new(Changes { notify: Notify::new(), listening, task: Mutex::new(None) }),
        })
    }

    /// Resolves the store key against the stored check value; a new store gets its check value
    /// now, under the writers' lock (two nodes starting at once agree on one key).
    async fn init_key(pool: &PgPool, url: &str, spec: &KeySpec) -> Result<StoreKey, StoreError> {
        if let Some(stored) = key_check(pool).await? {
            return spec.resolve(Some(&stored), url);
        }
        let mut tx = pool.begin().await?;
        lock_version(&mut tx).await?;
        let stored = key_check(&mut *tx).await?;
        let key = spec.resolve(stored.as_ref(), url)?;
        if stored.is_none() {
            let check = key.check_value()?;
            sqlx::query("INSERT INTO store_key (id, key_id, check_value) VALUES (1, $1, $2)")
                .bind(&check.key_id)
                .bind(&check.check_value)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(key)
    }

    /// Starts a write transaction holding the writers' lock (the version row).
    pub(super) async fn begin_write(&self) -> Result<Tx, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_version(&mut tx).await?;
        Ok(tx)
    }

    /// Bumps the version, announces it, and commits.
    pub(super) async fn bump_and_commit(mut tx: Tx) -> Result<(), StoreError> {
        sqlx::query(
            "WITH bumped AS (UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version) \
             SELECT pg_notify('s2s_config', current_schema() || ':' || version) FROM bumped",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The key in force, checked inside a write transaction against the store's: a node whose key
    /// was rotated away must not seal new private keys with it.
    async fn current_key(&self, tx: &mut Tx) -> Result<Arc<StoreKey>, StoreError> {
        let key = self.key.load_full();
        match key_check(&mut **tx).await? {
            Some(stored) if stored.key_id != key.id() => {
                Err(StoreError::StaleKey { store_key_id: stored.key_id, node_key_id: key.id() })
            }
            _ => Ok(key),
        }
    }

    /// The connection pool, for the mailbox and authority tables (`postgres_*.rs`).
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Starts the listener task unless it runs already.
    fn start_listener(&self) {
        let Ok(mut task) = self.changes.task.lock() else { return };
        if task.is_none() {
            let listener = listen(self.pool.clone(), self.schema.clone(), Arc::clone(&self.changes));
            *task = Some(tokio::spawn(listener).abort_handle());
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.url)
            .field("schema", &self.schema)
            .field("key_id", &self.key.load().id())
            .finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Ok(mut task) = self.changes.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
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
             ORDER BY CASE role WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END, created_at, thumbprint_key",
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
        let removed = sqlx::query("DELETE FROM certificates WHERE thumbprint_key = $1")
            .bind(thumbprint.to_ascii_lowercase())
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
        let rows = sqlx::query_as::<_, PartnerRow>(sqlx::AssertSqlSafe(format!("{PARTNER_COLUMNS} ORDER BY name_key")))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(PartnerRecord::from).collect())
    }

    async fn partner(&self, name: &str) -> Result<Option<PartnerRecord>, StoreError> {
        let row =
            sqlx::query_as::<_, PartnerRow>(sqlx::AssertSqlSafe(format!("{PARTNER_COLUMNS} WHERE name_key = $1")))
                .bind(name.to_ascii_lowercase())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(PartnerRecord::from))
    }

    async fn write(&self) -> Result<Box<dyn ConfigTransaction>, StoreError> {
        Ok(Box::new(PgTransaction { tx: self.begin_write().await? }))
    }

    async fn record_metadata_fetch(
        &self,
        name: &str,
        fetched_at: i64,
        status: &str,
        certificates: Option<&[Vec<u8>]>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = sqlx::query_scalar::<_, i64>(
            "UPDATE partners SET metadata_fetched_at = $1, metadata_status = $2 WHERE name_key = $3 RETURNING id",
        )
        .bind(fetched_at)
        .bind(status)
        .bind(name.to_ascii_lowercase())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            tx.rollback().await?;
            return Ok(false);
        };
        if let Some(certificates) = certificates {
            sqlx::query("DELETE FROM partner_certificates WHERE partner_id = $1").bind(id).execute(&mut *tx).await?;
            insert_partner_certificates(&mut tx, id, certificates).await?;
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
            sqlx::query("UPDATE certificates SET private_key_sealed = $1 WHERE thumbprint_key = $2")
                .bind(new_key.seal_private_key(&thumbprint, &pkcs8)?)
                .bind(thumbprint.to_ascii_lowercase())
                .execute(&mut *tx)
                .await?;
        }
        let check = new_key.check_value()?;
        sqlx::query("UPDATE store_key SET key_id = $1, check_value = $2 WHERE id = 1")
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
            let id = insert_partner_row(&mut tx, record).await?;
            insert_partner_certificates(&mut tx, id, &record.certificates).await?;
        }
        Self::bump_and_commit(tx).await
    }

    async fn wait_for_change(&self, timeout: Duration) -> bool {
        self.start_listener();
        let mut listening = self.changes.listening.subscribe();
        let notified = async {
            // Not listening (yet, or the connection is down): only the caller's poll finds changes.
            if listening.wait_for(|up| *up).await.is_err() {
                std::future::pending::<()>().await;
            }
            self.changes.notify.notified().await;
        };
        tokio::time::timeout(timeout, notified).await.is_ok()
    }
}

impl TryFrom<OAuthConfigRow> for OAuthConfig {
    type Error = StoreError;

    fn try_from(row: OAuthConfigRow) -> Result<Self, StoreError> {
        let days = |value: i64, column: &'static str| {
            u32::try_from(value).map_err(|e| StoreError::CorruptValue {
                table: "oauth_config",
                column,
                detail: e.to_string(),
            })
        };
        Ok(Self {
            realm: row.realm,
            service_name: row.service_name,
            hostnames: row.hostnames,
            additional_realms: row.additional_realms,
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
}

impl From<PartnerRow> for PartnerRecord {
    fn from(row: PartnerRow) -> Self {
        Self {
            name: row.name,
            application_id: row.application_id,
            realm: row.realm,
            metadata_url: row.metadata_url,
            trust_level: row.trust_level,
            enabled: row.enabled,
            allow_http_metadata: row.allow_http_metadata,
            tls_ca_pem: row.tls_ca_pem,
            certificates: row.certificates,
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
}

/// Follows change notifications for `schema` until aborted: LISTENs on one pooled connection,
/// turns each matching notification into a [`Notify`] permit, and reconnects after failures. Every
/// (re)connection also gives a permit: changes made before it were not announced to us.
async fn listen(pool: PgPool, schema: String, changes: Arc<Changes>) {
    let mut failing = false;
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(mut listener) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("listening for store change notifications again");
                }
                changes.listening.send_replace(true);
                // Changes made before the LISTEN took effect were not announced to us.
                changes.notify.notify_one();
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => {
                            if notification.channel() == CHANNEL
                                && notification.payload().rsplit_once(':').is_some_and(|(s, _)| s == schema)
                            {
                                changes.notify.notify_one();
                            }
                        }
                        // The connection dropped and was re-established: anything sent in between is lost.
                        Ok(None) => changes.notify.notify_one(),
                        Err(e) => {
                            tracing::warn!(error = %e, "store change notifications interrupted; polling until they resume");
                            failing = true;
                            break;
                        }
                    }
                }
                changes.listening.send_replace(false);
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot listen for store change notifications; polling until it can");
                    failing = true;
                }
            }
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// Our OAuth configuration row.
pub(super) const OAUTH_CONFIG_SELECT: &str = "SELECT realm, service_name, hostnames, additional_realms, exchange_autodiscover_url, \
         auto_renew_before_days, auto_renew_lead_days \
     FROM oauth_config WHERE id = 1";

/// Takes the writers' lock: the version row, until the transaction ends.
async fn lock_version(tx: &mut Tx) -> Result<(), StoreError> {
    sqlx::query("SELECT version FROM config_version WHERE id = 1 FOR UPDATE").execute(&mut **tx).await?;
    Ok(())
}

/// The stored key id and check value, if the store has them yet.
async fn key_check<'e>(executor: impl PgExecutor<'e>) -> Result<Option<KeyCheck>, StoreError> {
    let row = sqlx::query_as::<_, KeyCheckRow>("SELECT key_id, check_value FROM store_key WHERE id = 1")
        .fetch_optional(executor)
        .await?;
    Ok(row.map(KeyCheck::from))
}

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
    .bind(&config.hostnames)
    .bind(&config.additional_realms)
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

/// Inserts the partner row (not its certificates) and returns its id; a name clash is
/// [`StoreError::Duplicate`].
pub(super) async fn insert_partner_row(tx: &mut Tx, record: &PartnerRecord) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO partners (name, application_id, realm, metadata_url, trust_level, enabled, \
             allow_http_metadata, tls_ca_pem, metadata_fetched_at, metadata_status, metadata_refresh_interval, \
             linked_account, accept_security_identifier_information, kind, use_auth_server, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
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
    .fetch_one(&mut **tx)
    .await
    .map_err(|error| duplicate_or(error, "partner application", &record.name))?;
    Ok(id)
}

/// Inserts a partner's certificates, in order, in one statement.
pub(super) async fn insert_partner_certificates(
    tx: &mut Tx,
    partner_id: i64,
    certificates: &[Vec<u8>],
) -> Result<(), StoreError> {
    if certificates.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO partner_certificates (partner_id, position, der) \
         SELECT $1, ordinality - 1, der FROM UNNEST($2::bytea[]) WITH ORDINALITY AS c(der, ordinality)",
    )
    .bind(partner_id)
    .bind(certificates)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
