//! Enumerated columns are read back strictly: a stored value that is none of the column's values
//! (written here with raw SQL, past the column's CHECK constraint) is [`StoreError::CorruptValue`]
//! naming the table, the column, the record and the value — never a silent default. One test per
//! enumerated column, on an SQLite file and PostgreSQL.

use super::*;
use crate::store::authority::{CredentialKind, CredentialRecord, ServicePrincipalRecord, TenantRecord};
use crate::store::open_authority_with;

/// Runs `statement` on the raw database with the CHECK constraints of `table` out of the way
/// (SQLite: `ignore_check_constraints`; PostgreSQL: they are dropped from the test's schema).
async fn write_raw(backend: &Backend, table: &str, statement: &str) {
    match backend {
        Backend::SqliteFile(_) => {
            let mut conn = sqlx::SqliteConnection::connect(&backend.url()).await.unwrap();
            conn.execute("PRAGMA ignore_check_constraints = ON").await.unwrap();
            conn.execute(sqlx::AssertSqlSafe(statement.to_owned())).await.unwrap();
        }
        Backend::Postgres(schema) => {
            let mut conn = sqlx::PgConnection::connect(&schema.url).await.unwrap();
            let drop_checks = format!(
                "DO $$ DECLARE c record; BEGIN \
                 FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass AND contype = 'c' LOOP \
                 EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', c.conname); END LOOP; END $$"
            );
            conn.execute(sqlx::AssertSqlSafe(drop_checks)).await.unwrap();
            conn.execute(sqlx::AssertSqlSafe(statement.to_owned())).await.unwrap();
        }
    }
}

/// `error` is corrupt `table.column`, and its message names the record and the value.
fn assert_names(error: StoreError, table: &str, column: &str, record: &str, value: &str) {
    let message = error.to_string();
    match error {
        StoreError::CorruptValue { table: t, column: c, .. } => {
            assert_eq!((t, c), (table, column), "{message}");
            assert!(message.contains(record), "the message names the record `{record}`: {message}");
            assert!(message.contains(&format!("`{value}`")), "the message names the value `{value}`: {message}");
        }
        other => panic!("expected CorruptValue, got {other:?}"),
    }
}

/// A partner `Exchange` whose `column` is then overwritten with `value`; every way of reading it
/// (by name, all partners, in a write transaction) reports it.
async fn corrupt_partner(backend: Backend, column: &str, value: &str) {
    let store = backend.open().await;
    store.insert_partner(&partner("Exchange")).await.unwrap();
    store.insert_partner(&partner("Lync")).await.unwrap();
    let update = format!("UPDATE partners SET {column} = '{value}' WHERE name_key = 'exchange'");
    write_raw(&backend, "partners", &update).await;
    assert_names(store.partner("EXCHANGE").await.unwrap_err(), "partners", column, "Exchange", value);
    assert_names(store.partners().await.unwrap_err(), "partners", column, "Exchange", value);
    let mut tx = store.write().await.unwrap();
    assert_names(tx.partner("exchange").await.unwrap_err(), "partners", column, "Exchange", value);
    drop(tx);
    // The other partners still read.
    assert!(store.partner("Lync").await.unwrap().is_some());
}

async fn an_unknown_trust_level_names_the_partner(backend: Backend) {
    corrupt_partner(backend, "trust_level", "Sometimes").await;
}

async fn an_unknown_partner_kind_names_the_partner(backend: Backend) {
    corrupt_partner(backend, "kind", "robot").await;
}

async fn an_empty_metadata_status_names_the_partner(backend: Backend) {
    corrupt_partner(backend, "metadata_status", "").await;
}

async fn an_unknown_certificate_role_names_the_certificate(backend: Backend) {
    let store = backend.open().await;
    store.install_current_certificate(&certificate("AB12", 1)).await.unwrap();
    write_raw(&backend, "certificates", "UPDATE certificates SET role = 'retired'").await;
    assert_names(store.certificates().await.unwrap_err(), "certificates", "role", "AB12", "retired");
}

async fn an_unknown_credential_kind_names_the_credential(backend: Backend) {
    backend.open().await; // creates the store (and, on SQLite, its key file)
    let options = OpenOptions { key_file: Some(backend.key_file()) };
    let store = open_authority_with(&backend.url(), &options).await.unwrap();
    let (realm, app_id) = ("72f988bf-86f1-41af-91ab-2d7cd011db47", "00000003-0000-0ff1-ce00-000000000000");
    store.insert_tenant(&TenantRecord { realm: realm.into(), name: "Contoso".into(), created_at: 1 }).await.unwrap();
    let principal = ServicePrincipalRecord {
        tenant: realm.into(),
        app_id: app_id.into(),
        display_name: "SharePoint".into(),
        enabled: true,
        spns: vec![format!("{app_id}/sp.contoso.com")],
        created_at: 1,
        updated_at: 1,
    };
    store.insert_service_principal(&principal).await.unwrap();
    let credential = CredentialRecord {
        id: "C0FFEE00-0000-0000-0000-000000000001".into(),
        tenant: realm.into(),
        app_id: app_id.into(),
        kind: CredentialKind::Symmetric,
        usage: "verify".into(),
        secret_hash: Some(vec![7; 32]),
        certificate_der: None,
        thumbprint: None,
        start_at: 1,
        end_at: 2,
        created_at: 1,
    };
    store.insert_credential(&credential).await.unwrap();
    write_raw(&backend, "authority_credentials", "UPDATE authority_credentials SET kind = 'magic'").await;
    let error = store.credentials(realm, app_id).await.unwrap_err();
    assert_names(error, "authority_credentials", "kind", "C0FFEE00-0000-0000-0000-000000000001", "magic");
    let error = store.authority_snapshot().await.unwrap_err();
    assert_names(error, "authority_credentials", "kind", "C0FFEE00-0000-0000-0000-000000000001", "magic");
}

backend_tests!(
    an_unknown_trust_level_names_the_partner,
    an_unknown_partner_kind_names_the_partner,
    an_empty_metadata_status_names_the_partner,
    an_unknown_certificate_role_names_the_certificate,
    an_unknown_credential_kind_names_the_credential,
);
