//! The store dump: `{"format":"s2s-store-dump","version":2,…}`, the portable JSON that `s2sd store
//! export` writes and `s2sd store import` reads — the OAuth configuration, our certificates, the
//! partner applications, the authority and the mailboxes. Private keys, client-secret hashes and
//! their pepper only when asked for. Version 1 dumps (configuration only) are still read.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{now, rfc3339};
use crate::store::authority::{
    AuthoritySnapshot, CredentialKind, CredentialRecord, ServicePrincipalRecord, TenantRecord,
};
use crate::store::mailbox::MailboxDump;
use crate::store::{CertificateRecord, OAuthConfig, PartnerRecord, Snapshot, StoreError, Stores};

/// The `format` of a dump.
pub(super) const DUMP_FORMAT: &str = "s2s-store-dump";
/// The dump version this s2sd writes.
pub(super) const DUMP_VERSION: u32 = 2;
/// The dump versions this s2sd reads (1: configuration only).
pub(super) const DUMP_VERSIONS_READ: [u32; 2] = [1, 2];
/// The largest dump `import` reads.
pub(super) const MAX_DUMP_LEN: u64 = 64 * 1024 * 1024;

/// A store dump, as written to JSON.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Dump {
    format: String,
    version: u32,
    /// When it was written (RFC 3339).
    exported_at: String,
    /// The store it was read from (never with a password).
    source: String,
    /// The source's configuration version.
    config_version: i64,
    /// Whether `certificates[].private_key_pkcs8`, the client secrets' hashes and the pepper are present.
    includes_private_keys: bool,
    oauth_config: Option<OAuthConfig>,
    certificates: Vec<DumpCertificate>,
    partners: Vec<PartnerRecord>,
    /// Absent from version 1 dumps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authority: Option<DumpAuthority>,
    /// Absent from version 1 dumps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mailbox: Option<MailboxDump>,
}

/// The authority in a dump.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct DumpAuthority {
    tenants: Vec<TenantRecord>,
    service_principals: Vec<ServicePrincipalRecord>,
    /// Client secrets only in dumps made with `--include-private-keys`.
    credentials: Vec<DumpCredential>,
    /// Base64 key of the client-secret hashes, present only with `--include-private-keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pepper: Option<String>,
}

/// A credential in a dump: the record, and a client secret's hash.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct DumpCredential {
    #[serde(flatten)]
    record: CredentialRecord,
    /// Base64 HMAC-SHA256 of a client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_hash: Option<String>,
}

/// What a dump holds, read back into store records.
pub(super) struct Contents {
    pub(super) config: Snapshot,
    pub(super) authority: Option<AuthoritySnapshot>,
    pub(super) mailbox: Option<MailboxDump>,
}

/// A certificate in a dump: the record, and its private key when asked for.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct DumpCertificate {
    #[serde(flatten)]
    record: CertificateRecord,
    /// Base64 PKCS#8, present only in dumps made with `--include-private-keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key_pkcs8: Option<String>,
}

impl Contents {
    /// Everything `stores` hold (each part read in one consistent state).
    pub(super) async fn read(stores: &Stores) -> Result<Self, StoreError> {
        Ok(Self {
            config: stores.config.snapshot().await?,
            authority: Some(stores.authority.authority_snapshot().await?),
            mailbox: Some(stores.mailbox.mailbox_dump().await?),
        })
    }

    /// Loads the contents into `stores`: refused before anything is written when a part the dump
    /// carries is not empty in the store (unless `replace`); then each part in one transaction.
    pub(super) async fn import(&self, stores: &Stores, replace: bool) -> anyhow::Result<()> {
        if !replace {
            let url = stores.config.url();
            if self.authority.is_some() && !stores.authority.tenants().await?.is_empty() {
                return Err(StoreError::NotEmpty { url, what: String::from("authority tenants") }.into());
            }
            if self.mailbox.is_some() && !stores.mailbox.users().await?.is_empty() {
                return Err(StoreError::NotEmpty { url, what: String::from("mailbox users") }.into());
            }
        }
        stores.config.import(&self.config, replace).await?;
        if let Some(authority) = &self.authority {
            stores.authority.import_authority(authority, replace).await?;
        }
        if let Some(mailbox) = &self.mailbox {
            stores.mailbox.import_mailbox(mailbox, replace).await?;
        }
        Ok(())
    }

