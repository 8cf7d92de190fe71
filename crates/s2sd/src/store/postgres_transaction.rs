//! [`ConfigTransaction`] on PostgreSQL: a transaction that starts by locking the one
//! `config_version` row (`SELECT … FOR UPDATE`), so writers queue behind each other and each one
//! reads what the previous one committed; the commit bumps the version and announces it with
//! `pg_notify` in the same transaction.

use super::StoreError;
use super::authority::{CredentialRecord, ServicePrincipalRecord, TenantRecord};
use super::postgres::{self, OAuthConfigRow, PARTNER_COLUMNS, PartnerRow, Tx};
use super::postgres_authority::{self as authority, CREDENTIAL_COLUMNS, CredentialRow, TenantRow};
use super::transaction::ConfigTransaction;
use super::{OAuthConfig, PartnerRecord};

/// A write transaction on a PostgreSQL store.
pub(super) struct PgTransaction {
    pub(super) tx: Tx,
}

#[async_trait::async_trait]
impl ConfigTransaction for PgTransaction {
    async fn oauth_config(&mut self) -> Result<Option<OAuthConfig>, StoreError> {
        let row =
            sqlx::query_as::<_, OAuthConfigRow>(postgres::OAUTH_CONFIG_SELECT).fetch_optional(&mut *self.tx).await?;
        row.map(OAuthConfig::try_from).transpose()
    }

    async fn set_oauth_config(&mut self, config: &OAuthConfig) -> Result<(), StoreError> {
        postgres::upsert_oauth_config(&mut self.tx, config).await
    }

