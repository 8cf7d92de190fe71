//! `s2sd auth-server new|list|show|set|remove|refresh`: authorization servers (Azure ACS and
//! compatible) whose actor tokens we accept for partner applications marked `--use-auth-server`
//! (New-AuthServer, New-CsOAuthServer). Stored beside partner applications, refreshed the same way.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use s2s::partner::TrustLevel;

use super::partner_application::{describe, fetch_for, json, read_ca, refresh};
use super::{Printer, now};
use crate::admin::{self, Admin, NewPartner, PartnerSource, RemovePartner, SetPartner};
use crate::store::{PartnerKind, PartnerRecord};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Register an authorization server by its metadata URL (fetched and checked now).
    New {
        /// Its name (e.g. WindowsAzureACS).
        #[arg(long)]
        name: String,
        /// Its metadata document, e.g. https://accounts.accesscontrol.windows.net/<tenant>/metadata/json/1.
        #[arg(long)]
        metadata_url: String,
        /// The realm (tenant) it issues for; default: the realm its metadata names (`*` = any).
        #[arg(long)]
        realm: Option<String>,
        /// Accept the metadata URL over plain http.
        #[arg(long)]
        allow_http_metadata: bool,
        /// Trust this PEM CA (or self-signed certificate) for the metadata URL's TLS.
        #[arg(long)]
        tls_ca: Option<PathBuf>,
    },
    /// List authorization servers.
    List,
    /// Show one, its keys and its last metadata fetch.
    Show {
        /// Its name.
        name: String,
    },
    /// Change one.
    Set {
        /// Its name.
        name: String,
        /// Enable or disable it.
        #[arg(long, action = clap::ArgAction::Set)]
        enabled: Option<bool>,
        /// A new metadata URL (fetched and checked now).
        #[arg(long)]
        metadata_url: Option<String>,
        /// The realm it issues for (`*` = any).
        #[arg(long)]
        realm: Option<String>,
    },
    /// Remove one.
    Remove {
        /// Its name.
        name: String,
    },
    /// Fetch its metadata now.
    Refresh {
        /// Its name.
        name: String,
    },
}

pub async fn run(cmd: Cmd, admin: &Admin, out: &Printer) -> anyhow::Result<ExitCode> {
    let store = admin.store();
    match cmd {
        Cmd::New { name, metadata_url, realm, allow_http_metadata, tls_ca } => {
            let now = now();
            let tls_ca_pem = tls_ca.as_deref().map(read_ca).transpose()?;
            let fetched = admin::fetch_metadata(&metadata_url, allow_http_metadata, tls_ca_pem.as_deref(), now).await?;
            let cmd = NewPartner {
                kind: PartnerKind::AuthServer,
                name,
                source: PartnerSource::Metadata(fetched),
                realm,
                trust_level: TrustLevel::Application,
                enabled: true,
                allow_http_metadata,
                tls_ca_pem,
                metadata_refresh_interval: None,
                linked_account: None,
                accept_security_identifier_information: false,
                use_auth_server: false,
            };
            let (change, record) = admin.new_partner(cmd, now).await?;
            out.emit(format!("{change}\n{}", describe(&record, now)), json(&record, now));
        }
        Cmd::List => {
            let servers: Vec<PartnerRecord> =
                store.partners().await?.into_iter().filter(|p| p.kind == PartnerKind::AuthServer).collect();
            let now = now();
            let mut text =
                format!("{:<20} {:<38} {:<38} {:<8} {}", "NAME", "ISSUER ID", "REALM", "ENABLED", "METADATA");
            for p in &servers {
                text.push_str(&format!(
                    "\n{:<20} {:<38} {:<38} {:<8} {}",
                    p.name,
                    p.application_id,
                    p.realm,
                    p.enabled,
                    p.metadata_url.as_deref().unwrap_or("")
                ));
            }
            if servers.is_empty() {
                text = "No auth servers (s2sd auth-server new).".into();
            }
            out.emit(text, serde_json::Value::Array(servers.iter().map(|p| json(p, now)).collect()));
        }
        Cmd::Show { name } => {
            let p = admin.partner(&name, PartnerKind::AuthServer).await?;
            out.emit(describe(&p, now()), json(&p, now()));
        }
        Cmd::Set { name, enabled, metadata_url, realm } => {
            let now = now();
            let metadata = match metadata_url {
                Some(url) => Some(fetch_for(admin, &name, PartnerKind::AuthServer, &url, None, None, now).await?),
                None => None,
            };
            let cmd =
                SetPartner { kind: PartnerKind::AuthServer, name, enabled, metadata, realm, ..SetPartner::default() };
            let (change, p) = admin.set_partner(cmd, now).await?;
            out.emit(change.to_string(), json(&p, now));
        }
        Cmd::Remove { name } => {
            let change = admin.remove_partner(RemovePartner { kind: PartnerKind::AuthServer, name }).await?;
            out.emit(change.to_string(), serde_json::json!({"removed": change.name}));
        }
        Cmd::Refresh { name } => refresh(admin, &name, PartnerKind::AuthServer, out).await?,
    }
    Ok(ExitCode::SUCCESS)
}
