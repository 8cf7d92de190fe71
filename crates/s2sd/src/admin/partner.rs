//! Commands on partner applications and authorization servers (`New-/Set-/Remove-CsPartnerApplication`,
//! `New-AuthServer`): registration by metadata or certificate, edits of single fields, removal, and
//! recording a metadata refresh. Each reads the record inside its transaction and changes only the
//! fields it names.

use std::time::Duration;

use s2s::metadata::fetch::{FetchOptions, fetch};
use s2s::partner::TrustLevel;
use s2s::token::VerifyingKey;

use super::{Action, Admin, AdminError, Change, shown};
use crate::store::{ConfigTransaction, MetadataStatus, PartnerKind, PartnerRecord};
use crate::timestamp::rfc3339;

/// How long a metadata fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A partner's metadata document, fetched and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMetadata {
    pub url: String,
    pub application_id: String,
    pub realm: String,
    /// DER certificates, in the document's order.
    pub certificates: Vec<Vec<u8>>,
    /// When it was fetched (unix seconds).
    pub fetched_at: i64,
}

/// Where a new partner's identity and keys come from.
#[derive(Debug, Clone)]
pub enum PartnerSource {
    /// Its metadata document.
    Metadata(FetchedMetadata),
    /// Given by hand: application id, realm (`*` = any) and certificates (none for a partner that
    /// takes its tokens from an authorization server).
    Certificate { application_id: String, realm: String, certificates: Vec<Vec<u8>> },
}

/// Registers a partner application or an authorization server.
#[derive(Debug, Clone)]
pub struct NewPartner {
    pub kind: PartnerKind,
    pub name: String,
    pub source: PartnerSource,
    /// For an authorization server: the realm it issues for, instead of its metadata's.
    pub realm: Option<String>,
    pub trust_level: TrustLevel,
    pub enabled: bool,
    pub allow_http_metadata: bool,
    pub tls_ca_pem: Option<String>,
    pub metadata_refresh_interval: Option<i64>,
    pub linked_account: Option<String>,
    pub accept_security_identifier_information: bool,
    pub use_auth_server: bool,
}

/// Changes the named fields of a partner (or authorization server); `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct SetPartner {
    pub kind: PartnerKind,
    pub name: String,
    pub enabled: Option<bool>,
    pub trust_level: Option<TrustLevel>,
    /// A new metadata URL, fetched already.
    pub metadata: Option<FetchedMetadata>,
    /// For an authorization server: the realm it issues for.
    pub realm: Option<String>,
    pub allow_http_metadata: Option<bool>,
    pub tls_ca_pem: Option<String>,
    /// `Some(None)`: back to the server's interval.
    pub metadata_refresh_interval: Option<Option<i64>>,
    /// New certificates for a partner registered without metadata.
    pub certificates: Option<Vec<Vec<u8>>>,
    /// `Some(None)` removes the linked account.
    pub linked_account: Option<Option<String>>,
    pub accept_security_identifier_information: Option<bool>,
    pub use_auth_server: Option<bool>,
}

/// Removes a partner application or an authorization server.
#[derive(Debug, Clone)]
pub struct RemovePartner {
    pub kind: PartnerKind,
    pub name: String,
}

/// Records a metadata refresh an admin asked for: the new keys go into force on every node.
#[derive(Debug, Clone)]
pub struct RecordRefresh {
    pub kind: PartnerKind,
    pub name: String,
    pub fetched: FetchedMetadata,
}

impl Admin {
    /// The stored partner (or authorization server, by `kind`) named `name`.
    pub async fn partner(&self, name: &str, kind: PartnerKind) -> Result<PartnerRecord, AdminError> {
        of_kind(self.config.partner(name).await?, name, kind)
    }

