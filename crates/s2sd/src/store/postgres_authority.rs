//! [`AuthorityStore`] on the PostgreSQL backend: the tables of `migrations/postgres/0003_authority.sql`.
//!
//! This is configuration, shared by every node on the database: each write runs in a
//! [`PgStore::begin_write`] transaction (the writers' lock on the version row, so writers queue and
//! a check-then-insert sees the previous writer's result) and ends with [`PgStore::bump_and_commit`]
//! (version bump and NOTIFY), so the other nodes reload at once or within a poll. A principal's SPNs
//! come with it as an array, one statement each; the snapshot is read in one REPEATABLE READ
//! transaction, at its version. Realms, app ids, SPNs and credential ids compare
//! case-insensitively in ASCII only, as on SQLite: lookups bind the ASCII-lower-cased value
//! against the generated `*_key` columns, which also give the order.

use sqlx::PgExecutor;

use super::StoreError;
use super::authority::{
    AuthoritySnapshot, AuthorityStore, CredentialKind, CredentialRecord, ServicePrincipalRecord, TenantRecord,
    check_import, contents,
};
use super::postgres::{PgStore, Tx};
use super::transaction::ConfigTransaction;

#[derive(sqlx::FromRow)]
pub(super) struct TenantRow {
    realm: String,
    name: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    tenant: String,
    app_id: String,
    display_name: String,
    enabled: bool,
    spns: Vec<String>,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct CredentialRow {
    id: String,
    tenant: String,
    app_id: String,
    kind: String,
    usage: String,
    secret_hash: Option<Vec<u8>>,
    certificate_der: Option<Vec<u8>>,
    thumbprint: Option<String>,
    start_at: i64,
    end_at: i64,
    created_at: i64,
}

/// A principal with its SPNs (ordered as SQLite's NOCASE orders them).
const PRINCIPAL_COLUMNS: &str = "SELECT tenant, app_id, display_name, enabled, \
     ARRAY(SELECT s.spn FROM authority_spns s WHERE s.tenant_key = p.tenant_key AND s.app_id_key = p.app_id_key \
         ORDER BY s.spn_key) AS spns, \
     created_at, updated_at \
     FROM authority_service_principals p";

pub(super) const CREDENTIAL_COLUMNS: &str = "SELECT id, tenant, app_id, kind, usage, secret_hash, certificate_der, thumbprint, \
     start_at, end_at, created_at FROM authority_credentials";

#[async_trait::async_trait]
impl AuthorityStore for PgStore {
    fn authority_url(&self) -> String {
        super::Store::url(self)
    }

    async fn authority_snapshot(&self) -> Result<AuthoritySnapshot, StoreError> {
        let mut tx = self.pool().begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
        let version =
            sqlx::query_scalar::<_, i64>("SELECT version FROM config_version WHERE id = 1").fetch_one(&mut *tx).await?;
        let tenants = all_tenants(&mut *tx).await?;
        let service_principals = sqlx::query_as::<_, PrincipalRow>(sqlx::AssertSqlSafe(format!(
            "{PRINCIPAL_COLUMNS} ORDER BY tenant_key, app_id_key"
        )))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(ServicePrincipalRecord::from)
        .collect();
        let credentials = sqlx::query_as::<_, CredentialRow>(sqlx::AssertSqlSafe(format!(
            "{CREDENTIAL_COLUMNS} ORDER BY tenant_key, app_id_key, created_at, id_key"
        )))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(credential_record)
        .collect::<Result<Vec<_>, _>>()?;
        let pepper = sqlx::query_scalar::<_, Vec<u8>>("SELECT pepper FROM authority_pepper WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AuthoritySnapshot { version, tenants, service_principals, credentials, pepper })
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        all_tenants(self.pool()).await
    }

    async fn tenant(&self, realm: &str) -> Result<Option<TenantRecord>, StoreError> {
        let row = sqlx::query_as::<_, TenantRow>(
            "SELECT realm, name, created_at FROM authority_tenants WHERE realm_key = $1",
        )
        .bind(realm.to_ascii_lowercase())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(TenantRecord::from))
    }

