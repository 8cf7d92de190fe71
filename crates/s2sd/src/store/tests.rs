#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The store contract suite: every `async fn` below taking an `Arc<dyn Store>` states behaviour
//! that every backend must show. `contract_tests!` runs each one against a fresh SQLite file, a
//! fresh `sqlite::memory:` store and, when `S2S_TEST_DATABASE_URL` names a PostgreSQL database, a
//! fresh schema in it (dropped afterwards). `backend_tests!` runs the tests that need to reopen a
//! store or look at its raw rows (encryption at rest, keys, two handles, change notification)
//! against an SQLite file and PostgreSQL. Backend-specific tests (URLs, the file and its mode,
//! moving a store from SQLite to PostgreSQL) follow.

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

// ---------------------------------------------------------------------------------------------
// The contract

async fn fresh_store_is_empty(store: Arc<dyn Store>) {
    store.version().await.unwrap();
    assert_eq!(store.oauth_config().await.unwrap(), None);
    assert!(store.certificates().await.unwrap().is_empty());
    assert!(store.partners().await.unwrap().is_empty());
    assert_eq!(store.partner("Exchange").await.unwrap(), None);
}

async fn oauth_config_is_set_and_replaced(store: Arc<dyn Store>) {
    let v0 = store.version().await.unwrap();
    let config = oauth_config();
    store.set_oauth_config(&config).await.unwrap();
    assert_eq!(store.oauth_config().await.unwrap(), Some(config.clone()));
    let v1 = store.version().await.unwrap();
    assert!(v1 > v0);

    let replaced = OAuthConfig {
        realm: String::from("contoso.com"),
        hostnames: Vec::new(),
        additional_realms: Vec::new(),
        exchange_autodiscover_url: None,
        ..config
    };
    store.set_oauth_config(&replaced).await.unwrap();
    assert_eq!(store.oauth_config().await.unwrap(), Some(replaced));
    assert!(store.version().await.unwrap() > v1);
}

async fn install_current_certificate_rotates(store: Arc<dyn Store>) {
    let a = certificate("AAAA", 100);
    let b = certificate("BBBB", 200);
    let n = CertificateRecord { effective_at: Some(400), ..certificate("NNNN", 300) };
    let c = certificate("CCCC", 500);

    store.install_current_certificate(&a).await.unwrap();
    assert_eq!(store.certificates().await.unwrap(), vec![with_role(&a, CertificateRole::Current)]);

    store.install_current_certificate(&b).await.unwrap();
    assert_eq!(
        store.certificates().await.unwrap(),
        vec![with_role(&b, CertificateRole::Current), with_role(&a, CertificateRole::Previous)]
    );

    store.stage_next_certificate(&n).await.unwrap();
    assert_eq!(
        store.certificates().await.unwrap(),
        vec![
            with_role(&b, CertificateRole::Current),
            with_role(&n, CertificateRole::Next),
            with_role(&a, CertificateRole::Previous),
        ]
    );

    // The old previous (A) goes, the current (B) becomes previous, the next (N) stays.
    store.install_current_certificate(&c).await.unwrap();
    assert_eq!(
        store.certificates().await.unwrap(),
        vec![
            with_role(&c, CertificateRole::Current),
            with_role(&n, CertificateRole::Next),
            with_role(&b, CertificateRole::Previous),
        ]
    );
}

async fn certificates_keep_their_private_keys(store: Arc<dyn Store>) {
    let with_key = certificate("AAAA", 100);
    let without_key = CertificateRecord { private_key_pkcs8: None, ..certificate("BBBB", 200) };
    store.install_current_certificate(&with_key).await.unwrap();
    store.stage_next_certificate(&without_key).await.unwrap();
    let stored = store.certificates().await.unwrap();
    assert_eq!(stored[0].private_key_pkcs8, with_key.private_key_pkcs8);
    assert_eq!(stored[1].private_key_pkcs8, None);
}

async fn certificate_role_comes_from_the_method(store: Arc<dyn Store>) {
    let current = with_role(&certificate("AAAA", 100), CertificateRole::Previous);
    let next = with_role(&certificate("BBBB", 200), CertificateRole::Current);
    store.install_current_certificate(&current).await.unwrap();
    store.stage_next_certificate(&next).await.unwrap();
    assert_eq!(
        thumbprints(&store.certificates().await.unwrap()),
        vec![("AAAA", CertificateRole::Current), ("BBBB", CertificateRole::Next)]
    );
}

async fn stage_next_certificate_replaces_the_next_one(store: Arc<dyn Store>) {
    store.install_current_certificate(&certificate("AAAA", 100)).await.unwrap();
    store.stage_next_certificate(&certificate("N001", 200)).await.unwrap();
    let v = store.version().await.unwrap();
    store.stage_next_certificate(&certificate("N002", 300)).await.unwrap();
    assert!(store.version().await.unwrap() > v);
    assert_eq!(
        thumbprints(&store.certificates().await.unwrap()),
        vec![("AAAA", CertificateRole::Current), ("N002", CertificateRole::Next)]
    );
}

async fn stage_next_certificate_without_a_current_one(store: Arc<dyn Store>) {
    store.stage_next_certificate(&certificate("NNNN", 100)).await.unwrap();
    assert_eq!(thumbprints(&store.certificates().await.unwrap()), vec![("NNNN", CertificateRole::Next)]);
    assert!(store.promote_next_certificate().await.unwrap());
    assert_eq!(thumbprints(&store.certificates().await.unwrap()), vec![("NNNN", CertificateRole::Current)]);
}

