#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The mailbox store contract suite: every `async fn` below taking an `Arc<dyn MailboxStore>`
//! states behaviour every backend must show. `contract_tests!` runs each against a fresh SQLite
//! file, a fresh `sqlite::memory:` store and, when `S2S_TEST_DATABASE_URL` names a PostgreSQL
//! database, a fresh schema in it (dropped afterwards). The dump is also carried from SQLite to
//! PostgreSQL and back.

use std::sync::Arc;

use tempfile::TempDir;

use super::mailbox::{
    Address, BodyType, Entry, FolderRecord, ItemClass, ItemKind, ItemMove, ItemOrder, ItemRecord, MailboxDump,
    MailboxStore, Role, RoleAssignmentRecord, UserLookup, UserRecord, parents_first,
};
use super::tests::{PgSchema, no_database};
use super::{StoreError, open, open_mailbox, open_mailbox_with, open_with};

// ---------------------------------------------------------------------------------------------
// Fixtures

async fn sqlite_file_store() -> (Arc<dyn MailboxStore>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    (open_mailbox(&url).await.unwrap(), dir)
}

async fn sqlite_memory_store() -> Arc<dyn MailboxStore> {
    open_mailbox("sqlite::memory:").await.unwrap()
}

/// The mailbox store in a fresh PostgreSQL schema; `None` when `S2S_TEST_DATABASE_URL` is not set.
async fn postgres_store() -> Option<(Arc<dyn MailboxStore>, PgSchema)> {
    let schema = PgSchema::new().await?;
    Some((open_mailbox_with(schema.url(), &schema.options()).await.unwrap(), schema))
}

pub(super) fn user(n: u32) -> UserRecord {
    UserRecord {
        id: format!("00000000-0000-4000-8000-{n:012}"),
        smtp: format!("user{n}@litwareinc.com"),
        sip: format!("user{n}.sip@litwareinc.com"),
        upn: format!("user{n}.upn@litwareinc.com"),
        sid: Some(format!("s-1-5-21-1-2-3-{n}")),
        display_name: format!("User {n}"),
        created_at: 1_700_000_000,
    }
}

/// A root and two children (inbox, contacts) for `u`.
pub(super) fn folders(u: &UserRecord) -> Vec<FolderRecord> {
    let root = format!("{}-root", u.id);
    vec![
        FolderRecord {
            id: root.clone(),
            user_id: u.id.clone(),
            parent_id: None,
            distinguished: Some("root".into()),
            display_name: "Root".into(),
            folder_class: String::new(),
            change_key: "ck".into(),
            position: 0,
        },
        FolderRecord {
            id: format!("{}-inbox", u.id),
            user_id: u.id.clone(),
            parent_id: Some(root.clone()),
            distinguished: Some("inbox".into()),
            display_name: "Inbox".into(),
            folder_class: "IPF.Note".into(),
            change_key: "ck".into(),
            position: 1,
        },
        FolderRecord {
            id: format!("{}-contacts", u.id),
            user_id: u.id.clone(),
            parent_id: Some(root),
            distinguished: Some("contacts".into()),
            display_name: "Contacts".into(),
            folder_class: "IPF.Contact".into(),
            change_key: "ck".into(),
            position: 2,
        },
    ]
}

pub(super) fn message(id: &str, u: &UserRecord, folder: &str, received: i64) -> ItemRecord {
    ItemRecord {
        id: id.to_owned(),
        change_key: format!("{id}-ck1"),
        user_id: u.id.clone(),
        folder_id: folder.to_owned(),
        kind: ItemKind::Message,
        item_class: ItemClass::Note,
        subject: Some(format!("subject {id}")),
        body: Some("body ✓ <b>".into()),
        body_type: BodyType::Text,
        sender: Some(Address { name: Some("Ken".into()), email: "kenmyer@litwareinc.com".into() }),
        to: vec![Address { name: None, email: "a@litwareinc.com".into() }],
        cc: vec![],
        bcc: vec![Address { name: Some("B".into()), email: "b@litwareinc.com".into() }],
        is_read: false,
        given_name: None,
        surname: None,
        display_name: None,
        company_name: None,
        job_title: None,
        email_addresses: vec![],
        im_addresses: vec![],
        phone_numbers: vec![],
        created_at: received,
        modified_at: received,
        sent_at: Some(received),
        received_at: Some(received),
    }
}

