#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The mailbox schema under the store, on both backends: a store made by an older version (the
//! migrations before `*_mailbox_keys.sql` only, rows written by plain SQL) opens with this code
//! with its data intact; stored values the typed records do not know are refused as
//! [`StoreError::CorruptValue`] naming the row; the schema itself still refuses unknown roles.

use sqlx::{PgPool, Row as _, SqlitePool};
use tempfile::TempDir;

use super::mailbox::{ItemClass, ItemOrder, MailboxStore, Role, UserLookup};
use super::mailbox_rows::{kind_text, to_json};
use super::mailbox_tests::{contact, folders, message, user};
use super::tests::PgSchema;
use super::{StoreError, open_mailbox, open_mailbox_with};

/// The last SQLite migration before `0005_mailbox_keys.sql`.
const SQLITE_OLD: i64 = 4;
/// The last PostgreSQL migration before any mailbox-keys migration (PostgreSQL had the keys).
const POSTGRES_OLD: i64 = 3;

/// A raw connection to a store's database, beside the store.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs one statement with its bound values on a [`Raw`] database; `{J}` in the text marks a
/// JSON parameter (cast to JSONB on PostgreSQL).
macro_rules! raw {
    ($raw:expr, $sql:literal $(, $value:expr)* $(,)?) => {
        match $raw {
            Raw::Sqlite(pool) => {
                sqlx::query(sqlx::AssertSqlSafe($sql.replace("{J}", ""))).$(bind($value).)*execute(pool).await.map(|_| ())
            }
            Raw::Postgres(pool) => {
                sqlx::query(sqlx::AssertSqlSafe($sql.replace("{J}", "::jsonb"))).$(bind($value).)*execute(pool).await.map(|_| ())
            }
        }
    };
}

/// An SQLite file with the old schema.
async fn old_sqlite() -> (Raw, String, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true).foreign_keys(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate!("./migrations/sqlite").run_to(SQLITE_OLD, &pool).await.unwrap();
    (Raw::Sqlite(pool), format!("sqlite:{}", path.display()), dir)
}

/// A fresh PostgreSQL schema with the old schema; `None` without `S2S_TEST_DATABASE_URL`.
async fn old_postgres() -> Option<(Raw, PgSchema)> {
    let schema = PgSchema::new().await?;
    let pool = PgPool::connect(schema.url()).await.unwrap();
    sqlx::migrate!("./migrations/postgres").run_to(POSTGRES_OLD, &pool).await.unwrap();
    Some((Raw::Postgres(pool), schema))
}

/// Writes user 1 (addresses in mixed case), its folders, a message, a contact and a role as an
/// older version would have.
async fn write_old_rows(raw: &Raw) {
    let u = user(1);
    raw!(
        raw,
        "INSERT INTO mailbox_users (id, smtp, sip, upn, sid, display_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &u.id,
        "User1@LitwareInc.com",
        &u.sip,
        &u.upn,
        u.sid.as_deref(),
        &u.display_name,
        u.created_at,
    )
    .unwrap();
    for f in folders(&u) {
        raw!(
            raw,
            "INSERT INTO mailbox_folders (id, user_id, parent_id, distinguished, display_name, folder_class, \
             change_key, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &f.id,
            &f.user_id,
            f.parent_id.as_deref(),
            f.distinguished.as_deref(),
            &f.display_name,
            &f.folder_class,
            &f.change_key,
            f.position,
        )
        .unwrap();
    }
    let m = message("m1", &u, &format!("{}-inbox", u.id), 100);
    let c = contact("c1", &u);
    for item in [&m, &c] {
        raw!(
            raw,
            "INSERT INTO mailbox_items (id, change_key, user_id, folder_id, kind, item_class, subject, body, \
             body_type, sender, to_recipients, cc_recipients, bcc_recipients, is_read, given_name, surname, \
             display_name, company_name, job_title, email_addresses, im_addresses, phone_numbers, created_at, \
             modified_at, sent_at, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10{J}, $11{J}, $12{J}, $13{J}, $14, $15, $16, $17, $18, \
             $19, $20{J}, $21{J}, $22{J}, $23, $24, $25, $26)",
            &item.id,
            &item.change_key,
            &item.user_id,
            &item.folder_id,
            kind_text(item.kind),
            item.item_class.as_str(),
            item.subject.as_deref(),
            item.body.as_deref(),
            item.body_type.as_str(),
            item.sender.as_ref().map(to_json),
            to_json(&item.to),
            to_json(&item.cc),
            to_json(&item.bcc),
            item.is_read,
            item.given_name.as_deref(),
            item.surname.as_deref(),
            item.display_name.as_deref(),
            item.company_name.as_deref(),
            item.job_title.as_deref(),
            to_json(&item.email_addresses),
            to_json(&item.im_addresses),
            to_json(&item.phone_numbers),
            item.created_at,
            item.modified_at,
            item.sent_at,
            item.received_at,
        )
        .unwrap();
    }
    raw!(
        raw,
        "INSERT INTO role_assignments (role, user_id, created_at) VALUES ($1, $2, $3)",
        "UserApplication",
        &u.id,
        7i64
    )
    .unwrap();
}

