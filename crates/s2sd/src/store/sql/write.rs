//! [`ConfigTransaction`] written once for both backends (compiled per backend like `config.rs`,
//! which says how): a transaction begun by `config::begin_write`, so it holds the writers' lock before
//! its first read; `commit` bumps the version (announcing it on PostgreSQL) in the same
//! transaction; dropping it uncommitted rolls it back.

use std::sync::Arc;

use super::authority;
use super::config::{self, Tx, bump_and_commit};
use super::partners;
use crate::store::authority::{CredentialRecord, ServicePrincipalRecord, TenantRecord};
use crate::store::{CertificateRecord, ConfigTransaction, OAuthConfig, PartnerRecord, StoreError, StoreKey};

/// A write transaction on this backend's store.
pub(super) struct WriteTransaction {
    pub(super) tx: Tx,
    /// The node's store key when the transaction began (checked against the store's before it seals).
    pub(super) key: Arc<StoreKey>,
}

#[async_trait::async_trait]
impl ConfigTransaction for WriteTransaction {
    async fn oauth_config(&mut self) -> Result<Option<OAuthConfig>, StoreError> {
        config::oauth_config_in(&mut *self.tx).await
    }

    async fn set_oauth_config(&mut self, oauth_config: &OAuthConfig) -> Result<(), StoreError> {
        config::upsert_oauth_config(&mut self.tx, oauth_config).await
    }

    async fn certificates(&mut self) -> Result<Vec<CertificateRecord>, StoreError> {
        config::certificates_in(&mut *self.tx, &self.key).await
    }

    async fn install_current_certificate(&mut self, record: &CertificateRecord) -> Result<(), StoreError> {
        let key = config::key_in_force(&mut self.tx, Arc::clone(&self.key)).await?;
        config::install_current(&mut self.tx, &key, record).await
    }

    async fn stage_next_certificate(&mut self, record: &CertificateRecord) -> Result<(), StoreError> {
        let key = config::key_in_force(&mut self.tx, Arc::clone(&self.key)).await?;
        config::stage_next(&mut self.tx, &key, record).await
    }

    async fn promote_next_certificate(&mut self) -> Result<bool, StoreError> {
        config::promote_next(&mut self.tx).await
    }

    async fn remove_certificate(&mut self, thumbprint: &str) -> Result<bool, StoreError> {
        config::remove_certificate_in(&mut self.tx, thumbprint).await
    }

    async fn partners(&mut self) -> Result<Vec<PartnerRecord>, StoreError> {
        partners::all_partners(&mut self.tx).await
    }

    async fn partner(&mut self, name: &str) -> Result<Option<PartnerRecord>, StoreError> {
        partners::partner_in(&mut self.tx, name).await
    }

    async fn insert_partner(&mut self, record: &PartnerRecord) -> Result<(), StoreError> {
        partners::insert_partner(&mut self.tx, record).await
    }

    async fn update_partner(&mut self, record: &PartnerRecord) -> Result<bool, StoreError> {
        partners::update_partner(&mut self.tx, record).await
    }

    async fn remove_partner(&mut self, name: &str) -> Result<bool, StoreError> {
        partners::remove_partner(&mut self.tx, name).await
    }

    async fn tenant(&mut self, realm: &str) -> Result<Option<TenantRecord>, StoreError> {
        authority::tenant_in(&mut self.tx, realm).await
    }

    async fn insert_tenant(&mut self, tenant: &TenantRecord) -> Result<(), StoreError> {
        authority::insert_tenant(&mut self.tx, tenant).await
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
        authority::update_principal(&mut self.tx, principal).await
    }

    async fn remove_service_principal(&mut self, tenant: &str, app_id: &str) -> Result<bool, StoreError> {
        authority::remove_principal(&mut self.tx, tenant, app_id).await
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
        authority::remove_credential(&mut self.tx, tenant, app_id, id).await
    }

    async fn commit(self: Box<Self>) -> Result<i64, StoreError> {
        bump_and_commit(self.tx).await
    }
}
