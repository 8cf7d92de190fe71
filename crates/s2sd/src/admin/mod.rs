//! The admin layer: every change to the configuration as a typed command (`NewPartner`,
//! `SetPartner`, `AddSpns`, …) that reads, checks and writes inside **one store transaction**
//! ([`crate::store::ConfigTransaction`]), and returns what changed ([`Change`]).
//!
//! Two admins at work never undo each other: a command decides on the state it changes, because the
//! transaction holds the writers' lock from before its first read until it commits. A command that
//! fails leaves the store as it was (the transaction is dropped, so rolled back). The CLI parses
//! arguments and renders [`Change`]s; the demos call these commands directly; nothing else writes
//! configuration.
//!
//! What needs the network (fetching a partner's metadata) happens before the transaction, so that a
//! slow partner never holds the writers' lock; the command then records what was fetched.
//! Commands never read the wall clock: the caller passes `now`.

mod certificate;
mod oauth_config;
mod partner;
mod service_principal;
mod tenant;

use std::fmt;
use std::sync::Arc;

use crate::store::authority::AuthorityStore;
use crate::store::{ConfigTransaction, Store, StoreError, Stores};

pub use self::certificate::{InstallCertificate, RemoveCertificate, StageRollover};
pub use self::oauth_config::{SetAutoRenew, SetOAuthConfig};
pub use self::partner::{
    FetchedMetadata, NewPartner, PartnerSource, RecordRefresh, RemovePartner, SetPartner, fetch_metadata,
    normalize_linked_account, normalize_realm, read_partner_certificates,
};
pub use self::service_principal::{
    AddCredential, NewServicePrincipal, RemoveCredential, RemoveServicePrincipal, SetServicePrincipal, SpnEdit,
};
pub use self::tenant::NewTenant;