pub(super) fn contact(id: &str, u: &UserRecord) -> ItemRecord {
    ItemRecord {
        kind: ItemKind::Contact,
        item_class: ItemClass::Contact,
        subject: None,
        body: None,
        sender: None,
        to: vec![],
        bcc: vec![],
        is_read: true,
        given_name: Some("Ken".into()),
        surname: Some("Myer".into()),
        display_name: Some("Ken Myer".into()),
        company_name: Some("Litware".into()),
        job_title: None,
        email_addresses: vec![Entry { key: "EmailAddress1".into(), value: "kenmyer@litwareinc.com".into() }],
        im_addresses: vec![Entry { key: "ImAddress1".into(), value: "sip:kenmyer@litwareinc.com".into() }],
        phone_numbers: vec![Entry { key: "BusinessPhone".into(), value: "+1 425 555 0100".into() }],
        ..message(id, u, &format!("{}-contacts", u.id), 1_700_000_100)
    }
}

async fn with_user(store: &Arc<dyn MailboxStore>, n: u32) -> UserRecord {
    let u = user(n);
    store.insert_user(&u, &folders(&u)).await.unwrap();
    u
}

// ---------------------------------------------------------------------------------------------
// The contract

async fn users_round_trip_and_list_in_order(store: Arc<dyn MailboxStore>) {
    let b = with_user(&store, 2).await;
    let a = with_user(&store, 1).await;
    assert_eq!(store.users().await.unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(store.user(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.user("nobody").await.unwrap(), None);
    let f = store.folders(&a.id).await.unwrap();
    assert_eq!(f, folders(&a));
    assert_eq!(store.folder(&f[1].id).await.unwrap(), Some(f[1].clone()));
    assert_eq!(store.folder("nope").await.unwrap(), None);
}

async fn find_users_matches_each_address_case_insensitively(store: Arc<dyn MailboxStore>) {
    let a = with_user(&store, 1).await;
    let b = with_user(&store, 2).await;
    let by = |lookup: UserLookup| {
        let store = Arc::clone(&store);
        async move { store.find_users(&lookup).await.unwrap() }
    };
    assert_eq!(
        by(UserLookup { smtp: Some("USER1@LitwareInc.com".into()), ..Default::default() }).await,
        vec![a.clone()]
    );
    assert_eq!(
        by(UserLookup { sip: Some("user2.SIP@litwareinc.com".into()), ..Default::default() }).await,
        vec![b.clone()]
    );
    assert_eq!(
        by(UserLookup { upn: Some("user1.upn@litwareinc.com".into()), ..Default::default() }).await,
        vec![a.clone()]
    );
    assert_eq!(by(UserLookup { sid: Some("S-1-5-21-1-2-3-2".into()), ..Default::default() }).await, vec![b.clone()]);
    // A value of one column does not match another column.
    assert!(by(UserLookup { smtp: Some("user1.sip@litwareinc.com".into()), ..Default::default() }).await.is_empty());
    // Several values naming two users return both, once each; no value matches nobody.
    let both = by(UserLookup {
        smtp: Some("user1@litwareinc.com".into()),
        sip: Some("user2.sip@litwareinc.com".into()),
        upn: Some("user1.upn@litwareinc.com".into()),
        sid: None,
    })
    .await;
    assert_eq!(both, vec![a, b]);
    assert!(by(UserLookup::default()).await.is_empty());
}

async fn duplicate_addresses_are_refused_and_nothing_is_stored(store: Arc<dyn MailboxStore>) {
    let a = with_user(&store, 1).await;
    let mut clash = user(2);
    clash.sip = a.sip.to_uppercase();
    let err = store.insert_user(&clash, &folders(&clash)).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
    assert_eq!(store.users().await.unwrap().len(), 1);
    assert!(store.folders(&clash.id).await.unwrap().is_empty(), "the failed insert left folders behind");
    // Two users without a SID do not clash on it.
    let mut c = user(3);
    c.sid = None;
    let mut d = user(4);
    d.sid = None;
    store.insert_user(&c, &folders(&c)).await.unwrap();
    store.insert_user(&d, &folders(&d)).await.unwrap();
}

async fn items_round_trip_page_and_count(store: Arc<dyn MailboxStore>) {
    let u = with_user(&store, 1).await;
    let inbox = format!("{}-inbox", u.id);
    let items: Vec<ItemRecord> = (0..5).map(|i| message(&format!("m{i}"), &u, &inbox, 1_700_000_000 + i)).collect();
    store.insert_items(&items).await.unwrap();
    let c = contact("c1", &u);
    store.insert_items(std::slice::from_ref(&c)).await.unwrap();
    assert_eq!(store.item("m3").await.unwrap(), Some(items[3].clone()));
    assert_eq!(store.item("c1").await.unwrap(), Some(c.clone()));
    let page = store.items_page(&inbox, ItemOrder::ReceivedDescending, 1, 2).await.unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(page.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["m3", "m2"]);
    let page = store.items_page(&inbox, ItemOrder::ReceivedAscending, 4, 10).await.unwrap();
    assert_eq!(page.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["m4"]);
    let counts = store.folder_counts(&inbox).await.unwrap();
    assert_eq!((counts.total, counts.unread), (5, 5));
    assert_eq!(store.folder_counts("nope").await.unwrap().total, 0);
    // Every item of the user: by folder position (inbox before contacts), newest first.
    let all = store.user_items(&u.id).await.unwrap();
    assert_eq!(all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["m4", "m3", "m2", "m1", "m0", "c1"]);
}

async fn a_failed_batch_stores_nothing(store: Arc<dyn MailboxStore>) {
    let u = with_user(&store, 1).await;
    let inbox = format!("{}-inbox", u.id);
    store.insert_items(&[message("m1", &u, &inbox, 1)]).await.unwrap();
    let batch = [message("m2", &u, &inbox, 2), message("m1", &u, &inbox, 3)];
    let err = store.insert_items(&batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
    assert_eq!(store.item("m2").await.unwrap(), None, "half of a failed batch was stored");
    store.insert_items(&[]).await.unwrap();
}

async fn updates_check_the_change_key(store: Arc<dyn MailboxStore>) {
    let u = with_user(&store, 1).await;
    let c = contact("c1", &u);
    store.insert_items(std::slice::from_ref(&c)).await.unwrap();
    let mut changed = c.clone();
    changed.job_title = Some("Engineer".into());
    changed.change_key = "c1-ck2".into();
    changed.modified_at += 10;
    let stale = ItemRecord { change_key: "c1-ck3".into(), ..changed.clone() };
    let missing = ItemRecord { id: "gone".into(), ..changed.clone() };
    let done = store
        .update_items(&[(changed.clone(), c.change_key.clone()), (stale, "wrong".into()), (missing, "x".into())])
        .await
        .unwrap();
    assert_eq!(done, [true, false, false]);
    assert_eq!(store.item("c1").await.unwrap(), Some(changed));
}

async fn moves_and_deletes_report_each_item(store: Arc<dyn MailboxStore>) {
    let u = with_user(&store, 1).await;
    let inbox = format!("{}-inbox", u.id);
    let contacts = format!("{}-contacts", u.id);
    store.insert_items(&[message("m1", &u, &inbox, 1), message("m2", &u, &inbox, 2)]).await.unwrap();
    let moved = store
        .move_items(&[
            ItemMove { id: "m1".into(), folder_id: contacts.clone(), change_key: "new".into(), modified_at: 9 },
            ItemMove { id: "zz".into(), folder_id: contacts.clone(), change_key: "new".into(), modified_at: 9 },
        ])
        .await
        .unwrap();
    assert_eq!(moved, [true, false]);
    let m1 = store.item("m1").await.unwrap().unwrap();
    assert_eq!((m1.folder_id.as_str(), m1.change_key.as_str(), m1.modified_at), (contacts.as_str(), "new", 9));
    assert_eq!(store.delete_items(&["m2".into(), "m2".into(), "zz".into()]).await.unwrap(), [true, false, false]);
    assert_eq!(store.item("m2").await.unwrap(), None);
}

async fn role_assignments_round_trip(store: Arc<dyn MailboxStore>) {
    let a = with_user(&store, 1).await;
    let b = with_user(&store, 2).await;
    let ra = |role: Role, u: &UserRecord| RoleAssignmentRecord { role, user_id: u.id.clone(), created_at: 5 };
    store.insert_role_assignment(&ra(Role::UserApplication, &a)).await.unwrap();
    store.insert_role_assignment(&ra(Role::ArchiveApplication, &a)).await.unwrap();
    store.insert_role_assignment(&ra(Role::ArchiveApplication, &b)).await.unwrap();
    let err = store.insert_role_assignment(&ra(Role::UserApplication, &a)).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
    assert_eq!(store.roles_of(&a.id).await.unwrap(), [Role::ArchiveApplication, Role::UserApplication]);
    assert_eq!(store.role_assignments().await.unwrap().len(), 3);
    assert!(store.remove_role_assignment(Role::ArchiveApplication, &a.id).await.unwrap());
    assert!(!store.remove_role_assignment(Role::ArchiveApplication, &a.id).await.unwrap());
    assert_eq!(store.roles_of(&a.id).await.unwrap(), [Role::UserApplication]);
}

async fn removing_a_user_removes_everything_of_it(store: Arc<dyn MailboxStore>) {
    let a = with_user(&store, 1).await;
    let b = with_user(&store, 2).await;
    store.insert_items(&[message("a1", &a, &format!("{}-inbox", a.id), 1), contact("a2", &a)]).await.unwrap();
    store.insert_items(&[message("b1", &b, &format!("{}-inbox", b.id), 1)]).await.unwrap();
    let ra = RoleAssignmentRecord { role: Role::UserApplication, user_id: a.id.clone(), created_at: 1 };
    store.insert_role_assignment(&ra).await.unwrap();
    assert!(store.remove_user(&a.id).await.unwrap());
    assert!(!store.remove_user(&a.id).await.unwrap());
    assert_eq!(store.users().await.unwrap(), vec![b.clone()]);
    assert!(store.folders(&a.id).await.unwrap().is_empty());
    assert_eq!(store.item("a1").await.unwrap(), None);
    assert!(store.role_assignments().await.unwrap().is_empty());
    assert!(store.item("b1").await.unwrap().is_some(), "another user's item went too");
    // The address is free again.
    store.insert_user(&a, &folders(&a)).await.unwrap();
}

/// Two users with folders (one nested below a folder listed before its parent), items of both
/// kinds and role assignments.
async fn populated(store: &Arc<dyn MailboxStore>) -> (UserRecord, UserRecord) {
    let a = user(1);
    let mut a_folders = folders(&a);
    // A subfolder positioned (and listed) before its parent: the import must still insert the
    // parent first.
    a_folders.insert(
        0,
        FolderRecord {
            id: format!("{}-archive", a.id),
            user_id: a.id.clone(),
            parent_id: Some(format!("{}-inbox", a.id)),
            distinguished: None,
            display_name: "Archive".into(),
            folder_class: "IPF.Note".into(),
            change_key: "ck".into(),
            position: -1,
        },
    );
    store.insert_user(&a, &parents_first(&a_folders).into_iter().cloned().collect::<Vec<_>>()).await.unwrap();
    let b = UserRecord { sid: None, ..user(2) };
    store.insert_user(&b, &folders(&b)).await.unwrap();
    let a_inbox = format!("{}-inbox", a.id);
    let mut unread = message("a-m2", &a, &format!("{}-archive", a.id), 5);
    unread.is_read = true;
    unread.received_at = None;
    unread.sent_at = None;
    unread.sender = None;
    store
        .insert_items(&[
            message("a-m1", &a, &a_inbox, 7),
            unread,
            contact("a-c1", &a),
            message("b-m1", &b, &format!("{}-inbox", b.id), 3),
        ])
        .await
        .unwrap();
    for (role, u) in [(Role::UserApplication, &a), (Role::ArchiveApplication, &b), (Role::ArchiveApplication, &a)] {
        let record = RoleAssignmentRecord { role, user_id: u.id.clone(), created_at: 9 };
        store.insert_role_assignment(&record).await.unwrap();
    }
    (a, b)
}

async fn the_dump_holds_everything_in_order(store: Arc<dyn MailboxStore>) {
    assert_eq!(store.mailbox_dump().await.unwrap(), MailboxDump::default());
    let (a, b) = populated(&store).await;
    let dump = store.mailbox_dump().await.unwrap();
    assert_eq!(dump.users, store.users().await.unwrap());
    assert_eq!(dump.users, [a.clone(), b.clone()]);
    let mut expected_folders = store.folders(&a.id).await.unwrap();
    expected_folders.extend(store.folders(&b.id).await.unwrap());
    assert_eq!(dump.folders, expected_folders, "folders by user, then position");
    assert_eq!(dump.folders[0].display_name, "Archive");
    assert_eq!(
        dump.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["a-m2", "a-m1", "a-c1", "b-m1"],
        "items by user, then created_at, then id"
    );
    assert_eq!(dump.items[0], store.item("a-m2").await.unwrap().unwrap());
    assert_eq!(dump.role_assignments, store.role_assignments().await.unwrap());
    assert_eq!(dump.role_assignments.len(), 3);
    // The dump is plain JSON and back.
    let json = serde_json::to_string(&dump).unwrap();
    assert_eq!(serde_json::from_str::<MailboxDump>(&json).unwrap(), dump);
}

async fn an_import_fills_an_empty_store_and_replace_replaces(store: Arc<dyn MailboxStore>) {
    populated(&store).await;
    let dump = store.mailbox_dump().await.unwrap();
    // Not into a store holding mailbox users, unless replacing.
    let err = store.import_mailbox(&dump, false).await.unwrap_err();
    match &err {
        StoreError::NotEmpty { url, what } => {
            assert_eq!(url, &store.mailbox_url());
            assert_eq!(what, "2 mailbox users");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.mailbox_dump().await.unwrap(), dump);
    // Replace with itself: the same data.
    store.import_mailbox(&dump, true).await.unwrap();
    assert_eq!(store.mailbox_dump().await.unwrap(), dump);
    // Replace with nothing, then import into the empty store.
    store.import_mailbox(&MailboxDump::default(), true).await.unwrap();
    assert_eq!(store.mailbox_dump().await.unwrap(), MailboxDump::default());
    store.import_mailbox(&MailboxDump::default(), false).await.unwrap();
    store.import_mailbox(&dump, false).await.unwrap();
    assert_eq!(store.mailbox_dump().await.unwrap(), dump);
    // The imported data is served as it was.
    let a = &dump.users[0];
    assert_eq!(store.roles_of(&a.id).await.unwrap(), [Role::ArchiveApplication, Role::UserApplication]);
    let page = store.items_page(&format!("{}-inbox", a.id), ItemOrder::ReceivedDescending, 0, 10).await.unwrap();
    assert_eq!(page.total, 1);
}

async fn a_failed_import_writes_nothing(store: Arc<dyn MailboxStore>) {
    populated(&store).await;
    let before = store.mailbox_dump().await.unwrap();
    let mut clash = before.clone();
    let duplicate = clash.items[0].clone();
    clash.items.push(duplicate);
    for replace in [true, false] {
        let err = store.import_mailbox(&clash, replace).await.unwrap_err();
        let ok = if replace {
            matches!(err, StoreError::Duplicate { .. })
        } else {
            matches!(err, StoreError::NotEmpty { .. })
        };
        assert!(ok, "{err:?}");
        assert_eq!(store.mailbox_dump().await.unwrap(), before, "a failed import changed the store");
    }
    // An orphan folder (its parent is nowhere) fails too, into an empty store.
    store.import_mailbox(&MailboxDump::default(), true).await.unwrap();
    let mut orphan = before.clone();
    orphan.folders.retain(|f| f.distinguished.as_deref() != Some("inbox") || f.user_id != before.users[0].id);
    orphan.items.retain(|i| !i.folder_id.ends_with("-inbox"));
    assert!(store.import_mailbox(&orphan, false).await.is_err());
    assert_eq!(store.mailbox_dump().await.unwrap(), MailboxDump::default());
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
                    let Some((store, _schema)) = super::postgres_store().await else { super::no_database() };
                    super::$name(store).await;
                }
            )*
        }
    };
}

