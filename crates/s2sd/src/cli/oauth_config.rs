//! `s2sd oauth-config set|show`: the realm, service name (our application id) and host names.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use super::Printer;
use crate::admin::{Admin, SetOAuthConfig};
use crate::store::OAuthConfig;

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

pub async fn run(cmd: Cmd, admin: &Admin, out: &Printer) -> anyhow::Result<ExitCode> {
    let store = admin.store();
    match cmd {
        Cmd::Set { realm, service_name, hostnames, additional_realms, exchange_autodiscover_url } => {
            let cmd = SetOAuthConfig { realm, service_name, hostnames, additional_realms, exchange_autodiscover_url };
            let (_, config) = admin.set_oauth_config(cmd).await?;
            out.emit(format!("OAuth configuration saved.\n{}", describe(&config)), serde_json::to_value(&config)?);
        }
        Cmd::Show => match store.oauth_config().await? {
            Some(config) => out.emit(describe(&config), serde_json::to_value(&config)?),
            None => bail!("no OAuth configuration yet: s2sd oauth-config set --realm <realm> --service-name <name>"),
        },
    }
    Ok(ExitCode::SUCCESS)
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
