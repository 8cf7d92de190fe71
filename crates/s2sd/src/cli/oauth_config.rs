//! `s2sd oauth-config set|show`: the realm, service name (our application id) and host names.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use super::Printer;
use crate::store::{OAuthConfig, Store};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Set the realm, service name and host names (unspecified settings are kept).
    Set {
        /// The realm, normally the SIP domain (e.g. litwareinc.com) or a tenant GUID.
        #[arg(long)]
        realm: Option<String>,
        /// exchange, sharepoint, lync, skype, or an application id GUID.
        #[arg(long)]
        service_name: Option<String>,
        /// A host name this deployment is called by (repeatable; replaces the list).
        #[arg(long = "hostname")]
        hostnames: Vec<String>,
        /// A further realm to answer for (repeatable; replaces the list).
        #[arg(long = "additional-realm")]
        additional_realms: Vec<String>,
        /// Exchange autodiscover URL used to find the mailbox service.
        #[arg(long)]
        exchange_autodiscover_url: Option<String>,
    },
    /// Show the configuration.
    Show,
}

pub async fn run(cmd: Cmd, store: &Arc<dyn Store>, out: &Printer) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Set { realm, service_name, hostnames, additional_realms, exchange_autodiscover_url } => {
            let existing = store.oauth_config().await?;
            let realm = match (realm, &existing) {
                (Some(r), _) => normalize_realm(&r)?,
                (None, Some(c)) => c.realm.clone(),
                (None, None) => bail!("no realm is configured yet: pass --realm (e.g. --realm litwareinc.com)"),
            };
            let service_name = match (service_name, &existing) {
                (Some(s), _) => s2s::principal::service_app_id(&s)?,
                (None, Some(c)) => c.service_name.clone(),
                (None, None) => bail!(
                    "no service name is configured yet: pass --service-name (exchange, sharepoint, lync or a GUID)"
                ),
            };
            let lower = |v: Vec<String>| -> Vec<String> {
                v.into_iter().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()
            };
            let config = OAuthConfig {
                realm,
                service_name,
                hostnames: if hostnames.is_empty() {
                    existing.as_ref().map(|c| c.hostnames.clone()).unwrap_or_default()
                } else {
                    lower(hostnames)
                },
                additional_realms: if additional_realms.is_empty() {
                    existing.as_ref().map(|c| c.additional_realms.clone()).unwrap_or_default()
                } else {
                    additional_realms.iter().map(|r| normalize_realm(r)).collect::<Result<_, _>>()?
                },
                exchange_autodiscover_url: match exchange_autodiscover_url {
                    Some(u) if u.is_empty() => None,
                    Some(u) => Some(
                        url::Url::parse(&u)
                            .with_context(|| format!("--exchange-autodiscover-url `{u}` is not a URL"))?
                            .to_string(),
                    ),
                    None => existing.as_ref().and_then(|c| c.exchange_autodiscover_url.clone()),
                },
                auto_renew: existing.as_ref().and_then(|c| c.auto_renew),
            };
            store.set_oauth_config(&config).await?;
            out.emit(format!("OAuth configuration saved.\n{}", describe(&config)), serde_json::to_value(&config)?);
        }
        Cmd::Show => match store.oauth_config().await? {
            Some(config) => out.emit(describe(&config), serde_json::to_value(&config)?),
            None => bail!("no OAuth configuration yet: s2sd oauth-config set --realm <realm> --service-name <name>"),
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn normalize_realm(realm: &str) -> anyhow::Result<String> {
    let r = realm.trim().to_ascii_lowercase();
    if r.is_empty() || r.contains(['@', '/', ' ', '"', ',']) {
        bail!("`{realm}` is not a realm: use a domain (litwareinc.com) or a tenant GUID");
    }
    Ok(r)
}

fn describe(c: &OAuthConfig) -> String {
    let product = s2s::principal::product_name(&c.service_name).map(|p| format!(" ({p})")).unwrap_or_default();
    format!(
        "Realm:                     {}\nServiceName:               {}{}\nHostnames:                 {}\nAdditionalRealms:          {}\nExchangeAutodiscoverUrl:   {}",
        c.realm,
        c.service_name,
        product,
        c.hostnames.join(", "),
        c.additional_realms.join(", "),
        c.exchange_autodiscover_url.as_deref().unwrap_or(""),
    )
}
