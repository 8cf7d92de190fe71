//! The contract of our OAuth configuration and our issuer certificates: setting, rotating,
//! staging, promoting and removing, on every backend.

use super::*;

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
);
