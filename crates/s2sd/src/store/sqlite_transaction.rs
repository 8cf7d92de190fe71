//! [`ConfigTransaction`] on SQLite: a `BEGIN IMMEDIATE` transaction, so the writer holds the
//! database's write lock before its first read and concurrent writers queue on `busy_timeout`.

use sqlx::{Sqlite, Transaction};

use super::StoreError;
use super::authority::{CredentialRecord, ServicePrincipalRecord, TenantRecord};
use super::sqlite::{self, OAuthConfigRow};
use super::sqlite_authority as authority;
use super::transaction::ConfigTransaction;
use super::{OAuthConfig, PartnerRecord};

/// A write transaction on an SQLite store.
pub(super) struct SqliteTransaction {
    pub(super) tx: Transaction<'static, Sqlite>,
}

#[async_trait::async_trait]
impl ConfigTransaction for SqliteTransaction {
    async fn oauth_config(&mut self) -> Result<Option<OAuthConfig>, StoreError> {
        let row =
            sqlx::query_as::<_, OAuthConfigRow>(sqlite::OAUTH_CONFIG_SELECT).fetch_optional(&mut *self.tx).await?;
        row.map(OAuthConfig::try_from).transpose()
    }

    async fn set_oauth_config(&mut self, config: &OAuthConfig) -> Result<(), StoreError> {
        sqlite::upsert_oauth_config(&mut self.tx, config).await
    }

    async fn partners(&mut self) -> Result<Vec<PartnerRecord>, StoreError> {
        sqlite::all_partners(&mut self.tx).await
    }

    async fn partner(&mut self, name: &str) -> Result<Option<PartnerRecord>, StoreError> {
        sqlite::partner_in(&mut self.tx, name).await
    }

    async fn insert_partner(&mut self, record: &PartnerRecord) -> Result<(), StoreError> {
        sqlite::insert_partner_row(&mut self.tx, record).await?;
        sqlite::replace_partner_certificates(&mut self.tx, &record.name, &record.certificates).await
    }

    async fn update_partner(&mut self, record: &PartnerRecord) -> Result<bool, StoreError> {
        // `name = ?` compares with the column's NOCASE collation; setting `name` takes the new
        // spelling, and ON UPDATE CASCADE carries it to the certificates.
        let updated = sqlx::query(
            "UPDATE partners SET name = ?, application_id = ?, realm = ?, metadata_url = ?, trust_level = ?, \
                 enabled = ?, allow_http_metadata = ?, tls_ca_pem = ?, metadata_fetched_at = ?, \
                 metadata_status = ?, metadata_refresh_interval = ?, linked_account = ?, \
                 accept_security_identifier_information = ?, kind = ?, use_auth_server = ?, created_at = ?, updated_at = ? \
             WHERE name = ?",
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
        .bind(&record.name)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlite::replace_partner_certificates(&mut self.tx, &record.name, &record.certificates).await?;
        Ok(true)
    }

    async fn remove_partner(&mut self, name: &str) -> Result<bool, StoreError> {
        // The certificates go with it (ON DELETE CASCADE).
        let removed =
            sqlx::query("DELETE FROM partners WHERE name = ?").bind(name).execute(&mut *self.tx).await?.rows_affected();
        Ok(removed > 0)
    }

    async fn tenant(&mut self, realm: &str) -> Result<Option<TenantRecord>, StoreError> {
        authority::tenant_in(&mut self.tx, realm).await
    }

    async fn insert_tenant(&mut self, tenant: &TenantRecord) -> Result<(), StoreError> {
        authority::insert_tenant_row(&mut self.tx, tenant).await
    }

    async fn service_principal(
        &mut self,
        tenant: &str,
        app_id: &str,
    ) -> Result<Option<ServicePrincipalRecord>, StoreError> {
        authority::principal_in(&mut self.tx, tenant, app_id).await
    }

    async fn insert_service_principal(&mut self, principal: &ServicePrincipalRecord) -> Result<(), StoreError> {
        if authority::tenant_in(&mut self.tx, &principal.tenant).await?.is_none() {
            return Err(StoreError::NotFound { what: "tenant", name: principal.tenant.clone() });
        }
        authority::insert_principal_row(&mut self.tx, principal).await?;
        authority::insert_spns(&mut self.tx, principal).await
    }

    async fn update_service_principal(&mut self, principal: &ServicePrincipalRecord) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE authority_service_principals SET display_name = ?, enabled = ?, updated_at = ? \
             WHERE tenant = ? AND app_id = ?",
        )
        .bind(&principal.display_name)
        .bind(principal.enabled)
        .bind(principal.updated_at)
        .bind(&principal.tenant)
        .bind(&principal.app_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM authority_spns WHERE tenant = ? AND app_id = ?")
            .bind(&principal.tenant)
            .bind(&principal.app_id)
            .execute(&mut *self.tx)
            .await?;
        authority::insert_spns(&mut self.tx, principal).await?;
        Ok(true)
    }

    async fn remove_service_principal(&mut self, tenant: &str, app_id: &str) -> Result<bool, StoreError> {
        // The SPNs and credentials go with it (ON DELETE CASCADE).
        let removed = sqlx::query("DELETE FROM authority_service_principals WHERE tenant = ? AND app_id = ?")
            .bind(tenant)
            .bind(app_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    async fn credentials(&mut self, tenant: &str, app_id: &str) -> Result<Vec<CredentialRecord>, StoreError> {
        authority::credentials_of(&mut self.tx, tenant, app_id).await
    }

    async fn insert_credential(&mut self, credential: &CredentialRecord) -> Result<(), StoreError> {
        if authority::principal_in(&mut self.tx, &credential.tenant, &credential.app_id).await?.is_none() {
            return Err(StoreError::NotFound {
                what: "service principal",
                name: format!("{}@{}", credential.app_id, credential.tenant),
            });
        }
        authority::insert_credential_row(&mut self.tx, credential).await
    }

    async fn remove_credential(&mut self, tenant: &str, app_id: &str, id: &str) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM authority_credentials WHERE tenant = ? AND app_id = ? AND id = ?")
            .bind(tenant)
            .bind(app_id)
            .bind(id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    async fn commit(self: Box<Self>) -> Result<i64, StoreError> {
        let mut tx = self.tx;
        let version = sqlx::query_scalar::<_, i64>(
            "UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }
}
