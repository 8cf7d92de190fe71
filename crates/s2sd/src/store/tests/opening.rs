//! Opening stores: URLs, the SQLite file and its mode, errors that must not echo passwords, and
//! the record types' own behaviour (redaction, serialisation, spellings).

use super::*;

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

#[test]
fn metadata_statuses_keep_their_stored_spelling() {
    assert_eq!(MetadataStatus::Ok.as_str(), "ok");
    assert_eq!(MetadataStatus::Failed("HTTP 404".into()).as_str(), "HTTP 404");
    // The empty text is not a status: an empty error is stored as `failed`.
    assert_eq!(MetadataStatus::Failed(String::new()).as_str(), "failed");
    assert_eq!(MetadataStatus::from_stored("ok"), Some(MetadataStatus::Ok));
    assert_eq!(MetadataStatus::from_stored("HTTP 404"), Some(MetadataStatus::Failed("HTTP 404".into())));
    assert_eq!(MetadataStatus::from_stored(""), None);
    // In JSON (store dumps, the CLI), a plain string as before.
    assert_eq!(serde_json::to_value(MetadataStatus::Ok).unwrap(), "ok");
    assert_eq!(serde_json::to_value(MetadataStatus::Failed("HTTP 404".into())).unwrap(), "HTTP 404");
    let read: MetadataStatus = serde_json::from_value(serde_json::json!("ok")).unwrap();
    assert_eq!(read, MetadataStatus::Ok);
}
