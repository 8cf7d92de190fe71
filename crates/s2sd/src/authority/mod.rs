//! The authorization-server role (what Azure ACS does for Exchange, SharePoint and Lync hybrids):
//! tenants (realms) with their metadata document, OpenID discovery and JWKS, service principals
//! with service principal names (SPNs) and credentials, and the token endpoint
//! `POST /<realm>/tokens/OAuth/2` that turns a client secret or a client assertion into an
//! actor-style token for a resource.
//!
//! Files: `request.rs` reads a token request, `grant.rs` decides it (pure), `endpoint.rs` answers
//! it (signing, reuse, the routes and the state the handlers take), `error.rs` the refusals and
//! their one HTTP form, `discovery.rs` tenant metadata, OpenID and JWKS, `signer.rs` the signing
//! threads. Nothing here knows the server that composes the roles, nor the CLI.
//!
//! This module owns the decisions: which tenant, which principal, whether a credential holds now,
//! whether a host matches an SPN, whether an assertion was seen before (by this node, then by any
//! node of the store), and how long a failing
//! request waits (`limiter.rs`: never a request whose credential holds). It holds the configuration as an immutable [`Snapshot`] built when the
//! store changes (certificates parsed into verifying keys then, never per request) and published
//! through `ArcSwap`. It never stores anything itself (the store does), never logs a secret, an
//! assertion or a token, and signs with the node's own issuer key, so certificate rollover
//! (current / next / previous) applies to the tokens it issues as it does to the node's own.
//!
//! SPN wildcards: `<appId>/*.litwareinc.com` matches exactly **one** label in place of the `*`
//! (`mail.litwareinc.com`, not `litwareinc.com` nor `a.b.litwareinc.com`), as TLS wildcard
//! certificates do (RFC 6125 §6.4.3): an admin who registers `*.contoso.com` gets what the same
//! pattern means on a certificate. A port on an SPN must equal the resource's port when the
//! resource names one; an SPN without a port matches any port.

pub mod discovery;
pub mod endpoint;
pub mod error;
pub mod grant;
pub mod limiter;
pub mod request;
pub mod signer;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::{constant_time, hmac, rand};
use base64::Engine as _;
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use s2s::clock::{SharedClock, UnixTime};
use s2s::token::{Algorithm, VerifyingKey};

use crate::store::StoreError;
use crate::store::authority::{AuthoritySnapshot, AuthorityStore, CredentialKind};

/// Clock skew allowed on assertion `nbf`/`exp`.
pub const ASSERTION_SKEW: i64 = 300;
/// Lifetime of an issued token (ACS issues about 24 h).
pub const TOKEN_LIFETIME: i64 = 86_400;
/// `nbf` of an issued token is back-dated by this much (ACS back-dates about 5 min).
pub const TOKEN_NBF_BACKDATE: i64 = 300;
pub use limiter::{FAILURE_WINDOW, FAILURES_BEFORE_DELAY, FAILURES_PER_SOURCE_BEFORE_DELAY, MAX_DELAY};
/// Bytes of a generated client secret (before base64).
pub const SECRET_BYTES: usize = 32;

/// Seconds between purges of the store's spent assertions (by each node).
const PURGE_INTERVAL: i64 = 60;
/// Assertions remembered for replay detection.
const REPLAY_CAPACITY: usize = 64 * 1024;
/// Issued tokens remembered for reuse (a token is about 1 KB).
const ISSUED_CAPACITY: usize = 4 * 1024;

/// A token the endpoint issued, given again for the same grant while more than half of its
/// lifetime remains (see [`Authority::reusable_token`]).
#[derive(Debug)]
pub struct IssuedToken {
    /// The token as a JSON string (quoted), written into every answer as it is.
    pub access_token: Box<serde_json::value::RawValue>,
    pub iat: UnixTime,
    pub nbf: UnixTime,
    pub exp: UnixTime,
}

/// The authority of a node: its configuration snapshot and the per-request memory (replays,
/// failing clients, issued tokens), and the threads that sign.
pub struct Authority {
    store: Option<Arc<dyn AuthorityStore>>,
    snapshot: ArcSwap<Snapshot>,
    replay: Cache<String, UnixTime>,
    /// By grant: tenant, client, audience and signing key (see [`Self::reusable_token`]).
    issued: Cache<String, Arc<IssuedToken>>,
    /// Signs issued tokens off the async workers.
    pub signer: signer::Signer,
    limiter: limiter::Limiter,
    https: AtomicBool,
    /// When this node last purged the store's spent assertions.
    purged_at: AtomicI64,
    clock: SharedClock,
    /// The JWKS of the node's published certificates, with the metadata document it was built from.
    jwks: arc_swap::ArcSwapOption<(Arc<s2s::metadata::MetadataDocument>, Arc<serde_json::Value>)>,
}