    /// Registers a partner. Refused when the name is taken (by either kind).
    pub async fn new_partner(&self, cmd: NewPartner, now: i64) -> Result<(Change, PartnerRecord), AdminError> {
        let (noun, command) = words(cmd.kind);
        let name = cmd.name.trim().to_owned();
        if name.is_empty() {
            return Err(AdminError::Invalid { option: name_option(cmd.kind), reason: "must not be empty".into() });
        }
        check_interval(cmd.metadata_refresh_interval)?;
        let mut record = PartnerRecord {
            name,
            application_id: String::new(),
            realm: String::new(),
            metadata_url: None,
            trust_level: cmd.trust_level,
            enabled: cmd.enabled,
            allow_http_metadata: cmd.allow_http_metadata,
            tls_ca_pem: cmd.tls_ca_pem,
            certificates: Vec::new(),
            metadata_fetched_at: None,
            metadata_status: None,
            metadata_refresh_interval: cmd.metadata_refresh_interval,
            linked_account: cmd.linked_account,
            accept_security_identifier_information: cmd.accept_security_identifier_information,
            kind: cmd.kind,
            use_auth_server: cmd.use_auth_server,
            created_at: now,
            updated_at: now,
        };
        match cmd.source {
            PartnerSource::Metadata(fetched) => apply(&mut record, fetched),
            PartnerSource::Certificate { application_id, realm, certificates } => {
                record.application_id = application_id;
                record.realm = realm;
                record.certificates = certificates;
            }
        }
        if let Some(realm) = cmd.realm {
            record.realm = normalize_realm(&realm);
        }
        let mut tx = self.begin().await?;
        if tx.partner(&record.name).await?.is_some() {
            return Err(AdminError::PartnerExists { noun, command, name: record.name });
        }
        check_issuer_unique(tx.as_mut(), &record).await?;
        tx.insert_partner(&record).await?;
        let mut change = Change::new(noun, record.name.clone(), Action::Created);
        change.field("issuer", None, shown(format!("{}@{}", record.application_id, record.realm)));
        change.field("trust level", None, shown(record.trust_level));
        change.field("enabled", None, shown(record.enabled));
        let change = Self::finish(tx, change).await?;
        Ok((change, record))
    }

    /// Changes the fields `cmd` names, on the record as it is inside the transaction.
    pub async fn set_partner(&self, cmd: SetPartner, now: i64) -> Result<(Change, PartnerRecord), AdminError> {
        let options = match cmd.kind {
            PartnerKind::Application => {
                "--enabled, --trust-level, --metadata-url, --allow-http-metadata, --tls-ca, --metadata-refresh-interval, --certificate, --linked-account, --accept-security-identifier-information or --use-auth-server"
            }
            PartnerKind::AuthServer => "--enabled, --metadata-url or --realm",
        };
        let asked = cmd.enabled.is_some()
            || cmd.trust_level.is_some()
            || cmd.metadata.is_some()
            || cmd.realm.is_some()
            || cmd.allow_http_metadata.is_some()
            || cmd.tls_ca_pem.is_some()
            || cmd.metadata_refresh_interval.is_some()
            || cmd.certificates.is_some()
            || cmd.linked_account.is_some()
            || cmd.accept_security_identifier_information.is_some()
            || cmd.use_auth_server.is_some();
        if !asked {
            return Err(AdminError::NothingToChange { options });
        }
        if let Some(interval) = cmd.metadata_refresh_interval {
            check_interval(interval)?;
        }
        let mut tx = self.begin().await?;
        let before = get(tx.as_mut(), &cmd.name, cmd.kind).await?;
        let mut p = before.clone();
        if let Some(enabled) = cmd.enabled {
            p.enabled = enabled;
        }
        if let Some(level) = cmd.trust_level {
            p.trust_level = level;
        }
        if let Some(allow) = cmd.allow_http_metadata {
            p.allow_http_metadata = allow;
        }
        if let Some(ca) = cmd.tls_ca_pem {
            p.tls_ca_pem = Some(ca);
        }
        if let Some(interval) = cmd.metadata_refresh_interval {
            p.metadata_refresh_interval = interval;
        }
        if let Some(fetched) = cmd.metadata {
            let keep_any_realm = p.kind == PartnerKind::AuthServer && cmd.realm.is_none() && p.realm == "*";
            apply(&mut p, fetched);
            if keep_any_realm {
                p.realm = String::from("*");
            }
        }
        if let Some(realm) = &cmd.realm {
            p.realm = normalize_realm(realm);
        }
        if let Some(certificates) = cmd.certificates {
            if p.metadata_url.is_some() {
                return Err(AdminError::Invalid {
                    option: "--certificate",
                    reason: format!(
                        "{} takes its certificates from its metadata URL; refresh it instead (s2sd partner-application refresh {})",
                        p.name, p.name
                    ),
                });
            }
            p.certificates = certificates;
        }
        if let Some(linked) = cmd.linked_account {
            p.linked_account = linked;
        }
        if let Some(accept) = cmd.accept_security_identifier_information {
            p.accept_security_identifier_information = accept;
        }
        if let Some(use_it) = cmd.use_auth_server {
            p.use_auth_server = use_it;
        }
        if (p.application_id.as_str(), p.realm.as_str()) != (before.application_id.as_str(), before.realm.as_str()) {
            check_issuer_unique(tx.as_mut(), &p).await?;
        }
        let mut change = Change::new(words(p.kind).0, p.name.clone(), Action::Changed);
        describe_edit(&mut change, &before, &p);
        if !change.is_empty() {
            p.updated_at = now;
            tx.update_partner(&p).await?;
        }
        let change = Self::finish(tx, change).await?;
        Ok((change, p))
    }

