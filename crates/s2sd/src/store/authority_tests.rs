#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The authority store contract suite: every `async fn` below taking an `Arc<dyn AuthorityStore>`
//! states behaviour every backend must show. `contract_tests!` runs each against a fresh SQLite
//! file and a fresh `sqlite::memory:` store; a PostgreSQL backend adds one module to that macro.
//! Tests that need the configuration version also open the configuration store on the same file.

use std::sync::Arc;

use tempfile::TempDir;

use super::authority::{AuthorityStore, CredentialKind, CredentialRecord, ServicePrincipalRecord, TenantRecord};
use super::{StoreError, open, open_authority};

const REALM: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_REALM: &str = "0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11";
const SHAREPOINT: &str = "00000003-0000-0ff1-ce00-000000000000";
const CLIENT: &str = "c3ab8885-458f-4864-8804-1608145e2ac4";

async fn sqlite_file_store() -> (Arc<dyn AuthorityStore>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    (open_authority(&url).await.unwrap(), dir)
}

async fn sqlite_memory_store() -> Arc<dyn AuthorityStore> {
    open_authority("sqlite::memory:").await.unwrap()
}

fn tenant(realm: &str) -> TenantRecord {
    TenantRecord { realm: realm.into(), name: format!("Tenant {realm}"), created_at: 1_700_000_000 }
}

fn principal(realm: &str, app_id: &str, spns: &[&str]) -> ServicePrincipalRecord {
    ServicePrincipalRecord {
        tenant: realm.into(),
        app_id: app_id.into(),
        display_name: format!("App {app_id}"),
        enabled: true,
        spns: spns.iter().map(|s| (*s).to_owned()).collect(),
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    }
}

fn secret(id: &str, realm: &str, app_id: &str, created_at: i64) -> CredentialRecord {
    CredentialRecord {
        id: id.into(),
        tenant: realm.into(),
        app_id: app_id.into(),
        kind: CredentialKind::Symmetric,
        usage: "verify".into(),
        secret_hash: Some(vec![7; 32]),
        certificate_der: None,
        thumbprint: None,
        start_at: 1_700_000_000,
        end_at: 1_800_000_000,
        created_at,
    }
}

async fn tenants_round_trip_and_refuse_duplicates(store: Arc<dyn AuthorityStore>) {
    assert!(store.tenants().await.unwrap().is_empty());
    store.insert_tenant(&tenant(REALM)).await.unwrap();
    store.insert_tenant(&tenant(OTHER_REALM)).await.unwrap();
    let listed: Vec<String> = store.tenants().await.unwrap().into_iter().map(|t| t.realm).collect();
    assert_eq!(listed, vec![OTHER_REALM.to_owned(), REALM.to_owned()], "ordered by realm");
    assert_eq!(store.tenant(&REALM.to_uppercase()).await.unwrap(), Some(tenant(REALM)), "case-insensitive");
    let mut dup = tenant(REALM);
    dup.realm = REALM.to_uppercase();
    assert!(matches!(store.insert_tenant(&dup).await, Err(StoreError::Duplicate { what: "tenant", .. })));
}

async fn principals_round_trip_with_spns(store: Arc<dyn AuthorityStore>) {
    store.insert_tenant(&tenant(REALM)).await.unwrap();
    let sp = principal(
        REALM,
        SHAREPOINT,
        &[&format!("{SHAREPOINT}/sp.contoso.com"), &format!("{SHAREPOINT}/*.contoso.com")],
    );
    store.insert_service_principal(&sp).await.unwrap();
    store.insert_service_principal(&principal(REALM, CLIENT, &[])).await.unwrap();
    let got = store.service_principal(REALM, &SHAREPOINT.to_uppercase()).await.unwrap().unwrap();
    let mut expected = sp.clone();
    expected.spns.sort();
    assert_eq!(got, expected);
    let apps: Vec<String> = store.service_principals(REALM).await.unwrap().into_iter().map(|p| p.app_id).collect();
    assert_eq!(apps, vec![SHAREPOINT.to_owned(), CLIENT.to_owned()], "ordered by app id");
    assert!(store.service_principals(OTHER_REALM).await.unwrap().is_empty());
    assert!(matches!(
        store.insert_service_principal(&principal(REALM, SHAREPOINT, &[])).await,
        Err(StoreError::Duplicate { what: "service principal", .. })
    ));
    assert!(matches!(
        store.insert_service_principal(&principal(OTHER_REALM, SHAREPOINT, &[])).await,
        Err(StoreError::NotFound { what: "tenant", .. })
    ));

    let mut changed = got.clone();
    changed.enabled = false;
    changed.display_name = "SharePoint Online".into();
    changed.spns = vec![format!("{SHAREPOINT}/other.contoso.com")];
    changed.updated_at = 1_700_000_100;
    assert!(store.update_service_principal(&changed).await.unwrap());
    assert_eq!(store.service_principal(REALM, SHAREPOINT).await.unwrap().unwrap(), changed);
    let mut absent = changed.clone();
    absent.app_id = "00000000-0000-0000-0000-000000000000".into();
    assert!(!store.update_service_principal(&absent).await.unwrap());
}