/// The authority's configuration at one version, parsed.
#[derive(Default)]
pub struct Snapshot {
    /// The configuration version it was built from.
    pub version: i64,
    /// By lower-case realm.
    pub tenants: HashMap<String, Arc<Tenant>>,
    /// Keys the client-secret hashes; `None` until the first secret is added.
    pepper: Option<hmac::Key>,
    /// Credentials that could not be loaded.
    pub warnings: Vec<String>,
}

/// A tenant with its service principals.
#[derive(Debug)]
pub struct Tenant {
    /// Lower-case realm GUID.
    pub realm: String,
    pub name: String,
    /// By lower-case app id.
    pub principals: HashMap<String, Arc<ServicePrincipal>>,
}

/// A service principal, ready for the token endpoint.
#[derive(Debug)]
pub struct ServicePrincipal {
    /// Lower-case app id.
    pub app_id: String,
    pub display_name: String,
    pub enabled: bool,
    pub spns: Vec<Spn>,
    pub secrets: Vec<SecretCredential>,
    pub certificates: Vec<CertificateCredential>,
}

/// A client secret's keyed hash and validity.
#[derive(Debug)]
pub struct SecretCredential {
    pub id: String,
    hash: Vec<u8>,
    pub start_at: UnixTime,
    pub end_at: UnixTime,
}

/// A registered certificate, parsed into verifying keys (RS256 and PS256).
#[derive(Debug)]
pub struct CertificateCredential {
    pub id: String,
    /// base64url SHA-1 of the certificate.
    pub x5t: String,
    /// Upper-case hex SHA-1, as admins see it.
    pub thumbprint: String,
    pub start_at: UnixTime,
    pub end_at: UnixTime,
    pub keys: Vec<Arc<VerifyingKey>>,
}

/// A service principal name: `<appId>/<host>`, the host possibly a one-label wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spn {
    /// Lower-case app id.
    pub app_id: String,
    /// Lower-case host, `*.` prefix for a wildcard, without the port.
    host: String,
    port: Option<String>,
}

/// Why an SPN is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpnError {
    /// Empty host.
    #[error("`{0}` names no host: use <app id>/<host>, e.g. 00000003-0000-0ff1-ce00-000000000000/sp.contoso.com")]
    NoHost(String),
    /// The app id part is another principal's.
    #[error("`{spn}` names application {found}; the SPNs of {expected} start with {expected}/")]
    OtherAppId {
        /// The SPN.
        spn: String,
        /// Its app id.
        found: String,
        /// The principal's.
        expected: String,
    },
    /// A character a host cannot have, or a misplaced wildcard.
    #[error(
        "`{0}` is not a host name: letters, digits, `-` and `.`, an optional :port, and `*` only as a whole first label (*.contoso.com)"
    )]
    BadHost(String),
}

impl Authority {
    /// An authority over `store`, loaded. A failed first load is logged (every tenant is unknown
    /// until then) and retried with every reload.
    pub async fn load(store: Arc<dyn AuthorityStore>, clock: SharedClock) -> Self {
        let authority = Self::new(Some(store), clock);
        if let Err(e) = authority.reload().await {
            tracing::warn!(error = %e, "cannot load the authority configuration; it serves no tenant until it can");
        }
        authority
    }

    /// An authority over `store` (or none), with an empty snapshot until [`Self::reload`].
    pub fn new(store: Option<Arc<dyn AuthorityStore>>, clock: SharedClock) -> Self {
        Self {
            store,
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            replay: Cache::new(REPLAY_CAPACITY),
            issued: Cache::new(ISSUED_CAPACITY),
            signer: signer::Signer::per_core(),
            limiter: limiter::Limiter::default(),
            https: AtomicBool::new(true),
            purged_at: AtomicI64::new(0),
            clock,
            jwks: arc_swap::ArcSwapOption::empty(),
        }
    }