async fn promote_next_certificate_rotates(store: Arc<dyn Store>) {
    store.install_current_certificate(&certificate("PPPP", 100)).await.unwrap();
    store.install_current_certificate(&certificate("CCCC", 200)).await.unwrap();
    store.stage_next_certificate(&certificate("NNNN", 300)).await.unwrap();
    let v = store.version().await.unwrap();

    assert!(store.promote_next_certificate().await.unwrap());
    assert!(store.version().await.unwrap() > v);
    assert_eq!(
        thumbprints(&store.certificates().await.unwrap()),
        vec![("NNNN", CertificateRole::Current), ("CCCC", CertificateRole::Previous)]
    );
}

async fn promote_without_next_changes_nothing(store: Arc<dyn Store>) {
    assert!(!store.promote_next_certificate().await.unwrap());
    store.install_current_certificate(&certificate("AAAA", 100)).await.unwrap();
    let before = store.certificates().await.unwrap();
    let v = store.version().await.unwrap();
    assert!(!store.promote_next_certificate().await.unwrap());
    assert_eq!(store.version().await.unwrap(), v);
    assert_eq!(store.certificates().await.unwrap(), before);
}

async fn remove_certificate_by_thumbprint(store: Arc<dyn Store>) {
    store.install_current_certificate(&certificate("AAAA", 100)).await.unwrap();
    store.install_current_certificate(&certificate("BBBB", 200)).await.unwrap();
    let v = store.version().await.unwrap();

    assert!(!store.remove_certificate("FFFF").await.unwrap());
    assert_eq!(store.version().await.unwrap(), v);

    // Thumbprints are hex: case does not matter.
    assert!(store.remove_certificate("aaaa").await.unwrap());
    assert!(store.version().await.unwrap() > v);
    assert_eq!(thumbprints(&store.certificates().await.unwrap()), vec![("BBBB", CertificateRole::Current)]);
    assert!(!store.remove_certificate("AAAA").await.unwrap());

    // A removed previous slot is simply empty at the next rotation.
    store.install_current_certificate(&certificate("CCCC", 300)).await.unwrap();
    assert_eq!(
        thumbprints(&store.certificates().await.unwrap()),
        vec![("CCCC", CertificateRole::Current), ("BBBB", CertificateRole::Previous)]
    );
}

/// The failing insert comes after the rotation statements of the same transaction: they must be
/// rolled back with it.
async fn failed_certificate_install_changes_nothing(store: Arc<dyn Store>) {
    store.install_current_certificate(&certificate("AAAA", 100)).await.unwrap();
    store.install_current_certificate(&certificate("BBBB", 200)).await.unwrap();
    store.stage_next_certificate(&certificate("NNNN", 300)).await.unwrap();
    let before = store.certificates().await.unwrap();
    let v = store.version().await.unwrap();

    for thumbprint in ["BBBB", "bbbb", "NNNN"] {
        let error = store.install_current_certificate(&certificate(thumbprint, 400)).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::Duplicate { what: "certificate", name } if name == thumbprint),
            "{error:?}"
        );
        assert_eq!(store.certificates().await.unwrap(), before);
        assert_eq!(store.version().await.unwrap(), v);
    }

    // Staging a next certificate that is already current fails after deleting the old next one.
    let error = store.stage_next_certificate(&certificate("BBBB", 400)).await.unwrap_err();
    assert!(matches!(error, StoreError::Duplicate { .. }), "{error:?}");
    assert_eq!(store.certificates().await.unwrap(), before);
    assert_eq!(store.version().await.unwrap(), v);
}

async fn reinstalling_the_previous_certificate_is_a_rollback(store: Arc<dyn Store>) {
    store.install_current_certificate(&certificate("AAAA", 100)).await.unwrap();
    store.install_current_certificate(&certificate("BBBB", 200)).await.unwrap();
    store.install_current_certificate(&certificate("AAAA", 300)).await.unwrap();
    assert_eq!(
        thumbprints(&store.certificates().await.unwrap()),
        vec![("AAAA", CertificateRole::Current), ("BBBB", CertificateRole::Previous)]
    );
}

async fn partners_are_inserted_and_listed_by_name(store: Arc<dyn Store>) {
    for name in ["charlie", "Exchange", "alpha", "Bravo"] {
        store.insert_partner(&partner(name)).await.unwrap();
    }
    let partners = store.partners().await.unwrap();
    assert_eq!(names(&partners), vec!["alpha", "Bravo", "charlie", "Exchange"]);
    assert_eq!(partners[3], partner("Exchange"));

    assert_eq!(store.partner("Exchange").await.unwrap(), Some(partner("Exchange")));
    assert_eq!(store.partner("EXCHANGE").await.unwrap(), Some(partner("Exchange")));
    assert_eq!(store.partner("exchange").await.unwrap(), Some(partner("Exchange")));
    assert_eq!(store.partner("SharePoint").await.unwrap(), None);
}

