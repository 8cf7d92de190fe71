//! Commands on the authority's service principals (`New-/Set-/Remove-MsolServicePrincipal`,
//! `Set-MsolServicePrincipal -ServicePrincipalNames`, `New-/Remove-MsolServicePrincipalCredential`):
//! each reads the principal inside its transaction, so concurrent SPN or credential edits of one
//! principal all land, and a disable never races an edit back to enabled.

use super::{Action, Admin, AdminError, Change, shown};
use crate::authority::Spn;
use crate::store::ConfigTransaction;
use crate::store::StoreError;
use crate::store::authority::{CredentialKind, CredentialRecord, ServicePrincipalRecord};

/// Registers a service principal in a tenant.
#[derive(Debug, Clone)]
pub struct NewServicePrincipal {
    pub tenant: String,
    /// A GUID, or a well-known name (exchange, sharepoint, lync).
    pub app_id: String,
    pub display_name: String,
    /// `<app id>/<host>` (host may be `*.<domain>`); normalised and de-duplicated.
    pub spns: Vec<String>,
    pub enabled: bool,
}

/// Changes the named fields of a service principal.
#[derive(Debug, Clone, Default)]
pub struct SetServicePrincipal {
    pub tenant: String,
    pub app_id: String,
    pub enabled: Option<bool>,
    pub display_name: Option<String>,
}

/// Adds SPNs to a principal (present ones are left as they are), or removes them (each must be present).
#[derive(Debug, Clone)]
pub struct SpnEdit {
    pub tenant: String,
    pub app_id: String,
    pub spns: Vec<String>,
    /// true: add; false: remove.
    pub add: bool,
}

/// Removes a principal with its SPNs and credentials.
#[derive(Debug, Clone)]
pub struct RemoveServicePrincipal {
    pub tenant: String,
    pub app_id: String,
}

/// Adds a credential (a secret's keyed hash, or a certificate) to its principal.
#[derive(Debug, Clone)]
pub struct AddCredential {
    pub credential: CredentialRecord,
}

/// Removes one credential of a principal.
#[derive(Debug, Clone)]
pub struct RemoveCredential {
    pub tenant: String,
    pub app_id: String,
    pub id: String,
}

