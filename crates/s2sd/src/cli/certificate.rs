//! `s2sd certificate new|import|list|export`: our token-issuer certificates.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use zeroize::Zeroizing;

use super::{Printer, now, rfc3339};
use crate::admin::{Admin, InstallCertificate, RemoveCertificate, SetAutoRenew, StageRollover};
use crate::issuer::{self, CertificateInfo, IssuerCertificate};
use crate::store::{AutoRenew, CertificateRole};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a self-signed token-issuer certificate (subject = the realm) and make it current.
    New {
        /// RSA key size: 2048, 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        key_size: usize,
        /// Validity in days.
        #[arg(long, default_value_t = 730)]
        validity_days: u32,
        /// A further realm to put in the subject alternative names (repeatable).
        #[arg(long = "additional-realm")]
        additional_realms: Vec<String>,
    },
    /// Import a certificate with its private key (PFX, or PEM) and make it current.
    Import {
        /// The PFX or PEM file.
        file: PathBuf,
        /// The private key, when the PEM file holds only the certificate.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Read the PFX password from this file (first line).
        #[arg(long, conflicts_with = "password_env")]
        password_file: Option<PathBuf>,
        /// Read the PFX password from this environment variable.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Stage the next certificate: published at once, signing from the effective date
    /// (Set-CsCertificate -Roll -EffectiveDate, Set-AuthConfig -NewCertificateEffectiveDate).
    Roll {
        /// `new` for a new self-signed certificate, or a PFX/PEM file.
        #[arg(long)]
        certificate: String,
        /// When it starts signing: RFC 3339 (2026-12-01T00:00:00Z) or a date (2026-12-01, midnight UTC).
        #[arg(long)]
        effective_date: String,
        /// Stage it even when partners would have less than 48 hours to read it from our metadata.
        #[arg(long)]
        force: bool,
        /// The private key, when the PEM file holds only the certificate.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Read the PFX password from this file (first line).
        #[arg(long, conflicts_with = "password_env")]
        password_file: Option<PathBuf>,
        /// Read the PFX password from this environment variable.
        #[arg(long)]
        password_env: Option<String>,
        /// RSA key size for `new`.
        #[arg(long, default_value_t = 2048)]
        key_size: usize,
        /// Validity in days for `new`.
        #[arg(long, default_value_t = 730)]
        validity_days: u32,
    },
    /// Let running servers create and stage the next self-signed certificate by themselves.
    AutoRenew {
        /// Renew when the current certificate expires within this many days.
        #[arg(long, required_unless_present = "off")]
        renew_before: Option<u32>,
        /// The new certificate starts signing this many days after it is staged (at least 2).
        #[arg(long, required_unless_present = "off")]
        lead: Option<u32>,
        /// Turn automatic renewal off.
        #[arg(long, conflicts_with_all = ["renew_before", "lead"])]
        off: bool,
    },
    /// List certificates: role, thumbprint, x5t, expiry.
    List,
    /// Remove a certificate: the previous one (Remove-CsCertificate -Previous) or one by thumbprint.
    Remove {
        /// Remove the previous certificate.
        #[arg(long, conflicts_with = "thumbprint", required_unless_present = "thumbprint")]
        previous: bool,
        /// Remove the certificate with this thumbprint (not the current one).
        #[arg(long)]
        thumbprint: Option<String>,
    },
    /// Write a certificate's public part (never the key).
    Export {
        /// der or pem.
        #[arg(long, value_enum, default_value_t = Format::Pem)]
        format: Format,
        /// Which certificate (default: the current one).
        #[arg(long)]
        thumbprint: Option<String>,
        /// Output file (default: standard output, PEM only).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Der,
    Pem,
}

pub async fn run(cmd: Cmd, admin: &Admin, out: &Printer) -> anyhow::Result<ExitCode> {
    let store = admin.store();
    match cmd {
        Cmd::New { key_size, validity_days, additional_realms } => {
            let config = store
                .oauth_config()
                .await?
                .context("set the realm first: s2sd oauth-config set --realm <realm> --service-name <name>")?;
            let now_dt = time::OffsetDateTime::from_unix_timestamp(now())?;
            let cert = issuer::generate(&config.realm, &additional_realms, key_size, validity_days, now_dt)?;
            install(admin, cert, out, "created").await?;
        }
        Cmd::Import { file, key, password_file, password_env } => {
            let data = read_limited(&file)?;
            let key_pem = key.as_ref().map(|k| read_limited(k)).transpose()?;
            let looks_pem = data
                .iter()
                .skip_while(|b| b.is_ascii_whitespace())
                .take(10)
                .copied()
                .collect::<Vec<_>>()
                .starts_with(b"-----BEGIN");
            let password =
                if looks_pem { None } else { Some(password(password_file.as_deref(), password_env.as_deref())?) };
            let cert = issuer::import(
                &data,
                key_pem.as_deref().map(|k| k.as_slice()),
                password.as_deref().map(|p| p.as_str()),
            )
            .with_context(|| format!("cannot import {}", file.display()))?;
            install(admin, cert, out, "imported").await?;
        }
        Cmd::Roll { certificate, effective_date, force, key, password_file, password_env, key_size, validity_days } => {
            let config = store
                .oauth_config()
                .await?
                .context("set the realm first: s2sd oauth-config set --realm <realm> --service-name <name>")?;
            let effective = parse_date(&effective_date)?;
            let now = now();
            let cert = if certificate.eq_ignore_ascii_case("new") {
                let now_dt = time::OffsetDateTime::from_unix_timestamp(now)?;
                issuer::generate(&config.realm, &config.additional_realms, key_size, validity_days, now_dt)?
            } else {
                load_file(std::path::Path::new(&certificate), key, password_file, password_env)?
            };
            let info = cert.info.clone();
            let record = issuer::store_record(cert, CertificateRole::Next, Some(effective), now);
            admin.stage_rollover(StageRollover { record, force }, now).await?;
            out.emit(
                format!(
                    "Certificate {} staged as next: published in our metadata now, signing from {} ({} h from now).\nThe current certificate stays published until it expires or `s2sd certificate remove --previous`.",
                    info.thumbprint,
                    rfc3339(effective),
                    (effective - now) / 3600
                ),
                serde_json::json!({"thumbprint": info.thumbprint, "x5t": info.x5t, "role": "next", "effective_at": rfc3339(effective)}),
            );
        }
        Cmd::AutoRenew { renew_before, lead, off } => {
            let auto_renew = match (off, renew_before, lead) {
                (true, _, _) => None,
                (false, Some(before), Some(lead)) => Some(AutoRenew { renew_before_days: before, lead_days: lead }),
                _ => bail!("give --renew-before DAYS and --lead DAYS, or --off"),
            };
            admin.set_auto_renew(SetAutoRenew(auto_renew)).await?;
            let config = store.oauth_config().await?.context("the OAuth configuration was removed meanwhile")?;
            let text = match config.auto_renew {
                Some(a) => format!(
                    "Automatic renewal on: running servers stage a new certificate {} days before the current one expires, signing {} days later.",
                    a.renew_before_days, a.lead_days
                ),
                None => "Automatic renewal off.".into(),
            };
            out.emit(text, serde_json::json!({"auto_renew": config.auto_renew}));
        }
        Cmd::List => {
            let certs = store.certificates().await?;
            let now = now();
            let rows: Vec<serde_json::Value> = certs
                .iter()
                .map(|c| {
                    let info = CertificateInfo::from_der(&c.cert_der).ok();
                    serde_json::json!({
                        "role": c.role,
                        "thumbprint": c.thumbprint,
                        "x5t": s2s::token::thumbprint::x5t(&c.cert_der),
                        "subject": info.as_ref().map(|i| i.subject.clone()),
                        "not_after": rfc3339(c.not_after),
                        "days_left": (c.not_after - now).div_euclid(86_400),
                        "effective_at": c.effective_at.map(rfc3339),
                        "has_private_key": c.private_key_pkcs8.is_some(),
                    })
                })
                .collect();
            let mut text =
                format!("{:<9} {:<40} {:<28} {:<20} {:>9}", "ROLE", "THUMBPRINT", "X5T", "NOT AFTER", "DAYS LEFT");
            for (c, r) in certs.iter().zip(&rows) {
                text.push_str(&format!(
                    "\n{:<9} {:<40} {:<28} {:<20} {:>9}",
                    c.role.as_str(),
                    c.thumbprint,
                    r["x5t"].as_str().unwrap_or_default(),
                    r["not_after"].as_str().unwrap_or_default(),
                    r["days_left"]
                ));
            }
            if certs.is_empty() {
                text = "No token-issuer certificate yet (s2sd certificate new).".into();
            }
            out.emit(text, serde_json::Value::Array(rows));
        }
        Cmd::Remove { previous, thumbprint } => {
            let which = if previous {
                RemoveCertificate::Previous
            } else {
                RemoveCertificate::Thumbprint(thumbprint.unwrap_or_default())
            };
            let (_, target) = admin.remove_certificate(which).await?;
            out.emit(
                format!(
                    "Certificate {} ({}) removed; it is no longer published.",
                    target.thumbprint,
                    target.role.as_str()
                ),
                serde_json::json!({"removed": target.thumbprint, "role": target.role}),
            );
        }
        Cmd::Export { format, thumbprint, out: path } => {
            let certs = store.certificates().await?;
            let cert = match &thumbprint {
                Some(t) => certs.iter().find(|c| c.thumbprint.eq_ignore_ascii_case(t)),
                None => certs.iter().find(|c| c.role == CertificateRole::Current),
            }
            .with_context(|| match &thumbprint {
                Some(t) => format!("no certificate with thumbprint {t} (see s2sd certificate list)"),
                None => "no current certificate (s2sd certificate new)".into(),
            })?;
            let bytes = match format {
                Format::Der => cert.cert_der.clone(),
                Format::Pem => issuer::export_pem(&cert.cert_der).into_bytes(),
            };
            match path {
                Some(p) => {
                    std::fs::write(&p, &bytes).with_context(|| format!("cannot write {}", p.display()))?;
                    out.emit(
                        format!("Certificate {} written to {}.", cert.thumbprint, p.display()),
                        serde_json::json!({"thumbprint": cert.thumbprint, "file": p}),
                    );
                }
                None if format == Format::Pem => print!("{}", String::from_utf8_lossy(&bytes)),
                None => bail!("DER is binary: give --out FILE (or use --format pem)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a rollover that would make partners refuse our tokens.
pub(super) fn parse_date(text: &str) -> anyhow::Result<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(text, &format) {
        Ok(d) => Ok(d.midnight().assume_utc().unix_timestamp()),
        Err(_) => bail!("`{text}` is not a date: use RFC 3339 (2026-12-01T00:00:00Z) or YYYY-MM-DD"),
    }
}

fn load_file(
    file: &std::path::Path,
    key: Option<PathBuf>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
) -> anyhow::Result<IssuerCertificate> {
    let data = read_limited(file)?;
    let key_pem = key.as_ref().map(|k| read_limited(k)).transpose()?;
    let looks_pem = data
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(10)
        .copied()
        .collect::<Vec<_>>()
        .starts_with(b"-----BEGIN");
    let password = if looks_pem { None } else { Some(password(password_file.as_deref(), password_env.as_deref())?) };
    issuer::import(&data, key_pem.as_deref().map(|k| k.as_slice()), password.as_deref().map(|p| p.as_str()))
        .with_context(|| format!("cannot import {}", file.display()))
}

async fn install(admin: &Admin, cert: IssuerCertificate, out: &Printer, verb: &str) -> anyhow::Result<()> {
    let info = cert.info.clone();
    let record = issuer::store_record(cert, CertificateRole::Current, None, now());
    admin.install_certificate(InstallCertificate { record }).await?;
    out.emit(
        format!(
            "Certificate {verb} and made current.\nThumbprint: {}\nx5t:        {}\nSubject:    {}\nNot after:  {}\nKey:        RSA {} bits",
            info.thumbprint,
            info.x5t,
            info.subject,
            rfc3339(info.not_after),
            info.key_bits
        ),
        serde_json::to_value(&info)?,
    );
    Ok(())
}

fn read_limited(path: &std::path::Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > issuer::MAX_INPUT_BYTES as u64 {
        bail!(
            "{} is {} bytes; certificate files are at most {} bytes",
            path.display(),
            meta.len(),
            issuer::MAX_INPUT_BYTES
        );
    }
    Ok(Zeroizing::new(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?))
}

/// The PFX password: from a file, an environment variable, or a prompt — never a plain flag.
fn password(file: Option<&std::path::Path>, env: Option<&str>) -> anyhow::Result<Zeroizing<String>> {
    if let Some(f) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(f).with_context(|| format!("cannot read the password file {}", f.display()))?,
        );
        return Ok(Zeroizing::new(text.lines().next().unwrap_or_default().to_owned()));
    }
    if let Some(var) = env {
        return std::env::var(var)
            .map(Zeroizing::new)
            .with_context(|| format!("environment variable {var} is not set"));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("the PFX needs a password: give --password-file FILE or --password-env VAR (no terminal to prompt on)");
    }
    Ok(Zeroizing::new(rpassword::prompt_password("PFX password: ")?))
}