async fn partner_fields_round_trip(store: Arc<dyn Store>) {
    let full = PartnerRecord {
        realm: String::from("litwareinc.com"),
        metadata_url: Some(String::from("http://lync.litwareinc.com/metadata/json/1")),
        trust_level: TrustLevel::Application,
        enabled: false,
        allow_http_metadata: true,
        tls_ca_pem: Some(String::from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")),
        metadata_fetched_at: Some(1_700_000_100),
        metadata_status: Some(MetadataStatus::Ok),
        updated_at: 1_700_000_200,
        ..partner("Lync")
    };
    let empty = PartnerRecord { metadata_url: None, certificates: Vec::new(), tls_ca_pem: None, ..partner("Manual") };
    store.insert_partner(&full).await.unwrap();
    store.insert_partner(&empty).await.unwrap();
    assert_eq!(store.partner("lync").await.unwrap(), Some(full.clone()));
    assert_eq!(store.partner("manual").await.unwrap(), Some(empty.clone()));
    assert_eq!(store.partners().await.unwrap(), vec![full, empty]);
}

async fn partner_names_collide_case_insensitively(store: Arc<dyn Store>) {
    store.insert_partner(&partner("Exchange")).await.unwrap();
    let v = store.version().await.unwrap();

    for name in ["Exchange", "exchange", "EXCHANGE"] {
        let error = store.insert_partner(&PartnerRecord { certificates: Vec::new(), ..partner(name) }).await;
        let error = error.unwrap_err();
        assert!(
            matches!(&error, StoreError::Duplicate { what: "partner application", name: clash } if clash == name),
            "{error:?}"
        );
        assert_eq!(store.version().await.unwrap(), v);
        assert_eq!(store.partners().await.unwrap(), vec![partner("Exchange")]);
    }
}

async fn update_partner_replaces_it_wholly(store: Arc<dyn Store>) {
    store.insert_partner(&partner("Exchange")).await.unwrap();
    store.insert_partner(&partner("SharePoint")).await.unwrap();
    let v = store.version().await.unwrap();

    let updated = PartnerRecord {
        name: String::from("EXCHANGE"),
        application_id: String::from("00000002-0000-0ff1-ce00-000000000000"),
        realm: String::from("litwareinc.com"),
        metadata_url: None,
        trust_level: TrustLevel::Application,
        enabled: false,
        allow_http_metadata: true,
        tls_ca_pem: Some(String::from("pem")),
        certificates: vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()],
        metadata_fetched_at: Some(5),
        metadata_status: Some(MetadataStatus::Failed(String::from("HTTP 404"))),
        metadata_refresh_interval: Some(900),
        linked_account: Some(String::from("exchange-applicationaccount@litwareinc.com")),
        accept_security_identifier_information: true,
        kind: PartnerKind::AuthServer,
        use_auth_server: true,
        created_at: 1,
        updated_at: 2,
    };
    assert!(store.update_partner(&updated).await.unwrap());
    assert!(store.version().await.unwrap() > v);
    assert_eq!(store.partner("exchange").await.unwrap(), Some(updated.clone()));
    assert_eq!(store.partners().await.unwrap(), vec![updated.clone(), partner("SharePoint")]);

    // Fewer certificates: the surplus ones go.
    let fewer = PartnerRecord { certificates: vec![b"only".to_vec()], ..updated };
    assert!(store.update_partner(&fewer).await.unwrap());
    assert_eq!(store.partner("Exchange").await.unwrap(), Some(fewer));

    let v = store.version().await.unwrap();
    assert!(!store.update_partner(&partner("Lync")).await.unwrap());
    assert_eq!(store.version().await.unwrap(), v);
    assert_eq!(store.partner("Lync").await.unwrap(), None);
}

async fn remove_partner_removes_its_certificates(store: Arc<dyn Store>) {
    store.insert_partner(&partner("Exchange")).await.unwrap();
    store.insert_partner(&partner("SharePoint")).await.unwrap();
    let v = store.version().await.unwrap();

    assert!(store.remove_partner("exchange").await.unwrap());
    assert!(store.version().await.unwrap() > v);
    assert_eq!(store.partner("Exchange").await.unwrap(), None);
    assert_eq!(store.partners().await.unwrap(), vec![partner("SharePoint")]);

    let v = store.version().await.unwrap();
    assert!(!store.remove_partner("Exchange").await.unwrap());
    assert_eq!(store.version().await.unwrap(), v);

    // A new partner of the same name starts without the old certificates.
    let again = PartnerRecord { certificates: Vec::new(), ..partner("Exchange") };
    store.insert_partner(&again).await.unwrap();
    assert_eq!(store.partner("Exchange").await.unwrap(), Some(again));
}

async fn record_metadata_fetch_updates_status_and_certificates(store: Arc<dyn Store>) {
    let original = partner("Exchange");
    store.insert_partner(&original).await.unwrap();
    store.insert_partner(&partner("SharePoint")).await.unwrap();

    // A failed fetch: time and status only. Fetch results are not configuration: no version bump.
    let v = store.version().await.unwrap();
    assert!(
        store
            .record_metadata_fetch("exchange", 1_800_000_000, &MetadataStatus::Failed(String::from("HTTP 503")), None)
            .await
            .unwrap()
    );
    assert_eq!(store.version().await.unwrap(), v);
    let failed = PartnerRecord {
        metadata_fetched_at: Some(1_800_000_000),
        metadata_status: Some(MetadataStatus::Failed(String::from("HTTP 503"))),
        ..original.clone()
    };
    assert_eq!(store.partner("Exchange").await.unwrap(), Some(failed.clone()));

    // A good fetch: new certificates, in order; updated_at is left alone.
    let fetched = vec![b"new 1".to_vec(), b"new 2".to_vec(), b"new 3".to_vec()];
    let v = store.version().await.unwrap();
    assert!(store.record_metadata_fetch("Exchange", 1_800_000_060, &MetadataStatus::Ok, Some(&fetched)).await.unwrap());
    assert_eq!(store.version().await.unwrap(), v);
    let ok = PartnerRecord {
        certificates: fetched,
        metadata_fetched_at: Some(1_800_000_060),
        metadata_status: Some(MetadataStatus::Ok),
        ..failed
    };
    assert_eq!(store.partner("Exchange").await.unwrap(), Some(ok.clone()));

    // An empty list is a list: it empties the ring.
    assert!(store.record_metadata_fetch("Exchange", 1_800_000_120, &MetadataStatus::Ok, Some(&[])).await.unwrap());
    let emptied = PartnerRecord { certificates: Vec::new(), metadata_fetched_at: Some(1_800_000_120), ..ok };
    assert_eq!(store.partner("Exchange").await.unwrap(), Some(emptied));

    // The other partner is untouched; an absent one is reported and nothing changes.
    assert_eq!(store.partner("SharePoint").await.unwrap(), Some(partner("SharePoint")));
    let v = store.version().await.unwrap();
    assert!(
        !store.record_metadata_fetch("Lync", 1_800_000_180, &MetadataStatus::Ok, Some(&[b"x".to_vec()])).await.unwrap()
    );
    assert_eq!(store.version().await.unwrap(), v);
}