impl Admin {
    /// Registers a service principal; refused when the app id exists in the tenant.
    pub async fn new_service_principal(
        &self,
        cmd: NewServicePrincipal,
        now: i64,
    ) -> Result<(Change, ServicePrincipalRecord), AdminError> {
        let app_id = app_id(&cmd.app_id)?;
        let display_name = cmd.display_name.trim().to_owned();
        if display_name.is_empty() {
            return Err(AdminError::Invalid { option: "--display-name", reason: "must not be empty".into() });
        }
        let mut spns = Vec::new();
        for text in &cmd.spns {
            let spn = parse_spn(&app_id, text)?;
            if !spns.contains(&spn) {
                spns.push(spn);
            }
        }
        let record = ServicePrincipalRecord {
            tenant: cmd.tenant.clone(),
            app_id: app_id.clone(),
            display_name,
            enabled: cmd.enabled,
            spns,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin().await?;
        if tx.tenant(&cmd.tenant).await?.is_none() {
            return Err(AdminError::TenantNotFound { realm: cmd.tenant });
        }
        match tx.insert_service_principal(&record).await {
            Err(StoreError::Duplicate { .. }) => {
                return Err(AdminError::ServicePrincipalExists { tenant: cmd.tenant, app_id });
            }
            other => other?,
        }
        let mut change = Change::new("service principal", format!("{app_id}@{}", record.tenant), Action::Created);
        change.field("display name", None, shown(&record.display_name));
        change.field("enabled", None, shown(record.enabled));
        change.field("SPNs", None, (!record.spns.is_empty()).then(|| record.spns.join(", ")));
        Ok((Self::finish(tx, change).await?, record))
    }

    /// Changes the fields `cmd` names.
    pub async fn set_service_principal(
        &self,
        cmd: SetServicePrincipal,
        now: i64,
    ) -> Result<(Change, ServicePrincipalRecord), AdminError> {
        if cmd.enabled.is_none() && cmd.display_name.is_none() {
            return Err(AdminError::NothingToChange { options: "--enabled or --display-name" });
        }
        let display_name = cmd.display_name.as_deref().map(str::trim).map(str::to_owned);
        if display_name.as_deref() == Some("") {
            return Err(AdminError::Invalid { option: "--display-name", reason: "must not be empty".into() });
        }
        let mut tx = self.begin().await?;
        let before = get(tx.as_mut(), &cmd.tenant, &cmd.app_id).await?;
        let mut p = before.clone();
        if let Some(enabled) = cmd.enabled {
            p.enabled = enabled;
        }
        if let Some(name) = display_name {
            p.display_name = name;
        }
        let mut change = Change::new("service principal", name(&p), Action::Changed);
        change.field("enabled", shown(before.enabled), shown(p.enabled));
        change.field("display name", shown(&before.display_name), shown(&p.display_name));
        if !change.is_empty() {
            p.updated_at = now;
            tx.update_service_principal(&p).await?;
        }
        Ok((Self::finish(tx, change).await?, p))
    }

    /// Adds or removes SPNs.
    pub async fn edit_spns(&self, cmd: SpnEdit, now: i64) -> Result<(Change, ServicePrincipalRecord), AdminError> {
        let mut tx = self.begin().await?;
        let before = get(tx.as_mut(), &cmd.tenant, &cmd.app_id).await?;
        let mut p = before.clone();
        for text in &cmd.spns {
            let spn = parse_spn(&p.app_id, text)?;
            let present = p.spns.iter().any(|s| s.eq_ignore_ascii_case(&spn));
            match (cmd.add, present) {
                (true, false) => p.spns.push(spn),
                (false, true) => p.spns.retain(|s| !s.eq_ignore_ascii_case(&spn)),
                (false, false) => {
                    return Err(AdminError::NoSuchSpn {
                        tenant: p.tenant.clone(),
                        app_id: p.app_id.clone(),
                        spn,
                        present: if p.spns.is_empty() { "none".into() } else { p.spns.join(", ") },
                    });
                }
                (true, true) => {}
            }
        }
        // One field change per SPN added (after) or removed (before).
        let mut change = Change::new("service principal", name(&p), Action::Changed);
        for spn in p.spns.iter().filter(|s| !before.spns.contains(s)) {
            change.field("SPN", None, Some(spn.clone()));
        }
        for spn in before.spns.iter().filter(|s| !p.spns.contains(s)) {
            change.field("SPN", Some(spn.clone()), None);
        }
        if !change.is_empty() {
            p.updated_at = now;
            tx.update_service_principal(&p).await?;
        }
        Ok((Self::finish(tx, change).await?, p))
    }

    /// Removes a principal with its SPNs and credentials.
    pub async fn remove_service_principal(&self, cmd: RemoveServicePrincipal) -> Result<Change, AdminError> {
        let mut tx = self.begin().await?;
        let p = get(tx.as_mut(), &cmd.tenant, &cmd.app_id).await?;
        tx.remove_service_principal(&p.tenant, &p.app_id).await?;
        Self::finish(tx, Change::new("service principal", name(&p), Action::Removed)).await
    }

    /// Adds a credential; a certificate already registered for the principal is refused.
    pub async fn add_credential(&self, cmd: AddCredential) -> Result<Change, AdminError> {
        let credential = cmd.credential;
        let mut tx = self.begin().await?;
        let p = get(tx.as_mut(), &credential.tenant, &credential.app_id).await?;
        if let Some(thumbprint) = &credential.thumbprint {
            let existing = tx.credentials(&p.tenant, &p.app_id).await?;
            if let Some(c) = existing.iter().find(|c| c.thumbprint.as_deref() == Some(thumbprint.as_str())) {
                return Err(AdminError::CredentialExists {
                    app_id: p.app_id,
                    thumbprint: thumbprint.clone(),
                    id: c.id.clone(),
                });
            }
        }
        tx.insert_credential(&credential).await?;
        let mut change = Change::new("service principal", name(&p), Action::Changed);
        let kind = match credential.kind {
            CredentialKind::Symmetric => String::from("client secret"),
            CredentialKind::Asymmetric => format!("certificate {}", credential.thumbprint.as_deref().unwrap_or("?")),
        };
        change.field("credential added", None, Some(format!("{} ({kind})", credential.id)));
        Self::finish(tx, change).await
    }

    /// Removes one credential.
    pub async fn remove_credential(&self, cmd: RemoveCredential) -> Result<Change, AdminError> {
        let id = cmd.id.trim().to_ascii_lowercase();
        let mut tx = self.begin().await?;
        let p = get(tx.as_mut(), &cmd.tenant, &cmd.app_id).await?;
        if !tx.remove_credential(&p.tenant, &p.app_id, &id).await? {
            return Err(AdminError::NoSuchCredential { tenant: p.tenant, app_id: p.app_id, id });
        }
        let mut change = Change::new("service principal", name(&p), Action::Changed);
        change.field("credential removed", None, Some(id));
        Self::finish(tx, change).await
    }
}

/// The principal `app_id` of `tenant`, read in `tx`.
async fn get(
    tx: &mut dyn ConfigTransaction,
    tenant: &str,
    app_id_text: &str,
) -> Result<ServicePrincipalRecord, AdminError> {
    let app_id = app_id(app_id_text)?;
    tx.service_principal(tenant, &app_id)
        .await?
        .ok_or_else(|| AdminError::ServicePrincipalNotFound { tenant: tenant.to_owned(), app_id })
}

/// An app id as typed: a GUID or a well-known service name, lower-cased.
fn app_id(text: &str) -> Result<String, AdminError> {
    s2s::principal::service_app_id(text.trim())
        .map_err(|e| AdminError::Invalid { option: "--app-id", reason: e.to_string() })
}

fn parse_spn(app_id: &str, text: &str) -> Result<String, AdminError> {
    Ok(Spn::parse(app_id, text).map_err(|e| AdminError::Invalid { option: "--spn", reason: e.to_string() })?.text())
}

fn name(p: &ServicePrincipalRecord) -> String {
    format!("{}@{}", p.app_id, p.tenant)
}
