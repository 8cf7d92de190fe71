//! The admin layer's commands on SQLite files and PostgreSQL (when `S2S_TEST_DATABASE_URL` is
//! set): concurrent edits of one record all land, a disable racing another edit always sticks, a
//! failed command writes nothing, and every change describes itself.

use std::sync::Arc;

use s2s::partner::TrustLevel;
use tempfile::TempDir;

use super::*;
use crate::store::authority::TenantRecord;
use crate::store::tests::PgSchema;
use crate::store::{OpenOptions, PartnerKind, open_stores_with};

const APP: &str = "00000002-0000-0ff1-ce00-000000000000";
const NOW: i64 = 1_800_000_000;

/// A store location the tests open: an SQLite file, or a schema of the test database.
enum Place {
    Sqlite(TempDir),
    Postgres(PgSchema),
}

impl Place {
    async fn admin(&self) -> Admin {
        let stores = match self {
            Self::Sqlite(dir) => {
                let url = format!("sqlite:{}", dir.path().join("s2s.db").display());
                open_stores_with(&url, &OpenOptions::default()).await.unwrap()
            }
            Self::Postgres(schema) => open_stores_with(schema.url(), &schema.options()).await.unwrap(),
        };
        Admin::new(&stores)
    }
}

async fn places() -> Vec<Place> {
    let mut places = vec![Place::Sqlite(tempfile::tempdir().unwrap())];
    match PgSchema::new().await {
        Some(schema) => places.push(Place::Postgres(schema)),
        None => eprintln!("SKIPPED: the PostgreSQL half of this test (S2S_TEST_DATABASE_URL is not set)"),
    }
    places
}

fn new_partner(name: &str) -> NewPartner {
    NewPartner {
        kind: PartnerKind::Application,
        name: name.into(),
        source: PartnerSource::Certificate {
            application_id: APP.into(),
            realm: "contoso.com".into(),
            certificates: vec![vec![1, 2, 3]],
        },
        realm: None,
        trust_level: TrustLevel::Application,
        enabled: true,
        allow_http_metadata: false,
        tls_ca_pem: None,
        metadata_refresh_interval: None,
        linked_account: None,
        accept_security_identifier_information: false,
        use_auth_server: false,
    }
}

