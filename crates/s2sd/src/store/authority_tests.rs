#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The authority store contract suite: every `async fn` below taking an `Arc<dyn AuthorityStore>`
//! states behaviour every backend must show. `contract_tests!` runs each against a fresh SQLite
//! file, a fresh `sqlite::memory:` store and, when `S2S_TEST_DATABASE_URL` names a PostgreSQL
//! database, a fresh schema in it; `pair_tests!` does the same with two fresh stores (imports from
//! one into the other). Tests that need the configuration version or a second handle open them on
//! the same database (`place_tests!`: an SQLite file, and PostgreSQL when the URL is set).

use std::sync::Arc;

use tempfile::TempDir;

use super::authority::{
    AuthoritySnapshot, AuthorityStore, CredentialKind, CredentialRecord, ServicePrincipalRecord, TenantRecord,
};
use super::tests::{PgSchema, no_database};
use super::{OpenOptions, Store, StoreError, open_authority, open_authority_with, open_with};

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

/// One database that both the configuration store and the authority store (any number of
/// handles of each) are opened at; removed when dropped.
struct Place {
    url: String,
    options: OpenOptions,
    _dir: Option<TempDir>,
    _schema: Option<PgSchema>,
}

impl Place {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("store.db").display());
        Self { url, options: OpenOptions::default(), _dir: Some(dir), _schema: None }
    }

    /// A fresh schema of `S2S_TEST_DATABASE_URL`; `None` when it is not set.
    async fn postgres() -> Option<Self> {
        let schema = PgSchema::new().await?;
        Some(Self { url: schema.url().to_owned(), options: schema.options(), _dir: None, _schema: Some(schema) })
    }

    async fn config(&self) -> Arc<dyn Store> {
        open_with(&self.url, &self.options).await.unwrap()
    }

    async fn authority(&self) -> Arc<dyn AuthorityStore> {
        open_authority_with(&self.url, &self.options).await.unwrap()
    }
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

/// A write that fails after earlier statements of it have run leaves none of them behind: a
/// transaction that inserts a principal with SPNs and a credential, then a clashing credential;
/// and an import whose last credential clashes with an earlier one (tenants, principals, SPNs and
/// the pepper were written before it). The version does not move either.
async fn a_failed_write_leaves_nothing_behind(store: Arc<dyn AuthorityStore>) {
    store.insert_tenant(&tenant(REALM)).await.unwrap();
    store.insert_service_principal(&principal(REALM, CLIENT, &["a/b"])).await.unwrap();
    let before = store.authority_snapshot().await.unwrap();

    let mut tx = store.write_authority().await.unwrap();
    tx.insert_service_principal(&principal(REALM, SHAREPOINT, &["sharepoint/x", "sharepoint/y"])).await.unwrap();
    let credential = secret("00000000-0000-4000-8000-000000000001", REALM, SHAREPOINT, 1_700_000_001);
    tx.insert_credential(&credential).await.unwrap();
    assert!(tx.service_principal(REALM, SHAREPOINT).await.unwrap().is_some(), "visible inside the transaction");
    let clash = tx.insert_credential(&credential).await;
    assert!(matches!(clash, Err(StoreError::Duplicate { what: "credential", .. })), "{clash:?}");
    drop(tx);
    assert_eq!(store.authority_snapshot().await.unwrap(), before, "a dropped transaction left rows behind");

    let clashing = {
        let mut snapshot = before.clone();
        snapshot.tenants.push(tenant(OTHER_REALM));
        snapshot.service_principals.push(principal(OTHER_REALM, CLIENT, &["c/d"]));
        snapshot.pepper = Some(vec![9; 32]);
        let first = secret("00000000-0000-4000-8000-000000000002", OTHER_REALM, CLIENT, 1_700_000_002);
        snapshot.credentials = vec![first.clone(), first];
        snapshot
    };
    let failed = store.import_authority(&clashing, true).await;
    assert!(matches!(failed, Err(StoreError::Duplicate { .. })), "{failed:?}");
    assert_eq!(store.authority_snapshot().await.unwrap(), before, "a failed import left part of itself behind");
}

