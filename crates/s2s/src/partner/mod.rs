//! Who we are and whom we trust, now: a `TrustSnapshot` (our identity plus every partner with its
//! parsed key ring) published through `TrustStore` as an immutable `Arc`. Readers never lock and
//! never parse a key; writers build a whole new snapshot and swap it in.

#[cfg(feature = "fetch")]
pub mod refresh;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::token::{Header, VerifyingKey};

/// What a partner may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrustLevel {
    /// May act as itself and for any user of the realm (act-as tokens).
    Full,
    /// May act only as itself (app-only tokens).
    Application,
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "Full",
            Self::Application => "Application",
        })
    }
}

/// An unknown trust level name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a trust level: use full or application")]
pub struct UnknownTrustLevel(pub String);

impl FromStr for TrustLevel {
    type Err = UnknownTrustLevel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "application" | "app" => Ok(Self::Application),
            _ => Err(UnknownTrustLevel(s.to_owned())),
        }
    }
}

/// What an issuer entry is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PartnerKind {
    /// A partner application issuing its own tokens (or taking them from an auth server).
    #[default]
    Application,
    /// An authorization server (ACS) issuing actor tokens for partner applications marked to use it.
    AuthServer,
}

/// Where a partner's metadata comes from, and how to fetch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSource {
    /// The document's URL.
    pub url: String,
    /// Plain http allowed.
    pub allow_http: bool,
    /// PEM roots to trust for this URL instead of the system's.
    pub ca_pem: Option<Arc<[u8]>>,
}

/// A partner application: an issuer we trust, with its keys parsed.
#[derive(Debug)]
pub struct Partner {
    /// The admin's name for it (unique, case-insensitive).
    pub name: String,
    /// Its application id (lower case).
    pub app_id: String,
    /// Its realm (lower case; `*` = any realm).
    pub realm: String,
    /// What it may do.
    pub trust_level: TrustLevel,
    /// Disabled partners are known but refused.
    pub enabled: bool,
    /// Trust the `nameid` SID when `nii` is Active Directory.
    pub accept_security_identifier_information: bool,
    /// Set when the keys come from a metadata document.
    pub metadata: Option<MetadataSource>,
    /// Its signing keys.
    pub keys: Vec<Arc<VerifyingKey>>,
    /// Its own metadata refresh interval, overriding the refresher's.
    pub refresh_interval: Option<std::time::Duration>,
    /// The account whose rights its app-only tokens carry (Exchange's linked account), if any.
    pub linked_account: Option<String>,
    /// A partner application or an authorization server.
    pub kind: PartnerKind,
    /// For applications: accept actor tokens an authorization server issued for it.
    pub use_auth_server: bool,
}

impl Partner {
    /// The key a token header names: by `x5t` (padding ignored), else `x5t#S256`, else `kid`.
    /// Without any thumbprint, the only key when there is exactly one.
    pub fn key_for(&self, header: &Header) -> Option<&Arc<VerifyingKey>> {
        if let Some(x5t) = header.x5t.as_deref().or(header.kid.as_deref()) {
            return self.keys.iter().find(|k| k.matches_x5t(x5t));
        }
        if let Some(s256) = header.x5t_s256.as_deref() {
            return self.keys.iter().find(|k| k.matches_x5t_s256(s256));
        }
        match self.keys.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// True when this partner issues for `realm` (its own realm, or any).
    pub fn serves_realm(&self, realm: &str) -> bool {
        self.realm == "*" || self.realm.eq_ignore_ascii_case(realm)
    }

    /// `<app id>@<realm>` as listed in `trusted_issuers`.
    pub fn issuer_name(&self) -> String {
        format!("{}@{}", self.app_id, self.realm)
    }

    /// The earliest expiry among its keys, if it has any.
    pub fn earliest_key_expiry(&self) -> Option<UnixTime> {
        self.keys.iter().map(|k| k.not_after()).min()
    }
}

/// Who we are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalIdentity {
    /// Our application id (service name), lower case.
    pub app_id: String,
    /// Our realm, lower case.
    pub realm: String,
    /// Further realms we answer for.
    pub additional_realms: Vec<String>,
    /// Host names (authorities) that audiences may name besides the request's own.
    pub hostnames: Vec<String>,
}

