//! The contract of the partners (applications and authorization servers), metadata fetch
//! records, the configuration version and concurrent writers, on every backend.

use super::*;

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

contract_tests!(
    partners_are_inserted_and_listed_by_name,
    partner_fields_round_trip,
    partner_names_collide_case_insensitively,
    update_partner_replaces_it_wholly,
    remove_partner_removes_its_certificates,
    record_metadata_fetch_updates_status_and_certificates,
    every_write_bumps_the_version,
    concurrent_writers_all_succeed,
);
