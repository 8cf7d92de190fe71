//! `s2sd service-principal new|list|show|set|remove`, `… credential add|list|remove` and
//! `… spn add|remove`: the applications a tenant of this node's authorization server knows
//! (New-MsolServicePrincipal, New-MsolServicePrincipalCredential, Set-MsolServicePrincipal
//! -ServicePrincipalNames). A client secret is generated here, printed once and stored only as its
//! keyed hash; no command ever prints a secret again, nor a hash.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use s2s::token::{Algorithm, VerifyingKey};

use super::{Printer, now, rfc3339, tenant};
use crate::admin::{
    AddCredential, Admin, NewServicePrincipal, RemoveCredential, RemoveServicePrincipal, SetServicePrincipal, SpnEdit,
};
use crate::authority;
use crate::issuer;
use crate::store::authority::{AuthorityStore, CredentialKind, CredentialRecord, ServicePrincipalRecord};

/// Default lifetime of a client secret.
const SECRET_DAYS: i64 = 365;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Register a service principal in a tenant.
    New {
        /// The tenant's realm (default: the only tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Its application id: a GUID, or exchange, sharepoint, lync.
        #[arg(long)]
        app_id: String,
        /// A display name.
        #[arg(long)]
        display_name: String,
        /// A service principal name, <app id>/<host> (host may be *.<domain>); repeatable.
        #[arg(long = "spn")]
        spns: Vec<String>,
        /// Register it disabled with --enabled false.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        enabled: bool,
    },
    /// List a tenant's service principals.
    List {
        /// The tenant's realm (default: the only tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show one service principal with its SPNs and credentials (never a secret).
    Show {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        app_id: String,
    },
    /// Change a service principal.
    Set {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        app_id: String,
        /// Enable or disable it: a disabled principal gets no tokens, and none are issued for it.
        #[arg(long, action = clap::ArgAction::Set)]
        enabled: Option<bool>,
        /// A new display name.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Remove a service principal with its SPNs and credentials.
    Remove {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        app_id: String,
    },
    /// Client secrets and certificates (New-/Get-/Remove-MsolServicePrincipalCredential).
    #[command(subcommand)]
    Credential(CredentialCmd),
    /// Service principal names: the hosts tokens may be issued for.
    #[command(subcommand)]
    Spn(SpnCmd),
}

#[derive(Debug, Subcommand)]
pub enum CredentialCmd {
    /// Add a client secret (generated, shown once) or a certificate that verifies client assertions.
    Add {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        app_id: String,
        /// symmetric: a generated client secret; asymmetric: a certificate (--certificate).
        #[arg(long = "type", value_enum)]
        kind: KindArg,
        /// What the credential is for.
        #[arg(long, value_enum, default_value_t = UsageArg::Verify)]
        usage: UsageArg,
        /// The certificate (PEM or DER) of an asymmetric credential.
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// Valid from: RFC 3339 or YYYY-MM-DD (default: now, or the certificate's start).
        #[arg(long)]
        start: Option<String>,
        /// Valid until: RFC 3339 or YYYY-MM-DD (default: one year, or the certificate's end).
        #[arg(long)]
        end: Option<String>,
    },
    /// List credentials: id, type, validity, certificate thumbprint (never a secret or its hash).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        app_id: String,
    },
    /// Remove a credential.
    Remove {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        app_id: String,
        /// The credential id (see credential list).
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SpnCmd {
    /// Add service principal names.
    Add {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        app_id: String,
        /// <app id>/<host>, or just <host>; repeatable.
        #[arg(long = "spn", required = true)]
        spns: Vec<String>,
    },
    /// Remove service principal names.
    Remove {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        app_id: String,
        #[arg(long = "spn", required = true)]
        spns: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Symmetric,
    Asymmetric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UsageArg {
    Verify,
}

pub async fn run(cmd: Cmd, admin: &Admin, out: &Printer) -> anyhow::Result<ExitCode> {
    let store = admin.authority();
    match cmd {
        Cmd::New { tenant, app_id, display_name, spns, enabled } => {
            let realm = tenant::resolve(store, tenant.as_deref()).await?;
            let now = now();
            let cmd = NewServicePrincipal { tenant: realm.clone(), app_id, display_name, spns, enabled };
            let (_, record) = admin.new_service_principal(cmd, now).await?;
            let app_id = record.app_id.clone();
            let mut text = format!("Service principal {app_id}@{realm} ({}) registered.", record.display_name);
            if record.spns.is_empty() {
                text.push_str(&format!(
                    "\nIt has no SPN, so no token can be issued for it yet: s2sd service-principal spn add --tenant {realm} --app-id {app_id} --spn {app_id}/<host>"
                ));
            }
            text.push_str(&format!(
                "\nTo let it ask for tokens, give it a credential: s2sd service-principal credential add --tenant {realm} --app-id {app_id} --type symmetric"
            ));
            out.emit(text, principal_json(&record, &[], now));
        }
        Cmd::List { tenant } => {
            let realm = tenant::resolve(store, tenant.as_deref()).await?;
            let principals = store.service_principals(&realm).await?;
            let mut text = format!("{:<38} {:<8} {:<24} {}", "APP ID", "ENABLED", "DISPLAY NAME", "SPNS");
            for p in &principals {
                text.push_str(&format!(
                    "\n{:<38} {:<8} {:<24} {}",
                    p.app_id,
                    p.enabled,
                    p.display_name,
                    if p.spns.is_empty() { "(none)".to_owned() } else { p.spns.join(", ") }
                ));
            }
            if principals.is_empty() {
                text = format!(
                    "No service principals in tenant {realm} (s2sd service-principal new --tenant {realm} --app-id <GUID> --display-name <name>)."
                );
            }
            let now = now();
            let rows = principals.iter().map(|p| principal_json(p, &[], now)).collect();
            out.emit(text, serde_json::Value::Array(rows));
        }
        Cmd::Show { tenant, app_id } => {
            let (realm, p) = get(store, tenant.as_deref(), &app_id).await?;
            let credentials = store.credentials(&realm, &p.app_id).await?;
            let now = now();
            out.emit(describe(&p, &credentials, now), principal_json(&p, &credentials, now));
        }
        Cmd::Set { tenant, app_id, enabled, display_name } => {
            let realm = tenant::resolve(store, tenant.as_deref()).await?;
            let now = now();
            let cmd = SetServicePrincipal { tenant: realm, app_id, enabled, display_name };
            let (change, p) = admin.set_service_principal(cmd, now).await?;
            out.emit(change.to_string(), principal_json(&p, &[], now));
        }
        Cmd::Remove { tenant, app_id } => {
            let realm = tenant::resolve(store, tenant.as_deref()).await?;
            let change =
                admin.remove_service_principal(RemoveServicePrincipal { tenant: realm.clone(), app_id }).await?;
            let app_id = change.name.split('@').next().unwrap_or_default().to_owned();
            out.emit(
                format!("Service principal {} removed, with its SPNs and credentials.", change.name),
                serde_json::json!({"removed": app_id, "tenant": realm}),
            );
        }
        Cmd::Credential(cmd) => credential(cmd, admin, out).await?,
        Cmd::Spn(cmd) => spn(cmd, admin, out).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn credential(cmd: CredentialCmd, admin: &Admin, out: &Printer) -> anyhow::Result<()> {
    let store = admin.authority();
    match cmd {
        CredentialCmd::Add { tenant, app_id, kind, usage: UsageArg::Verify, certificate, start, end } => {
            let (realm, p) = get(store, tenant.as_deref(), &app_id).await?;
            let now = now();
            let start = start.as_deref().map(super::certificate::parse_date).transpose()?;
            let end = end.as_deref().map(super::certificate::parse_date).transpose()?;
            let id = authority::new_guid().map_err(|_| anyhow::anyhow!("no randomness for a credential id"))?;
            match kind {
                KindArg::Symmetric => {
                    if certificate.is_some() {
                        bail!("--certificate is for --type asymmetric; a symmetric credential is a generated secret");
                    }
                    let (start, end) = (start.unwrap_or(now), end.unwrap_or(now + SECRET_DAYS * 86_400));
                    check_dates(start, end, now)?;
                    let candidate =
                        authority::generate_pepper().map_err(|_| anyhow::anyhow!("no randomness for the pepper"))?;
                    let pepper = zeroize::Zeroizing::new(store.pepper_or_insert(&candidate).await?);
                    let secret =
                        authority::generate_secret().map_err(|_| anyhow::anyhow!("no randomness for a secret"))?;
                    let record = CredentialRecord {
                        id: id.clone(),
                        tenant: realm.clone(),
                        app_id: p.app_id.clone(),
                        kind: CredentialKind::Symmetric,
                        usage: "verify".into(),
                        secret_hash: Some(authority::secret_hash(&pepper, &secret)),
                        certificate_der: None,
                        thumbprint: None,
                        start_at: start,
                        end_at: end,
                        created_at: now,
                    };
                    admin.add_credential(AddCredential { credential: record.clone() }).await?;
                    eprintln!(
                        "warning: this is the only time the client secret is shown; it is stored as a keyed hash and cannot be shown again. Keep it now (if it is lost, add a new one and remove credential {id})."
                    );
                    let mut json = credential_json(&record, now);
                    json["secret"] = serde_json::Value::String(secret.to_string());
                    json["client_id"] = serde_json::Value::String(format!("{}@{realm}", p.app_id));
                    out.emit(
                        format!(
                            "Client secret added to {}@{realm} (credential {id}), valid {} to {}:\n\n    {}\n\nclient_id: {}@{realm}",
                            p.app_id,
                            rfc3339(start),
                            rfc3339(end),
                            secret.as_str(),
                            p.app_id
                        ),
                        json,
                    );
                }
                KindArg::Asymmetric => {
                    let file = certificate.context("--type asymmetric needs --certificate FILE (PEM or DER)")?;
                    let data = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
                    let certs = issuer::read_certificates(&data)
                        .with_context(|| format!("{} is not a certificate", file.display()))?;
                    let [der] = certs.as_slice() else {
                        bail!("{} holds {} certificates; give a file with exactly one", file.display(), certs.len());
                    };
                    let key = VerifyingKey::with_algorithm(der, Algorithm::Rs256)
                        .with_context(|| format!("{} cannot verify assertions", file.display()))?;
                    let start = start.unwrap_or(key.not_before());
                    let end = end.unwrap_or(key.not_after());
                    if start < key.not_before() || end > key.not_after() {
                        bail!(
                            "the credential's dates ({} to {}) must lie within the certificate's validity ({} to {})",
                            rfc3339(start),
                            rfc3339(end),
                            rfc3339(key.not_before()),
                            rfc3339(key.not_after())
                        );
                    }
                    check_dates(start, end, now)?;
                    let thumbprint = s2s::token::thumbprint::hex_thumbprint(der);
                    let record = CredentialRecord {
                        id: id.clone(),
                        tenant: realm.clone(),
                        app_id: p.app_id.clone(),
                        kind: CredentialKind::Asymmetric,
                        usage: "verify".into(),
                        secret_hash: None,
                        certificate_der: Some(der.clone()),
                        thumbprint: Some(thumbprint.clone()),
                        start_at: start,
                        end_at: end,
                        created_at: now,
                    };
                    admin.add_credential(AddCredential { credential: record.clone() }).await?;
                    out.emit(
                        format!(
                            "Certificate {thumbprint} (x5t {}, {}) added to {}@{realm} as credential {id}, valid {} to {}.\nIts assertions are accepted with RS256 + x5t or PS256 + x5t#S256.",
                            key.x5t(),
                            key.subject(),
                            p.app_id,
                            rfc3339(start),
                            rfc3339(end)
                        ),
                        credential_json(&record, now),
                    );
                }
            }
        }
        CredentialCmd::List { tenant, app_id } => {
            let (realm, p) = get(store, tenant.as_deref(), &app_id).await?;
            let credentials = store.credentials(&realm, &p.app_id).await?;
            let now = now();
            let mut text =
                format!("{:<38} {:<11} {:<25} {:<25} {:<14} {}", "ID", "TYPE", "START", "END", "STATUS", "THUMBPRINT");
            for c in &credentials {
                text.push_str(&format!(
                    "\n{:<38} {:<11} {:<25} {:<25} {:<14} {}",
                    c.id,
                    c.kind,
                    rfc3339(c.start_at),
                    rfc3339(c.end_at),
                    status(c, now),
                    c.thumbprint.as_deref().unwrap_or("-")
                ));
            }
            if credentials.is_empty() {
                text = format!(
                    "{}@{realm} has no credentials (s2sd service-principal credential add --tenant {realm} --app-id {} --type symmetric).",
                    p.app_id, p.app_id
                );
            }
            out.emit(text, serde_json::Value::Array(credentials.iter().map(|c| credential_json(c, now)).collect()));
        }
        CredentialCmd::Remove { tenant, app_id, id } => {
            let (realm, p) = get(store, tenant.as_deref(), &app_id).await?;
            let id = id.trim().to_ascii_lowercase();
            let cmd = RemoveCredential { tenant: realm.clone(), app_id: p.app_id.clone(), id: id.clone() };
            admin.remove_credential(cmd).await?;
            out.emit(
                format!("Credential {id} of {}@{realm} removed.", p.app_id),
                serde_json::json!({"removed": id, "tenant": realm, "app_id": p.app_id}),
            );
        }
    }
    Ok(())
}

async fn spn(cmd: SpnCmd, admin: &Admin, out: &Printer) -> anyhow::Result<()> {
    let (tenant, app_id, spns, add) = match cmd {
        SpnCmd::Add { tenant, app_id, spns } => (tenant, app_id, spns, true),
        SpnCmd::Remove { tenant, app_id, spns } => (tenant, app_id, spns, false),
    };
    let realm = tenant::resolve(admin.authority(), tenant.as_deref()).await?;
    let now = now();
    let (change, p) = admin.edit_spns(SpnEdit { tenant: realm.clone(), app_id, spns, add }, now).await?;
    let changed: Vec<String> =
        change.fields.iter().filter_map(|f| if add { f.after.clone() } else { f.before.clone() }).collect();
    let verb = if add { "added to" } else { "removed from" };
    let text = if changed.is_empty() {
        format!("{}@{realm} has these SPNs already; nothing changed.", p.app_id)
    } else {
        format!("SPN {} {verb} {}@{realm}.", changed.join(", "), p.app_id)
    };
    out.emit(format!("{text}\nSPNs: {}", if p.spns.is_empty() { "(none)".to_owned() } else { p.spns.join(", ") }), {
        let mut json = principal_json(&p, &[], now);
        json["changed"] = serde_json::json!(changed);
        json
    });
    Ok(())
}

/// The tenant and the principal named by `--tenant` / `--app-id`.
async fn get(
    store: &Arc<dyn AuthorityStore>,
    tenant: Option<&str>,
    app_id: &str,
) -> anyhow::Result<(String, ServicePrincipalRecord)> {
    let realm = tenant::resolve(store, tenant).await?;
    let app_id = s2s::principal::service_app_id(app_id.trim())?;
    let p = store.service_principal(&realm, &app_id).await?.with_context(|| {
        format!("tenant {realm} has no service principal {app_id} (see s2sd service-principal list --tenant {realm})")
    })?;
    Ok((realm, p))
}

fn check_dates(start: i64, end: i64, now: i64) -> anyhow::Result<()> {
    if end <= now {
        bail!("the credential would be expired already (it ends {})", rfc3339(end));
    }
    if end <= start {
        bail!("the credential would end ({}) before it starts ({})", rfc3339(end), rfc3339(start));
    }
    Ok(())
}

fn status(c: &CredentialRecord, now: i64) -> &'static str {
    if now < c.start_at {
        "not yet valid"
    } else if now > c.end_at {
        "expired"
    } else {
        "valid"
    }
}

fn credential_json(c: &CredentialRecord, now: i64) -> serde_json::Value {
    let x5t = c.certificate_der.as_deref().map(s2s::token::thumbprint::x5t);
    let subject = c
        .certificate_der
        .as_deref()
        .and_then(|der| VerifyingKey::from_certificate(der).ok())
        .map(|k| k.subject().to_owned());
    serde_json::json!({
        "id": c.id,
        "tenant": c.tenant,
        "app_id": c.app_id,
        "type": c.kind,
        "usage": c.usage,
        "start": rfc3339(c.start_at),
        "end": rfc3339(c.end_at),
        "status": status(c, now),
        "thumbprint": c.thumbprint,
        "x5t": x5t,
        "subject": subject,
        "created_at": rfc3339(c.created_at),
    })
}

fn principal_json(p: &ServicePrincipalRecord, credentials: &[CredentialRecord], now: i64) -> serde_json::Value {
    serde_json::json!({
        "tenant": p.tenant,
        "app_id": p.app_id,
        "display_name": p.display_name,
        "enabled": p.enabled,
        "spns": p.spns,
        "credentials": credentials.iter().map(|c| credential_json(c, now)).collect::<Vec<_>>(),
        "created_at": rfc3339(p.created_at),
        "updated_at": rfc3339(p.updated_at),
    })
}

fn describe(p: &ServicePrincipalRecord, credentials: &[CredentialRecord], now: i64) -> String {
    let mut text = format!(
        "AppId:        {}\nTenant:       {}\nDisplayName:  {}\nEnabled:      {}\nSPNs:         {}",
        p.app_id,
        p.tenant,
        p.display_name,
        p.enabled,
        if p.spns.is_empty() { "(none)".to_owned() } else { p.spns.join(", ") },
    );
    for c in credentials {
        text.push_str(&format!(
            "\nCredential:   {} — {} — {} to {} ({}){}",
            c.id,
            c.kind,
            rfc3339(c.start_at),
            rfc3339(c.end_at),
            status(c, now),
            c.thumbprint.as_deref().map(|t| format!(" — certificate {t}")).unwrap_or_default()
        ));
    }
    if credentials.is_empty() {
        text.push_str("\nCredentials:  (none)");
    }
    text
}