/// What went wrong with an admin command. Messages say what was wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No partner application (or auth server) of that name.
    #[error("no {noun} named {name} (see s2sd {command} list)")]
    PartnerNotFound { noun: &'static str, command: &'static str, name: String },
    /// The name belongs to a record of the other kind.
    #[error("{name} is not {article} {noun}; see s2sd {other_command} show {name}")]
    WrongKind { name: String, noun: &'static str, article: &'static str, other_command: &'static str },
    /// A partner (or auth server) of that name exists already.
    #[error("{noun} {name} exists already (change it with s2sd {command} set {name} …)")]
    PartnerExists { noun: &'static str, command: &'static str, name: String },
    /// A tenant with that realm exists already.
    #[error("tenant {realm} exists already (see s2sd tenant list)")]
    TenantExists { realm: String },
    /// Another record of the same kind stands for the same issuer.
    #[error(
        "the {noun} {holder} already stands for issuer {issuer}; change or remove it instead (s2sd {command} show {holder})"
    )]
    IssuerTaken { noun: &'static str, command: &'static str, issuer: String, holder: String },
    /// No tenant with that realm.
    #[error("no tenant {realm} (see s2sd tenant list)")]
    TenantNotFound { realm: String },
    /// No service principal with that app id in the tenant.
    #[error("tenant {tenant} has no service principal {app_id} (see s2sd service-principal list --tenant {tenant})")]
    ServicePrincipalNotFound { tenant: String, app_id: String },
    /// A principal with that app id exists already in the tenant.
    #[error(
        "service principal {app_id} exists already in tenant {tenant} (change it with s2sd service-principal set --tenant {tenant} --app-id {app_id} …)"
    )]
    ServicePrincipalExists { tenant: String, app_id: String },
    /// An SPN to remove that the principal does not have.
    #[error("{app_id}@{tenant} has no SPN {spn} (it has: {present})")]
    NoSuchSpn { tenant: String, app_id: String, spn: String, present: String },
    /// A credential to remove that the principal does not have.
    #[error(
        "{app_id}@{tenant} has no credential {id} (see s2sd service-principal credential list --tenant {tenant} --app-id {app_id})"
    )]
    NoSuchCredential { tenant: String, app_id: String, id: String },
    /// A certificate registered already as a credential of the principal.
    #[error("certificate {thumbprint} is registered already for {app_id} (credential {id})")]
    CredentialExists { app_id: String, thumbprint: String, id: String },
    /// A command that would change nothing.
    #[error("nothing to change: give {options}")]
    NothingToChange { options: &'static str },
    /// A value that is not acceptable, with the option that carried it.
    #[error("{option}: {reason}")]
    Invalid { option: &'static str, reason: String },
    /// A partner's metadata could not be fetched or used.
    #[error("{0}")]
    Metadata(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a record was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Changed,
    Removed,
    Refreshed,
}

/// One field a command changed: its value before and after, as shown to an admin (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What a command changed: the record, how, the fields, and the configuration version it created.
/// The CLI, the audit trail and the console describe a change from this alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The kind of record, e.g. `partner application`.
    pub noun: &'static str,
    /// Its name, e.g. `Exchange` or `<app id>@<realm>`.
    pub name: String,
    pub action: Action,
    pub fields: Vec<FieldChange>,
    /// The configuration version after the change; `None` when nothing was written.
    pub version: Option<i64>,
}

/// The admin layer over one store: each method runs one command in one transaction.
#[derive(Clone)]
pub struct Admin {
    config: Arc<dyn Store>,
    authority: Arc<dyn AuthorityStore>,
}

impl Change {
    fn new(noun: &'static str, name: impl Into<String>, action: Action) -> Self {
        Self { noun, name: name.into(), action, fields: Vec::new(), version: None }
    }

    /// Records a field's change when `before` and `after` differ.
    fn field(&mut self, field: &'static str, before: impl Into<Option<String>>, after: impl Into<Option<String>>) {
        let (before, after) = (before.into(), after.into());
        if before != after {
            self.fields.push(FieldChange { field, before, after });
        }
    }

    /// True when the command changed nothing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.action == Action::Changed
    }

    /// The changed fields as `field = value, …`, for one line of output.
    pub fn summary(&self) -> String {
        self.fields
            .iter()
            .map(|f| format!("{} = {}", f.field, f.after.as_deref().unwrap_or("(none)")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut noun = self.noun.to_owned();
        if let Some(first) = noun.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        match self.action {
            Action::Created => write!(f, "{noun} {} registered.", self.name),
            Action::Removed => write!(f, "{noun} {} removed.", self.name),
            Action::Refreshed => write!(f, "Metadata of {} refreshed.", self.name),
            Action::Changed if self.fields.is_empty() => write!(f, "{noun} {}: nothing changed.", self.name),
            Action::Changed => write!(f, "{noun} {} changed: {}.", self.name, self.summary()),
        }
    }
}

impl Admin {
    /// The admin layer over `stores` (configuration and authority of one database).
    pub fn new(stores: &Stores) -> Self {
        Self { config: Arc::clone(&stores.config), authority: Arc::clone(&stores.authority) }
    }

    /// The configuration store (for reads).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.config
    }

    /// The authority store (for reads).
    pub fn authority(&self) -> &Arc<dyn AuthorityStore> {
        &self.authority
    }

    /// Starts the one transaction a command runs in.
    async fn begin(&self) -> Result<Box<dyn ConfigTransaction>, AdminError> {
        Ok(self.config.write().await?)
    }

    /// Commits `tx` when `change` changed something (stamping the new version on it); otherwise
    /// drops it, so a command that changes nothing leaves the version alone.
    async fn finish(tx: Box<dyn ConfigTransaction>, mut change: Change) -> Result<Change, AdminError> {
        if !change.is_empty() {
            change.version = Some(tx.commit().await?);
        }
        Ok(change)
    }
}

/// `Some(value)` as text, for [`FieldChange`].
fn shown(value: impl fmt::Display) -> Option<String> {
    Some(value.to_string())
}

#[cfg(test)]
mod tests;