/// Every successful write bumps the version; reads never do.
async fn every_write_bumps_the_version(store: Arc<dyn Store>) {
    let mut last = store.version().await.unwrap();
    let mut bumped = |now: i64, what: &str| {
        assert!(now > last, "{what} did not bump the version ({now} <= {last})");
        last = now;
    };

    store.set_oauth_config(&oauth_config()).await.unwrap();
    bumped(store.version().await.unwrap(), "set_oauth_config");
    store.install_current_certificate(&certificate("AAAA", 1)).await.unwrap();
    bumped(store.version().await.unwrap(), "install_current_certificate");
    store.stage_next_certificate(&certificate("BBBB", 2)).await.unwrap();
    bumped(store.version().await.unwrap(), "stage_next_certificate");
    assert!(store.promote_next_certificate().await.unwrap());
    bumped(store.version().await.unwrap(), "promote_next_certificate");
    assert!(store.remove_certificate("AAAA").await.unwrap());
    bumped(store.version().await.unwrap(), "remove_certificate");
    store.insert_partner(&partner("Exchange")).await.unwrap();
    bumped(store.version().await.unwrap(), "insert_partner");
    assert!(store.update_partner(&partner("Exchange")).await.unwrap());
    bumped(store.version().await.unwrap(), "update_partner (unchanged record)");
    // A node's metadata fetch is not configuration: recorded without a bump.
    let before_fetch = store.version().await.unwrap();
    assert!(store.record_metadata_fetch("Exchange", 3, &MetadataStatus::Ok, None).await.unwrap());
    assert_eq!(store.version().await.unwrap(), before_fetch, "record_metadata_fetch bumped the version");
    assert!(store.remove_partner("Exchange").await.unwrap());
    bumped(store.version().await.unwrap(), "remove_partner");

    let version = store.version().await.unwrap();
    store.oauth_config().await.unwrap();
    store.certificates().await.unwrap();
    store.partners().await.unwrap();
    store.partner("Exchange").await.unwrap();
    assert_eq!(store.version().await.unwrap(), version);
}

/// Writers racing on the same store all succeed, each in its own transaction.
async fn concurrent_writers_all_succeed(store: Arc<dyn Store>) {
    const WRITERS: i64 = 16;
    let v = store.version().await.unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store.insert_partner(&partner(&format!("partner-{i:02}"))).await?;
                store
                    .record_metadata_fetch(&format!("PARTNER-{i:02}"), i, &MetadataStatus::Ok, Some(&[vec![1, 2, 3]]))
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap());
    }
    let partners = store.partners().await.unwrap();
    assert_eq!(partners.len(), 16);
    assert!(partners.iter().all(|partner| partner.certificates == vec![vec![1, 2, 3]]));
    let distinct: HashSet<_> = partners.iter().map(|partner| partner.name.clone()).collect();
    assert_eq!(distinct.len(), 16);
    // The inserts bump the version; the metadata fetches do not.
    assert_eq!(store.version().await.unwrap(), v + WRITERS);
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

        /// Skipped (passing) unless `S2S_TEST_DATABASE_URL` is set.
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(schema) = super::PgSchema::new().await else { return };
                    super::$test(schema.open().await).await;
                }
            )*
        }
    };
}

contract_tests!(
    fresh_store_is_empty,
    oauth_config_is_set_and_replaced,
    install_current_certificate_rotates,
    certificates_keep_their_private_keys,
    certificate_role_comes_from_the_method,
    stage_next_certificate_replaces_the_next_one,
    stage_next_certificate_without_a_current_one,
    promote_next_certificate_rotates,
    promote_without_next_changes_nothing,
    remove_certificate_by_thumbprint,
    failed_certificate_install_changes_nothing,
    reinstalling_the_previous_certificate_is_a_rollback,
    partners_are_inserted_and_listed_by_name,
    partner_fields_round_trip,
    partner_names_collide_case_insensitively,
    update_partner_replaces_it_wholly,
    remove_partner_removes_its_certificates,
    record_metadata_fetch_updates_status_and_certificates,
    every_write_bumps_the_version,
    concurrent_writers_all_succeed,
);

// ---------------------------------------------------------------------------------------------
// The contract, where a test reopens the store or reads its raw rows

