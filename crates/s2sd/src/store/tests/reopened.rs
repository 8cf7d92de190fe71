//! The contract where a test reopens the store or reads its raw rows: encryption at rest, keys
//! and their rotation, two handles, change notification, import; on an SQLite file and PostgreSQL.

use super::*;

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

backend_tests!(
    private_keys_are_encrypted_at_rest,
    a_wrong_key_fails_at_open,
    rotate_key_round_trip,
    a_node_with_a_rotated_key_is_refused,
    two_handles_see_each_others_writes,
    a_write_elsewhere_wakes_the_waiter,
    import_loads_a_snapshot_into_an_empty_store,
);
