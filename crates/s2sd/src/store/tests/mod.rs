#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The store contract suite: every `async fn` in the topic files taking an `Arc<dyn Store>` states
//! behaviour that every backend must show. `contract_tests!` runs each one against a fresh SQLite
//! file, a fresh `sqlite::memory:` store and, when `S2S_TEST_DATABASE_URL` names a PostgreSQL
//! database, a fresh schema in it (dropped afterwards). `backend_tests!` runs the tests that need
//! to reopen a store or look at its raw rows against an SQLite file and PostgreSQL. This file holds
//! the fixtures and the two macros; the tests are by topic: `certificates.rs` (our OAuth
//! configuration and certificates), `partners.rs` (partners, the version, concurrent writers),
//! `reopened.rs` (encryption at rest, keys, two handles, change notification, import),
//! `corrupt.rs` (unknown stored values), `migration.rs` (stores of the previous schema),
//! `sqlite_keys.rs` (key files, moving between backends) and `opening.rs` (URLs, the SQLite file,
//! the record types).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection as _, Executor as _};
use tempfile::TempDir;

use super::open::{PgUrl, StoreUrl};
use super::{
    AutoRenew, CertificateRecord, CertificateRole, MetadataStatus, OAuthConfig, OpenOptions, PartnerKind,
    PartnerRecord, Snapshot, Store, StoreError, StoreKey, TrustLevel, key_file_beside, open, open_with,
};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A fresh store in a SQLite file inside a new temporary directory (kept alive by the caller).
async fn sqlite_file_store() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    (open(&url).await.unwrap(), dir)
}

async fn sqlite_memory_store() -> Arc<dyn Store> {
    open("sqlite::memory:").await.unwrap()
}

/// The PostgreSQL database the tests may use, from `S2S_TEST_DATABASE_URL`; `None` skips them.
pub(super) fn test_database_url() -> Option<String> {
    std::env::var("S2S_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty())
}

/// What a PostgreSQL-only test does without `S2S_TEST_DATABASE_URL`: fail. Those tests are
/// `#[ignore]`d; `scripts/test.sh` runs them (`--ignored`) with a database, so none passes having
/// checked nothing.
pub(crate) fn no_database() -> ! {
    panic!("this test needs PostgreSQL: set S2S_TEST_DATABASE_URL (scripts/test.sh provides one)")
}

/// `url` with `search_path` set to `schema` for every connection.
fn with_search_path(url: &str, schema: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("S2S_TEST_DATABASE_URL is not a URL");
    parsed.query_pairs_mut().append_pair("options", &format!("-c search_path={schema}"));
    parsed.to_string()
}

/// A fresh schema in the test database, with a key file for it; dropped (with its tables) when
/// this value is dropped, even after a failed assertion.
pub(crate) struct PgSchema {
    admin_url: String,
    name: String,
    url: String,
    key_dir: TempDir,
}

impl PgSchema {
    /// `None` when `S2S_TEST_DATABASE_URL` is not set; panics when it is set but unusable.
    pub(crate) async fn new() -> Option<Self> {
        let admin_url = test_database_url()?;
        let mut suffix = [0u8; 8];
        aws_lc_rs::rand::fill(&mut suffix).unwrap();
        let name = format!("s2s_test_{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("S2S_TEST_DATABASE_URL is set but unusable: {e}"));
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).await.unwrap();
        admin.close().await.unwrap();
        let key_dir = tempfile::tempdir().unwrap();
        StoreKey::create_file(&key_dir.path().join("store.key")).unwrap();
        Some(Self { url: with_search_path(&admin_url, &name), admin_url, name, key_dir })
    }

    pub(crate) fn options(&self) -> OpenOptions {
        OpenOptions { key_file: Some(self.key_file()) }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn key_file(&self) -> PathBuf {
        self.key_dir.path().join("store.key")
    }

    async fn open(&self) -> Arc<dyn Store> {
        open_with(&self.url, &OpenOptions { key_file: Some(self.key_file()) }).await.unwrap()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let drop_schema = sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        // Drop may run inside a runtime (which must not block on itself): use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                admin.execute(drop_schema).await.unwrap();
            });
        })
        .join();
    }
}

/// A store location that can be opened again (with any key) and inspected raw.
enum Backend {
    SqliteFile(TempDir),
    Postgres(PgSchema),
}

impl Backend {
    fn sqlite() -> Self {
        Self::SqliteFile(tempfile::tempdir().unwrap())
    }

    async fn postgres() -> Option<Self> {
        PgSchema::new().await.map(Self::Postgres)
    }

    fn url(&self) -> String {
        match self {
            Self::SqliteFile(dir) => format!("sqlite:{}", dir.path().join("store.db").display()),
            Self::Postgres(schema) => schema.url.clone(),
        }
    }

    /// The key file the store is opened with by default.
    fn key_file(&self) -> PathBuf {
        match self {
            Self::SqliteFile(dir) => key_file_beside(&dir.path().join("store.db")),
            Self::Postgres(schema) => schema.key_file(),
        }
    }

    /// A directory for more key files.
    fn dir(&self) -> &Path {
        match self {
            Self::SqliteFile(dir) => dir.path(),
            Self::Postgres(schema) => schema.key_dir.path(),
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Self::SqliteFile(_) => open(&self.url()).await.unwrap(),
            Self::Postgres(schema) => schema.open().await,
        }
    }

    async fn open_with_key(&self, key_file: &Path) -> Result<Arc<dyn Store>, StoreError> {
        open_with(&self.url(), &OpenOptions { key_file: Some(key_file.to_owned()) }).await
    }