/// The database never holds a private key in plain text; the store hands out plain text.
async fn private_keys_are_encrypted_at_rest(backend: Backend) {
    let store = backend.open().await;
    let with_key =
        CertificateRecord { private_key_pkcs8: Some(b"PRIVATE KEY AAAA".to_vec()), ..certificate("AAAA", 1) };
    store.install_current_certificate(&with_key).await.unwrap();
    store
        .stage_next_certificate(&CertificateRecord { private_key_pkcs8: None, ..certificate("BBBB", 2) })
        .await
        .unwrap();

    let raw = backend.raw_private_keys().await;
    assert_eq!(raw.len(), 2);
    let (thumbprint, sealed) = &raw[0];
    assert_eq!(thumbprint, "AAAA");
    let sealed = sealed.as_ref().unwrap();
    assert!(!sealed.windows(11).any(|w| w == b"PRIVATE KEY"), "plain text in the database");
    assert_eq!(sealed.len(), 1 + 8 + 12 + b"PRIVATE KEY AAAA".len() + 16);
    assert_eq!(raw[1], (String::from("BBBB"), None));
    assert_eq!(store.certificates().await.unwrap()[0], with_key);

    // Another handle (another node) with the same key reads the same plain text.
    assert_eq!(backend.open().await.certificates().await.unwrap()[0], with_key);
}