impl LocalIdentity {
    /// True when `realm` is one of ours.
    pub fn owns_realm(&self, realm: &str) -> bool {
        self.realm.eq_ignore_ascii_case(realm) || self.additional_realms.iter().any(|r| r.eq_ignore_ascii_case(realm))
    }
}

/// Our identity and our partners at one moment.
#[derive(Debug, Default)]
pub struct TrustSnapshot {
    /// Increases with every publication; validation results carry it.
    pub generation: u64,
    /// Who we are.
    pub local: LocalIdentity,
    /// Everyone we know, enabled or not.
    pub partners: Vec<Arc<Partner>>,
}

impl TrustSnapshot {
    /// Partners with application id `app_id`.
    pub fn partners_with_app_id<'a>(&'a self, app_id: &'a str) -> impl Iterator<Item = &'a Arc<Partner>> + 'a {
        self.partners.iter().filter(move |p| p.app_id.eq_ignore_ascii_case(app_id))
    }

    /// A partner by name, case-insensitively.
    pub fn partner(&self, name: &str) -> Option<&Arc<Partner>> {
        self.partners.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The `trusted_issuers` list of our challenge: every enabled partner.
    pub fn trusted_issuers(&self) -> Vec<String> {
        self.partners.iter().filter(|p| p.enabled).map(|p| p.issuer_name()).collect()
    }
}

/// The published trust configuration: lock-free reads, whole-snapshot writes.
#[derive(Debug)]
pub struct TrustStore {
    current: ArcSwap<TrustSnapshot>,
    generation: AtomicU64,
}

impl TrustStore {
    /// A store holding `local` and `partners`.
    pub fn new(local: LocalIdentity, partners: Vec<Arc<Partner>>) -> Self {
        Self {
            current: ArcSwap::from_pointee(TrustSnapshot { generation: 1, local, partners }),
            generation: AtomicU64::new(1),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<TrustSnapshot> {
        self.current.load_full()
    }

    /// A cheap borrowed view of the current snapshot for one request.
    pub fn load(&self) -> arc_swap::Guard<Arc<TrustSnapshot>> {
        self.current.load()
    }

    /// Publishes a new configuration.
    pub fn publish(&self, local: LocalIdentity, partners: Vec<Arc<Partner>>) {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        self.current.store(Arc::new(TrustSnapshot { generation, local, partners }));
    }

    /// Replaces one partner's keys (after a metadata refresh), keeping everything else. Returns
    /// false when the partner is gone or the keys are the same certificates.
    pub fn replace_partner_keys(&self, name: &str, keys: Vec<Arc<VerifyingKey>>) -> bool {
        let mut changed = false;
        self.current.rcu(|snap| {
            changed = false;
            let partners = snap
                .partners
                .iter()
                .map(|p| {
                    if p.name.eq_ignore_ascii_case(name) && !same_keys(&p.keys, &keys) {
                        changed = true;
                        Arc::new(Partner {
                            name: p.name.clone(),
                            app_id: p.app_id.clone(),
                            realm: p.realm.clone(),
                            trust_level: p.trust_level,
                            enabled: p.enabled,
                            accept_security_identifier_information: p.accept_security_identifier_information,
                            metadata: p.metadata.clone(),
                            keys: keys.clone(),
                            refresh_interval: p.refresh_interval,
                            linked_account: p.linked_account.clone(),
                            kind: p.kind,
                            use_auth_server: p.use_auth_server,
                        })
                    } else {
                        Arc::clone(p)
                    }
                })
                .collect();
            let generation =
                if changed { self.generation.fetch_add(1, Ordering::Relaxed) + 1 } else { snap.generation };
            Arc::new(TrustSnapshot { generation, local: snap.local.clone(), partners })
        });
        changed
    }
}

fn same_keys(a: &[Arc<VerifyingKey>], b: &[Arc<VerifyingKey>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.x5t() == y.x5t())
}
