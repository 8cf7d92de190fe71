//! `s2sd partner-application new|list|show|set|remove|refresh`: the applications we trust.
//! A partner registered by metadata URL is fetched and checked before anything is stored.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use s2s::partner::TrustLevel;
use s2s::token::VerifyingKey;

use super::{Printer, now, rfc3339};
use crate::admin::{self, Admin, FetchedMetadata, NewPartner, PartnerSource, RecordRefresh, RemovePartner, SetPartner};
use crate::store::{MetadataStatus, PartnerKind, PartnerRecord, Store};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Register a partner application, by metadata URL or by application id + realm + certificate.
    New {
        /// The partner's name (e.g. Exchange, Lync, SharePoint).
        #[arg(long)]
        identity: String,
        /// Its metadata document URL (https://host/metadata/json/1 or the Exchange/SharePoint path).
        #[arg(long, conflicts_with_all = ["application_identifier", "certificate"])]
        metadata_url: Option<String>,
        /// Its application id (GUID), when registering without metadata.
        #[arg(long, requires = "realm")]
        application_identifier: Option<String>,
        /// Its realm, when registering without metadata (`*` = any realm).
        #[arg(long)]
        realm: Option<String>,
        /// Its token-signing certificate (PEM or DER), when registering without metadata.
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// full: may act for any user of the realm; application: only as itself.
        #[arg(long, default_value = "application")]
        trust_level: TrustLevel,
        /// Accept a metadata URL over plain http.
        #[arg(long)]
        allow_http_metadata: bool,
        /// Trust this PEM CA (or self-signed certificate) for the metadata URL's TLS.
        #[arg(long)]
        tls_ca: Option<PathBuf>,
        /// Refresh its metadata every this many seconds (default: the server's interval).
        #[arg(long, value_parser = clap::value_parser!(i64).range(60..))]
        metadata_refresh_interval: Option<i64>,
        /// Register it disabled.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        enabled: bool,
        /// The mailbox user whose role assignments give this partner's app-only tokens their rights
        /// (Exchange's LinkedAccount).
        #[arg(long)]
        linked_account: Option<String>,
        /// Trust a Windows SID in an act-as token's nameid (when nii is Active Directory).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        accept_security_identifier_information: Option<bool>,
        /// Take its tokens from an authorization server (s2sd auth-server new) instead of its own
        /// certificate (-UseAuthServer / -UseOAuthServer).
        #[arg(long)]
        use_auth_server: bool,
    },
    /// List partner applications.
    List,
    /// Show one partner application, its keys and its last metadata fetch.
    Show {
        /// The partner's name.
        name: String,
    },
    /// Change a partner application.
    Set {
        /// The partner's name.
        name: String,
        /// Enable or disable it.
        #[arg(long, action = clap::ArgAction::Set)]
        enabled: Option<bool>,
        /// full or application.
        #[arg(long)]
        trust_level: Option<TrustLevel>,
        /// A new metadata URL (fetched and checked now).
        #[arg(long)]
        metadata_url: Option<String>,
        /// Accept plain http for the metadata URL.
        #[arg(long, action = clap::ArgAction::Set)]
        allow_http_metadata: Option<bool>,
        /// Trust this PEM CA for the metadata URL's TLS.
        #[arg(long)]
        tls_ca: Option<PathBuf>,
        /// Refresh its metadata every this many seconds (0 = the server's interval).
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
        metadata_refresh_interval: Option<i64>,
        /// Replace the certificate of a partner registered without metadata.
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// The mailbox user whose role assignments give this partner's app-only tokens their rights
        /// (Exchange's LinkedAccount); an empty value removes it.
        #[arg(long)]
        linked_account: Option<String>,
        /// Trust a Windows SID in an act-as token's nameid (when nii is Active Directory); `false` to stop.
        #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        accept_security_identifier_information: Option<bool>,
        /// Take its tokens from an authorization server; `false` to stop.
        #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        use_auth_server: Option<bool>,
    },
    /// Remove a partner application.
    Remove {
        /// The partner's name.
        name: String,
    },
    /// Fetch a partner's metadata now (Set-PartnerApplication -RefreshAuthMetadata).
    Refresh {
        /// The partner's name.
        name: String,
    },
}