/// A node with another key refuses to open the store, naming both key ids.
async fn a_wrong_key_fails_at_open(backend: Backend) {
    let store = backend.open().await;
    store.install_current_certificate(&certificate("AAAA", 1)).await.unwrap();
    let right = store.key_id();
    let wrong_file = new_key_file(backend.dir(), "wrong.key");
    let wrong = StoreKey::from_file(&wrong_file).unwrap().id();

    let error = backend.open_with_key(&wrong_file).await.err().unwrap();
    assert!(matches!(error, StoreError::WrongKey { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&right) && message.contains(&wrong), "{message}");
    assert!(message.contains("wrong.key") && message.contains("S2S_STORE_KEY_FILE"), "{message}");

    // The right key still opens it.
    assert_eq!(backend.open_with_key(&backend.key_file()).await.unwrap().key_id(), right);
}

/// rotate-key: every private key re-encrypted under the new key, in one version; the old key no
/// longer opens the store, the new one does, and the keys read back unchanged.
async fn rotate_key_round_trip(backend: Backend) {
    let store = backend.open().await;
    let current = certificate("AAAA", 1);
    let next = certificate("BBBB", 2);
    let public_only = CertificateRecord { private_key_pkcs8: None, ..certificate("CCCC", 3) };
    store.install_current_certificate(&public_only).await.unwrap();
    store.install_current_certificate(&current).await.unwrap();
    store.stage_next_certificate(&next).await.unwrap();
    let before = store.certificates().await.unwrap();
    let raw_before = backend.raw_private_keys().await;
    let old_key = store.key_id();
    let v = store.version().await.unwrap();

    let new_file = new_key_file(backend.dir(), "new.key");
    let new_key = StoreKey::from_file(&new_file).unwrap();
    let new_id = new_key.id();
    assert_eq!(store.rotate_key(new_key).await.unwrap(), 2);
    assert_eq!(store.version().await.unwrap(), v + 1);
    assert_eq!(store.key_id(), new_id);
    assert_eq!(store.certificates().await.unwrap(), before);
    let raw_after = backend.raw_private_keys().await;
    assert_ne!(raw_after, raw_before);
    assert_eq!(raw_after.iter().filter(|(_, sealed)| sealed.is_some()).count(), 2);

    let error = backend.open_with_key(&backend.key_file()).await.err().unwrap();
    assert!(matches!(&error, StoreError::WrongKey { store_key_id, .. } if *store_key_id == new_id), "{error:?}");
    let reopened = backend.open_with_key(&new_file).await.unwrap();
    assert_eq!(reopened.certificates().await.unwrap(), before);
    assert_ne!(reopened.key_id(), old_key);
}

/// A node that kept the old key after a rotation elsewhere cannot read the new sealed keys and
/// must not seal new ones with its stale key.
async fn a_node_with_a_rotated_key_is_refused(backend: Backend) {
    let stale = backend.open().await;
    stale.install_current_certificate(&certificate("AAAA", 1)).await.unwrap();
    let rotating = backend.open().await;
    let new_key = StoreKey::from_file(&new_key_file(backend.dir(), "new.key")).unwrap();
    rotating.rotate_key(new_key).await.unwrap();

    let error = stale.install_current_certificate(&certificate("BBBB", 2)).await.unwrap_err();
    assert!(matches!(error, StoreError::StaleKey { .. }), "{error:?}");
    assert!(error.to_string().contains("restart"), "{error}");
    let error = stale.certificates().await.unwrap_err();
    assert!(matches!(error, StoreError::Undecryptable { .. }), "{error:?}");
    assert!(error.to_string().contains("rotated"), "{error}");
    assert_eq!(rotating.certificates().await.unwrap(), vec![certificate("AAAA", 1)]);
}

/// Two handles on one store (two nodes): each sees the other's writes at once, and a name taken on
/// one is taken on the other.
async fn two_handles_see_each_others_writes(backend: Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    first.insert_partner(&partner("Exchange")).await.unwrap();
    assert_eq!(second.version().await.unwrap(), first.version().await.unwrap());
    assert_eq!(second.partner("exchange").await.unwrap(), Some(partner("Exchange")));
    let error = second.insert_partner(&partner("EXCHANGE")).await.unwrap_err();
    assert!(matches!(error, StoreError::Duplicate { .. }), "{error:?}");
    second.install_current_certificate(&certificate("AAAA", 1)).await.unwrap();
    assert_eq!(first.certificates().await.unwrap(), vec![certificate("AAAA", 1)]);

    // Writers on both handles at once: none lost.
    let v = first.version().await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &first } else { &second });
            tokio::spawn(async move { store.insert_partner(&partner(&format!("partner-{i:02}"))).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(first.version().await.unwrap(), v + 20);
    assert_eq!(second.partners().await.unwrap().len(), 21);
}

/// A write through one handle wakes a handle waiting for changes within a second where the backend
/// notifies (PostgreSQL); elsewhere the wait just times out and the version shows the change.
async fn a_write_elsewhere_wakes_the_waiter(backend: Backend) {
    let notifies = matches!(backend, Backend::Postgres(_));
    let writer = backend.open().await;
    let watcher = backend.open().await;
    if notifies {
        // The first wait starts listening and wakes once it listens (changes before may be missed).
        assert!(watcher.wait_for_change(Duration::from_secs(5)).await);
        while watcher.wait_for_change(Duration::from_millis(200)).await {}
    }
    let v = watcher.version().await.unwrap();
    let waiting = {
        let watcher = Arc::clone(&watcher);
        tokio::spawn(async move {
            let start = Instant::now();
            let woken = watcher.wait_for_change(Duration::from_secs(3)).await;
            (woken, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    writer.insert_partner(&partner("Exchange")).await.unwrap();
    let (woken, waited) = waiting.await.unwrap();
    assert_eq!(woken, notifies, "waited {waited:?}");
    if notifies {
        assert!(waited < Duration::from_millis(1100), "woken after {waited:?}");
    }
    assert!(watcher.version().await.unwrap() > v);
    assert_eq!(watcher.partner("Exchange").await.unwrap(), Some(partner("Exchange")));
    // Nothing written: nothing wakes.
    if notifies {
        assert!(!watcher.wait_for_change(Duration::from_millis(300)).await);
    }
}

/// import: into an empty store only, unless told to replace; one version; keys sealed anew.
async fn import_loads_a_snapshot_into_an_empty_store(backend: Backend) {
    let source = sqlite_memory_store().await;
    fill(source.as_ref()).await;
    let snapshot = source.snapshot().await.unwrap();

    let store = backend.open().await;
    let v = store.version().await.unwrap();
    store.import(&snapshot, false).await.unwrap();
    assert_eq!(store.version().await.unwrap(), v + 1);
    assert_same_contents(&store.snapshot().await.unwrap(), &snapshot);
    assert!(backend.raw_private_keys().await.iter().all(|(_, sealed)| sealed.as_ref().is_none_or(|s| s[0] == 1)));

    let error = store.import(&snapshot, false).await.unwrap_err();
    assert!(matches!(error, StoreError::NotEmpty { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("--replace") && message.contains("2 partner applications"), "{message}");
    assert_eq!(store.version().await.unwrap(), v + 1);

    // --replace: the old contents go, wholly.
    let other = Snapshot {
        version: 0,
        oauth_config: None,
        certificates: vec![certificate("FFFF", 9)],
        partners: vec![partner("Lync")],
    };
    store.import(&other, true).await.unwrap();
    assert_same_contents(&store.snapshot().await.unwrap(), &other);

    // A snapshot that breaks a rule changes nothing.
    let broken = Snapshot { partners: vec![partner("Lync"), partner("LYNC")], ..other.clone() };
    let error = store.import(&broken, true).await.unwrap_err();
    assert!(matches!(error, StoreError::Duplicate { .. }), "{error:?}");
    assert_same_contents(&store.snapshot().await.unwrap(), &other);
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

        /// Skipped (passing) unless `S2S_TEST_DATABASE_URL` is set.
        mod postgres_reopened {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(backend) = super::Backend::postgres().await else { return };
                    super::$test(backend).await;
                }
            )*
        }
    };
}

backend_tests!(
    private_keys_are_encrypted_at_rest,
    a_wrong_key_fails_at_open,
    rotate_key_round_trip,
    a_node_with_a_rotated_key_is_refused,
    two_handles_see_each_others_writes,
    a_write_elsewhere_wakes_the_waiter,
    import_loads_a_snapshot_into_an_empty_store,
);

// ---------------------------------------------------------------------------------------------
// Moving between backends

/// export → import, SQLite → PostgreSQL: the same contents, private keys included, sealed under
/// the PostgreSQL store's own key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_moves_from_sqlite_to_postgres() {
    let Some(target) = Backend::postgres().await else { return };
    let (source, _dir) = sqlite_file_store().await;
    fill(source.as_ref()).await;
    let snapshot = source.snapshot().await.unwrap();
    assert!(snapshot.certificates.iter().all(|c| c.private_key_pkcs8.is_some()));

    let store = target.open().await;
    store.import(&snapshot, false).await.unwrap();
    assert_same_contents(&store.snapshot().await.unwrap(), &snapshot);
    assert_ne!(store.key_id(), source.key_id());
    // And back, into a fresh SQLite store.
    let back = sqlite_memory_store().await;
    back.import(&store.snapshot().await.unwrap(), false).await.unwrap();
    assert_same_contents(&back.snapshot().await.unwrap(), &snapshot);
}

#[tokio::test]
async fn snapshots_round_trip_between_sqlite_stores() {
    let (source, _dir) = sqlite_file_store().await;
    fill(source.as_ref()).await;
    let snapshot = source.snapshot().await.unwrap();
    assert_eq!(snapshot.version, source.version().await.unwrap());
    assert_eq!(snapshot.certificates.len(), 3);
    assert_eq!(snapshot.partners.len(), 2);
    let target = sqlite_memory_store().await;
    target.import(&snapshot, false).await.unwrap();
    assert_same_contents(&target.snapshot().await.unwrap(), &snapshot);
}

// ---------------------------------------------------------------------------------------------
// Store keys on SQLite

#[tokio::test]
async fn a_new_sqlite_store_gets_a_private_key_file_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s2s.db");
    let store = open(&format!("sqlite:{}", path.display())).await.unwrap();
    let key_file = dir.path().join("s2s.db.key");
    assert_eq!(key_file_beside(&path), key_file);
    assert_eq!(StoreKey::from_file(&key_file).unwrap().id(), store.key_id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Reopening uses it.
    drop(store);
    let again = open(&format!("sqlite:{}", path.display())).await.unwrap();
    assert_eq!(StoreKey::from_file(&key_file).unwrap().id(), again.key_id());
}

#[tokio::test]
async fn an_encrypted_sqlite_store_without_its_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s2s.db");
    let url = format!("sqlite:{}", path.display());
    open(&url).await.unwrap().install_current_certificate(&certificate("AAAA", 1)).await.unwrap();
    std::fs::remove_file(key_file_beside(&path)).unwrap();
    let error = open(&url).await.err().unwrap();
    assert!(matches!(error, StoreError::KeyFileMissing { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("s2s.db.key") && message.contains("S2S_STORE_KEY_FILE"), "{message}");
    assert!(!key_file_beside(&path).exists(), "a new key must not be made for an encrypted store");
}

#[tokio::test]
async fn an_explicit_key_file_takes_the_place_of_the_one_beside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s2s.db");
    let url = format!("sqlite:{}", path.display());
    let key_file = new_key_file(dir.path(), "explicit.key");
    let options = OpenOptions { key_file: Some(key_file.clone()) };
    let store = open_with(&url, &options).await.unwrap();
    store.install_current_certificate(&certificate("AAAA", 1)).await.unwrap();
    assert!(!key_file_beside(&path).exists());
    assert_eq!(store.key_id(), StoreKey::from_file(&key_file).unwrap().id());
    assert_eq!(open_with(&url, &options).await.unwrap().certificates().await.unwrap(), vec![certificate("AAAA", 1)]);
    // Without it, the store is refused (no key beside it), and no key is made up.
    assert!(matches!(open(&url).await.err().unwrap(), StoreError::KeyFileMissing { .. }));
    // A missing explicit key file is named.
    let absent = dir.path().join("absent.key");
    let error = open_with(&url, &OpenOptions { key_file: Some(absent) }).await.err().unwrap().to_string();
    assert!(error.contains("absent.key") && error.contains("no such file"), "{error}");
}

/// A store written before encryption (plain PKCS#8, no check value, no key file) is sealed on its
/// first open, in place.
#[tokio::test]
async fn a_store_from_before_encryption_is_sealed_on_open() {
    let backend = Backend::sqlite();
    let path = backend.dir().join("store.db");
    let url = format!("sqlite:{}", path.display());
    let record = CertificateRecord { private_key_pkcs8: Some(b"PLAIN PKCS8".to_vec()), ..certificate("AAAA", 1) };
    open(&url).await.unwrap().install_current_certificate(&record).await.unwrap();
    {
        // Turn it into what an older s2sd left behind.
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        conn.execute("DELETE FROM store_key").await.unwrap();
        sqlx::query("UPDATE certificates SET private_key_sealed = ?")
            .bind(b"PLAIN PKCS8".as_slice())
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        std::fs::remove_file(key_file_beside(&path)).unwrap();
    }
    let store = open(&url).await.unwrap();
    assert_eq!(store.certificates().await.unwrap(), vec![record]);
    let raw = backend.raw_private_keys().await;
    assert_ne!(raw[0].1.as_deref(), Some(b"PLAIN PKCS8".as_slice()));
    assert!(key_file_beside(&path).exists());
}

#[tokio::test]
async fn memory_stores_take_a_throw_away_key() {
    let first = sqlite_memory_store().await;
    let second = sqlite_memory_store().await;
    assert_ne!(first.key_id(), second.key_id());
    first.install_current_certificate(&certificate("AAAA", 1)).await.unwrap();
    assert_eq!(first.certificates().await.unwrap(), vec![certificate("AAAA", 1)]);
}

#[tokio::test]
async fn schema_version_is_the_latest_migration() {
    let store = sqlite_memory_store().await;
    assert!(store.schema_version().await.unwrap() >= 3);
    if let Some(schema) = PgSchema::new().await {
        assert!(schema.open().await.schema_version().await.unwrap() >= 3);
    }
}

// ---------------------------------------------------------------------------------------------
// Opening, URLs and the SQLite file

#[tokio::test]
async fn open_creates_the_file_and_its_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("var").join("lib").join("s2sd").join("store.db");
    let url = format!("sqlite:{}", path.display());
    let store = open(&url).await.unwrap();
    assert!(path.is_file());
    assert_eq!(store.url(), url);
    store.insert_partner(&partner("Exchange")).await.unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "store file mode {mode:o}");
        // SQLite gives the WAL file the mode of the database file.
        let wal = path.with_file_name("store.db-wal");
        let mode = std::fs::metadata(&wal).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "WAL file mode {mode:o}");
        let parent = path.parent().unwrap();
        let mode = std::fs::metadata(parent).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "created directory mode {mode:o}");
    }
}

