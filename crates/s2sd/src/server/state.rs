//! The running node's shared state and how it follows the store: a watcher polls the store's
//! version (a one-row read), and checks at once when the store announces a change (PostgreSQL's
//! LISTEN/NOTIFY), and republishes the trust snapshot, the signing key and the metadata document
//! when anything changed, so CLI changes on any node apply within about a second without a restart.
//! Metadata refresh results are written back to the store from here.
//!
//! Each role's handlers take only the part of the state they need, by axum's `FromRef`: the
//! authority its [`AuthorityState`], the server's own handlers [`MetadataState`] and
//! [`HealthState`]; [`AppState`] is what the router holds and what the watcher keeps current.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::FromRef;
use s2s::client::Issuer;
use s2s::clock::SharedClock;
use s2s::metadata::MetadataDocument;
use s2s::middleware::S2sAuth;
use s2s::partner::TrustStore;
use s2s::partner::refresh::{self, FetchReport, RefreshPolicy};
use s2s::validate::Validator;
use tokio_util::sync::CancellationToken;

use crate::authority::endpoint::AuthorityState;
use crate::issuer::rollover;
use crate::store::mailbox::MailboxStore;
use crate::store::{MetadataStatus, Store, StoreError, Stores};
use crate::trust::{self, Expiring};

/// What the clock will change, and what is about to expire.
#[derive(Debug, Default)]
pub struct Schedule {
    /// Certificates within the warning window.
    pub expiring: Vec<Expiring>,
    /// When to reload even without a store change.
    pub next_change_at: Option<i64>,
}

/// What handlers share: one `Arc`, so that handing it to a request (axum's `State`) is one
/// reference count, whatever it holds.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    /// The configuration store.
    pub store: Arc<dyn Store>,
    /// Mailbox users, folders, items and role assignments (same database, read per request).
    pub mailbox: Arc<dyn MailboxStore>,
    /// Who we are and whom we trust.
    pub trust: Arc<TrustStore>,
    /// Validates inbound tokens.
    pub auth: S2sAuth,
    /// Mints outbound tokens.
    pub issuer: Arc<Issuer>,
    /// Our metadata document.
    pub metadata: Arc<ArcSwap<MetadataDocument>>,
    /// The store version currently in force.
    pub version: Arc<std::sync::atomic::AtomicI64>,
    /// Certificates nearing expiry, and when the configuration next changes by the clock.
    pub schedule: Arc<ArcSwap<Schedule>>,
    /// Time.
    pub clock: SharedClock,
    /// The authorization-server role: tenants, service principals, the token endpoint's state.
    pub authority: Arc<crate::authority::Authority>,
    /// What the authority's handlers take (the same authority, issuer and metadata document).
    pub authority_state: AuthorityState,
}

/// What the node's metadata handler takes: our document, and the authority for the tenant
/// documents asked for with `?realm=`.
#[derive(Clone)]
pub struct MetadataState {
    /// Our metadata document.
    pub document: Arc<ArcSwap<MetadataDocument>>,
    /// The authorization-server role.
    pub authority: AuthorityState,
}

/// What `/healthz` takes.
#[derive(Clone)]
pub struct HealthState {
    /// Who we are and whom we trust.
    pub trust: Arc<TrustStore>,
    /// Our signing identity.
    pub issuer: Arc<Issuer>,
    /// Certificates nearing expiry.
    pub schedule: Arc<ArcSwap<Schedule>>,
    /// The store version in force.
    pub version: Arc<std::sync::atomic::AtomicI64>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for AuthorityState {
    fn from_ref(state: &AppState) -> Self {
        state.authority_state.clone()
    }
}

impl FromRef<AppState> for MetadataState {
    fn from_ref(state: &AppState) -> Self {
        Self { document: Arc::clone(&state.metadata), authority: state.authority_state.clone() }
    }
}

impl FromRef<AppState> for HealthState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            trust: Arc::clone(&state.trust),
            issuer: Arc::clone(&state.issuer),
            schedule: Arc::clone(&state.schedule),
            version: Arc::clone(&state.version),
        }
    }
}

/// The Exchange role's part of the state.
impl FromRef<AppState> for crate::mailbox::ews::EwsState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            mailbox: Arc::clone(&state.mailbox),
            trust: Arc::clone(&state.trust),
            auth: state.auth.clone(),
            clock: state.clock.clone(),
        }
    }
}

impl AppState {
    /// Loads the configuration, starts the metadata refresher and the store watcher.
    pub async fn start(
        stores: Stores,
        clock: SharedClock,
        policy: RefreshPolicy,
        poll: Duration,
        cancel: CancellationToken,
    ) -> Result<Self, StoreError> {
        Self::start_with_limits(stores, clock, policy, poll, super::ValidationLimits::default(), cancel).await
    }

