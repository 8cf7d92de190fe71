//! `s2sd tenant new|list`: the realms this node's authorization server issues tokens for. Each
//! tenant has its metadata document at `/<realm>/metadata/json/1` and its token endpoint at
//! `/<realm>/tokens/OAuth/2` on every `s2sd serve` node of the store.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Subcommand;

use super::{Printer, now, rfc3339};
use crate::admin::{Admin, NewTenant};
use crate::store::authority::{AuthorityStore, TenantRecord};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a tenant: a realm with its own metadata document and token endpoint.
    New {
        /// The realm, a GUID (default: a new random one).
        #[arg(long)]
        realm: Option<String>,
        /// A display name (default: the realm).
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants.
    List,
}

pub async fn run(cmd: Cmd, admin: &Admin, out: &Printer) -> anyhow::Result<ExitCode> {
    let store = admin.authority();
    match cmd {
        Cmd::New { realm, name } => {
            let (_, record) = admin.new_tenant(NewTenant { realm, name }, now()).await?;
            let realm = &record.realm;
            out.emit(
                format!(
                    "Tenant {realm} ({}) created.\nMetadata:       https://<host>/{realm}/metadata/json/1\nToken endpoint: https://<host>/{realm}/tokens/OAuth/2\nNext: s2sd service-principal new --tenant {realm} --app-id <GUID> --display-name <name>",
                    record.name
                ),
                json(&record),
            );
        }
        Cmd::List => {
            let tenants = store.tenants().await?;
            let mut text = format!("{:<38} {:<25} {}", "REALM", "CREATED", "NAME");
            for t in &tenants {
                text.push_str(&format!("\n{:<38} {:<25} {}", t.realm, rfc3339(t.created_at), t.name));
            }
            if tenants.is_empty() {
                text = "No tenants (s2sd tenant new).".into();
            }
            out.emit(text, serde_json::Value::Array(tenants.iter().map(json).collect()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The realm to work in: the one given (it must exist), else the only tenant there is.
pub(super) async fn resolve(store: &Arc<dyn AuthorityStore>, given: Option<&str>) -> anyhow::Result<String> {
    match given {
        Some(realm) => {
            let realm = realm.trim().to_ascii_lowercase();
            match store.tenant(&realm).await? {
                Some(t) => Ok(t.realm),
                None => bail!("no tenant {realm} (s2sd tenant new --realm {realm})"),
            }
        }
        None => {
            let tenants = store.tenants().await?;
            match tenants.as_slice() {
                [only] => Ok(only.realm.clone()),
                [] => bail!("there is no tenant yet (s2sd tenant new)"),
                many => bail!(
                    "give --tenant: there are {} tenants ({})",
                    many.len(),
                    many.iter().map(|t| t.realm.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }
        }
    }
}

fn json(t: &TenantRecord) -> serde_json::Value {
    serde_json::json!({
        "realm": t.realm,
        "name": t.name,
        "created_at": rfc3339(t.created_at),
        "metadata_path": format!("/{}/metadata/json/1", t.realm),
        "token_path": format!("/{}/tokens/OAuth/2", t.realm),
    })
}
