//! `s2sd serve`: runs a node until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use s2s::partner::refresh::RefreshPolicy;
use tokio_util::sync::CancellationToken;

use super::{Printer, store_url};
use crate::server::{self, ServeOptions, TlsSource};
use crate::store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM). Without it, a self-signed certificate is generated and reused.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where the self-signed TLS certificate is kept (default: beside the SQLite store).
    #[arg(long)]
    pub tls_dir: Option<PathBuf>,
    /// Serve plain http instead of https (tokens then cross the network unencrypted).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key", "tls_dir"])]
    pub insecure_http: bool,
    /// Seconds between scheduled refreshes of each partner's metadata.
    #[arg(long, default_value_t = 3600)]
    pub metadata_refresh_interval: u64,
    /// Milliseconds between checks of the store for configuration changes.
    #[arg(long, default_value_t = 500)]
    pub poll_interval_ms: u64,
    /// Longest lifetime (exp - nbf, or exp - iat) of an incoming actor token, in hours: longer-lived
    /// tokens are refused (token_lifetime_too_long, 2020) even while current. Exchange, SharePoint
    /// and ACS issue 24 h tokens.
    #[arg(long, env = "S2S_MAX_TOKEN_LIFETIME_HOURS", default_value_t = 48, value_parser = clap::value_parser!(u64).range(1..=8760))]
    pub max_token_lifetime_hours: u64,
}

pub async fn run(args: Args, store_flag: Option<&str>, out: &Printer) -> anyhow::Result<ExitCode> {
    let url = store_url(store_flag)?;
    let stores = store::open_stores(&url).await?;
    let tls = if args.insecure_http {
        None
    } else {
        Some(match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => TlsSource::Files { cert, key },
            _ => {
                let dir = match args.tls_dir {
                    Some(d) => d,
                    None => default_tls_dir(&url)?,
                };
                let names = stores.config.oauth_config().await?.map(|c| c.hostnames).unwrap_or_default();
                TlsSource::SelfSigned { dir, names }
            }
        })
    };
    if args.metadata_refresh_interval < 60 {
        bail!("--metadata-refresh-interval must be at least 60 seconds");
    }
    let options = ServeOptions {
        tls,
        refresh: RefreshPolicy {
            interval: Duration::from_secs(args.metadata_refresh_interval),
            ..RefreshPolicy::default()
        },
        poll: Duration::from_millis(args.poll_interval_ms.clamp(50, 60_000)),
    };
    let listener =
        std::net::TcpListener::bind(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let cancel = CancellationToken::new();
    let limits =
        server::ValidationLimits { max_token_lifetime: Duration::from_secs(args.max_token_lifetime_hours * 3600) };
    let running =
        server::start_with_limits(stores, s2s::clock::system(), options, limits, listener, cancel.clone()).await?;
    out.emit(
        format!(
            "Serving {}://{} (metadata at /metadata/json/1; store {}){}",
            running.scheme,
            running.addr,
            running.state.store.url(),
            running.tls_cert.as_ref().map(|c| format!("; TLS certificate: {}", c.display())).unwrap_or_default()
        ),
        serde_json::json!({"url": format!("{}://{}", running.scheme, running.addr), "tls_certificate": running.tls_cert}),
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    cancel.cancel();
    running.done.await.context("the server task failed")??;
    Ok(ExitCode::SUCCESS)
}

/// Beside the SQLite file, or in the platform data directory.
fn default_tls_dir(store_url: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) =
        store_url.strip_prefix("sqlite:").map(|p| p.trim_start_matches("//")).filter(|p| !p.starts_with(":memory:"))
        && let Some(parent) = std::path::Path::new(path).parent()
    {
        return Ok(parent.join("tls"));
    }
    Ok(dirs::data_dir().context("no platform data directory; give --tls-dir")?.join("s2s").join("tls"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
