//! The authority store: what the authorization-server role (`crate::authority`) issues tokens
//! from — tenants (realms), their service principals with service principal names, credentials
//! (client-secret hashes and verification certificates) and the pepper that keys the secret
//! hashes — behind one [`AuthorityStore`] trait.
//!
//! This is configuration: every write is one transaction that also bumps the configuration version
//! ([`super::Store::version`]), so running nodes reload the authority within a poll interval.
//! Like [`super::Store`], it never reads the clock, never generates ids, secrets or peppers (the
//! caller passes them in) and never checks values beyond uniqueness and references: normalising
//! GUIDs, hashing secrets and parsing certificates are the CLI's and `crate::authority`'s job.
//! A secret never reaches this module, only its keyed hash.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::StoreError;
use super::transaction::ConfigTransaction;

/// A tenant of the authority: a realm with its own metadata document and token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Lower-case GUID; unique (compared case-insensitively).
    pub realm: String,
    /// Display name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A service principal of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePrincipalRecord {
    /// The tenant's realm.
    pub tenant: String,
    /// Lower-case GUID; unique within the tenant.
    pub app_id: String,
    pub display_name: String,
    /// Disabled principals neither get tokens nor are tokens issued for them.
    pub enabled: bool,
    /// Service principal names, `<appId>/<host>` in lower case, in the order stored (sorted).
    pub spns: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A client secret or a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    /// A generated client secret, stored as its keyed hash.
    Symmetric,
    /// A certificate whose public key verifies the principal's client assertions.
    Asymmetric,
}

/// One credential of a service principal. Exactly one of `secret_hash` (symmetric) and
/// `certificate_der` (asymmetric) is set.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    /// Lower-case GUID; unique.
    pub id: String,
    pub tenant: String,
    pub app_id: String,
    pub kind: CredentialKind,
    /// `verify` (the only usage a token endpoint needs).
    pub usage: String,
    /// HMAC-SHA256(pepper, secret). Never serialised and never printed by `Debug`.
    #[serde(skip)]
    pub secret_hash: Option<Vec<u8>>,
    /// The DER certificate of an asymmetric credential.
    pub certificate_der: Option<Vec<u8>>,
    /// Upper-case hex SHA-1 of the certificate.
    pub thumbprint: Option<String>,
    /// Valid from (unix seconds).
    pub start_at: i64,
    /// Valid until (unix seconds).
    pub end_at: i64,
    /// Unix seconds.
    pub created_at: i64,
}

/// Everything the authority serves from, read in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthoritySnapshot {
    /// The configuration version it was read at.
    pub version: i64,
    /// Ordered by realm.
    pub tenants: Vec<TenantRecord>,
    /// Ordered by tenant, then app id.
    pub service_principals: Vec<ServicePrincipalRecord>,
    /// Ordered by tenant, app id, then `created_at`.
    pub credentials: Vec<CredentialRecord>,
    /// The secret-hash pepper, once created.
    pub pepper: Option<Vec<u8>>,
}

