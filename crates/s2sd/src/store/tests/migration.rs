//! Stores made by the previous schema (SQLite before `0006_shared_queries.sql`, PostgreSQL before
//! `0004_json_lists.sql`) open with this code with their data intact: the old migrations are run
//! alone, rows are written with raw SQL in the old shapes, and the store is then opened (which
//! applies the new migrations) and read through every face.

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::*;
use crate::store::{Stores, open_stores_with};

const REALM: &str = "72F988BF-86F1-41AF-91AB-2D7CD011DB47";
const APP_ID: &str = "00000003-0000-0FF1-CE00-000000000000";

/// What both old stores hold, read back through the new code.
async fn assert_migrated(stores: &Stores, private_key: Option<&[u8]>) {
    let config = &stores.config;
    // The SQLite store (the one with a legacy plain private key) and the PostgreSQL one end on
    // their backend's latest migration.
    let migrator =
        if private_key.is_some() { &crate::store::sqlite::MIGRATOR } else { &crate::store::postgres::MIGRATOR };
    let latest = migrator.iter().map(|m| m.version).max().unwrap();
    assert_eq!(config.schema_version().await.unwrap(), latest);
    let oauth = config.oauth_config().await.unwrap().unwrap();
    assert_eq!(oauth.hostnames, ["a.contoso.com", "b.contoso.com"]);
    assert_eq!(oauth.additional_realms, ["fabrikam.com"]);

    let certificates = config.certificates().await.unwrap();
    assert_eq!(thumbprints(&certificates), [("AB12", CertificateRole::Current)]);
    assert_eq!(certificates[0].private_key_pkcs8.as_deref(), private_key);
    assert!(config.remove_certificate("ab12").await.unwrap(), "found by its key column");

    let partners = config.partners().await.unwrap();
    assert_eq!(names(&partners), ["Exchange", "Lync"]);
    let (exchange, lync) = (&partners[0], &partners[1]);
    assert_eq!(exchange.certificates, [vec![0x0a], vec![0x0b]], "certificates kept, in order");
    assert_eq!(exchange.trust_level, TrustLevel::Full);
    assert_eq!(exchange.metadata_status, Some(MetadataStatus::Ok));
    assert_eq!(exchange.kind, PartnerKind::Application);
    assert_eq!(lync.certificates, [vec![0x0c]]);
    assert_eq!(lync.trust_level, TrustLevel::Application);
    assert_eq!(lync.metadata_status, Some(MetadataStatus::Failed("HTTP 404".into())));
    assert_eq!(lync.kind, PartnerKind::AuthServer);
    assert_eq!(config.partner("EXCHANGE").await.unwrap().as_ref(), Some(exchange));
    let clash = config.insert_partner(&partner("exchange")).await.unwrap_err();
    assert!(matches!(clash, StoreError::Duplicate { .. }), "{clash:?}");
    // The ids carry on: a new partner with certificates of its own.
    config.insert_partner(&PartnerRecord { certificates: vec![vec![0x0d]], ..partner("Skype") }).await.unwrap();
    assert_eq!(config.partner("skype").await.unwrap().unwrap().certificates, [vec![0x0d]]);
    assert!(config.remove_partner("exchange").await.unwrap());
    assert_eq!(config.partner("lync").await.unwrap().unwrap().certificates, [vec![0x0c]]);

    let authority = &stores.authority;
    let realm = REALM.to_ascii_lowercase();
    assert_eq!(authority.tenant(&realm).await.unwrap().unwrap().realm, REALM);
    let principal = authority.service_principal(&realm, &APP_ID.to_ascii_lowercase()).await.unwrap().unwrap();
    assert_eq!(principal.spns, [format!("{APP_ID}/*.contoso.com"), format!("{APP_ID}/sp.contoso.com")]);
    let credentials = authority.credentials(REALM, APP_ID).await.unwrap();
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0].id, "C0FFEE00-0000-0000-0000-000000000001");
    assert_eq!(authority.pepper_or_insert(&[1; 32]).await.unwrap(), vec![0xbb; 2]);
    let snapshot = authority.authority_snapshot().await.unwrap();
    assert_eq!((snapshot.tenants.len(), snapshot.service_principals.len()), (1, 1));
    assert_eq!(snapshot.service_principals[0].spns, principal.spns);
}

