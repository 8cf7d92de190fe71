//! Commands on the authority's tenants: the realms this node's authorization server issues tokens
//! for, each with its metadata document and token endpoint.

use super::{Action, Admin, AdminError, Change, shown};
use crate::store::StoreError;
use crate::store::authority::TenantRecord;

/// Creates a tenant.
#[derive(Debug, Clone, Default)]
pub struct NewTenant {
    /// A GUID; `None`: a new random one.
    pub realm: Option<String>,
    /// A display name; `None` or empty: the realm.
    pub name: Option<String>,
}

impl Admin {
    /// Creates a tenant; refused when the realm exists.
    pub async fn new_tenant(&self, cmd: NewTenant, now: i64) -> Result<(Change, TenantRecord), AdminError> {
        let realm = match cmd.realm {
            Some(r) => s2s::principal::parse_guid(r.trim()).map_err(|_| AdminError::Invalid {
                option: "--realm",
                reason: format!(
                    "`{}` is not a GUID: a tenant realm is a GUID (clients such as node-sp-auth read exactly 36 characters of it)",
                    r.trim()
                ),
            })?,
            None => crate::authority::new_guid().map_err(|_| AdminError::Invalid {
                option: "--realm",
                reason: "no randomness for a new realm; give one".into(),
            })?,
        };
        let name = cmd.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| realm.clone());
        let record = TenantRecord { realm: realm.clone(), name, created_at: now };
        let mut tx = self.begin().await?;
        match tx.insert_tenant(&record).await {
            Err(StoreError::Duplicate { .. }) => return Err(AdminError::TenantExists { realm }),
            other => other?,
        }
        let mut change = Change::new("tenant", realm, Action::Created);
        change.field("name", None, shown(&record.name));
        Ok((Self::finish(tx, change).await?, record))
    }
}