contract_tests!(
    users_round_trip_and_list_in_order,
    find_users_matches_each_address_case_insensitively,
    duplicate_addresses_are_refused_and_nothing_is_stored,
    items_round_trip_page_and_count,
    a_failed_batch_stores_nothing,
    updates_check_the_change_key,
    moves_and_deletes_report_each_item,
    role_assignments_round_trip,
    removing_a_user_removes_everything_of_it,
    the_dump_holds_everything_in_order,
    an_import_fills_an_empty_store_and_replace_replaces,
    a_failed_import_writes_nothing,
);

// ---------------------------------------------------------------------------------------------
// Backend-specific

/// Mailbox writes are data, not configuration: they never bump the configuration version.
#[tokio::test]
async fn mailbox_writes_leave_the_config_version_alone() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    let config = open(&url).await.unwrap();
    let mailboxes = open_mailbox(&url).await.unwrap();
    leaves_the_config_version_alone(config.as_ref(), &mailboxes).await;
    assert_eq!(mailboxes.mailbox_url(), url);
    if let Some(schema) = PgSchema::new().await {
        let config = open_with(schema.url(), &schema.options()).await.unwrap();
        let mailboxes = open_mailbox_with(schema.url(), &schema.options()).await.unwrap();
        leaves_the_config_version_alone(config.as_ref(), &mailboxes).await;
        assert_eq!(mailboxes.mailbox_url(), config.url());
    }
}