async fn principal(admin: &Admin) {
    admin
        .authority()
        .insert_tenant(&TenantRecord { realm: "contoso.com".into(), name: "Contoso".into(), created_at: NOW })
        .await
        .unwrap();
    admin
        .new_service_principal(
            NewServicePrincipal {
                tenant: "contoso.com".into(),
                app_id: "exchange".into(),
                display_name: "Exchange".into(),
                spns: vec![],
                enabled: true,
            },
            NOW,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_spn_adds_all_land() {
    for place in places().await {
        let admin = place.admin().await;
        principal(&admin).await;
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let admin = admin.clone();
                tokio::spawn(async move {
                    admin
                        .edit_spns(
                            SpnEdit {
                                tenant: "contoso.com".into(),
                                app_id: APP.into(),
                                spns: vec![format!("{APP}/host{i:02}.contoso.com")],
                                add: true,
                            },
                            NOW,
                        )
                        .await
                })
            })
            .collect();
        for task in tasks {
            let (change, _) = task.await.unwrap().unwrap();
            assert!(change.version.is_some(), "an added SPN must be a written change: {change:?}");
        }
        let p = admin.authority().service_principal("contoso.com", APP).await.unwrap().unwrap();
        assert_eq!(p.spns.len(), 20, "SPNs lost to a race: {:?}", p.spns);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disable_racing_another_edit_always_sticks() {
    for place in places().await {
        let admin = place.admin().await;
        admin.new_partner(new_partner("Exchange"), NOW).await.unwrap();
        principal(&admin).await;
        for round in 0..15 {
            let reset = SetPartner {
                name: "Exchange".into(),
                enabled: Some(true),
                trust_level: Some(TrustLevel::Application),
                ..SetPartner::default()
            };
            admin.set_partner(reset, NOW).await.unwrap();
            let (a, b) = (admin.clone(), admin.clone());
            let disable = tokio::spawn(async move {
                a.set_partner(
                    SetPartner { name: "Exchange".into(), enabled: Some(false), ..SetPartner::default() },
                    NOW,
                )
                .await
            });
            let trust = tokio::spawn(async move {
                b.set_partner(
                    SetPartner {
                        name: "Exchange".into(),
                        trust_level: Some(TrustLevel::Full),
                        ..SetPartner::default()
                    },
                    NOW,
                )
                .await
            });
            disable.await.unwrap().unwrap();
            trust.await.unwrap().unwrap();
            let p = admin.store().partner("Exchange").await.unwrap().unwrap();
            assert!(!p.enabled, "round {round}: the disable was undone");
            assert_eq!(p.trust_level, TrustLevel::Full, "round {round}: the trust level edit was undone");

            // The same for a service principal: disable racing an SPN add.
            let enable = SetServicePrincipal {
                tenant: "contoso.com".into(),
                app_id: APP.into(),
                enabled: Some(true),
                display_name: None,
            };
            admin.set_service_principal(enable, NOW).await.unwrap();
            let (a, b) = (admin.clone(), admin.clone());
            let disable = tokio::spawn(async move {
                let cmd = SetServicePrincipal {
                    tenant: "contoso.com".into(),
                    app_id: APP.into(),
                    enabled: Some(false),
                    display_name: None,
                };
                a.set_service_principal(cmd, NOW).await
            });
            let spn = tokio::spawn(async move {
                let cmd = SpnEdit {
                    tenant: "contoso.com".into(),
                    app_id: APP.into(),
                    spns: vec![format!("{APP}/round{round}.contoso.com")],
                    add: true,
                };
                b.edit_spns(cmd, NOW).await
            });
            disable.await.unwrap().unwrap();
            spn.await.unwrap().unwrap();
            let p = admin.authority().service_principal("contoso.com", APP).await.unwrap().unwrap();
            assert!(!p.enabled, "round {round}: the principal's disable was undone");
            assert!(p.spns.contains(&format!("{APP}/round{round}.contoso.com")), "round {round}: the SPN was lost");
        }
    }
}

#[tokio::test]
async fn a_change_names_its_fields_and_an_idle_one_writes_nothing() {
    let place = Place::Sqlite(tempfile::tempdir().unwrap());
    let admin = place.admin().await;
    let (created, _) = admin.new_partner(new_partner("Exchange"), NOW).await.unwrap();
    assert_eq!(created.action, Action::Created);
    assert_eq!(created.to_string(), "Partner application Exchange registered.");

    let (change, record) = admin
        .set_partner(SetPartner { name: "exchange".into(), enabled: Some(false), ..SetPartner::default() }, NOW + 5)
        .await
        .unwrap();
    assert_eq!(
        change.fields,
        vec![FieldChange { field: "enabled", before: Some("true".into()), after: Some("false".into()) }]
    );
    assert_eq!(change.to_string(), "Partner application Exchange changed: enabled = false.");
    assert_eq!(record.updated_at, NOW + 5);
    let version = admin.store().version().await.unwrap();
    assert_eq!(change.version, Some(version));

    // The same value again: nothing changes, not even the version or updated_at.
    let (idle, record) = admin
        .set_partner(SetPartner { name: "Exchange".into(), enabled: Some(false), ..SetPartner::default() }, NOW + 9)
        .await
        .unwrap();
    assert!(idle.is_empty());
    assert_eq!(idle.version, None);
    assert_eq!(record.updated_at, NOW + 5);
    assert_eq!(admin.store().version().await.unwrap(), version);

    let nothing = admin.set_partner(SetPartner { name: "Exchange".into(), ..SetPartner::default() }, NOW).await;
    assert!(matches!(nothing, Err(AdminError::NothingToChange { .. })), "{nothing:?}");
}

#[tokio::test]
async fn a_failed_command_writes_nothing() {
    let place = Place::Sqlite(tempfile::tempdir().unwrap());
    let admin = place.admin().await;
    principal(&admin).await;
    admin
        .edit_spns(
            SpnEdit {
                tenant: "contoso.com".into(),
                app_id: APP.into(),
                spns: vec![format!("{APP}/a.contoso.com")],
                add: true,
            },
            NOW,
        )
        .await
        .unwrap();
    let version = admin.store().version().await.unwrap();
    // Removing one present and one absent SPN fails as a whole: the present one stays.
    let failed = admin
        .edit_spns(
            SpnEdit {
                tenant: "contoso.com".into(),
                app_id: APP.into(),
                spns: vec![format!("{APP}/a.contoso.com"), format!("{APP}/b.contoso.com")],
                add: false,
            },
            NOW,
        )
        .await;
    match failed {
        Err(AdminError::NoSuchSpn { spn, .. }) => assert_eq!(spn, format!("{APP}/b.contoso.com")),
        other => panic!("expected NoSuchSpn, got {other:?}"),
    }
    let p = admin.authority().service_principal("contoso.com", APP).await.unwrap().unwrap();
    assert_eq!(p.spns, vec![format!("{APP}/a.contoso.com")]);
    assert_eq!(admin.store().version().await.unwrap(), version);

    // A partner of the other kind is named, not edited.
    admin.new_partner(new_partner("Exchange"), NOW).await.unwrap();
    let wrong = admin
        .set_partner(
            SetPartner {
                kind: PartnerKind::AuthServer,
                name: "Exchange".into(),
                enabled: Some(false),
                ..SetPartner::default()
            },
            NOW,
        )
        .await;
    let message = wrong.unwrap_err().to_string();
    assert!(
        message.contains("not an auth server") && message.contains("s2sd partner-application show Exchange"),
        "{message}"
    );
    assert!(admin.store().partner("Exchange").await.unwrap().unwrap().enabled);
}

#[tokio::test]
async fn a_taken_name_is_refused_with_the_command_to_change_it() {
    let place = Place::Sqlite(tempfile::tempdir().unwrap());
    let admin = place.admin().await;
    admin.new_partner(new_partner("Exchange"), NOW).await.unwrap();
    let again = admin.new_partner(new_partner("EXCHANGE"), NOW).await.unwrap_err().to_string();
    assert_eq!(
        again,
        "partner application EXCHANGE exists already (change it with s2sd partner-application set EXCHANGE …)"
    );
    let _ = Arc::clone(admin.store());
}

#[tokio::test]
async fn a_second_partner_for_the_same_issuer_is_refused_naming_the_first() {
    let place = Place::Sqlite(tempfile::tempdir().unwrap());
    let admin = place.admin().await;
    admin.new_partner(new_partner("Exchange"), NOW).await.unwrap();
    let version = admin.store().version().await.unwrap();
    let twin = admin.new_partner(new_partner("Exchange2"), NOW).await.unwrap_err();
    assert!(matches!(&twin, AdminError::IssuerTaken { holder, .. } if holder == "Exchange"), "{twin:?}");
    assert!(twin.to_string().contains("s2sd partner-application show Exchange"), "{twin}");
    assert_eq!(admin.store().version().await.unwrap(), version, "nothing was written");
    assert!(admin.store().partner("Exchange2").await.unwrap().is_none());

    // Another realm is another issuer; an auth server is another kind of record.
    let mut elsewhere = new_partner("Fabrikam");
    elsewhere.source = PartnerSource::Certificate {
        application_id: APP.into(),
        realm: "fabrikam.com".into(),
        certificates: vec![vec![1, 2, 3]],
    };
    admin.new_partner(elsewhere, NOW).await.unwrap();
    let mut server = new_partner("Broker");
    server.kind = PartnerKind::AuthServer;
    admin.new_partner(server, NOW).await.unwrap();
}
