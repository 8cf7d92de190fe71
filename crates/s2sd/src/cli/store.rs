//! `s2sd store migrate|generate-key|rotate-key|export|import`: the configuration store itself —
//! its schema, the key that encrypts its private keys, and a portable JSON dump for moving a
//! deployment (e.g. from SQLite to PostgreSQL).
//!
//! The dump (`{"format":"s2s-store-dump","version":1,…}`) holds the OAuth configuration, our
//! certificates and the partner applications; private keys only with `--include-private-keys`
//! (then as base64 PKCS#8, and the dump is as secret as the keys). Mailbox data is not part of it.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Printer, now, rfc3339, store_url};
use crate::store::{self, CertificateRecord, OAuthConfig, PartnerRecord, Snapshot, StoreKey};

/// The `format` of a dump.
const DUMP_FORMAT: &str = "s2s-store-dump";
/// The dump version this s2sd writes and reads.
const DUMP_VERSION: u32 = 1;
/// The largest dump `import` reads.
const MAX_DUMP_LEN: u64 = 64 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Bring the store's schema up to date (every command does this) and print its version.
    Migrate,
    /// Write a new random store key file (mode 0600), e.g. for a PostgreSQL store or rotate-key.
    GenerateKey {
        /// Where to write it; must not exist.
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-encrypt every private key in the store under a new key, in one transaction.
    RotateKey {
        /// The new key file (created, mode 0600, if it does not exist).
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Write the store's contents as JSON: OAuth configuration, certificates, partner applications.
    Export {
        /// Include our private keys (in plain text: the dump becomes secret).
        #[arg(long)]
        include_private_keys: bool,
        /// Write to this file (mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Load a dump written by `s2sd store export` into an empty store.
    Import {
        /// The dump file, or `-` for standard input.
        file: PathBuf,
        /// Replace what the store holds instead of refusing a store that is not empty.
        #[arg(long)]
        replace: bool,
    },
}

/// A store dump, as written to JSON.
#[derive(Debug, Serialize, Deserialize)]
struct Dump {
    format: String,
    version: u32,
    /// When it was written (RFC 3339).
    exported_at: String,
    /// The store it was read from (never with a password).
    source: String,
    /// The source's configuration version.
    config_version: i64,
    /// Whether `certificates[].private_key_pkcs8` is present.
    includes_private_keys: bool,
    oauth_config: Option<OAuthConfig>,
    certificates: Vec<DumpCertificate>,
    partners: Vec<PartnerRecord>,
}

/// A certificate in a dump: the record, and its private key when asked for.
#[derive(Debug, Serialize, Deserialize)]
struct DumpCertificate {
    #[serde(flatten)]
    record: CertificateRecord,
    /// Base64 PKCS#8, present only in dumps made with `--include-private-keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key_pkcs8: Option<String>,
}

pub async fn run(cmd: Cmd, store_flag: Option<&str>, out: &Printer) -> anyhow::Result<ExitCode> {
    if let Cmd::GenerateKey { out: path } = &cmd {
        let key = StoreKey::create_file(path)?;
        out.emit(
            format!(
                "New store key {} written to {} (mode 0600). Keep a copy with your backups: without it the \
                 store's private keys cannot be read.",
                key.id(),
                path.display()
            ),
            serde_json::json!({"key_file": path, "key_id": key.id()}),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let url = store_url(store_flag)?;
    let store = store::open(&url).await?;
    match cmd {
        Cmd::GenerateKey { .. } => {}
        Cmd::Migrate => {
            let schema_version = store.schema_version().await?;
            let config_version = store.version().await?;
            out.emit(
                format!(
                    "Store {}: schema version {schema_version} (up to date), configuration version {config_version}, \
                     store key {}.",
                    store.url(),
                    store.key_id()
                ),
                serde_json::json!({
                    "url": store.url(),
                    "schema_version": schema_version,
                    "config_version": config_version,
                    "key_id": store.key_id(),
                }),
            );
        }
        Cmd::RotateKey { new_key_file } => {
            let created = !new_key_file.exists();
            let new_key =
                if created { StoreKey::create_file(&new_key_file)? } else { StoreKey::from_file(&new_key_file)? };
            let old_id = store.key_id();
            let new_id = new_key.id();
            if new_id == old_id {
                bail!("{} holds the key the store uses already (store key {old_id})", new_key_file.display());
            }
            let count = store.rotate_key(new_key).await?;
            // A store that found its key beside the SQLite file keeps finding it there.
            let beside = match store::OpenOptions::from_env().key_file {
                Some(_) => None,
                None => store::default_key_file(&url),
            };
            if let Some(beside) = &beside {
                StoreKey::replace_file(&new_key_file, beside).with_context(|| {
                    format!(
                        "the store now uses the key in {}, but it could not be copied to {}: copy it there \
                         (mode 0600) before the next command",
                        new_key_file.display(),
                        beside.display()
                    )
                })?;
            }
            let mut text = format!(
                "Store key rotated: {count} private key{} re-encrypted under store key {new_id} (was {old_id}){}.",
                if count == 1 { "" } else { "s" },
                if created {
                    format!("; the new key was written to {}", new_key_file.display())
                } else {
                    String::new()
                }
            );
            match &beside {
                Some(beside) => {
                    text.push_str(&format!("\nThe key file beside the store, {}, holds the new key.", beside.display()))
                }
                None => text.push_str(&format!(
                    "\nPoint S2S_STORE_KEY_FILE / --store-key-file at {} on every node and restart them: the old key \
                     no longer opens this store.",
                    new_key_file.display()
                )),
            }
            out.emit(
                text,
                serde_json::json!({
                    "reencrypted": count,
                    "key_id": new_id,
                    "previous_key_id": old_id,
                    "key_file": beside.as_ref().unwrap_or(&new_key_file),
                }),
            );
        }
        Cmd::Export { include_private_keys, out: file } => {
            let snapshot = store.snapshot().await?;
            let dump = Dump::new(&snapshot, store.url(), include_private_keys);
            let mut json = Zeroizing::new(serde_json::to_string_pretty(&dump)?);
            json.push('\n');
            if include_private_keys {
                eprintln!(
                    "warning: this dump holds private keys in plain text: keep it secret, and delete it once imported"
                );
            }
            match &file {
                Some(path) => write_private(path, json.as_bytes())?,
                None => std::io::stdout().write_all(json.as_bytes()).context("cannot write to standard output")?,
            }
            if let Some(path) = &file {
                // Standard output carries the dump itself only when there is no --out.
                out.emit(
                    format!(
                        "Exported {} to {} ({}private keys).",
                        describe(&snapshot),
                        path.display(),
                        if include_private_keys { "with " } else { "without " }
                    ),
                    serde_json::json!({"file": path, "config_version": snapshot.version,
                        "includes_private_keys": include_private_keys}),
                );
            }
        }
        Cmd::Import { file, replace } => {
            let dump = read_dump(&file)?;
            let snapshot = dump.into_snapshot()?;
            store.import(&snapshot, replace).await?;
            let without_keys = snapshot.certificates.iter().filter(|c| c.private_key_pkcs8.is_none()).count();
            let mut text = format!("Imported {} into {}.", describe(&snapshot), store.url());
            if without_keys > 0 {
                text.push_str(&format!(
                    "\nNote: {without_keys} certificate{} came without a private key (the dump was made without \
                     --include-private-keys): this node cannot sign with {}; use `s2sd certificate import` or \
                     `s2sd certificate new`.",
                    if without_keys == 1 { "" } else { "s" },
                    if without_keys == 1 { "it" } else { "them" }
                ));
            }
            out.emit(
                text,
                serde_json::json!({
                    "url": store.url(),
                    "oauth_config": snapshot.oauth_config.is_some(),
                    "certificates": snapshot.certificates.len(),
                    "certificates_without_private_key": without_keys,
                    "partners": snapshot.partners.len(),
                }),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Dump {
    fn new(snapshot: &Snapshot, source: String, include_private_keys: bool) -> Self {
        let certificates = snapshot
            .certificates
            .iter()
            .map(|record| DumpCertificate {
                record: CertificateRecord { private_key_pkcs8: None, ..record.clone() },
                private_key_pkcs8: record
                    .private_key_pkcs8
                    .as_deref()
                    .filter(|_| include_private_keys)
                    .map(|pkcs8| STANDARD.encode(pkcs8)),
            })
            .collect();
        Self {
            format: DUMP_FORMAT.to_owned(),
            version: DUMP_VERSION,
            exported_at: rfc3339(now()),
            source,
            config_version: snapshot.version,
            includes_private_keys: include_private_keys,
            oauth_config: snapshot.oauth_config.clone(),
            certificates,
            partners: snapshot.partners.clone(),
        }
    }

    fn into_snapshot(self) -> anyhow::Result<Snapshot> {
        let certificates = self
            .certificates
            .into_iter()
            .map(|certificate| {
                let private_key_pkcs8 =
                    certificate.private_key_pkcs8.map(|text| STANDARD.decode(text.trim())).transpose().with_context(
                        || format!("the private key of certificate {} is not base64", certificate.record.thumbprint),
                    )?;
                Ok(CertificateRecord { private_key_pkcs8, ..certificate.record })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Snapshot {
            version: self.config_version,
            oauth_config: self.oauth_config,
            certificates,
            partners: self.partners,
        })
    }
}

/// Reads and checks a dump (`-` = standard input).
fn read_dump(path: &Path) -> anyhow::Result<Dump> {
    let mut text = Zeroizing::new(String::new());
    let shown = if path == Path::new("-") { String::from("standard input") } else { path.display().to_string() };
    let reader: Box<dyn std::io::Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("cannot open the dump {shown}"))?)
    };
    reader.take(MAX_DUMP_LEN + 1).read_to_string(&mut text).with_context(|| format!("cannot read the dump {shown}"))?;
    if text.len() as u64 > MAX_DUMP_LEN {
        bail!("{shown} is larger than {} MiB: not a store dump", MAX_DUMP_LEN / (1024 * 1024));
    }
    // Look at the envelope first, so that another file or version gets the right message.
    #[derive(Deserialize)]
    struct Envelope {
        format: Option<String>,
        version: Option<u32>,
    }
    let envelope: Envelope =
        serde_json::from_str(&text).with_context(|| format!("{shown} is not a store dump (not JSON)"))?;
    if envelope.format.as_deref() != Some(DUMP_FORMAT) {
        bail!("{shown} is not a store dump (no \"format\": \"{DUMP_FORMAT}\"); make one with `s2sd store export`");
    }
    match envelope.version {
        Some(DUMP_VERSION) => {}
        Some(version) => bail!(
            "{shown} is a store dump of version {version}, but this s2sd reads version {DUMP_VERSION}: import it with \
             the s2sd that exported it, or a newer one"
        ),
        None => bail!("{shown} is not a store dump (no \"version\")"),
    }
    serde_json::from_str(&text).with_context(|| format!("{shown} is not a valid store dump"))
}

/// Writes `contents` to `path`, readable by the owner only (also when the file existed).
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", path.display()))?;
    }
    file.write_all(contents).and_then(|()| file.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}

/// "an OAuth configuration, 3 certificates (2 with private keys), 2 partner applications".
fn describe(snapshot: &Snapshot) -> String {
    let with_keys = snapshot.certificates.iter().filter(|c| c.private_key_pkcs8.is_some()).count();
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}{} ({with_keys} with private keys), {}",
        if snapshot.oauth_config.is_some() { "an OAuth configuration, " } else { "no OAuth configuration, " },
        plural(snapshot.certificates.len(), "certificate"),
        plural(snapshot.partners.len(), "partner application")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::Parser as _;

    use super::*;
    use crate::cli::Cli;
    use crate::store::{CertificateRole, Store};

    fn certificate(thumbprint: &str, role: CertificateRole, key: Option<&[u8]>) -> CertificateRecord {
        CertificateRecord {
            thumbprint: thumbprint.to_owned(),
            role,
            cert_der: format!("cert {thumbprint}").into_bytes(),
            private_key_pkcs8: key.map(<[u8]>::to_vec),
            not_before: 1,
            not_after: 2,
            effective_at: None,
            created_at: 1,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            version: 7,
            oauth_config: Some(OAuthConfig {
                realm: String::from("litwareinc.com"),
                service_name: String::from("00000004-0000-0ff1-ce00-000000000000"),
                hostnames: vec![String::from("lync.litwareinc.com")],
                additional_realms: Vec::new(),
                exchange_autodiscover_url: None,
                auto_renew: None,
            }),
            certificates: vec![
                certificate("AAAA", CertificateRole::Current, Some(b"secret key A")),
                certificate("BBBB", CertificateRole::Previous, None),
            ],
            partners: vec![PartnerRecord {
                name: String::from("Exchange"),
                application_id: String::from("00000002-0000-0ff1-ce00-000000000000"),
                realm: String::from("*"),
                metadata_url: None,
                trust_level: String::from("Full"),
                enabled: true,
                allow_http_metadata: false,
                tls_ca_pem: None,
                certificates: vec![b"partner cert".to_vec()],
                metadata_fetched_at: None,
                metadata_status: None,
                metadata_refresh_interval: Some(600),
                linked_account: None,
                accept_security_identifier_information: false,
                kind: Default::default(),
                use_auth_server: false,
                created_at: 1,
                updated_at: 2,
            }],
        }
    }

    #[test]
    fn dumps_leave_private_keys_out_unless_asked() {
        let without = serde_json::to_value(Dump::new(&snapshot(), String::from("sqlite:x"), false)).unwrap();
        assert_eq!(without["format"], "s2s-store-dump");
        assert_eq!(without["version"], 1);
        assert_eq!(without["config_version"], 7);
        assert_eq!(without["includes_private_keys"], false);
        let text = without.to_string();
        assert!(!text.contains("private_key_pkcs8"), "{text}");
        assert!(!text.contains(&STANDARD.encode(b"secret key A")), "{text}");
        // Binary values are base64, not arrays of numbers.
        assert_eq!(without["certificates"][0]["cert_der"], STANDARD.encode(b"cert AAAA"));
        assert_eq!(without["partners"][0]["certificates"][0], STANDARD.encode(b"partner cert"));

        let with = serde_json::to_value(Dump::new(&snapshot(), String::from("sqlite:x"), true)).unwrap();
        assert_eq!(with["certificates"][0]["private_key_pkcs8"], STANDARD.encode(b"secret key A"));
        assert!(with["certificates"][1].get("private_key_pkcs8").is_none());
    }

    #[test]
    fn dumps_round_trip() {
        let dump = Dump::new(&snapshot(), String::from("sqlite:x"), true);
        let back: Dump = serde_json::from_str(&serde_json::to_string(&dump).unwrap()).unwrap();
        assert_eq!(back.into_snapshot().unwrap(), snapshot());

        let dump = Dump::new(&snapshot(), String::from("sqlite:x"), false);
        let back: Dump = serde_json::from_str(&serde_json::to_string(&dump).unwrap()).unwrap();
        let mut expected = snapshot();
        expected.certificates[0].private_key_pkcs8 = None;
        assert_eq!(back.into_snapshot().unwrap(), expected);
    }

    #[test]
    fn other_files_and_versions_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("not json", "not JSON"),
            (r#"{"certificates": []}"#, "not a store dump"),
            (r#"{"format": "s2s-store-dump", "version": 2}"#, "version 2"),
            (r#"{"format": "s2s-store-dump", "version": 1}"#, "not a valid store dump"),
        ];
        for (text, expected) in cases {
            let path = dir.path().join("dump.json");
            std::fs::write(&path, text).unwrap();
            let error = format!("{:#}", read_dump(&path).unwrap_err());
            assert!(error.contains(expected) && error.contains("dump.json"), "{text}: {error}");
        }
    }

    async fn run_cli(args: &[&str]) -> anyhow::Result<ExitCode> {
        let mut argv = vec!["s2sd"];
        argv.extend_from_slice(args);
        crate::cli::run(Cli::try_parse_from(argv)?).await
    }

    /// export --out, import into another store, through the command line.
    #[tokio::test]
    async fn export_and_import_move_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let from = format!("sqlite:{}", dir.path().join("from.db").display());
        let to = format!("sqlite:{}", dir.path().join("to.db").display());
        let source = crate::store::open(&from).await.unwrap();
        let original = snapshot();
        source.import(&original, false).await.unwrap();

        let dump = dir.path().join("dump.json");
        let dump_arg = dump.to_str().unwrap();
        run_cli(&["--store", &from, "store", "export", "--include-private-keys", "--out", dump_arg]).await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&dump).unwrap().permissions().mode() & 0o777, 0o600);
        }
        run_cli(&["--store", &to, "store", "import", dump_arg]).await.unwrap();
        let target = crate::store::open(&to).await.unwrap();
        let imported = target.snapshot().await.unwrap();
        assert_eq!(imported.certificates, original.certificates);
        assert_eq!(imported.partners, original.partners);
        assert_eq!(imported.oauth_config, original.oauth_config);

        // Not into a store that holds something, unless --replace.
        let error = run_cli(&["--store", &to, "store", "import", dump_arg]).await.unwrap_err().to_string();
        assert!(error.contains("not empty") && error.contains("--replace"), "{error}");
        run_cli(&["--store", &to, "store", "import", dump_arg, "--replace"]).await.unwrap();
    }

    /// rotate-key on an SQLite store whose key sits beside it: the file beside it gets the new key.
    #[tokio::test]
    async fn rotate_key_keeps_the_key_beside_an_sqlite_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s2s.db");
        let url = format!("sqlite:{}", path.display());
        let store: std::sync::Arc<dyn Store> = crate::store::open(&url).await.unwrap();
        store.import(&snapshot(), false).await.unwrap();
        let old_id = store.key_id();
        drop(store);

        let new_key = dir.path().join("new.key");
        run_cli(&["--store", &url, "store", "rotate-key", "--new-key-file", new_key.to_str().unwrap()]).await.unwrap();
        let new_id = StoreKey::from_file(&new_key).unwrap().id();
        assert_ne!(new_id, old_id);
        assert_eq!(StoreKey::from_file(&store::key_file_beside(&path)).unwrap().id(), new_id);
        let reopened = crate::store::open(&url).await.unwrap();
        assert_eq!(reopened.key_id(), new_id);
        assert_eq!(reopened.certificates().await.unwrap(), snapshot().certificates);

        // Rotating to the key in force is refused.
        let error = run_cli(&["--store", &url, "store", "rotate-key", "--new-key-file", new_key.to_str().unwrap()])
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("already"), "{error}");
    }
}