    async fn service_principals(&self, tenant: &str) -> Result<Vec<ServicePrincipalRecord>, StoreError> {
        let rows = sqlx::query_as::<_, PrincipalRow>(sqlx::AssertSqlSafe(format!(
            "{PRINCIPAL_COLUMNS} WHERE tenant_key = $1 ORDER BY app_id_key"
        )))
        .bind(tenant.to_ascii_lowercase())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(ServicePrincipalRecord::from).collect())
    }

    async fn service_principal(
        &self,
        tenant: &str,
        app_id: &str,
    ) -> Result<Option<ServicePrincipalRecord>, StoreError> {
        principal_in(self.pool(), tenant, app_id).await
    }

    async fn credentials(&self, tenant: &str, app_id: &str) -> Result<Vec<CredentialRecord>, StoreError> {
        sqlx::query_as::<_, CredentialRow>(sqlx::AssertSqlSafe(format!(
            "{CREDENTIAL_COLUMNS} WHERE tenant_key = $1 AND app_id_key = $2 ORDER BY created_at, id_key"
        )))
        .bind(tenant.to_ascii_lowercase())
        .bind(app_id.to_ascii_lowercase())
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(credential_record)
        .collect()
    }

    async fn write_authority(&self) -> Result<Box<dyn ConfigTransaction>, StoreError> {
        super::Store::write(self).await
    }

    async fn pepper_or_insert(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        if let Some(pepper) = stored_pepper(self.pool()).await? {
            return Ok(pepper);
        }
        // Writers queue on the version row: of two nodes creating the pepper at once, the second
        // finds the first one's (committed before it got the lock) and keeps it.
        let mut tx = self.begin_write().await?;
        let inserted =
            sqlx::query("INSERT INTO authority_pepper (id, pepper) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                .bind(candidate)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let pepper = sqlx::query_scalar::<_, Vec<u8>>("SELECT pepper FROM authority_pepper WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        if inserted == 0 {
            tx.rollback().await?;
        } else {
            Self::bump_and_commit(tx).await?;
        }
        Ok(pepper)
    }

    async fn import_authority(&self, snapshot: &AuthoritySnapshot, replace: bool) -> Result<(), StoreError> {
        check_import(snapshot)?;
        let mut tx = self.begin_write().await?;
        let (tenants, principals) = sqlx::query_as::<_, (i64, i64)>(
            "SELECT (SELECT COUNT(*) FROM authority_tenants), (SELECT COUNT(*) FROM authority_service_principals)",
        )
        .fetch_one(&mut *tx)
        .await?;
        if tenants > 0 {
            if !replace {
                tx.rollback().await?;
                return Err(StoreError::NotEmpty { url: self.authority_url(), what: contents(tenants, principals) });
            }
            // Principals, their SPNs and credentials go with the tenants (ON DELETE CASCADE).
            sqlx::query("DELETE FROM authority_tenants").execute(&mut *tx).await?;
        }
        if let Some(pepper) = &snapshot.pepper {
            sqlx::query(
                "INSERT INTO authority_pepper (id, pepper) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET pepper = excluded.pepper",
            )
            .bind(pepper.as_slice())
            .execute(&mut *tx)
            .await?;
        }
        for tenant in &snapshot.tenants {
            insert_tenant_row(&mut tx, tenant).await?;
        }
        for principal in &snapshot.service_principals {
            insert_principal_row(&mut tx, principal).await?;
            insert_spns(&mut tx, principal).await?;
        }
        for credential in &snapshot.credentials {
            insert_credential_row(&mut tx, credential).await?;
        }
        Self::bump_and_commit(tx).await
    }
}

impl From<TenantRow> for TenantRecord {
    fn from(row: TenantRow) -> Self {
        Self { realm: row.realm, name: row.name, created_at: row.created_at }
    }
}

impl From<PrincipalRow> for ServicePrincipalRecord {
    fn from(row: PrincipalRow) -> Self {
        Self {
            tenant: row.tenant,
            app_id: row.app_id,
            display_name: row.display_name,
            enabled: row.enabled,
            spns: row.spns,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

async fn all_tenants<'e>(executor: impl PgExecutor<'e>) -> Result<Vec<TenantRecord>, StoreError> {
    let rows =
        sqlx::query_as::<_, TenantRow>("SELECT realm, name, created_at FROM authority_tenants ORDER BY realm_key")
            .fetch_all(executor)
            .await?;
    Ok(rows.into_iter().map(TenantRecord::from).collect())
}

pub(super) async fn principal_in<'e>(
    executor: impl PgExecutor<'e>,
    tenant: &str,
    app_id: &str,
) -> Result<Option<ServicePrincipalRecord>, StoreError> {
    let row = sqlx::query_as::<_, PrincipalRow>(sqlx::AssertSqlSafe(format!(
        "{PRINCIPAL_COLUMNS} WHERE tenant_key = $1 AND app_id_key = $2"
    )))
    .bind(tenant.to_ascii_lowercase())
    .bind(app_id.to_ascii_lowercase())
    .fetch_optional(executor)
    .await?;
    Ok(row.map(ServicePrincipalRecord::from))
}

async fn stored_pepper<'e>(executor: impl PgExecutor<'e>) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(sqlx::query_scalar::<_, Vec<u8>>("SELECT pepper FROM authority_pepper WHERE id = 1")
        .fetch_optional(executor)
        .await?)
}

