//! `s2sd partner-application new|list|show|set|remove|refresh`: the applications we trust.
//! A partner registered by metadata URL is fetched and checked before anything is stored.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use s2s::metadata::fetch::{FetchOptions, fetch};
use s2s::partner::TrustLevel;
use s2s::token::VerifyingKey;

use super::{Printer, now, rfc3339};
use crate::issuer;
use crate::store::{PartnerKind, PartnerRecord, Store};

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

pub async fn run(cmd: Cmd, store: &Arc<dyn Store>, out: &Printer) -> anyhow::Result<ExitCode> {
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
            let name = identity.trim().to_owned();
            if name.is_empty() {
                bail!("--identity must not be empty");
            }
            if store.partner(&name).await?.is_some() {
                bail!(
                    "a partner application named {name} exists already (change it with s2sd partner-application set {name} …)"
                );
            }
            let tls_ca_pem = tls_ca.as_deref().map(read_ca).transpose()?;
            let now = now();
            let mut record = PartnerRecord {
                name,
                application_id: String::new(),
                realm: String::new(),
                metadata_url: None,
                trust_level: trust_level.to_string(),
                enabled,
                allow_http_metadata,
                tls_ca_pem,
                certificates: Vec::new(),
                metadata_fetched_at: None,
                metadata_status: None,
                metadata_refresh_interval,
                linked_account: linked_account.as_deref().map(normalize_linked_account).transpose()?.flatten(),
                accept_security_identifier_information: accept_security_identifier_information.unwrap_or(false),
                kind: PartnerKind::Application,
                use_auth_server,
                created_at: now,
                updated_at: now,
            };
            match (metadata_url, application_identifier) {
                (Some(url), _) => apply_metadata(&mut record, &url, now).await?,
                (None, Some(app)) => {
                    record.application_id = s2s::principal::parse_guid(&app)?;
                    let realm = realm.context("--realm is required with --application-identifier")?;
                    // An empty realm (as New-PartnerApplication takes it for cloud partners) means any realm.
                    record.realm = if realm.trim().is_empty() { "*".into() } else { realm.trim().to_ascii_lowercase() };
                    record.certificates = match certificate {
                        Some(file) => read_partner_certificates(&file, now)?,
                        None if use_auth_server => Vec::new(),
                        None => bail!(
                            "--certificate is required with --application-identifier, unless the partner takes its tokens from an authorization server (--use-auth-server)"
                        ),
                    };
                }
                (None, None) => bail!(
                    "give --metadata-url URL, or --application-identifier GUID --realm REALM (--certificate FILE | --use-auth-server)"
                ),
            }
            store.insert_partner(&record).await?;
            warn_unknown_linked_account(store, record.linked_account.as_deref()).await;
            out.emit(
                format!("Partner application {} registered.\n{}", record.name, describe(&record, now)),
                json(&record, now),
            );
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
            let p = get(store, &name).await?;
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
            let mut p = get(store, &name).await?;
            let now = now();
            let mut changes = Vec::new();
            if let Some(e) = enabled {
                p.enabled = e;
                changes.push(format!("enabled = {e}"));
            }
            if let Some(t) = trust_level {
                p.trust_level = t.to_string();
                changes.push(format!("trust level = {t}"));
            }
            if let Some(a) = allow_http_metadata {
                p.allow_http_metadata = a;
                changes.push(format!("allow http metadata = {a}"));
            }
            if let Some(ca) = tls_ca {
                p.tls_ca_pem = Some(read_ca(&ca)?);
                changes.push(format!("TLS CA = {}", ca.display()));
            }
            if let Some(secs) = metadata_refresh_interval {
                if (1..60).contains(&secs) {
                    bail!("--metadata-refresh-interval must be at least 60 seconds (or 0 for the server's interval)");
                }
                p.metadata_refresh_interval = (secs > 0).then_some(secs);
                changes.push(format!(
                    "metadata refresh interval = {}",
                    if secs > 0 { format!("{secs} s") } else { "server default".into() }
                ));
            }
            if let Some(url) = metadata_url {
                apply_metadata(&mut p, &url, now).await?;
                changes.push(format!("metadata URL = {url}"));
            }
            if let Some(file) = certificate {
                if p.metadata_url.is_some() {
                    bail!(
                        "{} takes its certificates from its metadata URL; refresh it instead (s2sd partner-application refresh {})",
                        p.name,
                        p.name
                    );
                }
                p.certificates = read_partner_certificates(&file, now)?;
                changes.push(format!("certificate = {}", file.display()));
            }
            if let Some(account) = &linked_account {
                p.linked_account = normalize_linked_account(account)?;
                changes.push(format!("linked account = {}", p.linked_account.as_deref().unwrap_or("(none)")));
            }
            if let Some(accept) = accept_security_identifier_information {
                p.accept_security_identifier_information = accept;
                changes.push(format!("accept security identifier information = {accept}"));
            }
            if let Some(use_it) = use_auth_server {
                p.use_auth_server = use_it;
                changes.push(format!("use auth server = {use_it}"));
            }
            if changes.is_empty() {
                bail!(
                    "nothing to change: give --enabled, --trust-level, --metadata-url, --allow-http-metadata, --tls-ca, --metadata-refresh-interval, --certificate, --linked-account or --accept-security-identifier-information"
                );
            }
            p.updated_at = now;
            if !store.update_partner(&p).await? {
                bail!("partner application {name} was removed meanwhile");
            }
            if linked_account.is_some() {
                warn_unknown_linked_account(store, p.linked_account.as_deref()).await;
            }
            out.emit(format!("Partner application {} changed: {}.", p.name, changes.join(", ")), json(&p, now));
        }
        Cmd::Remove { name } => {
            if !store.remove_partner(&name).await? {
                bail!("no partner application named {name} (see s2sd partner-application list)");
            }
            out.emit(format!("Partner application {name} removed."), serde_json::json!({"removed": name}));
        }
        Cmd::Refresh { name } => refresh(store, get(store, &name).await?, out).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A linked account as typed: an address (lower-cased), or `None` for an empty value.