/// Realms, app ids, SPNs and credential ids compare (and sort) case-insensitively, in ASCII only:
/// SQLite's NOCASE.
async fn names_compare_case_insensitively_in_ascii_only(store: Arc<dyn AuthorityStore>) {
    store.insert_tenant(&tenant("Bbbb")).await.unwrap();
    store.insert_tenant(&tenant("aaaa")).await.unwrap();
    store.insert_tenant(&tenant("_ccc")).await.unwrap();
    store.insert_tenant(&tenant("\u{e9}")).await.unwrap();
    store.insert_tenant(&tenant("\u{c9}")).await.unwrap();
    let realms: Vec<String> = store.tenants().await.unwrap().into_iter().map(|t| t.realm).collect();
    assert_eq!(realms, ["_ccc", "aaaa", "Bbbb", "\u{c9}", "\u{e9}"], "ASCII case folded before comparing, bytes after");
    assert_eq!(store.tenant("bBBB").await.unwrap().unwrap().realm, "Bbbb");
    assert!(store.tenant("\u{c9}").await.unwrap().is_some() && store.tenant("\u{e9}").await.unwrap().is_some());

    store
        .insert_service_principal(&principal("bbbb", "Zeta", &["zeta/B.example", "ZETA/b.example", "zeta/a"]))
        .await
        .unwrap();
    store.insert_service_principal(&principal("BBBB", "alpha", &[])).await.unwrap();
    assert!(matches!(
        store.insert_service_principal(&principal("bbbB", "ZETA", &[])).await,
        Err(StoreError::Duplicate { what: "service principal", .. })
    ));
    let listed = store.service_principals("BbBb").await.unwrap();
    assert_eq!(listed.iter().map(|p| p.app_id.as_str()).collect::<Vec<_>>(), ["alpha", "Zeta"]);
    assert_eq!(listed[0].tenant, "BBBB", "the principal keeps the spelling it was stored with");
    assert_eq!(listed[1].spns, ["zeta/a", "zeta/B.example"], "an SPN differing only in case is stored once");

    let credential = secret("ABCD", "bbbb", "zeta", 1);
    store.insert_credential(&credential).await.unwrap();
    let mut clash = secret("abcd", "bbbb", "alpha", 2);
    assert!(matches!(store.insert_credential(&clash).await, Err(StoreError::Duplicate { what: "credential", .. })));
    clash.id = "abce".into();
    store.insert_credential(&clash).await.unwrap();
    assert_eq!(store.credentials("BBBB", "ZETA").await.unwrap(), vec![credential]);
    assert!(store.remove_credential("Bbbb", "Zeta", "abcd").await.unwrap());
    assert!(store.remove_service_principal("bbbb", "ALPHA").await.unwrap());
    assert!(store.authority_snapshot().await.unwrap().credentials.is_empty());
}

/// Everything a snapshot can hold: two tenants, principals with SPNs, a secret, a certificate, the pepper.
async fn populate(store: &dyn AuthorityStore) {
    store.insert_tenant(&tenant(REALM)).await.unwrap();
    store.insert_tenant(&tenant(OTHER_REALM)).await.unwrap();
    store
        .insert_service_principal(&principal(
            REALM,
            SHAREPOINT,
            &[&format!("{SHAREPOINT}/sp.contoso.com"), &format!("{SHAREPOINT}/*.contoso.com")],
        ))
        .await
        .unwrap();
    let mut client = principal(REALM, CLIENT, &[]);
    client.enabled = false;
    store.insert_service_principal(&client).await.unwrap();
    store
        .insert_service_principal(&principal(OTHER_REALM, CLIENT, &[&format!("{CLIENT}/x.fabrikam.com")]))
        .await
        .unwrap();
    store.pepper_or_insert(&[9; 32]).await.unwrap();
    store.insert_credential(&secret("00000000-0000-4000-8000-000000000001", REALM, CLIENT, 5)).await.unwrap();
    store
        .insert_credential(&CredentialRecord {
            kind: CredentialKind::Asymmetric,
            secret_hash: None,
            certificate_der: Some(vec![0x30, 0x82, 1, 2]),
            thumbprint: Some("AB".repeat(20)),
            ..secret("00000000-0000-4000-8000-000000000002", REALM, CLIENT, 4)
        })
        .await
        .unwrap();
    store.insert_credential(&secret("00000000-0000-4000-8000-000000000003", OTHER_REALM, CLIENT, 1)).await.unwrap();
}

/// `snapshot` with its version cleared, for comparing contents.
fn contents_of(mut snapshot: AuthoritySnapshot) -> AuthoritySnapshot {
    snapshot.version = 0;
    snapshot
}