    /// [`Self::start`], validating incoming tokens within `limits`.
    pub async fn start_with_limits(
        stores: Stores,
        clock: SharedClock,
        policy: RefreshPolicy,
        poll: Duration,
        limits: super::ValidationLimits,
        cancel: CancellationToken,
    ) -> Result<Self, StoreError> {
        let Stores { config: store, mailbox, authority } = stores;
        let loaded = trust::load(store.as_ref(), clock.now()).await?;
        let authority = Arc::new(crate::authority::Authority::load(authority, clock.clone()).await);
        for w in &loaded.warnings {
            tracing::warn!("{w}");
        }
        report_expiring(&[], &loaded.expiring);
        let schedule = Schedule { expiring: loaded.expiring, next_change_at: loaded.next_change_at };
        let trust = Arc::new(TrustStore::new(loaded.local, loaded.partners));
        let validator = Arc::new(
            Validator::new(Arc::clone(&trust), clock.clone()).with_max_token_lifetime(limits.max_token_lifetime),
        );
        let issuer = Arc::new(Issuer::new(loaded.issuer, clock.clone()));
        let hook_store = Arc::clone(&store);
        let hook: refresh::ReportHook = Arc::new(move |report: FetchReport| {
            let store = Arc::clone(&hook_store);
            tokio::spawn(async move {
                let (status, certs) = match &report.result {
                    Ok(certs) => (MetadataStatus::Ok, Some(certs.as_slice())),
                    Err(e) => (MetadataStatus::Failed(e.clone()), None),
                };
                if let Err(e) = store.record_metadata_fetch(&report.partner, report.at, &status, certs).await {
                    tracing::warn!(partner = %report.partner, error = %e, "could not record a metadata fetch");
                }
            });
        });
        let refresher = refresh::spawn(Arc::clone(&trust), clock.clone(), policy, Some(hook), cancel.clone());
        let metadata = Arc::new(ArcSwap::from_pointee(loaded.metadata));
        let authority_state = AuthorityState::new(Arc::clone(&authority), Arc::clone(&issuer), Arc::clone(&metadata));
        let state = Self(Arc::new(Shared {
            store,
            mailbox,
            trust,
            auth: S2sAuth::new(validator).with_refresher(refresher),
            issuer,
            metadata,
            version: Arc::new(std::sync::atomic::AtomicI64::new(loaded.version)),
            schedule: Arc::new(ArcSwap::from_pointee(schedule)),
            clock,
            authority,
            authority_state,
        }));
        tokio::spawn(state.clone().watch(poll, cancel));
        Ok(state)
    }

    /// Polls the store version and reloads on change, at every tick and whenever the store
    /// announces a change (the tick stays the fallback); applies the rollover rules when the clock
    /// reaches a scheduled change, and at least once a minute.
    async fn watch(self, poll: Duration, cancel: CancellationToken) {
        let mut ticker = tokio::time::interval(poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since_maintenance = Duration::ZERO;
        let mut failing = false;
        loop {
            let ticked = tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticker.tick() => true,
                _ = self.store.wait_for_change(poll) => false,
            };
            if ticked {
                since_maintenance += poll;
            }
            let now = self.clock.now();
            let due = self.schedule.load().next_change_at.is_some_and(|t| t <= now);
            if due || since_maintenance >= Duration::from_secs(60) {
                since_maintenance = Duration::ZERO;
                match rollover::maintain(self.store.as_ref(), now).await {
                    Ok(actions) => {
                        for action in actions {
                            tracing::info!(?action, "certificate rollover");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "certificate rollover failed; will retry"),
                }
            }
            let current = self.version.load(std::sync::atomic::Ordering::Relaxed);
            let changed = match self.store.version().await {
                Ok(v) => {
                    if failing {
                        tracing::info!("configuration store reachable again");
                        failing = false;
                    }
                    v != current
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "configuration store unreachable; serving the last configuration");
                        failing = true;
                    }
                    false
                }
            };
            if (changed || due)
                && let Err(e) = self.reload().await
            {
                tracing::warn!(error = %e, "configuration reload failed; serving the last configuration");
            }
        }
    }

    /// Reads the store and publishes what it holds.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let loaded = trust::load(self.store.as_ref(), self.clock.now()).await?;
        let (version, partners) = (loaded.version, loaded.partners.len());
        report_expiring(&self.schedule.load().expiring, &loaded.expiring);
        self.trust.publish(loaded.local, loaded.partners);
        self.issuer.set_identity(loaded.issuer);
        self.metadata.store(Arc::new(loaded.metadata));
        if let Err(e) = self.authority.reload().await {
            tracing::warn!(error = %e, "authority reload failed; serving the last authority configuration");
        }
        self.schedule.store(Arc::new(Schedule { expiring: loaded.expiring, next_change_at: loaded.next_change_at }));
        // Advertised last: whoever waits for this version sees everything built from it.
        let previous = self.version.swap(version, std::sync::atomic::Ordering::Release);
        if previous != version {
            tracing::info!(version, partners, "configuration applied");
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
        }
        Ok(())
    }
}

/// Logs certificates that newly entered the warning window, and sets the expiry gauges.
fn report_expiring(before: &[Expiring], now: &[Expiring]) {
    for e in now {
        if !before.iter().any(|b| b.x5t == e.x5t && b.owner == e.owner) {
            tracing::warn!(owner = %e.owner, x5t = %e.x5t, days_left = e.days_left, "certificate expires soon");
        }
        metrics::gauge!("s2s_certificate_days_left", "owner" => e.owner.clone(), "x5t" => e.x5t.clone())
            .set(e.days_left as f64);
    }
}
