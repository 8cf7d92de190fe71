//! Turns stored configuration into what the library serves from: our `LocalIdentity`, every
//! partner with its certificates parsed into a key ring, the signing key in force, and our
//! metadata document. Certificates are parsed here, once per configuration change, never per request.

use std::sync::Arc;

use s2s::client::IssuerIdentity;
use s2s::clock::UnixTime;
use s2s::metadata::{MetadataDocument, MetadataKey};
use s2s::partner::{LocalIdentity, MetadataSource, Partner};
use s2s::token::{SigningKey, VerifyingKey};

use crate::store::{CertificateRecord, CertificateRole, OAuthConfig, PartnerRecord, Store, StoreError};

/// Everything a running node needs from one configuration version.
pub struct Loaded {
    /// The store version this was read at.
    pub version: i64,
    /// Who we are.
    pub local: LocalIdentity,
    /// Whom we trust.
    pub partners: Vec<Arc<Partner>>,
    /// Who we are when we call out, with the key that signs now.
    pub issuer: IssuerIdentity,
    /// Our metadata document (endpoints are added per request).
    pub metadata: MetadataDocument,
    /// Things an admin should hear about (unreadable certificates, missing configuration).
    pub warnings: Vec<String>,
    /// Certificates (ours and partners') that expire within `EXPIRY_WARNING_DAYS`.
    pub expiring: Vec<Expiring>,
    /// When this configuration changes by the clock alone (an effective date, a renewal, an expiry).
    pub next_change_at: Option<UnixTime>,
}

/// Certificates that expire within this many days are reported.
pub const EXPIRY_WARNING_DAYS: i64 = 60;

/// A certificate nearing its end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expiring {
    /// `issuer` (ours) or `partner <name>`.
    pub owner: String,
    /// Its thumbprint.
    pub x5t: String,
    /// When it expires (Unix seconds).
    pub not_after: UnixTime,
    /// Whole days left (negative once expired).
    pub days_left: i64,
}

/// Reads the store and builds a `Loaded` for time `now`.
pub async fn load(store: &dyn Store, now: UnixTime) -> Result<Loaded, StoreError> {
    // Read the version first: a change after this read is seen by the next poll.
    let version = store.version().await?;
    let config = store.oauth_config().await?;
    let certificates = store.certificates().await?;
    let partners = store.partners().await?;
    Ok(build(version, config.as_ref(), &certificates, &partners, now))
}

/// Builds a `Loaded` from records (pure).
pub fn build(
    version: i64,
    config: Option<&OAuthConfig>,
    certificates: &[CertificateRecord],
    partners: &[PartnerRecord],
    now: UnixTime,
) -> Loaded {
    let mut warnings = Vec::new();
    let local = config
        .map(|c| LocalIdentity {
            app_id: c.service_name.clone(),
            realm: c.realm.clone(),
            additional_realms: c.additional_realms.clone(),
            hostnames: c.hostnames.clone(),
        })
        .unwrap_or_default();
    if config.is_none() {
        warnings.push("no OAuth configuration yet (s2sd oauth-config set --realm … --service-name …)".into());
    }
    let signing = signing_certificate(certificates, now);
    let key = signing.and_then(|c| {
        let pkcs8 = c.private_key_pkcs8.as_deref()?;
        match SigningKey::from_pkcs8(pkcs8, &c.cert_der) {
            Ok(k) => Some(Arc::new(k)),
            Err(e) => {
                warnings.push(format!("certificate {} cannot sign: {e}", c.thumbprint));
                None
            }
        }
    });
    if key.is_none() {
        warnings.push("no token-issuer certificate can sign (s2sd certificate new)".into());
    }
    let partners: Vec<Arc<Partner>> = partners.iter().map(|p| Arc::new(partner(p, now, &mut warnings))).collect();
    let metadata = metadata_document(&local, certificates, now);
    let issuer = IssuerIdentity { app_id: local.app_id.clone(), realm: local.realm.clone(), key };
    let ours =
        certificates.iter().map(|c| ("issuer".to_owned(), s2s::token::thumbprint::x5t(&c.cert_der), c.not_after));
    let theirs = partners
        .iter()
        .flat_map(|p| p.keys.iter().map(move |k| (format!("partner {}", p.name), k.x5t().to_owned(), k.not_after())));
    let all: Vec<(String, String, UnixTime)> = ours.chain(theirs).collect();
    let expiring = all
        .iter()
        .filter(|(_, _, not_after)| *not_after - now <= EXPIRY_WARNING_DAYS * 86_400)
        .map(|(owner, x5t, not_after)| Expiring {
            owner: owner.clone(),
            x5t: x5t.clone(),
            not_after: *not_after,
            days_left: (*not_after - now).div_euclid(86_400),
        })
        .collect();
    let expiries = all.iter().map(|(_, _, not_after)| *not_after).filter(|t| *t > now);
    let rollover =
        crate::issuer::rollover::next_due(certificates, config.and_then(|c| c.auto_renew).map(|a| a.renew_before_days));
    let next_change_at = expiries.chain(rollover).min();
    Loaded { version, local, partners, issuer, metadata, warnings, expiring, next_change_at }
}