async fn import_round_trips_a_snapshot(source: Arc<dyn AuthorityStore>, target: Arc<dyn AuthorityStore>) {
    populate(source.as_ref()).await;
    let exported = source.authority_snapshot().await.unwrap();
    assert_eq!(exported.credentials.len(), 3);
    target.import_authority(&exported, false).await.unwrap();
    let imported = target.authority_snapshot().await.unwrap();
    assert_eq!(contents_of(imported.clone()), contents_of(exported.clone()));
    assert!(imported.version > 0, "the import bumped the version");

    // The imported store works like the source: lookups, further writes, the pepper stays.
    let client = target.service_principal(&REALM.to_uppercase(), CLIENT).await.unwrap().unwrap();
    assert!(!client.enabled);
    assert_eq!(target.credentials(REALM, CLIENT).await.unwrap(), source.credentials(REALM, CLIENT).await.unwrap());
    assert_eq!(target.pepper_or_insert(&[1; 32]).await.unwrap(), vec![9; 32]);

    // Into a store that holds a tenant: refused, nothing changed; --replace swaps it wholly.
    let before = target.authority_snapshot().await.unwrap();
    let refused = target.import_authority(&exported, false).await.unwrap_err();
    let StoreError::NotEmpty { url, what } = &refused else { panic!("{refused:?}") };
    assert_eq!(url, &target.authority_url());
    assert_eq!(what, "2 tenants with 3 service principals");
    assert!(refused.to_string().contains("--replace"), "{refused}");
    assert_eq!(target.authority_snapshot().await.unwrap(), before);

    let small = AuthoritySnapshot {
        version: 12_345,
        tenants: vec![tenant(OTHER_REALM)],
        service_principals: vec![principal(OTHER_REALM, SHAREPOINT, &[&format!("{SHAREPOINT}/new.fabrikam.com")])],
        credentials: vec![secret("00000000-0000-4000-8000-000000000009", OTHER_REALM, SHAREPOINT, 7)],
        pepper: Some(vec![5; 32]),
    };
    target.import_authority(&small, true).await.unwrap();
    let replaced = target.authority_snapshot().await.unwrap();
    assert_eq!(contents_of(replaced.clone()), contents_of(small.clone()), "nothing of the old contents is left");
    assert!(replaced.version > before.version);
    assert!(target.credentials(REALM, CLIENT).await.unwrap().is_empty());

    // Without a pepper in the snapshot, --replace keeps the store's.
    let no_secrets = AuthoritySnapshot { credentials: Vec::new(), pepper: None, ..exported.clone() };
    target.import_authority(&no_secrets, true).await.unwrap();
    let kept = target.authority_snapshot().await.unwrap();
    assert_eq!(kept.pepper, Some(vec![5; 32]));
    assert_eq!(kept.tenants, exported.tenants);
    assert!(kept.credentials.is_empty());
}

/// Snapshots an import cannot load faithfully are refused before anything is written.
async fn import_refuses_incomplete_snapshots(store: Arc<dyn AuthorityStore>) {
    let pepper = store.pepper_or_insert(&[3; 32]).await.unwrap();
    let before = store.authority_snapshot().await.unwrap();
    let complete = AuthoritySnapshot {
        version: 0,
        tenants: vec![tenant(REALM)],
        service_principals: vec![principal(REALM, CLIENT, &[])],
        credentials: vec![secret("00000000-0000-4000-8000-000000000001", REALM, CLIENT, 1)],
        pepper: Some(vec![4; 32]),
    };
    let mut hashless = complete.clone();
    hashless.credentials[0].secret_hash = None;
    let err = store.import_authority(&hashless, false).await.unwrap_err();
    assert!(matches!(err, StoreError::CorruptValue { column: "secret_hash", .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("00000000-0000-4000-8000-000000000001") && text.contains("without secrets"), "{text}");

    let pepperless = AuthoritySnapshot { pepper: None, ..complete.clone() };
    let err = store.import_authority(&pepperless, true).await.unwrap_err();
    assert!(matches!(err, StoreError::CorruptValue { column: "pepper", .. }), "{err:?}");

    let orphan = AuthoritySnapshot { tenants: vec![tenant(OTHER_REALM)], ..complete.clone() };
    let err = store.import_authority(&orphan, false).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { what: "tenant", .. }), "{err:?}");
    let orphan = AuthoritySnapshot { service_principals: vec![principal(REALM, SHAREPOINT, &[])], ..complete.clone() };
    let err = store.import_authority(&orphan, false).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { what: "service principal", .. }), "{err:?}");

    // A clash inside the snapshot fails the whole import.
    let clash = AuthoritySnapshot { tenants: vec![tenant(REALM), tenant(&REALM.to_uppercase())], ..complete.clone() };
    let err = store.import_authority(&clash, false).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { what: "tenant", .. }), "{err:?}");

    assert_eq!(store.authority_snapshot().await.unwrap(), before, "nothing written, the version included");
    assert_eq!(store.pepper_or_insert(&[0; 32]).await.unwrap(), pepper);
    // A snapshot without secrets imports, and the store's pepper stays.
    let certificates_only = AuthoritySnapshot { credentials: Vec::new(), pepper: None, ..complete };
    store.import_authority(&certificates_only, false).await.unwrap();
    assert_eq!(store.authority_snapshot().await.unwrap().pepper, Some(pepper));
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
        /// Ignored: they need `S2S_TEST_DATABASE_URL` (`scripts/test.sh` runs them with `--ignored`).
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
                async fn $name() {
                    let Some(place) = super::Place::postgres().await else { super::no_database() };
                    super::$name(place.authority().await).await;
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
    a_failed_write_leaves_nothing_behind,
    names_compare_case_insensitively_in_ascii_only,
    import_refuses_incomplete_snapshots,
);

