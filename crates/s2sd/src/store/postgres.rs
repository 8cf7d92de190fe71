//! The PostgreSQL backend: a connection pool, the schema in `migrations/postgres/` (created in
//! the connection's current schema, so `?options=-c search_path=NAME` puts a store in its own
//! schema), and change notification with LISTEN/NOTIFY, for several nodes on one database. What
//! only PostgreSQL has is here: connecting, the schema check, the listener. Every query of the
//! configuration, the authority and the write transaction is in `sql/*.rs`, compiled here with
//! `Db = sqlx::Postgres` (see `sql/config.rs` for how and why), and shared word for word with
//! SQLite.
//!
//! Every write transaction starts by locking the one `config_version` row (`SELECT … FOR UPDATE`,
//! `dialect.rs`): writers queue behind each other, so no update is lost and a read-then-write
//! (rotation, promotion) sees the previous writer's result. The write bumps the version and calls
//! `pg_notify('s2s_config', '<schema>:<version>')` in the same transaction, so the notification is
//! sent if and only if the change commits. Reads of several statements (a partner and its
//! certificates) run in one REPEATABLE READ transaction.
//!
//! [`Store::wait_for_change`] starts, on first use, a task that holds one pooled connection
//! LISTENing on `s2s_config`; the node's version poll stays the fallback when it is down.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::sync::{Notify, watch};

#[cfg(doc)]
use super::Store;
use super::crypto::{KeySpec, StoreKey};
use super::{StoreError, redact_password};

/// The queries, compiled for this backend.
type Db = sqlx::Postgres;
/// The store type the queries implement the traits on.
type Backend = PgStore;

// The same files are compiled for SQLite in `sqlite.rs`: on purpose (see `sql/config.rs`).
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
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The NOTIFY channel of configuration changes.
const CHANNEL: &str = "s2s_config";
/// Connections in the pool (one of them is the listener's while it runs).
const MAX_CONNECTIONS: u32 = 8;
/// How long a query waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before the listener reconnects after a failure.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// The store on PostgreSQL: [`Store`], the authority and the mailboxes over one pool. Its `Debug`
/// shows the URL without password and the key id only.
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
        let key = config::init_key(&pool, &shown, key).await?;
        let (listening, _) = watch::channel(false);
        Ok(Self {
            pool,
            url: shown,
            schema,
            key: ArcSwap::from_pointee(key),
            changes: Arc::new(Changes { notify: Notify::new(), listening, task: Mutex::new(None) }),
        })
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

    /// Waits up to `timeout` for a change notification (starting the listener on first use).
    async fn changed_within(&self, timeout: Duration) -> bool {
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
