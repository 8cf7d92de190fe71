//! [`AuthorityStore`] — tenants, service principals with their SPNs, credentials, the pepper —
//! written once for both backends (compiled per backend like `config.rs`, which says how).
//!
//! Writes run in the configuration's write transaction (the writers' lock, so a check-then-insert
//! sees the previous writer's result) and bump the version in it. Realms, app ids, SPNs and
//! credential ids compare case-insensitively in ASCII only: lookups bind the ASCII-lower-cased
//! value against the generated `*_key` columns, which also give the order. A principal's SPNs are
//! read with a second query in the same transaction and grouped here.

use std::collections::HashMap;

use super::config::{Tx, begin_read, begin_write, bump_and_commit};
use super::{Backend, Db};
use crate::store::authority::{
    AuthoritySnapshot, AuthorityStore, CredentialKind, CredentialRecord, ServicePrincipalRecord, TenantRecord,
    check_import, contents,
};
use crate::store::records::unknown_value;
use crate::store::{ConfigTransaction, Store, StoreError, duplicate_or};

#[derive(sqlx::FromRow)]
struct TenantRow {
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
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct SpnRow {
    tenant_key: String,
    app_id_key: String,
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

const TENANT_SELECT: &str = "SELECT realm, name, created_at FROM authority_tenants";

const PRINCIPAL_SELECT: &str =
    "SELECT tenant, app_id, display_name, enabled, created_at, updated_at FROM authority_service_principals";

const SPN_SELECT: &str = "SELECT tenant_key, app_id_key, spn FROM authority_spns";

const CREDENTIAL_SELECT: &str = "SELECT id, tenant, app_id, kind, usage, secret_hash, certificate_der, thumbprint, \
     start_at, end_at, created_at FROM authority_credentials";

#[async_trait::async_trait]
impl AuthorityStore for Backend {
    fn authority_url(&self) -> String {
        Store::url(self)
    }

    async fn authority_snapshot(&self) -> Result<AuthoritySnapshot, StoreError> {
        let mut tx = begin_read(&self.pool).await?;
        let version =
            sqlx::query_scalar::<_, i64>("SELECT version FROM config_version WHERE id = 1").fetch_one(&mut *tx).await?;
        let tenants = all_tenants(&mut tx).await?;
        let rows = sqlx::query_as::<_, PrincipalRow>(dynamic!("{PRINCIPAL_SELECT} ORDER BY tenant_key, app_id_key"))
            .fetch_all(&mut *tx)
            .await?;
        let spns = sqlx::query_as::<_, SpnRow>(dynamic!("{SPN_SELECT} ORDER BY tenant_key, app_id_key, spn_key"))
            .fetch_all(&mut *tx)
            .await?;
        let service_principals = with_spns(rows, spns);
        let credentials = sqlx::query_as::<_, CredentialRow>(dynamic!(
            "{CREDENTIAL_SELECT} ORDER BY tenant_key, app_id_key, created_at, id_key"
        ))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(credential_record)
        .collect::<Result<Vec<_>, _>>()?;
        let pepper = stored_pepper(&mut *tx).await?;
        tx.commit().await?;
        Ok(AuthoritySnapshot { version, tenants, service_principals, credentials, pepper })
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        let mut tx = begin_read(&self.pool).await?;
        let tenants = all_tenants(&mut tx).await?;
        tx.commit().await?;
        Ok(tenants)
    }

    async fn tenant(&self, realm: &str) -> Result<Option<TenantRecord>, StoreError> {
        let mut tx = begin_read(&self.pool).await?;
        let tenant = tenant_in(&mut tx, realm).await?;
        tx.commit().await?;
        Ok(tenant)
    }

    async fn write_authority(&self) -> Result<Box<dyn ConfigTransaction>, StoreError> {
        Store::write(self).await
    }

    async fn service_principals(&self, tenant: &str) -> Result<Vec<ServicePrincipalRecord>, StoreError> {
        let tenant = tenant.to_ascii_lowercase();
        let mut tx = begin_read(&self.pool).await?;
        let rows =
            sqlx::query_as::<_, PrincipalRow>(dynamic!("{PRINCIPAL_SELECT} WHERE tenant_key = $1 ORDER BY app_id_key"))
                .bind(&tenant)
                .fetch_all(&mut *tx)
                .await?;
        let spns =
            sqlx::query_as::<_, SpnRow>(dynamic!("{SPN_SELECT} WHERE tenant_key = $1 ORDER BY app_id_key, spn_key"))
                .bind(&tenant)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(with_spns(rows, spns))
    }

    async fn service_principal(
        &self,
        tenant: &str,
        app_id: &str,
    ) -> Result<Option<ServicePrincipalRecord>, StoreError> {
        let mut tx = begin_read(&self.pool).await?;
        let found = principal_in(&mut tx, tenant, app_id).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn credentials(&self, tenant: &str, app_id: &str) -> Result<Vec<CredentialRecord>, StoreError> {
        let mut tx = begin_read(&self.pool).await?;
        let credentials = credentials_of(&mut tx, tenant, app_id).await?;
        tx.commit().await?;
        Ok(credentials)
    }

    async fn pepper_or_insert(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        if let Some(pepper) = stored_pepper(&self.pool).await? {
            return Ok(pepper);
        }
        // Writers queue on the writers' lock: of two nodes creating the pepper at once, the second
        // finds the first one's (committed before it got the lock) and keeps it.
        let mut tx = begin_write(&self.pool).await?;
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
            bump_and_commit(tx).await?;
        }
        Ok(pepper)
    }

    async fn spend_assertion(&self, key: &str, until: i64, now: i64) -> Result<bool, StoreError> {
        // One statement: a new key is inserted; a key whose memory has lapsed is taken over; a key
        // still remembered is left alone and affects no row. Of two nodes racing, one inserts and
        // the other's conflict finds the row remembered.
        let spent = sqlx::query(
            "INSERT INTO spent_assertions (key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE spent_assertions.expires_at < $3",
        )
        .bind(key)
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(spent == 1)
    }

    async fn purge_spent_assertions(&self, now: i64) -> Result<u64, StoreError> {
        let purged = sqlx::query("DELETE FROM spent_assertions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(purged)
    }

    async fn import_authority(&self, snapshot: &AuthoritySnapshot, replace: bool) -> Result<(), StoreError> {
        check_import(snapshot)?;
        let mut tx = begin_write(&self.pool).await?;
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
            insert_tenant(&mut tx, tenant).await?;
        }
        for principal in &snapshot.service_principals {
            insert_principal_row(&mut tx, principal).await?;
            insert_spns(&mut tx, principal).await?;
        }
        for credential in &snapshot.credentials {
            insert_credential_row(&mut tx, credential).await?;
        }
        bump_and_commit(tx).await?;
        Ok(())
    }
}

async fn all_tenants(tx: &mut Tx) -> Result<Vec<TenantRecord>, StoreError> {
    let rows =
        sqlx::query_as::<_, TenantRow>(dynamic!("{TENANT_SELECT} ORDER BY realm_key")).fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(tenant_record).collect())
}

/// The tenant with this realm, read in `tx`.
pub(super) async fn tenant_in(tx: &mut Tx, realm: &str) -> Result<Option<TenantRecord>, StoreError> {
    let row = sqlx::query_as::<_, TenantRow>(dynamic!("{TENANT_SELECT} WHERE realm_key = $1"))
        .bind(realm.to_ascii_lowercase())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(tenant_record))
}