async fn credentials_round_trip_and_go_with_their_principal(store: Arc<dyn AuthorityStore>) {
    store.insert_tenant(&tenant(REALM)).await.unwrap();
    store.insert_service_principal(&principal(REALM, CLIENT, &[])).await.unwrap();
    let first = secret("00000000-0000-4000-8000-000000000001", REALM, CLIENT, 1_700_000_002);
    let second = CredentialRecord {
        id: "00000000-0000-4000-8000-000000000002".into(),
        kind: CredentialKind::Asymmetric,
        secret_hash: None,
        certificate_der: Some(vec![0x30, 0x82, 1, 2]),
        thumbprint: Some("AB".repeat(20)),
        created_at: 1_700_000_001,
        ..first.clone()
    };
    store.insert_credential(&first).await.unwrap();
    store.insert_credential(&second).await.unwrap();
    assert_eq!(store.credentials(REALM, CLIENT).await.unwrap(), vec![second.clone(), first.clone()], "oldest first");
    assert!(matches!(store.insert_credential(&first).await, Err(StoreError::Duplicate { what: "credential", .. })));
    let mut orphan = first.clone();
    orphan.id = "00000000-0000-4000-8000-000000000003".into();
    orphan.app_id = SHAREPOINT.into();
    assert!(matches!(store.insert_credential(&orphan).await, Err(StoreError::NotFound { .. })));
    // Exactly one of secret hash and certificate.
    let mut both = first.clone();
    both.id = "00000000-0000-4000-8000-000000000004".into();
    both.certificate_der = Some(vec![1]);
    assert!(store.insert_credential(&both).await.is_err());

    assert!(!store.remove_credential(REALM, CLIENT, "00000000-0000-4000-8000-00000000ffff").await.unwrap());
    assert!(store.remove_credential(REALM, CLIENT, &second.id).await.unwrap());
    assert_eq!(store.credentials(REALM, CLIENT).await.unwrap(), vec![first]);
    assert!(store.remove_service_principal(REALM, CLIENT).await.unwrap());
    assert!(!store.remove_service_principal(REALM, CLIENT).await.unwrap());
    assert!(store.credentials(REALM, CLIENT).await.unwrap().is_empty(), "credentials go with the principal");
    assert!(store.authority_snapshot().await.unwrap().credentials.is_empty());
}

async fn the_pepper_is_created_once(store: Arc<dyn AuthorityStore>) {
    assert_eq!(store.authority_snapshot().await.unwrap().pepper, None);
    let first = store.pepper_or_insert(&[1; 32]).await.unwrap();
    assert_eq!(first, vec![1; 32]);
    assert_eq!(store.pepper_or_insert(&[2; 32]).await.unwrap(), vec![1; 32], "the first pepper stays");
    assert_eq!(store.authority_snapshot().await.unwrap().pepper, Some(vec![1; 32]));
}

