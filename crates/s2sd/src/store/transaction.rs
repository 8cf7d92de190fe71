//! Write transactions on the configuration: [`ConfigTransaction`], what the admin layer
//! (`crate::admin`) reads, checks and writes through, so that a change is decided on the state it
//! changes.
//!
//! A transaction holds the store's writers' lock from the moment it begins (SQLite: `BEGIN
//! IMMEDIATE`; PostgreSQL: `SELECT … FOR UPDATE` on the version row) until it commits or is
//! dropped: two admins editing the same record queue behind each other, and the second one reads
//! what the first one wrote. [`ConfigTransaction::commit`] bumps the configuration version (and,
//! on PostgreSQL, announces it) in the same transaction; dropping a transaction without committing
//! rolls it back, so an error anywhere leaves the store as it was.
//!
//! Like the rest of the store, a transaction never reads the clock and never validates beyond
//! uniqueness and references: deciding what may change is the admin layer's job.

use super::StoreError;
use super::authority::{CredentialRecord, ServicePrincipalRecord, TenantRecord};
use super::{CertificateRecord, OAuthConfig, PartnerRecord};

/// One write transaction on the configuration and the authority (see the module docs). Names,
/// realms and app ids are matched case-insensitively (ASCII), as everywhere in the store.
#[async_trait::async_trait]
pub trait ConfigTransaction: Send {
    /// Our OAuth configuration.
    async fn oauth_config(&mut self) -> Result<Option<OAuthConfig>, StoreError>;

    /// Creates or replaces our OAuth configuration.
    async fn set_oauth_config(&mut self, config: &OAuthConfig) -> Result<(), StoreError>;

    /// Our certificates, ordered: current, next, previous, then by `created_at`.
    async fn certificates(&mut self) -> Result<Vec<CertificateRecord>, StoreError>;

    /// Makes `record` the current certificate: the current one (if any) becomes previous, the old
    /// previous is deleted, a next one is left alone. `record.role` is ignored.
    async fn install_current_certificate(&mut self, record: &CertificateRecord) -> Result<(), StoreError>;

    /// Stores `record` as the next certificate, replacing an existing next one. `record.role` is ignored.
    async fn stage_next_certificate(&mut self, record: &CertificateRecord) -> Result<(), StoreError>;

    /// Promotes next to current (current → previous, old previous deleted). false without a next.
    async fn promote_next_certificate(&mut self) -> Result<bool, StoreError>;

    /// Removes the certificate with this thumbprint (case-insensitive), whatever its role. false when absent.
    async fn remove_certificate(&mut self, thumbprint: &str) -> Result<bool, StoreError>;

    /// All partners (applications and authorization servers), ordered by name.
    async fn partners(&mut self) -> Result<Vec<PartnerRecord>, StoreError>;

    /// The partner with this name.
    async fn partner(&mut self, name: &str) -> Result<Option<PartnerRecord>, StoreError>;

    /// [`StoreError::Duplicate`] on a name clash.
    async fn insert_partner(&mut self, record: &PartnerRecord) -> Result<(), StoreError>;

    /// Replaces the stored partner named `record.name` wholly, certificates included. false when absent.
    async fn update_partner(&mut self, record: &PartnerRecord) -> Result<bool, StoreError>;

    /// Removes the partner and its certificates. false when absent.
    async fn remove_partner(&mut self, name: &str) -> Result<bool, StoreError>;

    /// The tenant with this realm.
    async fn tenant(&mut self, realm: &str) -> Result<Option<TenantRecord>, StoreError>;

    /// [`StoreError::Duplicate`] when the realm exists.
    async fn insert_tenant(&mut self, tenant: &TenantRecord) -> Result<(), StoreError>;

    /// A service principal with its SPNs.
    async fn service_principal(
        &mut self,
        tenant: &str,
        app_id: &str,
    ) -> Result<Option<ServicePrincipalRecord>, StoreError>;

    /// Inserts a principal with its SPNs: [`StoreError::Duplicate`] when the app id exists in the
    /// tenant, [`StoreError::NotFound`] when the tenant does not exist.
    async fn insert_service_principal(&mut self, principal: &ServicePrincipalRecord) -> Result<(), StoreError>;

    /// Replaces display name, enabled flag, SPNs and `updated_at` of the principal. false when absent.
    async fn update_service_principal(&mut self, principal: &ServicePrincipalRecord) -> Result<bool, StoreError>;

    /// Removes a principal with its SPNs and credentials. false when absent.
    async fn remove_service_principal(&mut self, tenant: &str, app_id: &str) -> Result<bool, StoreError>;

    /// The principal's credentials, oldest first.
    async fn credentials(&mut self, tenant: &str, app_id: &str) -> Result<Vec<CredentialRecord>, StoreError>;

    /// [`StoreError::NotFound`] when the principal does not exist; [`StoreError::Duplicate`] on an id clash.
    async fn insert_credential(&mut self, credential: &CredentialRecord) -> Result<(), StoreError>;

    /// Removes the credential `id` of the principal. false when absent.
    async fn remove_credential(&mut self, tenant: &str, app_id: &str, id: &str) -> Result<bool, StoreError>;

    /// Bumps the configuration version and commits; returns the new version.
    async fn commit(self: Box<Self>) -> Result<i64, StoreError>;
}