/// A realm clash (case-insensitive) is [`StoreError::Duplicate`].
pub(super) async fn insert_tenant_row(tx: &mut Tx, tenant: &TenantRecord) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO authority_tenants (realm, name, created_at) VALUES ($1, $2, $3)")
        .bind(&tenant.realm)
        .bind(&tenant.name)
        .bind(tenant.created_at)
        .execute(&mut **tx)
        .await
        .map_err(|e| super::duplicate_or(e, "tenant", &tenant.realm))?;
    Ok(())
}

/// Inserts the principal's row (not its SPNs); an app id clash in the tenant is [`StoreError::Duplicate`].
pub(super) async fn insert_principal_row(tx: &mut Tx, principal: &ServicePrincipalRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO authority_service_principals (tenant, app_id, display_name, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&principal.tenant)
    .bind(&principal.app_id)
    .bind(&principal.display_name)
    .bind(principal.enabled)
    .bind(principal.created_at)
    .bind(principal.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| super::duplicate_or(e, "service principal", &principal.app_id))?;
    Ok(())
}

/// Inserts the principal's SPNs in one statement (duplicates, compared case-insensitively, are
/// stored once: the first spelling wins, as with SQLite's `INSERT OR IGNORE`).
pub(super) async fn insert_spns(tx: &mut Tx, principal: &ServicePrincipalRecord) -> Result<(), StoreError> {
    if principal.spns.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO authority_spns (tenant, app_id, spn) \
         SELECT $1, $2, spn FROM UNNEST($3::text[]) WITH ORDINALITY AS s(spn, position) ORDER BY position \
         ON CONFLICT DO NOTHING",
    )
    .bind(&principal.tenant)
    .bind(&principal.app_id)
    .bind(&principal.spns)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// [`StoreError::Duplicate`] on an id clash (case-insensitive).
pub(super) async fn insert_credential_row(tx: &mut Tx, credential: &CredentialRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO authority_credentials (id, tenant, app_id, kind, usage, secret_hash, certificate_der, \
         thumbprint, start_at, end_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&credential.id)
    .bind(&credential.tenant)
    .bind(&credential.app_id)
    .bind(credential.kind.as_str())
    .bind(&credential.usage)
    .bind(credential.secret_hash.as_deref())
    .bind(credential.certificate_der.as_deref())
    .bind(credential.thumbprint.as_deref())
    .bind(credential.start_at)
    .bind(credential.end_at)
    .bind(credential.created_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| super::duplicate_or(e, "credential", &credential.id))?;
    Ok(())
}

pub(super) fn credential_record(row: CredentialRow) -> Result<CredentialRecord, StoreError> {
    let kind = CredentialKind::parse(&row.kind).ok_or_else(|| StoreError::CorruptValue {
        table: "authority_credentials",
        column: "kind",
        detail: format!("`{}` is neither symmetric nor asymmetric", row.kind),
    })?;
    Ok(CredentialRecord {
        id: row.id,
        tenant: row.tenant,
        app_id: row.app_id,
        kind,
        usage: row.usage,
        secret_hash: row.secret_hash,
        certificate_der: row.certificate_der,
        thumbprint: row.thumbprint,
        start_at: row.start_at,
        end_at: row.end_at,
        created_at: row.created_at,
    })
}
