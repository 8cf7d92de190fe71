#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The store contract suite: every `async fn` below taking an `Arc<dyn Store>` states behaviour
//! that every backend must show. `contract_tests!` runs each one against a fresh SQLite file and a
//! fresh `sqlite::memory:` store; a PostgreSQL backend adds one more module to that macro.
//! Backend-specific tests (URLs, the file and its mode) follow the suite.

use std::collections::HashSet;
use std::sync::Arc;

use tempfile::TempDir;

use super::{
    AutoRenew, CertificateRecord, CertificateRole, OAuthConfig, PartnerRecord, Store, StoreError, StoreUrl, open,
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
        trust_level: String::from("Full"),
        enabled: true,
        allow_http_metadata: false,
        tls_ca_pem: None,
        certificates: vec![format!("{name} cert 1").into_bytes(), format!("{name} cert 2").into_bytes()],
        metadata_fetched_at: None,
        metadata_status: None,
        metadata_refresh_interval: None,
        linked_account: None,
        accept_security_identifier_information: false,
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
        trust_level: String::from("Application"),
        enabled: false,
        allow_http_metadata: true,
        tls_ca_pem: Some(String::from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")),
        metadata_fetched_at: Some(1_700_000_100),
        metadata_status: Some(String::from("ok")),
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
        trust_level: String::from("Application"),
        enabled: false,
        allow_http_metadata: true,
        tls_ca_pem: Some(String::from("pem")),
        certificates: vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()],
        metadata_fetched_at: Some(5),
        metadata_status: Some(String::from("HTTP 404")),
        metadata_refresh_interval: Some(900),
        linked_account: Some(String::from("exchange-applicationaccount@litwareinc.com")),
        accept_security_identifier_information: true,
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

    // A failed fetch: time and status only.
    let v = store.version().await.unwrap();
    assert!(store.record_metadata_fetch("exchange", 1_800_000_000, "HTTP 503", None).await.unwrap());
    assert!(store.version().await.unwrap() > v);
    let failed = PartnerRecord {
        metadata_fetched_at: Some(1_800_000_000),
        metadata_status: Some(String::from("HTTP 503")),
        ..original.clone()
    };
    assert_eq!(store.partner("Exchange").await.unwrap(), Some(failed.clone()));

    // A good fetch: new certificates, in order; updated_at is left alone.
    let fetched = vec![b"new 1".to_vec(), b"new 2".to_vec(), b"new 3".to_vec()];
    let v = store.version().await.unwrap();
    assert!(store.record_metadata_fetch("Exchange", 1_800_000_060, "ok", Some(&fetched)).await.unwrap());
    assert!(store.version().await.unwrap() > v);
    let ok = PartnerRecord {
        certificates: fetched,
        metadata_fetched_at: Some(1_800_000_060),
        metadata_status: Some(String::from("ok")),
        ..failed
    };
    assert_eq!(store.partner("Exchange").await.unwrap(), Some(ok.clone()));

    // An empty list is a list: it empties the ring.
    assert!(store.record_metadata_fetch("Exchange", 1_800_000_120, "ok", Some(&[])).await.unwrap());
    let emptied = PartnerRecord { certificates: Vec::new(), metadata_fetched_at: Some(1_800_000_120), ..ok };
    assert_eq!(store.partner("Exchange").await.unwrap(), Some(emptied));

    // The other partner is untouched; an absent one is reported and nothing changes.
    assert_eq!(store.partner("SharePoint").await.unwrap(), Some(partner("SharePoint")));
    let v = store.version().await.unwrap();
    assert!(!store.record_metadata_fetch("Lync", 1_800_000_180, "ok", Some(&[b"x".to_vec()])).await.unwrap());
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
    assert!(store.record_metadata_fetch("Exchange", 3, "ok", None).await.unwrap());
    bumped(store.version().await.unwrap(), "record_metadata_fetch");
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
                store.record_metadata_fetch(&format!("PARTNER-{i:02}"), i, "ok", Some(&[vec![1, 2, 3]])).await
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
    assert_eq!(store.version().await.unwrap(), v + 2 * WRITERS);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    let first = open(&url).await.unwrap();
    let second = open(&url).await.unwrap();
    first.insert_partner(&partner("Exchange")).await.unwrap();
    assert_eq!(second.version().await.unwrap(), first.version().await.unwrap());
    assert_eq!(second.partner("exchange").await.unwrap(), Some(partner("Exchange")));
    let error = second.insert_partner(&partner("EXCHANGE")).await.unwrap_err();
    assert!(matches!(error, StoreError::Duplicate { .. }), "{error:?}");

    // Two pools on one file (a CLI next to a running server) writing at once: they queue on the
    // write lock instead of failing.
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
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_passwords() {
    for url in ["", "sqlite", "sqlite:", "sqlite://", "sqlite:s2s.db?mode=ro", "mysql://db/s2s", "/var/lib/s2s.db"] {
        let error = open(url).await.err().unwrap();
        assert!(matches!(&error, StoreError::UnsupportedUrl(_)), "{url}: {error:?}");
    }
    let error = open("postgres://s2s:hunter2@db.litwareinc.com/s2s").await.err().unwrap();
    let message = error.to_string();
    assert!(matches!(error, StoreError::UnsupportedUrl(_)), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains("postgres://s2s:***@db.litwareinc.com/s2s"), "{message}");
    assert!(message.contains("`sqlite:PATH`") && message.contains("`sqlite::memory:`"), "{message}");
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
