//! `s2sd auth-server new|list|show|set|remove|refresh`: authorization servers (Azure ACS and
//! compatible) whose actor tokens we accept for partner applications marked `--use-auth-server`
//! (New-AuthServer, New-CsOAuthServer). Stored beside partner applications, refreshed the same way.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Subcommand;

use super::partner_application::{apply_metadata, describe, get_kind, json, read_ca};
use super::{Printer, now};
use crate::store::{PartnerKind, PartnerRecord, Store};

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

pub async fn run(cmd: Cmd, store: &Arc<dyn Store>, out: &Printer) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::New { name, metadata_url, realm, allow_http_metadata, tls_ca } => {
            let name = name.trim().to_owned();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            if store.partner(&name).await?.is_some() {
                bail!("{name} exists already (s2sd auth-server show {name})");
            }
            let now = now();
            let mut record = PartnerRecord {
                name,
                application_id: String::new(),
                realm: String::new(),
                metadata_url: None,
                trust_level: "Application".into(),
                enabled: true,
                allow_http_metadata,
                tls_ca_pem: tls_ca.as_deref().map(read_ca).transpose()?,
                certificates: Vec::new(),
                metadata_fetched_at: None,
                metadata_status: None,
                metadata_refresh_interval: None,
                linked_account: None,
                accept_security_identifier_information: false,
                kind: PartnerKind::AuthServer,
                use_auth_server: false,
                created_at: now,
                updated_at: now,
            };
            apply_metadata(&mut record, &metadata_url, now).await?;
            if let Some(r) = realm {
                record.realm = normalize_realm(&r);
            }
            store.insert_partner(&record).await?;
            out.emit(
                format!("Auth server {} registered.\n{}", record.name, describe(&record, now)),
                json(&record, now),
            );
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
            let p = get_kind(store, &name, PartnerKind::AuthServer).await?;
            out.emit(describe(&p, now()), json(&p, now()));
        }
        Cmd::Set { name, enabled, metadata_url, realm } => {
            let mut p = get_kind(store, &name, PartnerKind::AuthServer).await?;
            let now = now();
            let mut changes = Vec::new();
            if let Some(e) = enabled {
                p.enabled = e;
                changes.push(format!("enabled = {e}"));
            }
            if let Some(url) = metadata_url {
                let realm_before = p.realm.clone();
                apply_metadata(&mut p, &url, now).await?;
                if realm.is_none() && realm_before == "*" {
                    p.realm = realm_before;
                }
                changes.push(format!("metadata URL = {url}"));
            }
            if let Some(r) = realm {
                p.realm = normalize_realm(&r);
                changes.push(format!("realm = {}", p.realm));
            }
            if changes.is_empty() {
                bail!("nothing to change: give --enabled, --metadata-url or --realm");
            }
            p.updated_at = now;
            if !store.update_partner(&p).await? {
                bail!("auth server {name} was removed meanwhile");
            }
            out.emit(format!("Auth server {} changed: {}.", p.name, changes.join(", ")), json(&p, now));
        }
        Cmd::Remove { name } => {
            get_kind(store, &name, PartnerKind::AuthServer).await?;
            store.remove_partner(&name).await?;
            out.emit(format!("Auth server {name} removed."), serde_json::json!({"removed": name}));
        }
        Cmd::Refresh { name } => {
            super::partner_application::refresh(store, get_kind(store, &name, PartnerKind::AuthServer).await?, out)
                .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An empty realm means any realm, as the cmdlets take it.
fn normalize_realm(realm: &str) -> String {
    let r = realm.trim().to_ascii_lowercase();
    if r.is_empty() { "*".into() } else { r }
}