    /// Removes a partner of `cmd.kind`.
    pub async fn remove_partner(&self, cmd: RemovePartner) -> Result<Change, AdminError> {
        let mut tx = self.begin().await?;
        let p = get(tx.as_mut(), &cmd.name, cmd.kind).await?;
        tx.remove_partner(&p.name).await?;
        Self::finish(tx, Change::new(words(p.kind).0, p.name, Action::Removed)).await
    }

    /// Puts a refreshed metadata document in force. Refused when the document now names another
    /// issuer (for partner applications also another realm): that is a re-registration.
    pub async fn record_refresh(&self, cmd: RecordRefresh) -> Result<(Change, PartnerRecord), AdminError> {
        let mut tx = self.begin().await?;
        let before = get(tx.as_mut(), &cmd.name, cmd.kind).await?;
        let fetched = cmd.fetched;
        let realm_changed = before.kind == PartnerKind::Application && fetched.realm != before.realm;
        if fetched.application_id != before.application_id || realm_changed {
            return Err(AdminError::Metadata(format!(
                "the metadata now names issuer {}@{}, not {}@{}; re-register {} if that is intended",
                fetched.application_id, fetched.realm, before.application_id, before.realm, before.name
            )));
        }
        let mut p = before.clone();
        p.certificates = fetched.certificates;
        p.metadata_fetched_at = Some(fetched.fetched_at);
        p.metadata_status = Some(MetadataStatus::Ok);
        tx.update_partner(&p).await?;
        let mut change = Change::new(words(p.kind).0, p.name.clone(), Action::Refreshed);
        change.field("certificates", shown(before.certificates.len()), shown(p.certificates.len()));
        change.field(
            "last metadata fetch",
            before.metadata_fetched_at.map(rfc3339),
            shown(rfc3339(fetched.fetched_at)),
        );
        change.version = Some(tx.commit().await?);
        Ok((change, p))
    }
}

/// Fetches the metadata document at `url` and checks it (an issuer with an application id, usable
/// certificates).
pub async fn fetch_metadata(
    url: &str,
    allow_http: bool,
    ca_pem: Option<&str>,
    now: i64,
) -> Result<FetchedMetadata, AdminError> {
    let options = FetchOptions { allow_http, ca_pem: ca_pem.map(|p| p.as_bytes().to_vec()), timeout: FETCH_TIMEOUT };
    let doc = fetch(url, &options).await.map_err(|e| AdminError::Metadata(e.to_string()))?;
    let checked = doc.check(now).map_err(|e| AdminError::Metadata(format!("metadata from {url} is unusable: {e}")))?;
    if checked.issuer.app_id.is_empty() {
        return Err(AdminError::Metadata(format!("metadata from {url} names no application id")));
    }
    Ok(FetchedMetadata {
        url: url.to_owned(),
        application_id: checked.issuer.app_id.clone(),
        realm: checked.issuer.realm.clone(),
        certificates: checked.certificates,
        fetched_at: now,
    })
}

/// The certificates in `data` (PEM or DER), each able to verify tokens and not expired.
pub fn read_partner_certificates(data: &[u8], source: &str, now: i64) -> Result<Vec<Vec<u8>>, AdminError> {
    let invalid = |reason: String| AdminError::Invalid { option: "--certificate", reason };
    let certs =
        crate::issuer::read_certificates(data).map_err(|e| invalid(format!("{source} is not a certificate: {e}")))?;
    for der in &certs {
        let key =
            VerifyingKey::from_certificate(der).map_err(|e| invalid(format!("{source} cannot verify tokens: {e}")))?;
        if key.not_after() <= now {
            return Err(invalid(format!("the certificate in {source} expired on {}", rfc3339(key.not_after()))));
        }
    }
    Ok(certs)
}

/// A linked account as typed: an address (lower-cased), or `None` for an empty value.
pub fn normalize_linked_account(text: &str) -> Result<Option<String>, AdminError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bare = t.split_once(':').filter(|(k, _)| ["smtp", "upn", "sip"].contains(&k.to_ascii_lowercase().as_str()));
    let address = bare.map_or(t, |(_, v)| v);
    crate::mailbox::address(address).map_err(|_| AdminError::Invalid {
        option: "--linked-account",
        reason: format!("`{t}` is not an address (give the linked mailbox user's SMTP address)"),
    })?;
    Ok(Some(t.to_ascii_lowercase()))
}

/// A realm as typed: lower case; empty means any realm (`*`), as the cmdlets take it.
pub fn normalize_realm(realm: &str) -> String {
    let r = realm.trim().to_ascii_lowercase();
    if r.is_empty() { String::from("*") } else { r }
}