    async fn partners(&mut self) -> Result<Vec<PartnerRecord>, StoreError> {
        let rows = sqlx::query_as::<_, PartnerRow>(dynamic!("{PARTNER_COLUMNS} ORDER BY name_key"))
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows.into_iter().map(PartnerRecord::from).collect())
    }

    async fn partner(&mut self, name: &str) -> Result<Option<PartnerRecord>, StoreError> {
        let row = sqlx::query_as::<_, PartnerRow>(dynamic!("{PARTNER_COLUMNS} WHERE name_key = $1"))
            .bind(name.to_ascii_lowercase())
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(PartnerRecord::from))
    }

    async fn insert_partner(&mut self, record: &PartnerRecord) -> Result<(), StoreError> {
        let id = postgres::insert_partner_row(&mut self.tx, record).await?;
        postgres::insert_partner_certificates(&mut self.tx, id, &record.certificates).await
    }

    async fn update_partner(&mut self, record: &PartnerRecord) -> Result<bool, StoreError> {
        let id = sqlx::query_scalar::<_, i64>(
            "UPDATE partners SET name = $1, application_id = $2, realm = $3, metadata_url = $4, trust_level = $5, \
                 enabled = $6, allow_http_metadata = $7, tls_ca_pem = $8, metadata_fetched_at = $9, \
                 metadata_status = $10, metadata_refresh_interval = $11, linked_account = $12, \
                 accept_security_identifier_information = $13, kind = $14, use_auth_server = $15, created_at = $16, \
                 updated_at = $17 \
             WHERE name_key = $18 RETURNING id",
        )
        .bind(&record.name)
        .bind(&record.application_id)
        .bind(&record.realm)
        .bind(record.metadata_url.as_deref())
        .bind(&record.trust_level)
        .bind(record.enabled)
        .bind(record.allow_http_metadata)
        .bind(record.tls_ca_pem.as_deref())
        .bind(record.metadata_fetched_at)
        .bind(record.metadata_status.as_deref())
        .bind(record.metadata_refresh_interval)
        .bind(record.linked_account.as_deref())
        .bind(record.accept_security_identifier_information)
        .bind(super::kind_text(record.kind))
        .bind(record.use_auth_server)
        .bind(record.created_at)
        .bind(record.updated_at)
        .bind(record.name.to_ascii_lowercase())
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(id) = id else { return Ok(false) };
        sqlx::query("DELETE FROM partner_certificates WHERE partner_id = $1").bind(id).execute(&mut *self.tx).await?;
        postgres::insert_partner_certificates(&mut self.tx, id, &record.certificates).await?;
        Ok(true)
    }

    async fn remove_partner(&mut self, name: &str) -> Result<bool, StoreError> {
        // The certificates go with it (ON DELETE CASCADE).
        let removed = sqlx::query("DELETE FROM partners WHERE name_key = $1")
            .bind(name.to_ascii_lowercase())
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    async fn tenant(&mut self, realm: &str) -> Result<Option<TenantRecord>, StoreError> {
        let row = sqlx::query_as::<_, TenantRow>(
            "SELECT realm, name, created_at FROM authority_tenants WHERE realm_key = $1",
        )
        .bind(realm.to_ascii_lowercase())
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.map(TenantRecord::from))
    }

    async fn insert_tenant(&mut self, tenant: &TenantRecord) -> Result<(), StoreError> {
        authority::insert_tenant_row(&mut self.tx, tenant).await
    }

    async fn service_principal(
        &mut self,
        tenant: &str,
        app_id: &str,
    ) -> Result<Option<ServicePrincipalRecord>, StoreError> {
        authority::principal_in(&mut *self.tx, tenant, app_id).await
    }

    async fn insert_service_principal(&mut self, principal: &ServicePrincipalRecord) -> Result<(), StoreError> {
        if self.tenant(&principal.tenant).await?.is_none() {
            return Err(StoreError::NotFound { what: "tenant", name: principal.tenant.clone() });
        }
        authority::insert_principal_row(&mut self.tx, principal).await?;
        authority::insert_spns(&mut self.tx, principal).await
    }

    async fn update_service_principal(&mut self, principal: &ServicePrincipalRecord) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE authority_service_principals SET display_name = $1, enabled = $2, updated_at = $3 \
             WHERE tenant_key = $4 AND app_id_key = $5",
        )
        .bind(&principal.display_name)
        .bind(principal.enabled)
        .bind(principal.updated_at)
        .bind(principal.tenant.to_ascii_lowercase())
        .bind(principal.app_id.to_ascii_lowercase())
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM authority_spns WHERE tenant_key = $1 AND app_id_key = $2")
            .bind(principal.tenant.to_ascii_lowercase())
            .bind(principal.app_id.to_ascii_lowercase())
            .execute(&mut *self.tx)
            .await?;
        authority::insert_spns(&mut self.tx, principal).await?;
        Ok(true)
    }

    async fn remove_service_principal(&mut self, tenant: &str, app_id: &str) -> Result<bool, StoreError> {
        // The SPNs and credentials go with it (ON DELETE CASCADE).
        let removed = sqlx::query("DELETE FROM authority_service_principals WHERE tenant_key = $1 AND app_id_key = $2")
            .bind(tenant.to_ascii_lowercase())
            .bind(app_id.to_ascii_lowercase())
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    async fn credentials(&mut self, tenant: &str, app_id: &str) -> Result<Vec<CredentialRecord>, StoreError> {
        sqlx::query_as::<_, CredentialRow>(dynamic!(
            "{CREDENTIAL_COLUMNS} WHERE tenant_key = $1 AND app_id_key = $2 ORDER BY created_at, id_key"
        ))
        .bind(tenant.to_ascii_lowercase())
        .bind(app_id.to_ascii_lowercase())
        .fetch_all(&mut *self.tx)
        .await?
        .into_iter()
        .map(authority::credential_record)
        .collect()
    }

    async fn insert_credential(&mut self, credential: &CredentialRecord) -> Result<(), StoreError> {
        if self.service_principal(&credential.tenant, &credential.app_id).await?.is_none() {
            return Err(StoreError::NotFound {
                what: "service principal",
                name: format!("{}@{}", credential.app_id, credential.tenant),
            });
        }
        authority::insert_credential_row(&mut self.tx, credential).await
    }

    async fn remove_credential(&mut self, tenant: &str, app_id: &str, id: &str) -> Result<bool, StoreError> {
        let removed =
            sqlx::query("DELETE FROM authority_credentials WHERE tenant_key = $1 AND app_id_key = $2 AND id_key = $3")
                .bind(tenant.to_ascii_lowercase())
                .bind(app_id.to_ascii_lowercase())
                .bind(id.to_ascii_lowercase())
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        Ok(removed > 0)
    }

    async fn commit(self: Box<Self>) -> Result<i64, StoreError> {
        let mut tx = self.tx;
        let version = sqlx::query_scalar::<_, i64>(
            "WITH bumped AS (UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version) \
             SELECT version FROM bumped, LATERAL (SELECT pg_notify('s2s_config', current_schema() || ':' || version)) n",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }
}