    /// Client secrets among the authority's credentials.
    pub(super) fn client_secrets(&self) -> usize {
        let credentials = self.authority.iter().flat_map(|a| &a.credentials);
        credentials.filter(|c| c.kind == CredentialKind::Symmetric).count()
    }

    /// "an OAuth configuration, 3 certificates (2 with private keys), 2 partner applications, 1
    /// tenant, 4 service principals, 3 mailbox users".
    pub(super) fn describe(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let mut text = describe(&self.config);
        if let Some(a) = &self.authority {
            text.push_str(&format!(
                ", {}, {}",
                plural(a.tenants.len(), "tenant"),
                plural(a.service_principals.len(), "service principal")
            ));
        }
        if let Some(m) = &self.mailbox {
            text.push_str(&format!(", {}", plural(m.users.len(), "mailbox user")));
        }
        text
    }
}

impl Dump {
    pub(super) fn new(contents: &Contents, source: String, include_private_keys: bool) -> Self {
        let snapshot = &contents.config;
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
        let authority = contents.authority.as_ref().map(|a| DumpAuthority {
            tenants: a.tenants.clone(),
            service_principals: a.service_principals.clone(),
            credentials: a
                .credentials
                .iter()
                .filter(|c| include_private_keys || c.kind != CredentialKind::Symmetric)
                .map(|c| DumpCredential {
                    record: CredentialRecord { secret_hash: None, ..c.clone() },
                    secret_hash: c.secret_hash.as_deref().filter(|_| include_private_keys).map(|h| STANDARD.encode(h)),
                })
                .collect(),
            pepper: a.pepper.as_deref().filter(|_| include_private_keys).map(|p| STANDARD.encode(p)),
        });
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
            authority,
            mailbox: contents.mailbox.clone(),
        }
    }

    pub(super) fn into_contents(self) -> anyhow::Result<Contents> {
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
        let authority = self
            .authority
            .map(|a| {
                let credentials = a
                    .credentials
                    .into_iter()
                    .map(|c| {
                        let secret_hash =
                            c.secret_hash.map(|h| STANDARD.decode(h.trim())).transpose().with_context(|| {
                                format!("the secret hash of credential {} is not base64", c.record.id)
                            })?;
                        Ok(CredentialRecord { secret_hash, ..c.record })
                    })
                    .collect::<anyhow::Result<_>>()?;
                let pepper = a
                    .pepper
                    .map(|p| STANDARD.decode(p.trim()))
                    .transpose()
                    .context("the authority's pepper is not base64")?;
                anyhow::Ok(AuthoritySnapshot {
                    version: self.config_version,
                    tenants: a.tenants,
                    service_principals: a.service_principals,
                    credentials,
                    pepper,
                })
            })
            .transpose()?;
        Ok(Contents {
            config: Snapshot {
                version: self.config_version,
                oauth_config: self.oauth_config,
                certificates,
                partners: self.partners,
            },
            authority,
            mailbox: self.mailbox,
        })
    }
}

/// Reads and checks a dump (`-` = standard input).
pub(super) fn read_dump(path: &Path) -> anyhow::Result<Dump> {
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
        Some(version) if DUMP_VERSIONS_READ.contains(&version) => {}
        Some(version) => bail!(
            "{shown} is a store dump of version {version}, but this s2sd reads versions 1 and {DUMP_VERSION}: import \
             it with the s2sd that exported it, or a newer one"
        ),
        None => bail!("{shown} is not a store dump (no \"version\")"),
    }
    serde_json::from_str(&text).with_context(|| format!("{shown} is not a valid store dump"))
}

/// "an OAuth configuration, 3 certificates (2 with private keys), 2 partner applications".
pub(super) fn describe(snapshot: &Snapshot) -> String {
    let with_keys = snapshot.certificates.iter().filter(|c| c.private_key_pkcs8.is_some()).count();
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}{} ({with_keys} with private keys), {}",
        if snapshot.oauth_config.is_some() { "an OAuth configuration, " } else { "no OAuth configuration, " },
        plural(snapshot.certificates.len(), "certificate"),
        plural(snapshot.partners.len(), "partner application")
    )
}
