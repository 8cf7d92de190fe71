//! Backend-specific tests of store keys: moving a store between backends, the SQLite key file
//! beside the database, stores from before encryption.

use super::*;

/// export → import, SQLite → PostgreSQL: the same contents, private keys included, sealed under
/// the PostgreSQL store's own key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
async fn a_store_moves_from_sqlite_to_postgres() {
    let Some(target) = Backend::postgres().await else { no_database() };
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

/// The schema version a store reports is the highest migration its backend ships (not merely
/// "recent enough"): a migration added but not applied, or not counted, fails this.
#[tokio::test]
async fn schema_version_is_the_latest_migration() {
    let latest = |migrator: &sqlx::migrate::Migrator| migrator.iter().map(|m| m.version).max().unwrap();
    let store = sqlite_memory_store().await;
    assert_eq!(store.schema_version().await.unwrap(), latest(&crate::store::sqlite::MIGRATOR));
    assert!(latest(&crate::store::sqlite::MIGRATOR) >= 6, "the SQLite migrations this test was written against");
    if let Some(schema) = PgSchema::new().await {
        let version = schema.open().await.schema_version().await.unwrap();
        assert_eq!(version, latest(&crate::store::postgres::MIGRATOR));
    }
}