pub async fn run(cmd: Cmd, admin: &Admin, out: &Printer) -> anyhow::Result<ExitCode> {
    let store = admin.store();
    match cmd {
        Cmd::New {
            identity,
            metadata_url,
            application_identifier,
            realm,
            certificate,
            trust_level,
            allow_http_metadata,
            tls_ca,
            metadata_refresh_interval,
            enabled,
            linked_account,
            accept_security_identifier_information,
            use_auth_server,
        } => {
            let tls_ca_pem = tls_ca.as_deref().map(read_ca).transpose()?;
            let now = now();
            let source = match (metadata_url, application_identifier) {
                (Some(url), _) => PartnerSource::Metadata(
                    admin::fetch_metadata(&url, allow_http_metadata, tls_ca_pem.as_deref(), now).await?,
                ),
                (None, Some(app)) => {
                    let realm = realm.context("--realm is required with --application-identifier")?;
                    let certificates = match certificate {
                        Some(file) => read_certificate_file(&file, now)?,
                        None if use_auth_server => Vec::new(),
                        None => bail!(
                            "--certificate is required with --application-identifier, unless the partner takes its tokens from an authorization server (--use-auth-server)"
                        ),
                    };
                    PartnerSource::Certificate {
                        application_id: s2s::principal::parse_guid(&app)?,
                        // An empty realm (as New-PartnerApplication takes it for cloud partners) means any realm.
                        realm: admin::normalize_realm(&realm),
                        certificates,
                    }
                }
                (None, None) => bail!(
                    "give --metadata-url URL, or --application-identifier GUID --realm REALM (--certificate FILE | --use-auth-server)"
                ),
            };
            let cmd = NewPartner {
                kind: PartnerKind::Application,
                name: identity,
                source,
                realm: None,
                trust_level,
                enabled,
                allow_http_metadata,
                tls_ca_pem,
                metadata_refresh_interval,
                linked_account: linked_account.as_deref().map(admin::normalize_linked_account).transpose()?.flatten(),
                accept_security_identifier_information: accept_security_identifier_information.unwrap_or(false),
                use_auth_server,
            };
            let (change, record) = admin.new_partner(cmd, now).await?;
            warn_unknown_linked_account(store, record.linked_account.as_deref()).await;
            out.emit(format!("{change}\n{}", describe(&record, now)), json(&record, now));
        }
        Cmd::List => {
            let partners: Vec<PartnerRecord> =
                store.partners().await?.into_iter().filter(|p| p.kind == PartnerKind::Application).collect();
            let now = now();
            let mut text = format!(
                "{:<16} {:<38} {:<24} {:<12} {:<8} {}",
                "NAME", "APPLICATION ID", "REALM", "TRUST", "ENABLED", "METADATA"
            );
            for p in &partners {
                text.push_str(&format!(
                    "\n{:<16} {:<38} {:<24} {:<12} {:<8} {}",
                    p.name,
                    p.application_id,
                    p.realm,
                    p.trust_level,
                    p.enabled,
                    p.metadata_url.as_deref().unwrap_or("(certificate)")
                ));
            }
            if partners.is_empty() {
                text = "No partner applications (s2sd partner-application new).".into();
            }
            out.emit(text, serde_json::Value::Array(partners.iter().map(|p| json(p, now)).collect()));
        }
        Cmd::Show { name } => {
            let p = admin.partner(&name, PartnerKind::Application).await?;
            out.emit(describe(&p, now()), json(&p, now()));
        }
        Cmd::Set {
            name,
            enabled,
            trust_level,
            metadata_url,
            allow_http_metadata,
            tls_ca,
            metadata_refresh_interval,
            certificate,
            linked_account,
            accept_security_identifier_information,
            use_auth_server,
        } => {
            let now = now();
            let tls_ca_pem = tls_ca.as_deref().map(read_ca).transpose()?;
            let metadata = match metadata_url {
                Some(url) => Some(
                    fetch_for(
                        admin,
                        &name,
                        PartnerKind::Application,
                        &url,
                        allow_http_metadata,
                        tls_ca_pem.as_deref(),
                        now,
                    )
                    .await?,
                ),
                None => None,
            };
            let cmd = SetPartner {
                kind: PartnerKind::Application,
                name,
                enabled,
                trust_level,
                metadata,
                realm: None,
                allow_http_metadata,
                tls_ca_pem,
                metadata_refresh_interval: metadata_refresh_interval.map(|secs| (secs > 0).then_some(secs)),
                certificates: certificate.as_deref().map(|file| read_certificate_file(file, now)).transpose()?,
                linked_account: linked_account.as_deref().map(admin::normalize_linked_account).transpose()?,
                accept_security_identifier_information,
                use_auth_server,
            };
            let linked = cmd.linked_account.is_some();
            let (change, p) = admin.set_partner(cmd, now).await?;
            if linked {
                warn_unknown_linked_account(store, p.linked_account.as_deref()).await;
            }
            out.emit(change.to_string(), json(&p, now));
        }
        Cmd::Remove { name } => {
            let change =
                admin.remove_partner(RemovePartner { kind: PartnerKind::Application, name: name.clone() }).await?;
            out.emit(change.to_string(), serde_json::json!({"removed": change.name}));
        }
        Cmd::Refresh { name } => refresh(admin, &name, PartnerKind::Application, out).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Fetches `url` for an edit of the stored partner `name`, with the TLS settings the edit gives or
/// the stored ones.
pub(super) async fn fetch_for(
    admin: &Admin,
    name: &str,
    kind: PartnerKind,
    url: &str,
    allow_http: Option<bool>,
    tls_ca_pem: Option<&str>,
    now: i64,
) -> anyhow::Result<FetchedMetadata> {
    let stored = admin.partner(name, kind).await?;
    let allow_http = allow_http.unwrap_or(stored.allow_http_metadata);
    let ca = tls_ca_pem.or(stored.tls_ca_pem.as_deref());
    Ok(admin::fetch_metadata(url, allow_http, ca, now).await?)
}

/// Warns (without failing: the user may be created next) when the linked account is not a mailbox user.
async fn warn_unknown_linked_account(store: &Arc<dyn Store>, linked: Option<&str>) {
    let Some(linked) = linked else { return };
    let Ok(mailboxes) = crate::store::open_mailbox(&store.url()).await else { return };
    if let Err(crate::mailbox::MailboxError::NoSuchUser(_)) = crate::mailbox::find_by_address(&mailboxes, linked).await
    {
        eprintln!(
            "warning: the linked account {linked} is not a mailbox user yet; app-only calls from this partner are refused until it is (s2sd mailbox user new --smtp {linked})"
        );
    }
}

/// Fetches a stored issuer's metadata now and puts its keys in force on every node; on failure the
/// failure is recorded and the last good keys stay in force.
pub(super) async fn refresh(admin: &Admin, name: &str, kind: PartnerKind, out: &Printer) -> anyhow::Result<()> {
    let p = admin.partner(name, kind).await?;
    let url = p
        .metadata_url
        .clone()
        .with_context(|| format!("{} has no metadata URL; it was registered with a certificate", p.name))?;
    let now = now();
    let fetched = match admin::fetch_metadata(&url, p.allow_http_metadata, p.tls_ca_pem.as_deref(), now).await {
        Ok(fetched) => fetched,
        Err(e) => {
            admin.store().record_metadata_fetch(&p.name, now, &MetadataStatus::Failed(e.to_string()), None).await?;
            return Err(anyhow::Error::new(e).context("refresh failed; the last good keys stay in force"));
        }
    };
    let (change, fresh) = admin.record_refresh(RecordRefresh { kind, name: p.name.clone(), fetched }).await?;
    out.emit(format!("{change}\n{}", describe(&fresh, now)), json(&fresh, now));
    Ok(())
}

pub(super) fn read_ca(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the CA file {}", path.display()))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        bail!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display());
    }
    Ok(text)
}

fn read_certificate_file(path: &std::path::Path, now: i64) -> anyhow::Result<Vec<Vec<u8>>> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(admin::read_partner_certificates(&data, &path.display().to_string(), now)?)
}