    /// Reads the store and publishes a new snapshot.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let Some(store) = &self.store else { return Ok(()) };
        let records = store.authority_snapshot().await?;
        self.publish(&records);
        Ok(())
    }

    /// Builds the snapshot of `records` and puts it in force (what [`Self::reload`] does with the
    /// store's): warnings are logged when they change, and a new version forgets issued tokens.
    pub fn publish(&self, records: &AuthoritySnapshot) {
        let snapshot = build(records);
        let previous = self.snapshot.load();
        if previous.version != snapshot.version || previous.warnings != snapshot.warnings {
            for w in &snapshot.warnings {
                tracing::warn!("{w}");
            }
        }
        if previous.version != snapshot.version {
            // Every grant is checked against the configuration before a token is reused, so this
            // only frees what a changed configuration may never ask for again.
            self.issued.clear();
        }
        self.snapshot.store(Arc::new(snapshot));
    }

    /// The configuration in force.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The tenant with this realm (case-insensitive).
    pub fn tenant(&self, realm: &str) -> Option<Arc<Tenant>> {
        self.snapshot.load().tenant(realm).cloned()
    }

    /// Says whether the node serves https (the default) or plain http: the scheme of the token URL
    /// that clients put in their assertions' `aud` and that the metadata document lists.
    pub fn set_https(&self, https: bool) {
        self.https.store(https, Ordering::Relaxed);
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.https.load(Ordering::Relaxed) { "https" } else { "http" }
    }

    /// The JWKS for the node's metadata document `doc`, built by `build` once per document.
    pub fn jwks(
        &self,
        doc: Arc<s2s::metadata::MetadataDocument>,
        build: impl FnOnce(&s2s::metadata::MetadataDocument) -> serde_json::Value,
    ) -> Arc<serde_json::Value> {
        if let Some(cached) = self.jwks.load().as_ref()
            && Arc::ptr_eq(&cached.0, &doc)
        {
            return Arc::clone(&cached.1);
        }
        let value = Arc::new(build(&doc));
        self.jwks.store(Some(Arc::new((doc, Arc::clone(&value)))));
        value
    }

    /// The time.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Records an assertion; true when the same one (`key`) was seen before and has not expired.
    /// Atomic: of two concurrent requests with one assertion, one wins.
    pub fn replayed(&self, key: &str, expires_at: UnixTime, now: UnixTime) -> bool {
        match self.replay.entry(key, Some(Duration::ZERO), |_, seen_until: &mut UnixTime| {
            if *seen_until + ASSERTION_SKEW >= now {
                EntryAction::Retain(true)
            } else {
                *seen_until = expires_at;
                EntryAction::Retain(false)
            }
        }) {
            EntryResult::Retained(replayed) => replayed,
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => {
                let _ = guard.insert(expires_at);
                false
            }
            EntryResult::Removed(..) => false,
            // Another request holds this very assertion right now.
            EntryResult::Timeout => true,
        }
    }

    /// Spends the assertion `key` in the store (every node's memory, across restarts), remembered
    /// until `until`: true when this request is its first use. Without a store (a node serving
    /// from memory alone) the node's own memory was the whole check. Once a minute, the spend also
    /// purges what no longer needs remembering, so the table stays the size of the assertions
    /// still valid.
    pub async fn spend(&self, key: &str, until: UnixTime, now: UnixTime) -> Result<bool, StoreError> {
        let Some(store) = &self.store else { return Ok(true) };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        let key: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let spent = store.spend_assertion(&key, until, now).await?;
        let last = self.purged_at.load(Ordering::Relaxed);
        if now - last >= PURGE_INTERVAL
            && self.purged_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            store.purge_spent_assertions(now).await?;
        }
        Ok(spent)
    }

    /// The token issued earlier for the same grant (`grant` names tenant, client, audience and
    /// signing key), while more than half of its lifetime remains at `now`. The caller has
    /// authenticated the client and checked the resource for this very request: reuse only saves
    /// the signature, as a client that caches its token would.
    pub fn reusable_token(&self, grant: &str, now: UnixTime) -> Option<Arc<IssuedToken>> {
        self.issued.get(grant).filter(|t| now >= t.iat && now - t.iat < (t.exp - t.iat) / 2)
    }

    /// Remembers a token issued for `grant`.
    pub fn remember_token(&self, grant: String, token: Arc<IssuedToken>) {
        self.issued.insert(grant, token);
    }

    /// How long to hold back a *failed* request from `client` (a key naming tenant and client id,
    /// when the request named a well-formed one) at `source` (see `limiter.rs`).
    pub fn delay_for(&self, client: Option<&str>, source: Option<IpAddr>, now: UnixTime) -> Option<Duration> {
        self.limiter.delay(client, source, now)
    }

    /// Counts a failed request from `client` at `source`.
    pub fn record_failure(&self, client: Option<&str>, source: Option<IpAddr>, now: UnixTime) {
        self.limiter.failed(client, source, now);
    }

    /// Forgets `client`'s failures at `source` after it authenticated.
    pub fn record_success(&self, client: &str, source: Option<IpAddr>) {
        self.limiter.succeeded(client, source);
    }
}