/// The stored partner named `name`, which must be of `kind`, read in `tx`.
async fn get(tx: &mut dyn ConfigTransaction, name: &str, kind: PartnerKind) -> Result<PartnerRecord, AdminError> {
    of_kind(tx.partner(name).await?, name, kind)
}

/// `found`, when it is a partner of `kind`; otherwise the error naming the command to look with.
fn of_kind(found: Option<PartnerRecord>, name: &str, kind: PartnerKind) -> Result<PartnerRecord, AdminError> {
    let (noun, command) = words(kind);
    match found {
        Some(p) if p.kind == kind => Ok(p),
        Some(p) => Err(AdminError::WrongKind {
            name: name.to_owned(),
            noun,
            article: if noun.starts_with('a') { "an" } else { "a" },
            other_command: words(p.kind).1,
        }),
        None => Err(AdminError::PartnerNotFound { noun, command, name: name.to_owned() }),
    }
}

/// Refuses a second record of `record`'s kind for the same issuer (application id and realm): two
/// partners for one issuer would let one keep accepting its tokens after the other is disabled.
async fn check_issuer_unique(tx: &mut dyn ConfigTransaction, record: &PartnerRecord) -> Result<(), AdminError> {
    let holder = tx.partners().await?.into_iter().find(|p| {
        p.kind == record.kind
            && !p.name.eq_ignore_ascii_case(&record.name)
            && p.application_id.eq_ignore_ascii_case(&record.application_id)
            && p.realm.eq_ignore_ascii_case(&record.realm)
    });
    match holder {
        Some(holder) => Err(AdminError::IssuerTaken {
            noun: words(record.kind).0,
            command: words(record.kind).1,
            issuer: format!("{}@{}", record.application_id, record.realm),
            holder: holder.name,
        }),
        None => Ok(()),
    }
}

/// The noun and the CLI command of a partner kind.
fn words(kind: PartnerKind) -> (&'static str, &'static str) {
    match kind {
        PartnerKind::Application => ("partner application", "partner-application"),
        PartnerKind::AuthServer => ("auth server", "auth-server"),
    }
}

fn name_option(kind: PartnerKind) -> &'static str {
    match kind {
        PartnerKind::Application => "--identity",
        PartnerKind::AuthServer => "--name",
    }
}

/// A refresh interval of at least 60 seconds (or none: the server's).
fn check_interval(interval: Option<i64>) -> Result<(), AdminError> {
    match interval {
        Some(secs) if secs < 60 => Err(AdminError::Invalid {
            option: "--metadata-refresh-interval",
            reason: String::from("must be at least 60 seconds (or 0 for the server's interval)"),
        }),
        _ => Ok(()),
    }
}

/// Takes the issuer, keys and fetch status from a fetched document.
fn apply(record: &mut PartnerRecord, fetched: FetchedMetadata) {
    record.application_id = fetched.application_id;
    record.realm = fetched.realm;
    record.metadata_url = Some(fetched.url);
    record.certificates = fetched.certificates;
    record.metadata_fetched_at = Some(fetched.fetched_at);
    record.metadata_status = Some(MetadataStatus::Ok);
}

/// Every field an edit changed, as an admin reads it.
fn describe_edit(change: &mut Change, before: &PartnerRecord, after: &PartnerRecord) {
    change.field("enabled", shown(before.enabled), shown(after.enabled));
    change.field("trust level", shown(before.trust_level), shown(after.trust_level));
    change.field("application id", shown(&before.application_id), shown(&after.application_id));
    change.field("realm", shown(&before.realm), shown(&after.realm));
    change.field("metadata URL", before.metadata_url.clone(), after.metadata_url.clone());
    change.field("allow http metadata", shown(before.allow_http_metadata), shown(after.allow_http_metadata));
    let ca = |p: &PartnerRecord| shown(if p.tls_ca_pem.is_some() { "set" } else { "none" });
    if before.tls_ca_pem != after.tls_ca_pem {
        change.fields.push(super::FieldChange { field: "TLS CA", before: ca(before), after: shown("replaced") });
    }
    let interval = |p: &PartnerRecord| {
        shown(p.metadata_refresh_interval.map_or_else(|| "server default".into(), |s| format!("{s} s")))
    };
    change.field("metadata refresh interval", interval(before), interval(after));
    if before.certificates != after.certificates {
        change.fields.push(super::FieldChange {
            field: "certificates",
            before: shown(before.certificates.len()),
            after: shown(after.certificates.len()),
        });
    }
    change.field("linked account", before.linked_account.clone(), after.linked_account.clone());
    change.field(
        "accept security identifier information",
        shown(before.accept_security_identifier_information),
        shown(after.accept_security_identifier_information),
    );
    change.field("use auth server", shown(before.use_auth_server), shown(after.use_auth_server));
}