#[tokio::test]
async fn reopening_a_file_keeps_its_contents() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let version = {
        let store = open(&url).await.unwrap();
        store.set_oauth_config(&oauth_config()).await.unwrap();
        store.install_current_certificate(&certificate("AAAA", 1)).await.unwrap();
        store.insert_partner(&partner("Exchange")).await.unwrap();
        store.version().await.unwrap()
    };
    let store = open(&url).await.unwrap();
    assert_eq!(store.version().await.unwrap(), version);
    assert_eq!(store.oauth_config().await.unwrap(), Some(oauth_config()));
    assert_eq!(store.certificates().await.unwrap(), vec![certificate("AAAA", 1)]);
    assert_eq!(store.partners().await.unwrap(), vec![partner("Exchange")]);
}

#[tokio::test]
async fn memory_stores_are_separate() {
    let first = sqlite_memory_store().await;
    let second = sqlite_memory_store().await;
    assert_eq!(first.url(), "sqlite::memory:");
    first.insert_partner(&partner("Exchange")).await.unwrap();
    assert_eq!(second.partners().await.unwrap(), Vec::new());
}

#[test]
fn store_urls_are_parsed() {
    assert_eq!(StoreUrl::parse("sqlite::memory:").unwrap(), StoreUrl::SqliteMemory);
    assert_eq!(StoreUrl::parse("sqlite://:memory:").unwrap(), StoreUrl::SqliteMemory);
    assert_eq!(StoreUrl::parse("sqlite:s2s.db").unwrap(), StoreUrl::SqliteFile("s2s.db".into()));
    assert_eq!(StoreUrl::parse("SQLite:s2s.db").unwrap(), StoreUrl::SqliteFile("s2s.db".into()));
    assert_eq!(
        StoreUrl::parse("sqlite:/var/lib/s2sd/s2s.db").unwrap(),
        StoreUrl::SqliteFile("/var/lib/s2sd/s2s.db".into())
    );
    assert_eq!(StoreUrl::parse("sqlite://data/s2s.db").unwrap(), StoreUrl::SqliteFile("data/s2s.db".into()));
    assert_eq!(StoreUrl::parse("sqlite:///var/lib/s2s.db").unwrap(), StoreUrl::SqliteFile("/var/lib/s2s.db".into()));
    for url in ["postgres://db.litwareinc.com/s2s", "postgresql://s2s@db/s2s?sslmode=require", "Postgres://db/s2s"] {
        assert_eq!(StoreUrl::parse(url).unwrap(), StoreUrl::Postgres(PgUrl(url.to_owned())));
    }
    let debug = format!("{:?}", StoreUrl::parse("postgres://s2s:hunter2@db/s2s").unwrap());
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_passwords() {
    for url in [
        "",
        "sqlite",
        "sqlite:",
        "sqlite://",
        "sqlite:s2s.db?mode=ro",
        "mysql://db/s2s",
        "/var/lib/s2s.db",
        "postgres://",
    ] {
        let error = open(url).await.err().unwrap();
        assert!(matches!(&error, StoreError::UnsupportedUrl(_)), "{url}: {error:?}");
    }
    let error = open("mysql://s2s:hunter2@db.litwareinc.com/s2s").await.err().unwrap();
    let message = error.to_string();
    assert!(matches!(error, StoreError::UnsupportedUrl(_)), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains("mysql://s2s:***@db.litwareinc.com/s2s"), "{message}");
    assert!(message.contains("`sqlite:PATH`") && message.contains("`postgres://…`"), "{message}");
}

/// PostgreSQL without a key file: refused before connecting, naming the setting, never the password.
#[tokio::test]
async fn postgres_without_a_key_is_refused() {
    let url = "postgres://s2s:hunter2@db.invalid/s2s";
    let error = open_with(url, &OpenOptions { key_file: None }).await.err().unwrap();
    assert!(matches!(error, StoreError::KeyRequired { .. }), "{error:?}");
    let message = error.to_string();
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains("S2S_STORE_KEY_FILE") && message.contains("--store-key-file"), "{message}");
    assert!(message.contains("s2sd store generate-key"), "{message}");
}