    /// The `private_key_sealed` column, as stored, by thumbprint.
    async fn raw_private_keys(&self) -> Vec<(String, Option<Vec<u8>>)> {
        let query = "SELECT thumbprint, private_key_sealed FROM certificates ORDER BY thumbprint";
        match self {
            Self::SqliteFile(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
                sqlx::query_as(query).fetch_all(&mut conn).await.unwrap()
            }
            Self::Postgres(schema) => {
                let mut conn = sqlx::PgConnection::connect(&schema.url).await.unwrap();
                sqlx::query_as(query).fetch_all(&mut conn).await.unwrap()
            }
        }
    }
}

/// A new key file in `dir`.
fn new_key_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    StoreKey::create_file(&path).unwrap();
    path
}

fn oauth_config() -> OAuthConfig {
    OAuthConfig {
        realm: String::from("litwareinc.com"),
        service_name: String::from("00000002-0000-0ff1-ce00-000000000000"),
        hostnames: vec![String::from("mail.litwareinc.com"), String::from("autodiscover.litwareinc.com")],
        additional_realms: vec![String::from("fabrikam.com")],
        exchange_autodiscover_url: Some(String::from(
            "https://autodiscover.litwareinc.com/autodiscover/autodiscover.svc",
        )),
        auto_renew: Some(AutoRenew { renew_before_days: 60, lead_days: 30 }),
    }
}

/// A certificate record with fake (but distinct) DER and key bytes; `role` is what the store will
/// overwrite anyway.
fn certificate(thumbprint: &str, created_at: i64) -> CertificateRecord {
    CertificateRecord {
        thumbprint: thumbprint.to_owned(),
        role: CertificateRole::Current,
        cert_der: format!("cert {thumbprint}").into_bytes(),
        private_key_pkcs8: Some(format!("key {thumbprint}").into_bytes()),
        not_before: created_at,
        not_after: created_at + 365 * 86_400,
        effective_at: None,
        created_at,
    }
}

fn with_role(record: &CertificateRecord, role: CertificateRole) -> CertificateRecord {
    CertificateRecord { role, ..record.clone() }
}

fn partner(name: &str) -> PartnerRecord {
    PartnerRecord {
        name: name.to_owned(),
        application_id: String::from("00000004-0000-0ff1-ce00-000000000000"),
        realm: String::from("*"),
        metadata_url: Some(format!("https://{}.litwareinc.com/metadata/json/1", name.to_ascii_lowercase())),
        trust_level: TrustLevel::Full,
        enabled: true,
        allow_http_metadata: false,
        tls_ca_pem: None,
        certificates: vec![format!("{name} cert 1").into_bytes(), format!("{name} cert 2").into_bytes()],
        metadata_fetched_at: None,
        metadata_status: None,
        metadata_refresh_interval: None,
        linked_account: None,
        accept_security_identifier_information: false,
        kind: Default::default(),
        use_auth_server: false,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    }
}

fn thumbprints(records: &[CertificateRecord]) -> Vec<(&str, CertificateRole)> {
    records.iter().map(|record| (record.thumbprint.as_str(), record.role)).collect()
}

fn names(records: &[PartnerRecord]) -> Vec<&str> {
    records.iter().map(|record| record.name.as_str()).collect()
}

/// Some of everything.
async fn fill(store: &dyn Store) {
    store.set_oauth_config(&oauth_config()).await.unwrap();
    store.install_current_certificate(&certificate("AAAA", 100)).await.unwrap();
    store.install_current_certificate(&certificate("BBBB", 200)).await.unwrap();
    store
        .stage_next_certificate(&CertificateRecord { effective_at: Some(400), ..certificate("NNNN", 300) })
        .await
        .unwrap();
    store.insert_partner(&partner("Exchange")).await.unwrap();
    let lync = PartnerRecord {
        metadata_refresh_interval: Some(900),
        linked_account: Some(String::from("lync-app@litwareinc.com")),
        accept_security_identifier_information: true,
        kind: Default::default(),
        use_auth_server: false,
        certificates: Vec::new(),
        ..partner("Lync")
    };
    store.insert_partner(&lync).await.unwrap();
    store.record_metadata_fetch("Exchange", 1_800_000_000, &MetadataStatus::Ok, None).await.unwrap();
}

fn assert_same_contents(actual: &Snapshot, expected: &Snapshot) {
    assert_eq!(actual.oauth_config, expected.oauth_config);
    assert_eq!(actual.certificates, expected.certificates);
    assert_eq!(actual.partners, expected.partners);
}

macro_rules! contract_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let (store, _dir) = super::sqlite_file_store().await;
                    super::$test(store).await;
                }
            )*
        }

        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::sqlite_memory_store().await).await;
                }
            )*
        }

        /// Ignored: they need `S2S_TEST_DATABASE_URL` (`scripts/test.sh` runs them with `--ignored`).
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
                async fn $test() {
                    let Some(schema) = super::PgSchema::new().await else { super::no_database() };
                    super::$test(schema.open().await).await;
                }
            )*
        }
    };
}

macro_rules! backend_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite_file_reopened {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::sqlite()).await;
                }
            )*
        }

        /// Ignored: they need `S2S_TEST_DATABASE_URL` (`scripts/test.sh` runs them with `--ignored`).
        mod postgres_reopened {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
                async fn $test() {
                    let Some(backend) = super::Backend::postgres().await else { super::no_database() };
                    super::$test(backend).await;
                }
            )*
        }
    };
}

mod certificates;
mod corrupt;
mod migration;
mod opening;
mod partners;
mod reopened;
mod sqlite_keys;
