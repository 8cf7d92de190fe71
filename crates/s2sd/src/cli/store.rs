//! `s2sd store migrate|generate-key|rotate-key|export|import`: the configuration store itself —
//! its schema, the key that encrypts its private keys, and a portable JSON dump for moving a
//! deployment (e.g. from SQLite to PostgreSQL).
//!
//! The dump (`{"format":"s2s-store-dump","version":2,…}`) holds the OAuth configuration, our
//! certificates, the partner applications, the authority (tenants, service principals, credentials)
//! and the mailboxes (users, folders, items, role assignments). Secrets only with
//! `--include-private-keys`: our private keys (base64 PKCS#8) and the client-secret hashes with
//! their pepper; without it, client secrets are left out. Version 1 dumps (configuration only) are
//! still read; importing one leaves the authority and mailboxes alone.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use zeroize::Zeroizing;

use super::dump::{Contents, Dump, read_dump};
use super::{Printer, store_url};
use crate::store::{self, StoreKey};

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
    /// Write the store's contents as JSON: OAuth configuration, certificates, partner applications,
    /// authority, mailboxes.
    Export {
        /// Include our private keys and the client-secret hashes (the dump becomes secret).
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
    let stores = store::open_stores(&url).await?;
    let store = &stores.config;
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
            let contents = Contents::read(&stores).await?;
            let dump = Dump::new(&contents, store.url(), include_private_keys);
            let mut json = Zeroizing::new(serde_json::to_string_pretty(&dump)?);
            json.push('\n');
            if include_private_keys {
                eprintln!(
                    "warning: this dump holds private keys and client-secret hashes in plain text: keep it secret, \
                     and delete it once imported"
                );
            }
            match &file {
                Some(path) => write_private(path, json.as_bytes())?,
                None => std::io::stdout().write_all(json.as_bytes()).context("cannot write to standard output")?,
            }
            let secrets_left_out = if include_private_keys { 0 } else { contents.client_secrets() };
            if secrets_left_out > 0 {
                eprintln!(
                    "note: {secrets_left_out} client secret{} left out (the dump is without --include-private-keys): \
                     after importing, add new ones with `s2sd service-principal credential add --type symmetric`",
                    if secrets_left_out == 1 { " is" } else { "s are" }
                );
            }
            if let Some(path) = &file {
                // Standard output carries the dump itself only when there is no --out.
                out.emit(
                    format!(
                        "Exported {} to {} ({}private keys).",
                        contents.describe(),
                        path.display(),
                        if include_private_keys { "with " } else { "without " }
                    ),
                    serde_json::json!({"file": path, "config_version": contents.config.version,
                        "includes_private_keys": include_private_keys,
                        "client_secrets_left_out": secrets_left_out}),
                );
            }
        }
        Cmd::Import { file, replace } => {
            let contents = read_dump(&file)?.into_contents()?;
            contents.import(&stores, replace).await?;
            let snapshot = &contents.config;
            let without_keys = snapshot.certificates.iter().filter(|c| c.private_key_pkcs8.is_none()).count();
            let mut text = format!("Imported {} into {}.", contents.describe(), store.url());
            if without_keys > 0 {
                text.push_str(&format!(
                    "\nNote: {without_keys} certificate{} came without a private key (the dump was made without \
                     --include-private-keys): this node cannot sign with {}; use `s2sd certificate import` or \
                     `s2sd certificate new`.",
                    if without_keys == 1 { "" } else { "s" },
                    if without_keys == 1 { "it" } else { "them" }
                ));
            }
            if contents.authority.is_none() {
                text.push_str("\nThe dump (version 1) has no authority or mailboxes: those were left as they were.");
            }
            out.emit(
                text,
                serde_json::json!({
                    "url": store.url(),
                    "oauth_config": snapshot.oauth_config.is_some(),
                    "certificates": snapshot.certificates.len(),
                    "certificates_without_private_key": without_keys,
                    "partners": snapshot.partners.len(),
                    "tenants": contents.authority.as_ref().map(|a| a.tenants.len()),
                    "mailbox_users": contents.mailbox.as_ref().map(|m| m.users.len()),
                }),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use clap::Parser as _;

    use super::*;
    use crate::cli::Cli;
    use crate::store::authority::{
        AuthoritySnapshot, CredentialKind, CredentialRecord, ServicePrincipalRecord, TenantRecord,
    };
    use crate::store::mailbox::MailboxDump;
    use crate::store::{CertificateRecord, CertificateRole, OAuthConfig, PartnerRecord, Snapshot, Store};

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
                trust_level: crate::store::TrustLevel::Full,
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

    fn contents() -> Contents {
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let credential = |id: &str, kind: CredentialKind| CredentialRecord {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            app_id: String::from("c3ab8885-458f-4864-8804-1608145e2ac4"),
            kind,
            usage: String::from("verify"),
            secret_hash: (kind == CredentialKind::Symmetric).then(|| b"secret hash".to_vec()),
            certificate_der: (kind == CredentialKind::Asymmetric).then(|| b"client cert".to_vec()),
            thumbprint: None,
            start_at: 1,
            end_at: 2,
            created_at: 1,
        };
        Contents {
            config: snapshot(),
            authority: Some(AuthoritySnapshot {
                version: 7,
                tenants: vec![TenantRecord { realm: tenant.to_owned(), name: String::from("Litware"), created_at: 1 }],
                service_principals: vec![ServicePrincipalRecord {
                    tenant: tenant.to_owned(),
                    app_id: String::from("c3ab8885-458f-4864-8804-1608145e2ac4"),
                    display_name: String::from("Add-in"),
                    enabled: true,
                    spns: Vec::new(),
                    created_at: 1,
                    updated_at: 1,
                }],
                credentials: vec![
                    credential("00000000-0000-4000-8000-000000000001", CredentialKind::Symmetric),
                    credential("00000000-0000-4000-8000-000000000002", CredentialKind::Asymmetric),
                ],
                pepper: Some(b"pepper".to_vec()),
            }),
            mailbox: Some(MailboxDump::default()),
        }
    }

    #[test]
    fn dumps_leave_private_keys_out_unless_asked() {
        let without = serde_json::to_value(Dump::new(&contents(), String::from("sqlite:x"), false)).unwrap();
        assert_eq!(without["format"], "s2s-store-dump");
        assert_eq!(without["version"], 2);
        assert_eq!(without["config_version"], 7);
        assert_eq!(without["includes_private_keys"], false);
        let text = without.to_string();
        assert!(!text.contains("private_key_pkcs8"), "{text}");
        assert!(!text.contains(&STANDARD.encode(b"secret key A")), "{text}");
        // No client secret, no hash, no pepper; the certificate credential stays.
        assert!(!text.contains(&STANDARD.encode(b"secret hash")) && !text.contains("pepper"), "{text}");
        let credentials = without["authority"]["credentials"].as_array().unwrap();
        assert_eq!(credentials.len(), 1);
        assert_eq!(credentials[0]["kind"], "asymmetric");
        // Binary values are base64, not arrays of numbers.
        assert_eq!(without["certificates"][0]["cert_der"], STANDARD.encode(b"cert AAAA"));
        assert_eq!(without["partners"][0]["certificates"][0], STANDARD.encode(b"partner cert"));

        let with = serde_json::to_value(Dump::new(&contents(), String::from("sqlite:x"), true)).unwrap();
        assert_eq!(with["certificates"][0]["private_key_pkcs8"], STANDARD.encode(b"secret key A"));
        assert!(with["certificates"][1].get("private_key_pkcs8").is_none());
        assert_eq!(with["authority"]["credentials"][0]["secret_hash"], STANDARD.encode(b"secret hash"));
        assert_eq!(with["authority"]["pepper"], STANDARD.encode(b"pepper"));
    }

    #[test]
    fn dumps_round_trip() {
        let dump = Dump::new(&contents(), String::from("sqlite:x"), true);
        let back: Dump = serde_json::from_str(&serde_json::to_string(&dump).unwrap()).unwrap();
        let back = back.into_contents().unwrap();
        assert_eq!(back.config, snapshot());
        assert_eq!(back.authority, contents().authority);
        assert_eq!(back.mailbox, contents().mailbox);

        let dump = Dump::new(&contents(), String::from("sqlite:x"), false);
        let back: Dump = serde_json::from_str(&serde_json::to_string(&dump).unwrap()).unwrap();
        let back = back.into_contents().unwrap();
        let mut expected = snapshot();
        expected.certificates[0].private_key_pkcs8 = None;
        assert_eq!(back.config, expected);
        let mut authority = contents().authority.unwrap();
        authority.credentials.remove(0);
        authority.pepper = None;
        assert_eq!(back.authority, Some(authority));

        // A version 1 dump: configuration only.
        let mut v1 = serde_json::to_value(Dump::new(&contents(), String::from("sqlite:x"), true)).unwrap();
        let object = v1.as_object_mut().unwrap();
        object.remove("authority");
        object.remove("mailbox");
        object.insert(String::from("version"), 1.into());
        let back: Dump = serde_json::from_value(v1).unwrap();
        let back = back.into_contents().unwrap();
        assert_eq!(back.config, snapshot());
        assert!(back.authority.is_none() && back.mailbox.is_none());
    }

    #[test]
    fn other_files_and_versions_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("not json", "not JSON"),
            (r#"{"certificates": []}"#, "not a store dump"),
            (r#"{"format": "s2s-store-dump", "version": 3}"#, "version 3"),
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
        let realm = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let app = "c3ab8885-458f-4864-8804-1608145e2ac4";
        run_cli(&["--store", &from, "tenant", "new", "--realm", realm, "--name", "Litware"]).await.unwrap();
        run_cli(&["--store", &from, "service-principal", "new", "--app-id", app, "--display-name", "Add-in"])
            .await
            .unwrap();
        run_cli(&["--store", &from, "service-principal", "credential", "add", "--app-id", app, "--type", "symmetric"])
            .await
            .unwrap();
        run_cli(&["--store", &from, "mailbox", "user", "new", "--smtp", "kenmyer@litwareinc.com"]).await.unwrap();
        let from_stores = crate::store::open_stores(&from).await.unwrap();
        let source_authority = from_stores.authority.authority_snapshot().await.unwrap();
        let source_mailbox = from_stores.mailbox.mailbox_dump().await.unwrap();
        assert_eq!(source_mailbox.users.len(), 1);
        assert!(!source_mailbox.folders.is_empty());

        let dump = dir.path().join("dump.json");
        let dump_arg = dump.to_str().unwrap();
        run_cli(&["--store", &from, "store", "export", "--include-private-keys", "--out", dump_arg]).await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&dump).unwrap().permissions().mode() & 0o777, 0o600);
        }
        run_cli(&["--store", &to, "store", "import", dump_arg]).await.unwrap();
        let target = crate::store::open_stores(&to).await.unwrap();
        let imported = target.config.snapshot().await.unwrap();
        assert_eq!(imported.certificates, original.certificates);
        assert_eq!(imported.partners, original.partners);
        assert_eq!(imported.oauth_config, original.oauth_config);
        let authority = target.authority.authority_snapshot().await.unwrap();
        assert_eq!(
            (authority.tenants, authority.service_principals, authority.credentials, authority.pepper),
            (
                source_authority.tenants.clone(),
                source_authority.service_principals.clone(),
                source_authority.credentials.clone(),
                source_authority.pepper.clone()
            ),
            "with --include-private-keys the client secret still works after the move"
        );
        assert_eq!(target.mailbox.mailbox_dump().await.unwrap(), source_mailbox);

        // Not into a store that holds something, unless --replace.
        let error = run_cli(&["--store", &to, "store", "import", dump_arg]).await.unwrap_err().to_string();
        assert!(error.contains("not empty") && error.contains("--replace"), "{error}");
        run_cli(&["--store", &to, "store", "import", dump_arg, "--replace"]).await.unwrap();

        // Into a store whose configuration is empty but which has mailboxes: refused before
        // anything is written.
        let third = format!("sqlite:{}", dir.path().join("third.db").display());
        run_cli(&["--store", &third, "mailbox", "user", "new", "--smtp", "davidlongmire@litwareinc.com"])
            .await
            .unwrap();
        let error = run_cli(&["--store", &third, "store", "import", dump_arg]).await.unwrap_err().to_string();
        assert!(error.contains("mailbox users"), "{error}");
        assert!(crate::store::open(&third).await.unwrap().snapshot().await.unwrap().oauth_config.is_none());

        // Without secrets: the client secret is left out, the rest arrives.
        let public = dir.path().join("public.json");
        run_cli(&["--store", &from, "store", "export", "--out", public.to_str().unwrap()]).await.unwrap();
        let fourth = format!("sqlite:{}", dir.path().join("fourth.db").display());
        run_cli(&["--store", &fourth, "store", "import", public.to_str().unwrap()]).await.unwrap();
        let authority = crate::store::open_authority(&fourth).await.unwrap().authority_snapshot().await.unwrap();
        assert_eq!(authority.service_principals, source_authority.service_principals);
        assert!(authority.credentials.is_empty());
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