fn keys(record: &PartnerRecord, now: i64) -> Vec<serde_json::Value> {
    record
        .certificates
        .iter()
        .map(|der| match VerifyingKey::from_certificate(der) {
            Ok(k) => serde_json::json!({
                "x5t": k.x5t(),
                "subject": k.subject(),
                "not_after": rfc3339(k.not_after()),
                "days_left": (k.not_after() - now).div_euclid(86_400),
            }),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        })
        .collect()
}

pub(super) fn json(record: &PartnerRecord, now: i64) -> serde_json::Value {
    serde_json::json!({
        "name": record.name,
        "application_id": record.application_id,
        "realm": record.realm,
        "issuer": format!("{}@{}", record.application_id, record.realm),
        "trust_level": record.trust_level,
        "enabled": record.enabled,
        "metadata_url": record.metadata_url,
        "allow_http_metadata": record.allow_http_metadata,
        "tls_ca": record.tls_ca_pem.is_some(),
        "metadata_fetched_at": record.metadata_fetched_at.map(rfc3339),
        "metadata_status": record.metadata_status,
        "metadata_refresh_interval": record.metadata_refresh_interval,
        "linked_account": record.linked_account,
        "accept_security_identifier_information": record.accept_security_identifier_information,
        "keys": keys(record, now),
    })
}

pub(super) fn describe(record: &PartnerRecord, now: i64) -> String {
    let mut text = format!(
        "Identity:            {}\nApplicationId:       {}\nRealm:               {}\nTrustLevel:          {}\nEnabled:             {}\nMetadataUrl:         {}\nRefreshInterval:     {}\nLastMetadataFetch:   {}",
        record.name,
        record.application_id,
        record.realm,
        record.trust_level,
        record.enabled,
        record.metadata_url.as_deref().unwrap_or("(none: certificate registered by hand)"),
        record.metadata_refresh_interval.map_or_else(|| "server default".to_owned(), |s| format!("{s} s")),
        match (&record.metadata_fetched_at, &record.metadata_status) {
            (Some(at), Some(status)) => format!("{} — {status}", rfc3339(*at)),
            _ => "never".into(),
        },
    );
    text.push_str(&format!(
        "\nLinkedAccount:       {}\nAcceptSecurityIdentifierInformation: {}",
        record.linked_account.as_deref().unwrap_or("(none)"),
        record.accept_security_identifier_information
    ));
    for k in keys(record, now) {
        text.push_str(&format!(
            "\nKey:                 x5t {} — {} — expires {} ({} days)",
            k["x5t"].as_str().unwrap_or("?"),
            k["subject"].as_str().unwrap_or("?"),
            k["not_after"].as_str().unwrap_or("?"),
            k["days_left"]
        ));
    }
    text
}
