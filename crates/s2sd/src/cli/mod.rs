//! The admin command line: one file per noun, mirroring the cmdlets admins know. Every command
//! takes `--output json`, works against the embedded store by default or the one named by
//! `--store` / `S2S_STORE`, prints what changed, and fails with a one-line reason.

mod archive;
mod auth_server;
mod certificate;
mod contacts;
mod demo;
mod demo_hybrid;
mod dump;
mod mailbox;
mod oauth_config;
mod partner_application;
mod role_assignment;
mod serve;
mod service_principal;
// `store` here names the configuration store module; the `s2sd store …` commands live in store.rs.
#[path = "store.rs"]
mod store_admin;
mod tenant;
mod test;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::admin::Admin;
use crate::store::{self, Store};
pub use crate::timestamp::{now, rfc3339};

/// s2sd: server-to-server OAuth trust — token issuer, metadata publisher, partner trust store,
/// validator and admin CLI.
#[derive(Debug, Parser)]
#[command(name = "s2sd", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration store: sqlite:PATH or postgres://… (default: an SQLite file in the platform data directory).
    #[arg(long, env = "S2S_STORE", global = true)]
    pub store: Option<String>,
    /// The key that encrypts the store's private keys: a file holding one line of base64 for 32 bytes,
    /// mode 0600 (default: `<db>.key` beside an SQLite store; required for PostgreSQL).
    #[arg(long, env = "S2S_STORE_KEY_FILE", global = true)]
    pub store_key_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
    /// Log filter (tracing EnvFilter syntax), e.g. info or s2s=debug.
    #[arg(long, env = "S2S_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Realm, service name and host names of this deployment (Set-/Get-CsOAuthConfiguration).
    #[command(subcommand)]
    OauthConfig(oauth_config::Cmd),
    /// Token-issuer certificates (Set-CsCertificate -Type OAuthTokenIssuer, Set-AuthConfig).
    #[command(subcommand)]
    Certificate(certificate::Cmd),
    /// Partner applications we trust (New-/Get-/Set-/Remove-CsPartnerApplication).
    #[command(subcommand)]
    PartnerApplication(partner_application::Cmd),
    /// Connectivity tests against partners (Test-CsExStorageConnectivity).
    #[command(subcommand)]
    Test(test::Cmd),
    /// Exchange archiving: save IM transcripts in users' mailboxes.
    #[command(subcommand)]
    Archive(archive::Cmd),
    /// The unified contact store: users' contacts in their mailboxes.
    #[command(subcommand)]
    Contacts(contacts::Cmd),
    /// Authorization servers whose tokens partners may use (New-AuthServer, New-CsOAuthServer).
    #[command(subcommand)]
    AuthServer(auth_server::Cmd),
    /// Mailbox users and their items (New-Mailbox, Get-Mailbox; what landed in a mailbox).
    #[command(subcommand)]
    Mailbox(mailbox::Cmd),
    /// Management role assignments of mailbox users (New-/Get-/Remove-ManagementRoleAssignment).
    #[command(subcommand)]
    RoleAssignment(role_assignment::Cmd),
    /// Tenants of this node's authorization server (the ACS role).
    #[command(subcommand)]
    Tenant(tenant::Cmd),
    /// Service principals of a tenant, their credentials and SPNs (New-MsolServicePrincipal…).
    #[command(subcommand)]
    ServicePrincipal(service_principal::Cmd),
    /// Mint and inspect tokens.
    #[command(subcommand)]
    Token(token::Cmd),
    /// The store itself: schema, encryption key, export and import (moving SQLite to PostgreSQL).
    #[command(subcommand)]
    Store(store_admin::Cmd),
    /// Run the server: metadata, validation, /s2s/whoami.
    Serve(serve::Args),
    /// Run the two-server demo on loopback and exit.
    Demo(demo::Args),
}

/// Sets up logging to stderr.
pub fn init_logging(cli: &Cli) {
    let filter =
        // The platform verifier logs every refused TLS certificate as an error of its own; our error
        // already says it, on one line.
        tracing_subscriber::EnvFilter::try_new(format!("{},rustls_platform_verifier=off", cli.log))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = if cli.log_json { builder.json().try_init() } else { builder.try_init() };
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let out = Printer { output: cli.output };
    if let Some(key_file) = cli.store_key_file {
        store::set_key_file(key_file);
    }
    match cli.command {
        Command::OauthConfig(cmd) => oauth_config::run(cmd, &open_admin(cli.store.as_deref()).await?, &out).await,
        Command::Certificate(cmd) => certificate::run(cmd, &open_admin(cli.store.as_deref()).await?, &out).await,
        Command::PartnerApplication(cmd) => {
            partner_application::run(cmd, &open_admin(cli.store.as_deref()).await?, &out).await
        }
        Command::Test(cmd) => test::run(cmd, &open(cli.store.as_deref()).await?, &out).await,
        Command::Archive(cmd) => archive::run(cmd, &open(cli.store.as_deref()).await?, &out).await,
        Command::Contacts(cmd) => contacts::run(cmd, &open(cli.store.as_deref()).await?, &out).await,
        Command::AuthServer(cmd) => auth_server::run(cmd, &open_admin(cli.store.as_deref()).await?, &out).await,
        Command::Mailbox(cmd) => mailbox::run(cmd, &open_mailbox(cli.store.as_deref()).await?, &out).await,
        Command::RoleAssignment(cmd) => {
            role_assignment::run(cmd, &open_mailbox(cli.store.as_deref()).await?, &out).await
        }
        Command::Tenant(cmd) => tenant::run(cmd, &open_admin(cli.store.as_deref()).await?, &out).await,
        Command::ServicePrincipal(cmd) => {
            service_principal::run(cmd, &open_admin(cli.store.as_deref()).await?, &out).await
        }
        Command::Token(cmd) => token::run(cmd, &open(cli.store.as_deref()).await?, &out).await,
        Command::Store(cmd) => store_admin::run(cmd, cli.store.as_deref(), &out).await,
        Command::Serve(args) => serve::run(args, cli.store.as_deref(), &out).await,
        Command::Demo(args) => demo::run(args, &out).await,
    }
}

/// The store URL in force: the flag/env value, or the default SQLite file.
pub fn store_url(given: Option<&str>) -> anyhow::Result<String> {
    match given {
        Some(url) => Ok(url.to_owned()),
        None => {
            let dir = dirs::data_dir()
                .context("no platform data directory; name a store with --store sqlite:PATH or S2S_STORE")?
                .join("s2s");
            Ok(format!("sqlite:{}", dir.join("s2s.db").display()))
        }
    }
}

async fn open(given: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    let url = store_url(given)?;
    Ok(store::open(&url).await?)
}

/// The admin layer over the store named on the command line.
async fn open_admin(given: Option<&str>) -> anyhow::Result<Admin> {
    let url = store_url(given)?;
    Ok(Admin::new(&store::open_stores(&url).await?))
}

async fn open_mailbox(given: Option<&str>) -> anyhow::Result<Arc<dyn store::mailbox::MailboxStore>> {
    let url = store_url(given)?;
    Ok(store::open_mailbox(&url).await?)
}

/// An error and its causes on one line.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Prints results as text or JSON.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    output: Output,
}

impl Printer {
    /// Prints `text` or `json`, depending on `--output`.
    pub fn emit(&self, text: impl std::fmt::Display, json: serde_json::Value) {
        match self.output {
            Output::Text => println!("{text}"),
            Output::Json => println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default()),
        }
    }

    /// True for `--output json`.
    pub fn json(&self) -> bool {
        self.output == Output::Json
    }
}