async fn the_snapshot_holds_everything(store: Arc<dyn AuthorityStore>) {
    store.insert_tenant(&tenant(REALM)).await.unwrap();
    store.insert_tenant(&tenant(OTHER_REALM)).await.unwrap();
    store
        .insert_service_principal(&principal(REALM, SHAREPOINT, &[&format!("{SHAREPOINT}/a.contoso.com")]))
        .await
        .unwrap();
    store
        .insert_service_principal(&principal(OTHER_REALM, SHAREPOINT, &[&format!("{SHAREPOINT}/b.fabrikam.com")]))
        .await
        .unwrap();
    store.insert_credential(&secret("00000000-0000-4000-8000-000000000001", OTHER_REALM, SHAREPOINT, 1)).await.unwrap();
    let snap = store.authority_snapshot().await.unwrap();
    assert_eq!(snap.tenants.len(), 2);
    assert_eq!(snap.service_principals.len(), 2);
    let other = snap.service_principals.iter().find(|p| p.tenant == OTHER_REALM).unwrap();
    assert_eq!(other.spns, vec![format!("{SHAREPOINT}/b.fabrikam.com")], "SPNs stay with their tenant's principal");
    assert_eq!(snap.credentials.len(), 1);
    assert_eq!(snap.credentials[0].secret_hash, Some(vec![7; 32]));
}

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_file {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _dir) = super::sqlite_file_store().await;
                    super::$name(store).await;
                }
            )*
        }
        mod sqlite_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::sqlite_memory_store().await).await;
                }
            )*
        }
    };
}

contract_tests!(
    tenants_round_trip_and_refuse_duplicates,
    principals_round_trip_with_spns,
    credentials_round_trip_and_go_with_their_principal,
    the_pepper_is_created_once,
    the_snapshot_holds_everything,
);

/// Every authority write bumps the configuration version that running nodes poll, and a write
/// that changes nothing does not.
#[tokio::test]
async fn writes_bump_the_configuration_version() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    let config = open(&url).await.unwrap();
    let store = open_authority(&url).await.unwrap();
    let mut last = config.version().await.unwrap();
    let mut bumped = |what: &str, now: i64| {
        assert!(now > last, "{what} did not bump the version ({last} -> {now})");
        last = now;
    };
    store.insert_tenant(&tenant(REALM)).await.unwrap();
    bumped("insert_tenant", config.version().await.unwrap());
    store.insert_service_principal(&principal(REALM, CLIENT, &[])).await.unwrap();
    bumped("insert_service_principal", config.version().await.unwrap());
    store.update_service_principal(&principal(REALM, CLIENT, &["x/y"])).await.unwrap();
    bumped("update_service_principal", config.version().await.unwrap());
    store.pepper_or_insert(&[3; 32]).await.unwrap();
    bumped("pepper_or_insert (first)", config.version().await.unwrap());
    store.insert_credential(&secret("00000000-0000-4000-8000-000000000001", REALM, CLIENT, 1)).await.unwrap();
    bumped("insert_credential", config.version().await.unwrap());
    store.remove_credential(REALM, CLIENT, "00000000-0000-4000-8000-000000000001").await.unwrap();
    bumped("remove_credential", config.version().await.unwrap());
    store.remove_service_principal(REALM, CLIENT).await.unwrap();
    bumped("remove_service_principal", config.version().await.unwrap());
    assert_eq!(store.authority_snapshot().await.unwrap().version, last);

    // No-ops leave it alone.
    store.pepper_or_insert(&[4; 32]).await.unwrap();
    assert!(!store.remove_service_principal(REALM, CLIENT).await.unwrap());
    assert!(store.insert_tenant(&tenant(REALM)).await.is_err());
    assert_eq!(config.version().await.unwrap(), last);
}

/// A failed write stores nothing of itself (one transaction).
#[tokio::test]
async fn a_failed_write_leaves_nothing_behind() {
    let (store, _dir) = sqlite_file_store().await;
    store.insert_tenant(&tenant(REALM)).await.unwrap();
    store.insert_service_principal(&principal(REALM, CLIENT, &["a/b"])).await.unwrap();
    let before = store.authority_snapshot().await.unwrap();
    let mut dup = principal(REALM, CLIENT, &["c/d"]);
    dup.display_name = "other".into();
    assert!(store.insert_service_principal(&dup).await.is_err());
    assert_eq!(store.authority_snapshot().await.unwrap(), before);
}
