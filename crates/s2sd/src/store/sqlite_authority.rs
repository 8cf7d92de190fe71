//! [`AuthorityStore`] on the SQLite backend: the tables of `migrations/sqlite/0004_authority.sql`.
//! Writes take the write lock first (`BEGIN IMMEDIATE`) and bump `config_version` in the same
//! transaction; the snapshot is read in one (deferred) transaction. An import is one write.

use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::StoreError;
use super::authority::{
    AuthoritySnapshot, AuthorityStore, CredentialKind, CredentialRecord, ServicePrincipalRecord, TenantRecord,
    check_import, contents,
};
use super::sqlite::SqliteStore;
use super::transaction::ConfigTransaction;

type Tx = Transaction<'static, Sqlite>;

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    tenant: String,
    app_id: String,
    display_name: String,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct SpnRow {
    tenant: String,
    app_id: String,
    spn: String,
}

#[derive(sqlx::FromRow)]
struct CredentialRow {
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

impl SqliteStore {
    async fn begin_authority_write(&self) -> Result<Tx, StoreError> {
        Ok(self.pool().begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn bump_authority_and_commit(mut tx: Tx) -> Result<(), StoreError> {
        sqlx::query("UPDATE config_version SET version = version + 1 WHERE id = 1").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl AuthorityStore for SqliteStore {
    fn authority_url(&self) -> String {
        super::Store::url(self)
    }

    async fn authority_snapshot(&self) -> Result<AuthoritySnapshot, StoreError> {
        let mut tx = self.pool().begin().await?;
        let version =
            sqlx::query_scalar::<_, i64>("SELECT version FROM config_version WHERE id = 1").fetch_one(&mut *tx).await?;
        let tenants = all_tenants(&mut tx).await?;
        let rows = sqlx::query_as::<_, PrincipalRow>(
            "SELECT tenant, app_id, display_name, enabled, created_at, updated_at FROM authority_service_principals \
             ORDER BY tenant, app_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let spns = sqlx::query_as::<_, SpnRow>("SELECT tenant, app_id, spn FROM authority_spns ORDER BY spn")
            .fetch_all(&mut *tx)
            .await?;
        let service_principals = rows
            .into_iter()
            .map(|row| {
                let mine = spns
                    .iter()
                    .filter(|s| {
                        s.tenant.eq_ignore_ascii_case(&row.tenant) && s.app_id.eq_ignore_ascii_case(&row.app_id)
                    })
                    .map(|s| s.spn.clone())
                    .collect();
                principal_record(row, mine)
            })
            .collect();
        let credentials = sqlx::query_as::<_, CredentialRow>(
            "SELECT id, tenant, app_id, kind, usage, secret_hash, certificate_der, thumbprint, start_at, end_at, \
             created_at FROM authority_credentials ORDER BY tenant, app_id, created_at, id",
        )
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
        let mut conn = self.pool().acquire().await?;
        all_tenants(&mut conn).await
    }

    async fn tenant(&self, realm: &str) -> Result<Option<TenantRecord>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let tenant = tenant_in(&mut tx, realm).await?;
        tx.commit().await?;
        Ok(tenant)
    }

    async fn service_principals(&self, tenant: &str) -> Result<Vec<ServicePrincipalRecord>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query_as::<_, PrincipalRow>(
            "SELECT tenant, app_id, display_name, enabled, created_at, updated_at FROM authority_service_principals \
             WHERE tenant = ? ORDER BY app_id",
        )
        .bind(tenant)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let spns = principal_spns(&mut tx, &row.tenant, &row.app_id).await?;
            out.push(principal_record(row, spns));
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn service_principal(
        &self,
        tenant: &str,
        app_id: &str,
    ) -> Result<Option<ServicePrincipalRecord>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let found = principal_in(&mut tx, tenant, app_id).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn credentials(&self, tenant: &str, app_id: &str) -> Result<Vec<CredentialRecord>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let credentials = credentials_of(&mut tx, tenant, app_id).await?;
        tx.commit().await?;
        Ok(credentials)
    }

    async fn write_authority(&self) -> Result<Box<dyn ConfigTransaction>, StoreError> {
        super::Store::write(self).await
    }

    async fn pepper_or_insert(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        if let Some(pepper) = sqlx::query_scalar::<_, Vec<u8>>("SELECT pepper FROM authority_pepper WHERE id = 1")
            .fetch_optional(self.pool())
            .await?
        {
            return Ok(pepper);
        }
        let mut tx = self.begin_authority_write().await?;
        let inserted = sqlx::query("INSERT OR IGNORE INTO authority_pepper (id, pepper) VALUES (1, ?)")
            .bind(candidate)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let pepper = sqlx::query_scalar::<_, Vec<u8>>("SELECT pepper FROM authority_pepper WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        if inserted == 0 {
            tx.commit().await?;
        } else {
            Self::bump_authority_and_commit(tx).await?;
        }
        Ok(pepper)
    }

    async fn import_authority(&self, snapshot: &AuthoritySnapshot, replace: bool) -> Result<(), StoreError> {
        check_import(snapshot)?;
        let mut tx = self.begin_authority_write().await?;
        let (tenants, principals) = sqlx::query_as::<_, (i64, i64)>(
            "SELECT (SELECT COUNT(*) FROM authority_tenants), (SELECT COUNT(*) FROM authority_service_principals)",
        )
        .fetch_one(&mut *tx)
        .await?;
        if tenants > 0 {
            if !replace {
                return Err(StoreError::NotEmpty { url: self.authority_url(), what: contents(tenants, principals) });
            }
            // Principals, their SPNs and credentials go with the tenants (ON DELETE CASCADE).
            sqlx::query("DELETE FROM authority_tenants").execute(&mut *tx).await?;
        }
        if let Some(pepper) = &snapshot.pepper {
            sqlx::query("INSERT INTO authority_pepper (id, pepper) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET pepper = excluded.pepper")
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
        Self::bump_authority_and_commit(tx).await
    }
}

async fn all_tenants(conn: &mut SqliteConnection) -> Result<Vec<TenantRecord>, StoreError> {
    let rows = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT realm, name, created_at FROM authority_tenants ORDER BY realm",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(realm, name, created_at)| TenantRecord { realm, name, created_at }).collect())
}

pub(super) async fn insert_tenant_row(tx: &mut Tx, tenant: &TenantRecord) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO authority_tenants (realm, name, created_at) VALUES (?, ?, ?)")
        .bind(&tenant.realm)
        .bind(&tenant.name)
        .bind(tenant.created_at)
        .execute(&mut **tx)
        .await
        .map_err(|e| duplicate_or(e, "tenant", &tenant.realm))?;
    Ok(())
}

/// Inserts the principal's row (not its SPNs); an app id clash in the tenant is [`StoreError::Duplicate`].
pub(super) async fn insert_principal_row(tx: &mut Tx, principal: &ServicePrincipalRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO authority_service_principals (tenant, app_id, display_name, enabled, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&principal.tenant)
    .bind(&principal.app_id)
    .bind(&principal.display_name)
    .bind(principal.enabled)
    .bind(principal.created_at)
    .bind(principal.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| duplicate_or(e, "service principal", &principal.app_id))?;
    Ok(())
}

pub(super) async fn insert_credential_row(tx: &mut Tx, credential: &CredentialRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO authority_credentials (id, tenant, app_id, kind, usage, secret_hash, certificate_der, \
         thumbprint, start_at, end_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .map_err(|e| duplicate_or(e, "credential", &credential.id))?;
    Ok(())
}

/// The tenant with this realm, read in `tx`.
pub(super) async fn tenant_in(tx: &mut Tx, realm: &str) -> Result<Option<TenantRecord>, StoreError> {
    let row = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT realm, name, created_at FROM authority_tenants WHERE realm = ?",
    )
    .bind(realm)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(realm, name, created_at)| TenantRecord { realm, name, created_at }))
}

/// The principal's credentials, oldest first, read in `tx`.
pub(super) async fn credentials_of(
    tx: &mut Tx,
    tenant: &str,
    app_id: &str,
) -> Result<Vec<CredentialRecord>, StoreError> {
    sqlx::query_as::<_, CredentialRow>(
        "SELECT id, tenant, app_id, kind, usage, secret_hash, certificate_der, thumbprint, start_at, end_at, \
         created_at FROM authority_credentials WHERE tenant = ? AND app_id = ? ORDER BY created_at, id",
    )
    .bind(tenant)
    .bind(app_id)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(credential_record)
    .collect()
}

pub(super) async fn principal_in(
    tx: &mut Tx,
    tenant: &str,
    app_id: &str,
) -> Result<Option<ServicePrincipalRecord>, StoreError> {
    let row = sqlx::query_as::<_, PrincipalRow>(
        "SELECT tenant, app_id, display_name, enabled, created_at, updated_at FROM authority_service_principals \
         WHERE tenant = ? AND app_id = ?",
    )
    .bind(tenant)
    .bind(app_id)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => {
            let spns = principal_spns(tx, &row.tenant, &row.app_id).await?;
            Ok(Some(principal_record(row, spns)))
        }
        None => Ok(None),
    }
}

async fn principal_spns(tx: &mut Tx, tenant: &str, app_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, String>("SELECT spn FROM authority_spns WHERE tenant = ? AND app_id = ? ORDER BY spn")
        .bind(tenant)
        .bind(app_id)
        .fetch_all(&mut **tx)
        .await?)
}

/// Inserts the principal's SPNs (duplicates, compared case-insensitively, are stored once).
pub(super) async fn insert_spns(tx: &mut Tx, principal: &ServicePrincipalRecord) -> Result<(), StoreError> {
    for spn in &principal.spns {
        sqlx::query("INSERT OR IGNORE INTO authority_spns (tenant, app_id, spn) VALUES (?, ?, ?)")
            .bind(&principal.tenant)
            .bind(&principal.app_id)
            .bind(spn)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn principal_record(row: PrincipalRow, spns: Vec<String>) -> ServicePrincipalRecord {
    ServicePrincipalRecord {
        tenant: row.tenant,
        app_id: row.app_id,
        display_name: row.display_name,
        enabled: row.enabled,
        spns,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn credential_record(row: CredentialRow) -> Result<CredentialRecord, StoreError> {
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

fn duplicate_or(error: sqlx::Error, what: &'static str, name: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate { what, name: name.to_owned() },
        _ => StoreError::Database(error),
    }
}