/// The certificate that signs at `now`: the next one once its effective date has come, else the current one.
pub fn signing_certificate(certificates: &[CertificateRecord], now: UnixTime) -> Option<&CertificateRecord> {
    let next = certificates
        .iter()
        .find(|c| c.role == CertificateRole::Next && c.effective_at.is_some_and(|at| at <= now) && c.not_after > now);
    next.or_else(|| certificates.iter().find(|c| c.role == CertificateRole::Current))
}

fn partner(record: &PartnerRecord, now: UnixTime, warnings: &mut Vec<String>) -> Partner {
    let trust_level = record.trust_level;
    let keys = record
        .certificates
        .iter()
        .filter_map(|der| match VerifyingKey::from_certificate(der) {
            Ok(k) if k.not_after() > now => Some(Arc::new(k)),
            Ok(_) => None, // expired keys drop out
            Err(e) => {
                warnings.push(format!("partner {}: a certificate is unusable: {e}", record.name));
                None
            }
        })
        .collect();
    Partner {
        name: record.name.clone(),
        app_id: record.application_id.to_ascii_lowercase(),
        realm: record.realm.to_ascii_lowercase(),
        trust_level,
        enabled: record.enabled,
        accept_security_identifier_information: record.accept_security_identifier_information,
        linked_account: record.linked_account.clone(),
        kind: record.kind,
        use_auth_server: record.use_auth_server,
        metadata: record.metadata_url.as_ref().map(|url| MetadataSource {
            url: url.clone(),
            allow_http: record.allow_http_metadata,
            ca_pem: record.tls_ca_pem.as_ref().map(|p| Arc::from(p.as_bytes())),
        }),
        keys,
        refresh_interval: record
            .metadata_refresh_interval
            .and_then(|s| u64::try_from(s).ok())
            .map(std::time::Duration::from_secs),
    }
}

/// Our metadata document: the current certificate, any staged next one, and the previous one until it expires.
fn metadata_document(local: &LocalIdentity, certificates: &[CertificateRecord], now: UnixTime) -> MetadataDocument {
    let issuer = format!("{}@{}", local.app_id, local.realm);
    MetadataDocument {
        id: Some(document_id(&issuer)),
        version: Some("1.0".into()),
        name: Some(s2s::principal::product_name(&local.app_id).unwrap_or("s2s").to_owned()),
        realm: Some(local.realm.clone()),
        service_name: Some(local.app_id.clone()),
        issuer: Some(issuer.clone()),
        allowed_audiences: vec![issuer],
        keys: certificates
            .iter()
            .filter(|c| c.not_after > now)
            .map(|c| MetadataKey::signing(c.cert_der.clone()))
            .collect(),
        endpoints: Vec::new(),
    }
}

/// A stable document id derived from the issuer name, in the `_<guid>` form Exchange uses.
fn document_id(issuer: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, issuer.as_bytes());
    let h: String = d.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("_{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