fn normalize_linked_account(text: &str) -> anyhow::Result<Option<String>> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bare = t.split_once(':').filter(|(k, _)| ["smtp", "upn", "sip"].contains(&k.to_ascii_lowercase().as_str()));
    let address = bare.map_or(t, |(_, v)| v);
    crate::mailbox::address(address).with_context(|| {
        format!("--linked-account `{t}` is not an address (give the linked mailbox user's SMTP address)")
    })?;
    Ok(Some(t.to_ascii_lowercase()))
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

async fn get(store: &Arc<dyn Store>, name: &str) -> anyhow::Result<PartnerRecord> {
    get_kind(store, name, PartnerKind::Application).await
}

/// A stored partner of `kind` by name, or an error naming the command for the other kind.
pub(super) async fn get_kind(store: &Arc<dyn Store>, name: &str, kind: PartnerKind) -> anyhow::Result<PartnerRecord> {
    let (noun, other) = match kind {
        PartnerKind::Application => ("partner application", "auth-server"),
        PartnerKind::AuthServer => ("auth server", "partner-application"),
    };
    match store.partner(name).await? {
        Some(p) if p.kind == kind => Ok(p),
        Some(_) => bail!(
            "{name} is not {} {noun}; see s2sd {other} show {name}",
            if noun.starts_with('a') { "an" } else { "a" }
        ),
        None => bail!(
            "no {noun} named {name} (see s2sd {} list)",
            if kind == PartnerKind::Application { "partner-application" } else { "auth-server" }
        ),
    }
}

/// Fetches a stored issuer's metadata now and records the result; on failure the last good keys
/// stay in force. The document must still name the same issuer (for partner applications also the
/// same realm: an auth server may keep a realm the admin set with `--realm`).
pub(super) async fn refresh(store: &Arc<dyn Store>, p: PartnerRecord, out: &Printer) -> anyhow::Result<()> {
    let url = p
        .metadata_url
        .clone()
        .with_context(|| format!("{} has no metadata URL; it was registered with a certificate", p.name))?;
    let now = now();
    let mut fresh = p.clone();
    if let Err(e) = apply_metadata(&mut fresh, &url, now).await {
        store.record_metadata_fetch(&p.name, now, &super::one_line(&e), None).await?;
        return Err(e.context("refresh failed; the last good keys stay in force"));
    }
    let realm_changed = p.kind == PartnerKind::Application && fresh.realm != p.realm;
    if fresh.application_id != p.application_id || realm_changed {
        bail!(
            "the metadata now names issuer {}@{}, not {}@{}; re-register {} if that is intended",
            fresh.application_id,
            fresh.realm,
            p.application_id,
            p.realm,
            p.name
        );
    }
    fresh.realm = p.realm.clone();
    store.record_metadata_fetch(&p.name, now, "ok", Some(&fresh.certificates)).await?;
    out.emit(format!("Metadata of {} refreshed.\n{}", p.name, describe(&fresh, now)), json(&fresh, now));
    Ok(())
}

/// Fetches and checks `url`, then fills in the issuer, keys and fetch status.
pub(super) async fn apply_metadata(record: &mut PartnerRecord, url: &str, now: i64) -> anyhow::Result<()> {
    let options = FetchOptions {
        allow_http: record.allow_http_metadata,
        ca_pem: record.tls_ca_pem.as_ref().map(|p| p.as_bytes().to_vec()),
        timeout: Duration::from_secs(10),
    };
    let doc = fetch(url, &options).await?;
    let checked = doc.check(now).with_context(|| format!("metadata from {url} is unusable"))?;
    if checked.issuer.app_id.is_empty() {
        bail!("metadata from {url} names no application id");
    }
    record.application_id = checked.issuer.app_id.clone();
    record.realm = checked.issuer.realm.clone();
    record.metadata_url = Some(url.to_owned());
    record.certificates = checked.certificates;
    record.metadata_fetched_at = Some(now);
    record.metadata_status = Some("ok".into());
    Ok(())
}

pub(super) fn read_ca(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the CA file {}", path.display()))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        bail!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display());
    }
    Ok(text)
}

fn read_partner_certificates(path: &std::path::Path, now: i64) -> anyhow::Result<Vec<Vec<u8>>> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certs = issuer::read_certificates(&data).with_context(|| format!("{} is not a certificate", path.display()))?;
    for der in &certs {
        let key =
            VerifyingKey::from_certificate(der).with_context(|| format!("{} cannot verify tokens", path.display()))?;
        if key.not_after() <= now {
            bail!("the certificate in {} expired on {}", path.display(), rfc3339(key.not_after()));
        }
    }
    Ok(certs)
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