/// An unreachable server: a clear error without the password.
#[tokio::test]
async fn an_unreachable_postgres_is_reported_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = new_key_file(dir.path(), "store.key");
    let url = "postgres://s2s:hunter2@127.0.0.1:1/s2s?connect_timeout=2";
    let error = open_with(url, &OpenOptions { key_file: Some(key_file) }).await.err().unwrap();
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    let message = error.to_string();
    assert!(!message.contains("hunter2") && message.contains("s2s:***@127.0.0.1"), "{message}");
}

#[tokio::test]
async fn open_reports_a_file_it_cannot_create() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"").unwrap();
    let url = format!("sqlite:{}", blocker.join("store.db").display());
    let error = open(&url).await.err().unwrap();
    assert!(matches!(error, StoreError::CreateFile { .. }), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// Record types

#[test]
fn certificate_debug_redacts_the_private_key() {
    let record = CertificateRecord { private_key_pkcs8: Some(b"SECRET-KEY".to_vec()), ..certificate("AAAA", 1) };
    let debug = format!("{record:?}");
    assert!(debug.contains(r#"private_key: "<redacted>""#), "{debug}");
    assert!(!debug.contains(&format!("{:?}", b"SECRET-KEY".to_vec())), "{debug}");
    assert!(!debug.contains("private_key_pkcs8"), "{debug}");

    let without = CertificateRecord { private_key_pkcs8: None, ..record };
    assert!(format!("{without:?}").contains("private_key: None"));
}

#[test]
fn certificate_serialisation_skips_the_private_key() {
    let record = certificate("AAAA", 1);
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["role"], "current");
    assert!(json.get("private_key_pkcs8").is_none(), "{json}");
    let back: CertificateRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, CertificateRecord { private_key_pkcs8: None, ..record });
}

#[test]
fn certificate_roles_round_trip_as_text() {
    for role in [CertificateRole::Current, CertificateRole::Next, CertificateRole::Previous] {
        assert_eq!(role.to_string().parse::<CertificateRole>().unwrap(), role);
        assert_eq!(serde_json::to_value(role).unwrap(), role.to_string());
    }
    assert_eq!(CertificateRole::Previous.to_string(), "previous");
    assert!(matches!("Current".parse::<CertificateRole>(), Err(StoreError::UnknownCertificateRole(_))));
}