impl Snapshot {
    /// The tenant with this realm (case-insensitive).
    pub fn tenant(&self, realm: &str) -> Option<&Arc<Tenant>> {
        self.tenants.get(&realm.to_ascii_lowercase())
    }

    /// Checks `secret` against the principal's client secrets in constant time (per secret);
    /// returns the matching credential.
    pub fn matching_secret<'a>(&self, principal: &'a ServicePrincipal, secret: &str) -> Option<&'a SecretCredential> {
        let key = self.pepper.as_ref()?;
        let tag = hmac::sign(key, secret.as_bytes());
        principal.secrets.iter().find(|s| secret_tag_matches(tag.as_ref(), &s.hash))
    }
}

/// Whether `tag`, the keyed hash of a presented client secret, equals a stored one, in a time that
/// does not depend on where they differ. The one comparison of secret material here:
/// `tests/it/constant_time.rs` checks that every read of a stored hash goes through it and that it
/// stays on aws-lc's constant-time comparison.
fn secret_tag_matches(tag: &[u8], stored: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(tag, stored).is_ok()
}

impl ServicePrincipal {
    /// The first SPN whose host matches `authority` (`host[:port]`).
    pub fn spn_for(&self, authority: &str) -> Option<&Spn> {
        self.spns.iter().find(|s| s.matches(authority))
    }

    /// Every registered key (RS256 and PS256 records of each certificate), whatever its dates.
    pub fn assertion_keys(&self) -> Vec<Arc<VerifyingKey>> {
        self.certificates.iter().flat_map(|c| c.keys.iter().cloned()).collect()
    }

    /// The certificate credential with this `x5t`.
    pub fn certificate(&self, x5t: &str) -> Option<&CertificateCredential> {
        self.certificates.iter().find(|c| c.x5t == x5t)
    }
}

impl Spn {
    /// Parses `<appId>/<host>` (or a bare `<host>`) for the principal `app_id`.
    pub fn parse(app_id: &str, text: &str) -> Result<Self, SpnError> {
        let text = text.trim();
        let app_id = app_id.to_ascii_lowercase();
        let host_part = match text.split_once('/') {
            Some((app, host)) => {
                if !app.eq_ignore_ascii_case(&app_id) {
                    return Err(SpnError::OtherAppId { spn: text.to_owned(), found: app.to_owned(), expected: app_id });
                }
                host
            }
            None => text,
        };
        if host_part.is_empty() {
            return Err(SpnError::NoHost(text.to_owned()));
        }
        let (host, port) = s2s::principal::split_authority(host_part);
        let bad = || SpnError::BadHost(host_part.to_owned());
        if host_part.ends_with(':') || port.is_some_and(str::is_empty) {
            return Err(bad());
        }
        let name = host.strip_prefix("*.").unwrap_or(host);
        let label_ok =
            |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if name.is_empty() || !name.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(Self { app_id, host: host.to_ascii_lowercase(), port: port.map(str::to_owned) })
    }

    /// `<appId>/<host>[:port]`, lower case.
    pub fn text(&self) -> String {
        match &self.port {
            Some(port) => format!("{}/{}:{port}", self.app_id, self.host),
            None => format!("{}/{}", self.app_id, self.host),
        }
    }

    /// True when `authority` (`host[:port]` of a resource) is this SPN's host: exactly, or by a
    /// one-label wildcard; ports compared only when both sides name one.
    pub fn matches(&self, authority: &str) -> bool {
        let (host, port) = s2s::principal::split_authority(authority);
        if let (Some(mine), Some(theirs)) = (&self.port, port)
            && mine != theirs
        {
            return false;
        }
        let host = host.to_ascii_lowercase();
        match self.host.strip_prefix('*') {
            Some(suffix) => host.strip_suffix(suffix).is_some_and(|label| !label.is_empty() && !label.contains('.')),
            None => host == self.host,
        }
    }
}