/// The rows both old schemas take in the same shape (the authority, the pepper).
fn authority_rows(bytes: fn(&str) -> String) -> Vec<String> {
    vec![
        format!("INSERT INTO authority_tenants (realm, name, created_at) VALUES ('{REALM}', 'Contoso', 1)"),
        format!(
            "INSERT INTO authority_service_principals (tenant, app_id, display_name, enabled, created_at, updated_at) \
             VALUES ('{REALM}', '{APP_ID}', 'SharePoint', TRUE, 1, 1)"
        ),
        format!(
            "INSERT INTO authority_spns (tenant, app_id, spn) VALUES \
             ('{REALM}', '{APP_ID}', '{APP_ID}/sp.contoso.com'), ('{REALM}', '{APP_ID}', '{APP_ID}/*.contoso.com')"
        ),
        format!(
            "INSERT INTO authority_credentials (id, tenant, app_id, kind, usage, secret_hash, start_at, end_at, \
             created_at) VALUES ('C0FFEE00-0000-0000-0000-000000000001', '{REALM}', '{APP_ID}', 'symmetric', 'verify', \
             {}, 1, 2, 1)",
            bytes("0707")
        ),
        format!("INSERT INTO authority_pepper (id, pepper) VALUES (1, {})", bytes("bbbb")),
    ]
}

#[tokio::test]
async fn an_sqlite_store_of_the_previous_schema_opens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true).foreign_keys(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
    crate::store::sqlite::MIGRATOR.run_to(4, &pool).await.unwrap();
    let mut statements = vec![
        String::from(
            "INSERT INTO oauth_config (id, realm, service_name, hostnames, additional_realms) \
             VALUES (1, 'contoso.com', 'svc', '[\"a.contoso.com\",\"b.contoso.com\"]', '[\"fabrikam.com\"]')",
        ),
        // A plain private key, as stores from before encryption hold them: sealed at the open.
        String::from(
            "INSERT INTO certificates (thumbprint, role, cert_der, private_key_sealed, not_before, not_after, created_at) \
             VALUES ('AB12', 'current', x'01', x'5052', 1, 2, 3)",
        ),
        String::from(
            "INSERT INTO partners (name, application_id, realm, trust_level, enabled, allow_http_metadata, \
             metadata_status, kind, created_at, updated_at) VALUES \
             ('Lync', 'app-l', '*', 'Application', 1, 0, 'HTTP 404', 'auth-server', 1, 1), \
             ('Exchange', 'app-e', '*', 'Full', 1, 0, 'ok', 'application', 1, 1)",
        ),
        String::from(
            "INSERT INTO partner_certificates (partner_name, position, der) VALUES \
             ('EXCHANGE', 1, x'0b'), ('exchange', 0, x'0a'), ('Lync', 0, x'0c')",
        ),
    ];
    statements.extend(authority_rows(|hex| format!("x'{hex}'")));
    for statement in statements {
        pool.execute(sqlx::AssertSqlSafe(statement)).await.unwrap();
    }
    pool.close().await;

    let url = format!("sqlite:{}", path.display());
    let stores = open_stores_with(&url, &OpenOptions::default()).await.unwrap();
    assert_migrated(&stores, Some(b"PR")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
async fn a_postgres_store_of_the_previous_schema_opens_with_its_data() {
    let Some(schema) = PgSchema::new().await else { no_database() };
    let mut conn = sqlx::PgConnection::connect(schema.url()).await.unwrap();
    crate::store::postgres::MIGRATOR.run_to(3, &mut conn).await.unwrap();
    let mut statements = vec![
        String::from(
            "INSERT INTO oauth_config (id, realm, service_name, hostnames, additional_realms) \
             VALUES (1, 'contoso.com', 'svc', ARRAY['a.contoso.com', 'b.contoso.com'], ARRAY['fabrikam.com'])",
        ),
        String::from(
            "INSERT INTO certificates (thumbprint, role, cert_der, not_before, not_after, created_at) \
             VALUES ('AB12', 'current', '\\x01', 1, 2, 3)",
        ),
        String::from(
            "INSERT INTO partners (name, application_id, realm, trust_level, enabled, allow_http_metadata, \
             metadata_status, kind, created_at, updated_at) VALUES \
             ('Lync', 'app-l', '*', 'Application', TRUE, FALSE, 'HTTP 404', 'auth-server', 1, 1), \
             ('Exchange', 'app-e', '*', 'Full', TRUE, FALSE, 'ok', 'application', 1, 1)",
        ),
        String::from(
            "INSERT INTO partner_certificates (partner_id, position, der) \
             SELECT id, 1, '\\x0b'::bytea FROM partners WHERE name = 'Exchange' UNION ALL \
             SELECT id, 0, '\\x0a'::bytea FROM partners WHERE name = 'Exchange' UNION ALL \
             SELECT id, 0, '\\x0c'::bytea FROM partners WHERE name = 'Lync'",
        ),
    ];
    statements.extend(authority_rows(|hex| format!("'\\x{hex}'::bytea")));
    for statement in statements {
        conn.execute(sqlx::AssertSqlSafe(statement)).await.unwrap();
    }
    conn.close().await.unwrap();

    let stores = open_stores_with(schema.url(), &schema.options()).await.unwrap();
    assert_migrated(&stores, None).await;
}