/// The authority's configuration store. Used as `Arc<dyn AuthorityStore>`; every write is one
/// transaction that bumps the configuration version. Tenants are matched by realm and principals
/// by app id case-insensitively.
#[async_trait::async_trait]
pub trait AuthorityStore: Send + Sync + 'static {
    /// The store's URL, for messages.
    fn authority_url(&self) -> String;

    /// Everything, at one configuration version.
    async fn authority_snapshot(&self) -> Result<AuthoritySnapshot, StoreError>;

    /// All tenants, ordered by realm.
    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError>;

    async fn tenant(&self, realm: &str) -> Result<Option<TenantRecord>, StoreError>;

    /// Starts a write transaction on the configuration (the same as [`super::Store::write`]).
    async fn write_authority(&self) -> Result<Box<dyn ConfigTransaction>, StoreError>;

    /// [`StoreError::Duplicate`] when the realm exists.
    async fn insert_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError> {
        let mut tx = self.write_authority().await?;
        tx.insert_tenant(tenant).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's service principals with their SPNs, ordered by app id.
    async fn service_principals(&self, tenant: &str) -> Result<Vec<ServicePrincipalRecord>, StoreError>;

    async fn service_principal(&self, tenant: &str, app_id: &str)
    -> Result<Option<ServicePrincipalRecord>, StoreError>;

    /// Inserts a principal with its SPNs. [`StoreError::Duplicate`] when the app id exists in the
    /// tenant; [`StoreError::NotFound`] when the tenant does not exist.
    async fn insert_service_principal(&self, principal: &ServicePrincipalRecord) -> Result<(), StoreError> {
        let mut tx = self.write_authority().await?;
        tx.insert_service_principal(principal).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces display name, enabled flag, SPNs and `updated_at` of the principal. false when absent.
    async fn update_service_principal(&self, principal: &ServicePrincipalRecord) -> Result<bool, StoreError> {
        let mut tx = self.write_authority().await?;
        if !tx.update_service_principal(principal).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Removes a principal with its SPNs and credentials. false when absent.
    async fn remove_service_principal(&self, tenant: &str, app_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_authority().await?;
        if !tx.remove_service_principal(tenant, app_id).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The principal's credentials, oldest first.
    async fn credentials(&self, tenant: &str, app_id: &str) -> Result<Vec<CredentialRecord>, StoreError>;

    /// [`StoreError::NotFound`] when the principal does not exist; [`StoreError::Duplicate`] on an id clash.
    async fn insert_credential(&self, credential: &CredentialRecord) -> Result<(), StoreError> {
        let mut tx = self.write_authority().await?;
        tx.insert_credential(credential).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the credential `id` of the principal. false when absent.
    async fn remove_credential(&self, tenant: &str, app_id: &str, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_authority().await?;
        if !tx.remove_credential(tenant, app_id, id).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The pepper of the secret hashes: the stored one, or `candidate` stored now when there is
    /// none yet (the first caller wins; every caller gets the stored value).
    async fn pepper_or_insert(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Loads `snapshot` (its `version` aside) in one transaction that bumps the version.
    /// [`StoreError::NotEmpty`] when a tenant exists, unless `replace`, which first removes every
    /// tenant with its principals, SPNs and credentials, and the pepper when the snapshot carries
    /// one. The snapshot's pepper, if any, becomes the store's. Refused before anything is written
    /// ([`StoreError::CorruptValue`]): a symmetric credential without its secret hash (dumps made
    /// without secrets leave those out), or symmetric credentials without the pepper their hashes
    /// are keyed with. A principal whose tenant, or a credential whose principal, the snapshot
    /// lacks is [`StoreError::NotFound`]; a clash within it [`StoreError::Duplicate`].
    async fn import_authority(&self, snapshot: &AuthoritySnapshot, replace: bool) -> Result<(), StoreError>;

    /// Spends the client assertion `key` (a digest naming tenant, client and assertion), remembered
    /// until `until`: true when this call spent it, false when it was spent before and is still
    /// remembered at `now` (a replay). Atomic across every node of the store; not configuration
    /// (no version bump).
    async fn spend_assertion(&self, key: &str, until: i64, now: i64) -> Result<bool, StoreError>;

    /// Forgets the spent assertions remembered until before `now`; returns how many.
    async fn purge_spent_assertions(&self, now: i64) -> Result<u64, StoreError>;
}

impl CredentialKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Symmetric => "symmetric",
            Self::Asymmetric => "asymmetric",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "symmetric" => Some(Self::Symmetric),
            "asymmetric" => Some(Self::Asymmetric),
            _ => None,
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CredentialRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialRecord")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("app_id", &self.app_id)
            .field("kind", &self.kind)
            .field("usage", &self.usage)
            .field("secret_hash", &self.secret_hash.as_ref().map(|_| "<redacted>"))
            .field("certificate_der", &self.certificate_der.as_ref().map(Vec::len))
            .field("thumbprint", &self.thumbprint)
            .field("start_at", &self.start_at)
            .field("end_at", &self.end_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Refuses a snapshot [`AuthorityStore::import_authority`] cannot load faithfully, before anything
/// is written: a symmetric credential without its secret hash, secret hashes without their pepper,
/// a principal of a tenant or a credential of a principal the snapshot does not hold (the store
/// holds no tenant when the import starts, so references can only be to the snapshot itself).
pub(super) fn check_import(snapshot: &AuthoritySnapshot) -> Result<(), StoreError> {
    for principal in &snapshot.service_principals {
        if !snapshot.tenants.iter().any(|t| t.realm.eq_ignore_ascii_case(&principal.tenant)) {
            return Err(StoreError::NotFound { what: "tenant", name: principal.tenant.clone() });
        }
    }
    for credential in &snapshot.credentials {
        let owner = snapshot.service_principals.iter().any(|p| {
            p.tenant.eq_ignore_ascii_case(&credential.tenant) && p.app_id.eq_ignore_ascii_case(&credential.app_id)
        });
        if !owner {
            return Err(StoreError::NotFound {
                what: "service principal",
                name: format!("{}@{}", credential.app_id, credential.tenant),
            });
        }
        if credential.kind != CredentialKind::Symmetric {
            continue;
        }
        if credential.secret_hash.is_none() {
            return Err(StoreError::CorruptValue {
                table: "authority_credentials",
                column: "secret_hash",
                detail: format!(
                    "the client secret {} of {}@{} comes without its hash (a dump made without secrets): make the \
                     dump with its secrets, or leave the credential out and add a new secret after the import",
                    credential.id, credential.app_id, credential.tenant
                ),
            });
        }
        if snapshot.pepper.is_none() {
            return Err(StoreError::CorruptValue {
                table: "authority_pepper",
                column: "pepper",
                detail: format!(
                    "the client secret {} of {}@{} comes without the pepper its hash is keyed with",
                    credential.id, credential.app_id, credential.tenant
                ),
            });
        }
    }
    Ok(())
}

/// What a non-empty authority store holds, for [`StoreError::NotEmpty`].
pub(super) fn contents(tenants: i64, principals: i64) -> String {
    let plural = |n: i64, one: &str, many: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {many}") };
    let mut text = plural(tenants, "tenant", "tenants");
    if principals > 0 {
        text.push_str(&format!(" with {}", plural(principals, "service principal", "service principals")));
    }
    text
}