macro_rules! pair_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_file_pair {
            $(
                #[tokio::test]
                async fn $name() {
                    let (source, _source_dir) = super::sqlite_file_store().await;
                    let (target, _target_dir) = super::sqlite_file_store().await;
                    super::$name(source, target).await;
                }
            )*
        }
        mod sqlite_memory_pair {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::sqlite_memory_store().await, super::sqlite_memory_store().await).await;
                }
            )*
        }
        /// Ignored: they need `S2S_TEST_DATABASE_URL` (`scripts/test.sh` runs them with `--ignored`).
        mod postgres_pair {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
                async fn $name() {
                    let Some(source) = super::Place::postgres().await else { super::no_database() };
                    let Some(target) = super::Place::postgres().await else { super::no_database() };
                    super::$name(source.authority().await, target.authority().await).await;
                }
            )*
        }
    };
}

pair_tests!(import_round_trips_a_snapshot);

/// Every authority write bumps the configuration version that running nodes poll, and a write
/// that changes nothing does not.
async fn writes_bump_the_configuration_version(place: Place) {
    let config = place.config().await;
    let store = place.authority().await;
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
    let snapshot = store.authority_snapshot().await.unwrap();
    assert_eq!(snapshot.version, config.version().await.unwrap());
    store.import_authority(&snapshot, true).await.unwrap();
    bumped("import_authority", config.version().await.unwrap());

    // No-ops leave it alone.
    store.pepper_or_insert(&[4; 32]).await.unwrap();
    assert!(!store.remove_service_principal(REALM, CLIENT).await.unwrap());
    assert!(!store.update_service_principal(&principal(REALM, CLIENT, &[])).await.unwrap());
    assert!(!store.remove_credential(REALM, CLIENT, "00000000-0000-4000-8000-000000000001").await.unwrap());
    assert!(store.insert_tenant(&tenant(REALM)).await.is_err());
    assert!(store.insert_service_principal(&principal(OTHER_REALM, CLIENT, &[])).await.is_err());
    assert!(store.import_authority(&snapshot, false).await.is_err());
    assert_eq!(config.version().await.unwrap(), last);
}

/// Nodes creating the pepper at the same moment all end up with the one that was stored first.
async fn the_first_pepper_wins_under_concurrency(place: Place) {
    let handles = [place.authority().await, place.authority().await];
    let racers: Vec<_> = (0..8u8)
        .map(|i| {
            let store = Arc::clone(&handles[usize::from(i % 2)]);
            tokio::spawn(async move { store.pepper_or_insert(&[i; 32]).await.unwrap() })
        })
        .collect();
    let mut peppers = Vec::new();
    for racer in racers {
        peppers.push(racer.await.unwrap());
    }
    let stored = handles[0].authority_snapshot().await.unwrap().pepper.unwrap();
    assert!(peppers.iter().all(|p| *p == stored), "{peppers:?} vs {stored:?}");
    assert_eq!(handles[1].pepper_or_insert(&[99; 32]).await.unwrap(), stored);
}

/// A write through one handle is seen by another on the same database, and the snapshot's
/// version is the configuration store's.
async fn handles_share_the_authority(place: Place) {
    let config = place.config().await;
    let (one, two) = (place.authority().await, place.authority().await);
    populate(one.as_ref()).await;
    let seen = two.authority_snapshot().await.unwrap();
    assert_eq!(seen, one.authority_snapshot().await.unwrap());
    assert_eq!(seen.version, config.version().await.unwrap());
    assert!(two.remove_service_principal(REALM, CLIENT).await.unwrap());
    assert!(one.service_principal(REALM, CLIENT).await.unwrap().is_none());
    assert!(one.credentials(REALM, CLIENT).await.unwrap().is_empty());
}

macro_rules! place_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_file_shared {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Place::sqlite()).await;
                }
            )*
        }
        /// Ignored: they need `S2S_TEST_DATABASE_URL` (`scripts/test.sh` runs them with `--ignored`).
        mod postgres_shared {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
                async fn $name() {
                    let Some(place) = super::Place::postgres().await else { super::no_database() };
                    super::$name(place).await;
                }
            )*
        }
    };
}

place_tests!(
    writes_bump_the_configuration_version,
    the_first_pepper_wins_under_concurrency,
    handles_share_the_authority
);