/// A realm clash (case-insensitive) is [`StoreError::Duplicate`].
pub(super) async fn insert_tenant(tx: &mut Tx, tenant: &TenantRecord) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO authority_tenants (realm, name, created_at) VALUES ($1, $2, $3)")
        .bind(&tenant.realm)
        .bind(&tenant.name)
        .bind(tenant.created_at)
        .execute(&mut **tx)
        .await
        .map_err(|e| duplicate_or(e, "tenant", &tenant.realm))?;
    Ok(())
}

/// The principal with its SPNs, read in `tx`.
pub(super) async fn principal_in(
    tx: &mut Tx,
    tenant: &str,
    app_id: &str,
) -> Result<Option<ServicePrincipalRecord>, StoreError> {
    let (tenant, app_id) = (tenant.to_ascii_lowercase(), app_id.to_ascii_lowercase());
    let row =
        sqlx::query_as::<_, PrincipalRow>(dynamic!("{PRINCIPAL_SELECT} WHERE tenant_key = $1 AND app_id_key = $2"))
            .bind(&tenant)
            .bind(&app_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let spns = sqlx::query_as::<_, SpnRow>(dynamic!(
        "{SPN_SELECT} WHERE tenant_key = $1 AND app_id_key = $2 ORDER BY spn_key"
    ))
    .bind(&tenant)
    .bind(&app_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(with_spns(vec![row], spns).pop())
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
    .map_err(|e| duplicate_or(e, "service principal", &principal.app_id))?;
    Ok(())
}

/// Replaces display name, enabled flag, SPNs and `updated_at` of the principal. false when absent.
pub(super) async fn update_principal(tx: &mut Tx, principal: &ServicePrincipalRecord) -> Result<bool, StoreError> {
    let (tenant, app_id) = (principal.tenant.to_ascii_lowercase(), principal.app_id.to_ascii_lowercase());
    let updated = sqlx::query(
        "UPDATE authority_service_principals SET display_name = $1, enabled = $2, updated_at = $3 \
         WHERE tenant_key = $4 AND app_id_key = $5",
    )
    .bind(&principal.display_name)
    .bind(principal.enabled)
    .bind(principal.updated_at)
    .bind(&tenant)
    .bind(&app_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM authority_spns WHERE tenant_key = $1 AND app_id_key = $2")
        .bind(&tenant)
        .bind(&app_id)
        .execute(&mut **tx)
        .await?;
    insert_spns(tx, principal).await?;
    Ok(true)
}

/// Removes a principal with its SPNs and credentials (ON DELETE CASCADE). false when absent.
pub(super) async fn remove_principal(tx: &mut Tx, tenant: &str, app_id: &str) -> Result<bool, StoreError> {
    let removed = sqlx::query("DELETE FROM authority_service_principals WHERE tenant_key = $1 AND app_id_key = $2")
        .bind(tenant.to_ascii_lowercase())
        .bind(app_id.to_ascii_lowercase())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(removed > 0)
}

/// Inserts the principal's SPNs, in order (duplicates, compared case-insensitively, are stored
/// once: the first spelling wins).
pub(super) async fn insert_spns(tx: &mut Tx, principal: &ServicePrincipalRecord) -> Result<(), StoreError> {
    for spn in &principal.spns {
        sqlx::query("INSERT INTO authority_spns (tenant, app_id, spn) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(&principal.tenant)
            .bind(&principal.app_id)
            .bind(spn)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The principal's credentials, oldest first, read in `tx`.
pub(super) async fn credentials_of(
    tx: &mut Tx,
    tenant: &str,
    app_id: &str,
) -> Result<Vec<CredentialRecord>, StoreError> {
    sqlx::query_as::<_, CredentialRow>(dynamic!(
        "{CREDENTIAL_SELECT} WHERE tenant_key = $1 AND app_id_key = $2 ORDER BY created_at, id_key"
    ))
    .bind(tenant.to_ascii_lowercase())
    .bind(app_id.to_ascii_lowercase())
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(credential_record)
    .collect()
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
    .map_err(|e| duplicate_or(e, "credential", &credential.id))?;
    Ok(())
}

/// Removes the credential `id` of the principal. false when absent.
pub(super) async fn remove_credential(tx: &mut Tx, tenant: &str, app_id: &str, id: &str) -> Result<bool, StoreError> {
    let removed =
        sqlx::query("DELETE FROM authority_credentials WHERE tenant_key = $1 AND app_id_key = $2 AND id_key = $3")
            .bind(tenant.to_ascii_lowercase())
            .bind(app_id.to_ascii_lowercase())
            .bind(id.to_ascii_lowercase())
            .execute(&mut **tx)
            .await?
            .rows_affected();
    Ok(removed > 0)
}

async fn stored_pepper<'e>(executor: impl sqlx::Executor<'e, Database = Db>) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(sqlx::query_scalar::<_, Vec<u8>>("SELECT pepper FROM authority_pepper WHERE id = 1")
        .fetch_optional(executor)
        .await?)
}

fn tenant_record(row: TenantRow) -> TenantRecord {
    TenantRecord { realm: row.realm, name: row.name, created_at: row.created_at }
}

/// Principals with their SPNs (each list in the order the SPN rows come in).
fn with_spns(rows: Vec<PrincipalRow>, spns: Vec<SpnRow>) -> Vec<ServicePrincipalRecord> {
    let mut by_principal: HashMap<(String, String), Vec<String>> = HashMap::new();
    for row in spns {
        by_principal.entry((row.tenant_key, row.app_id_key)).or_default().push(row.spn);
    }
    rows.into_iter()
        .map(|row| {
            let key = (row.tenant.to_ascii_lowercase(), row.app_id.to_ascii_lowercase());
            ServicePrincipalRecord {
                spns: by_principal.remove(&key).unwrap_or_default(),
                tenant: row.tenant,
                app_id: row.app_id,
                display_name: row.display_name,
                enabled: row.enabled,
                created_at: row.created_at,
                updated_at: row.updated_at,
            }
        })
        .collect()
}

fn credential_record(row: CredentialRow) -> Result<CredentialRecord, StoreError> {
    let kind = CredentialKind::parse(&row.kind).ok_or_else(|| {
        unknown_value("authority_credentials", "kind", "credential", &row.id, &row.kind, "symmetric or asymmetric")
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