/// Builds the snapshot from store records (pure): certificates are parsed here, once.
pub fn build(records: &AuthoritySnapshot) -> Snapshot {
    let mut warnings = Vec::new();
    let mut tenants: HashMap<String, Tenant> = records
        .tenants
        .iter()
        .map(|t| {
            let realm = t.realm.to_ascii_lowercase();
            (realm.clone(), Tenant { realm, name: t.name.clone(), principals: HashMap::new() })
        })
        .collect();
    for p in &records.service_principals {
        let Some(tenant) = tenants.get_mut(&p.tenant.to_ascii_lowercase()) else { continue };
        let app_id = p.app_id.to_ascii_lowercase();
        let spns = p
            .spns
            .iter()
            .filter_map(|text| match Spn::parse(&app_id, text) {
                Ok(spn) => Some(spn),
                Err(e) => {
                    warnings.push(format!("service principal {app_id}@{}: SPN ignored: {e}", tenant.realm));
                    None
                }
            })
            .collect();
        let mut principal = ServicePrincipal {
            app_id: app_id.clone(),
            display_name: p.display_name.clone(),
            enabled: p.enabled,
            spns,
            secrets: Vec::new(),
            certificates: Vec::new(),
        };
        for c in records
            .credentials
            .iter()
            .filter(|c| c.tenant.eq_ignore_ascii_case(&p.tenant) && c.app_id.eq_ignore_ascii_case(&p.app_id))
        {
            match (c.kind, &c.secret_hash, &c.certificate_der) {
                (CredentialKind::Symmetric, Some(hash), _) => principal.secrets.push(SecretCredential {
                    id: c.id.clone(),
                    hash: hash.clone(),
                    start_at: c.start_at,
                    end_at: c.end_at,
                }),
                (CredentialKind::Asymmetric, _, Some(der)) => {
                    let keys = [Algorithm::Rs256, Algorithm::Ps256]
                        .into_iter()
                        .map(|alg| VerifyingKey::with_algorithm(der, alg).map(Arc::new))
                        .collect::<Result<Vec<_>, _>>();
                    match keys {
                        Ok(keys) => principal.certificates.push(CertificateCredential {
                            id: c.id.clone(),
                            x5t: s2s::token::thumbprint::x5t(der),
                            thumbprint: s2s::token::thumbprint::hex_thumbprint(der),
                            start_at: c.start_at,
                            end_at: c.end_at,
                            keys,
                        }),
                        Err(e) => warnings.push(format!(
                            "service principal {app_id}@{}: credential {} is unusable: {e}",
                            tenant.realm, c.id
                        )),
                    }
                }
                _ => warnings.push(format!(
                    "service principal {app_id}@{}: credential {} has no {}",
                    tenant.realm,
                    c.id,
                    if c.kind == CredentialKind::Symmetric { "secret hash" } else { "certificate" }
                )),
            }
        }
        tenant.principals.insert(app_id, Arc::new(principal));
    }
    Snapshot {
        version: records.version,
        tenants: tenants.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        pepper: records.pepper.as_deref().map(|p| hmac::Key::new(hmac::HMAC_SHA256, p)),
        warnings,
    }
}

/// HMAC-SHA256(pepper, secret): what the store keeps of a client secret. Secrets are 256 random
/// bits, so a fast keyed hash is enough; a password KDF here would only slow the token endpoint.
pub fn secret_hash(pepper: &[u8], secret: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, pepper), secret.as_bytes()).as_ref().to_vec()
}

/// A new client secret: [`SECRET_BYTES`] random bytes, standard base64 (as ACS's were).
pub fn generate_secret() -> Result<zeroize::Zeroizing<String>, aws_lc_rs::error::Unspecified> {
    let mut bytes = zeroize::Zeroizing::new([0u8; SECRET_BYTES]);
    rand::fill(bytes.as_mut())?;
    Ok(zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref())))
}

/// 32 random bytes for a new pepper.
pub fn generate_pepper() -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
    let mut bytes = vec![0u8; 32];
    rand::fill(&mut bytes)?;
    Ok(bytes)
}

/// A random (version 4) GUID, lower case.
pub fn new_guid() -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut b = [0u8; 16];
    rand::fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

#[cfg(test)]
mod tests;