/// The rows of [`write_old_rows`], read through the store opened by this code.
async fn reads_the_old_rows(store: &dyn MailboxStore) {
    let mut u = user(1);
    u.smtp = "User1@LitwareInc.com".into();
    assert_eq!(store.users().await.unwrap(), vec![u.clone()]);
    for lookup in [
        UserLookup { smtp: Some("user1@litwareinc.com".into()), ..Default::default() },
        UserLookup { sip: Some(u.sip.to_uppercase()), ..Default::default() },
        UserLookup { upn: Some(u.upn.to_uppercase()), ..Default::default() },
        UserLookup { sid: u.sid.as_deref().map(str::to_uppercase), ..Default::default() },
    ] {
        assert_eq!(store.find_users(&lookup).await.unwrap(), vec![u.clone()], "{lookup:?}");
    }
    assert_eq!(store.folders(&u.id).await.unwrap(), folders(&u));
    let inbox = format!("{}-inbox", u.id);
    let m = message("m1", &u, &inbox, 100);
    let c = contact("c1", &u);
    assert_eq!(store.item("m1").await.unwrap(), Some(m.clone()));
    assert_eq!(store.item("c1").await.unwrap(), Some(c.clone()));
    let page = store.items_page(&inbox, ItemOrder::ReceivedDescending, 0, 10).await.unwrap();
    assert_eq!((page.items, page.total), (vec![m.clone()], 1));
    assert_eq!(store.roles_of(&u.id).await.unwrap(), [Role::UserApplication]);
    let dump = store.mailbox_dump().await.unwrap();
    assert_eq!((dump.users.len(), dump.folders.len(), dump.items.len(), dump.role_assignments.len()), (1, 3, 2, 1));
    // And it writes on: a new user clashing case-insensitively with the old one is a duplicate.
    let mut clash = user(2);
    clash.smtp = "USER1@litwareinc.com".into();
    let err = store.insert_user(&clash, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
}

#[tokio::test]
async fn an_old_sqlite_store_opens_with_its_mailbox_data_intact() {
    let (raw, url, _dir) = old_sqlite().await;
    write_old_rows(&raw).await;
    let store = open_mailbox(&url).await.unwrap();
    reads_the_old_rows(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
async fn an_old_postgres_store_opens_with_its_mailbox_data_intact() {
    let Some((raw, schema)) = old_postgres().await else { super::tests::no_database() };
    write_old_rows(&raw).await;
    let store = open_mailbox_with(schema.url(), &schema.options()).await.unwrap();
    reads_the_old_rows(&*store).await;
}

/// The store over `raw`'s database: a current schema with user 1's rows, and its CHECK
/// constraints on the typed columns dropped (PostgreSQL) or ignored (SQLite), as a damaged or
/// hand-edited database might be.
async fn corrupt_values_are_refused(raw: &Raw, store: &dyn MailboxStore) {
    let u = user(1);
    let corrupt = |err: StoreError, want_table: &str, want_column: &str, id: &str, value: &str| match err {
        StoreError::CorruptValue { table, column, detail } => {
            assert_eq!((table, column), (want_table, want_column));
            assert!(detail.contains(id) && detail.contains(value), "{detail}");
        }
        other => panic!("{other:?}"),
    };
    raw!(raw, "UPDATE mailbox_items SET item_class = $1 WHERE id = $2", "Note", "m1").unwrap();
    corrupt(store.item("m1").await.unwrap_err(), "mailbox_items", "item_class", "m1", "Note");
    let inbox = format!("{}-inbox", u.id);
    let err = store.items_page(&inbox, ItemOrder::ReceivedAscending, 0, 10).await.unwrap_err();
    corrupt(err, "mailbox_items", "item_class", "m1", "Note");
    raw!(raw, "UPDATE mailbox_items SET item_class = $1, body_type = $2 WHERE id = $3", "IPM.Note", "Markdown", "m1")
        .unwrap();
    corrupt(store.item("m1").await.unwrap_err(), "mailbox_items", "body_type", "m1", "Markdown");
    raw!(raw, "UPDATE mailbox_items SET body_type = $1 WHERE id = $2", "HTML", "m1").unwrap();
    assert_eq!(store.item("m1").await.unwrap().unwrap().body_type, super::mailbox::BodyType::Html);
    raw!(raw, "UPDATE role_assignments SET role = $1 WHERE user_id = $2", "Everything", &u.id).unwrap();
    corrupt(store.roles_of(&u.id).await.unwrap_err(), "role_assignments", "role", &u.id, "Everything");
    corrupt(store.role_assignments().await.unwrap_err(), "role_assignments", "role", &u.id, "Everything");
    corrupt(store.mailbox_dump().await.unwrap_err(), "role_assignments", "role", &u.id, "Everything");
    // A subclass is a class, kept as written.
    raw!(raw, "UPDATE mailbox_items SET item_class = $1 WHERE id = $2", "IPM.Note.Custom", "m1").unwrap();
    let class = store.item("m1").await.unwrap().unwrap().item_class;
    assert_eq!(class, ItemClass::Other("IPM.Note.Custom".into()));
}

#[tokio::test]
async fn unknown_stored_values_are_corrupt_on_sqlite() {
    let (raw, url, _dir) = old_sqlite().await;
    write_old_rows(&raw).await;
    let store = open_mailbox(&url).await.unwrap();
    let Raw::Sqlite(pool) = &raw else { unreachable!() };
    // One connection that ignores CHECK constraints, as a hand edit might.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(url.trim_start_matches("sqlite:"))
        .pragma("ignore_check_constraints", "ON");
    let unchecked = sqlx::pool::PoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
    pool.close().await;
    corrupt_values_are_refused(&Raw::Sqlite(unchecked), &*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
async fn unknown_stored_values_are_corrupt_on_postgres() {
    let Some((raw, schema)) = old_postgres().await else { super::tests::no_database() };
    write_old_rows(&raw).await;
    let store = open_mailbox_with(schema.url(), &schema.options()).await.unwrap();
    raw!(&raw, "ALTER TABLE mailbox_items DROP CONSTRAINT mailbox_items_body_type_check").unwrap();
    raw!(&raw, "ALTER TABLE role_assignments DROP CONSTRAINT role_assignments_role_check").unwrap();
    corrupt_values_are_refused(&raw, &*store).await;
}

/// The schema refuses a role name the records do not know, on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_role_name_is_refused_by_the_schema() {
    let (raw, _url, _dir) = old_sqlite().await;
    let mut raws = vec![raw];
    let schema = old_postgres().await.map(|(raw, schema)| {
        raws.push(raw);
        schema
    });
    for raw in &raws {
        write_old_rows(raw).await;
        let id = user(1).id;
        let err = raw!(
            raw,
            "INSERT INTO role_assignments (role, user_id, created_at) VALUES ($1, $2, $3)",
            "Everything",
            &id,
            1i64
        );
        assert!(err.is_err());
    }
    drop(schema);
}

/// A page of a folder is read in the order of the paging index, without a sort, and an item by its
/// primary key, in a store migrated from the old schema (SQLite's plans; PostgreSQL's depend on
/// its statistics: see `migrations/postgres/0002_mailbox.sql` for its paging index).
#[tokio::test]
async fn a_folder_page_and_an_item_are_index_lookups_on_sqlite() {
    // A store made by the old schema, migrated by this code, read by a connection of its own.
    let (raw, url, _dir) = old_sqlite().await;
    write_old_rows(&raw).await;
    drop(raw);
    drop(open_mailbox(&url).await.unwrap());
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(url.trim_start_matches("sqlite:"));
    let pool = SqlitePool::connect_with(options).await.unwrap();
    for order in [ItemOrder::ReceivedDescending, ItemOrder::ReceivedAscending] {
        let sql = format!("EXPLAIN QUERY PLAN {}", super::mailbox_queries::items_page_sql(order).0);
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind("f").bind(50i64).bind(500i64).fetch_all(&pool).await.unwrap();
        let plan: Vec<String> = rows.iter().map(|row| row.get("detail")).collect();
        assert!(plan.iter().any(|step| step.contains("USING INDEX mailbox_items_by_folder")), "{plan:?}");
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{plan:?}");
    }
    let rows = sqlx::query("EXPLAIN QUERY PLAN SELECT id FROM mailbox_items i WHERE i.id = $1")
        .bind("m1")
        .fetch_all(&pool)
        .await
        .unwrap();
    let plan: Vec<String> = rows.iter().map(|row| row.get("detail")).collect();
    assert!(plan.iter().all(|step| step.starts_with("SEARCH")), "{plan:?}");
}
