//! The listener's TLS identity: certificate and key files given by the admin, or a self-signed
//! localhost certificate generated on first start (key written 0600) and reused afterwards.
//! rustls setup lives here only, so a rustls upgrade stays local.

use std::path::{Path, PathBuf};

use axum_server::tls_rustls::RustlsConfig;

use crate::issuer;

/// Where the TLS identity comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM files given by the admin.
    Files {
        /// Certificate chain (PEM).
        cert: PathBuf,
        /// Private key (PEM).
        key: PathBuf,
    },
    /// A self-signed certificate kept in this directory (`tls.crt`, `tls.key`).
    SelfSigned {
        /// The directory.
        dir: PathBuf,
        /// Names to put in the certificate besides localhost and the loopback addresses.
        names: Vec<String>,
    },
}

/// Why the TLS identity could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The self-signed certificate could not be generated.
    #[error("could not generate a TLS certificate: {0}")]
    Generate(#[from] issuer::CertificateError),
    /// rustls refused the certificate or key.
    #[error(
        "the TLS certificate or key is unusable ({cert}, {key}): {detail}; give --tls-cert and --tls-key as PEM files"
    )]
    Config {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// Why.
        detail: String,
    },
}

impl TlsSource {
    /// The certificate and key paths, generating a self-signed pair when needed.
    pub fn ensure(&self, now: time::OffsetDateTime) -> Result<(PathBuf, PathBuf), TlsError> {
        match self {
            Self::Files { cert, key } => Ok((cert.clone(), key.clone())),
            Self::SelfSigned { dir, names } => {
                let cert = dir.join("tls.crt");
                let key = dir.join("tls.key");
                if !(cert.exists() && key.exists()) {
                    create_dir(dir)?;
                    let mut all = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
                    all.extend(names.iter().filter(|n| !n.is_empty()).cloned());
                    let generated = issuer::generate_tls(&all, 825, now)?;
                    issuer::write_pem_files(&generated, &cert, &key)
                        .map_err(|source| TlsError::Io { path: key.clone(), source })?;
                    tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate; partners trust it with --tls-ca");
                }
                Ok((cert, key))
            }
        }
    }

    /// A rustls configuration for the listener.
    pub async fn config(&self, now: time::OffsetDateTime) -> Result<(RustlsConfig, PathBuf), TlsError> {
        let (cert, key) = self.ensure(now)?;
        let config = RustlsConfig::from_pem_file(&cert, &key).await.map_err(|e| TlsError::Config {
            cert: cert.clone(),
            key: key.clone(),
            detail: e.to_string(),
        })?;
        Ok((config, cert))
    }
}

fn create_dir(dir: &Path) -> Result<(), TlsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| TlsError::Io { path: dir.to_owned(), source })
}

/// Reloads the listener's certificate when its files change (checked every few seconds): a new
/// TLS certificate takes effect for new connections without a restart.
pub async fn watch(config: RustlsConfig, source: TlsSource, cancel: tokio_util::sync::CancellationToken) {
    let (cert, key) = match &source {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned { dir, .. } => (dir.join("tls.crt"), dir.join("tls.key")),
    };
    let stamp = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = (stamp(&cert), stamp(&key));
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let seen = (stamp(&cert), stamp(&key));
        if seen == last {
            continue;
        }
        match config.reload_from_pem_file(&cert, &key).await {
            Ok(()) => {
                tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
                last = seen;
            }
            // A half-written pair fails to load; the next tick tries again.
            Err(e) => {
                tracing::warn!(cert = %cert.display(), error = %e, "TLS certificate changed but cannot be loaded yet")
            }
        }
    }
}