async fn leaves_the_config_version_alone(config: &dyn super::Store, mailboxes: &Arc<dyn MailboxStore>) {
    let before = config.version().await.unwrap();
    let u = with_user(mailboxes, 1).await;
    mailboxes.insert_items(&[message("m1", &u, &format!("{}-inbox", u.id), 1)]).await.unwrap();
    let ra = RoleAssignmentRecord { role: Role::UserApplication, user_id: u.id.clone(), created_at: 1 };
    mailboxes.insert_role_assignment(&ra).await.unwrap();
    let dump = mailboxes.mailbox_dump().await.unwrap();
    mailboxes.import_mailbox(&dump, true).await.unwrap();
    assert!(mailboxes.remove_user(&u.id).await.unwrap());
    assert_eq!(config.version().await.unwrap(), before);
}

/// A dump carried from SQLite to PostgreSQL and back arrives unchanged, and each store serves it alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
async fn the_dump_moves_from_sqlite_to_postgres_and_back() {
    let Some((postgres, _schema)) = postgres_store().await else { no_database() };
    let sqlite = sqlite_memory_store().await;
    let (a, _) = populated(&sqlite).await;
    let dump = sqlite.mailbox_dump().await.unwrap();
    postgres.import_mailbox(&dump, false).await.unwrap();
    assert_eq!(postgres.mailbox_dump().await.unwrap(), dump);
    assert_eq!(postgres.users().await.unwrap(), sqlite.users().await.unwrap());
    assert_eq!(postgres.user_items(&a.id).await.unwrap(), sqlite.user_items(&a.id).await.unwrap());
    let lookup = UserLookup { upn: Some(a.upn.to_uppercase()), ..Default::default() };
    assert_eq!(postgres.find_users(&lookup).await.unwrap(), vec![a.clone()]);
    // Changed on PostgreSQL, then back into a fresh SQLite file.
    assert!(postgres.delete_items(&["a-c1".into()]).await.unwrap()[0]);
    let changed = postgres.mailbox_dump().await.unwrap();
    assert_eq!(changed.items.len(), dump.items.len() - 1);
    let (back, _dir) = sqlite_file_store().await;
    back.import_mailbox(&changed, false).await.unwrap();
    assert_eq!(back.mailbox_dump().await.unwrap(), changed);
    // And replacing the PostgreSQL data with the original dump restores it.
    postgres.import_mailbox(&dump, true).await.unwrap();
    assert_eq!(postgres.mailbox_dump().await.unwrap(), dump);
}

#[test]
fn parents_first_puts_each_folder_after_its_parent() {
    let folder = |id: &str, parent: Option<&str>| FolderRecord {
        id: id.into(),
        user_id: "u".into(),
        parent_id: parent.map(str::to_owned),
        distinguished: None,
        display_name: id.into(),
        folder_class: String::new(),
        change_key: "ck".into(),
        position: 0,
    };
    let given = [
        folder("grandchild", Some("child")),
        folder("child", Some("root")),
        folder("orphan", Some("nowhere")),
        folder("root", None),
        folder("sibling", Some("root")),
    ];
    let ids: Vec<&str> = parents_first(&given).iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["root", "sibling", "child", "grandchild", "orphan"]);
}
