//! Keeping partner key rings fresh: a supervisor task re-reads every metadata partner's document
//! on an interval, at once when asked (unknown thumbprint or bad signature; at most once per
//! `min_gap` per partner), and backs off on failures. A failed fetch never removes keys: the last
//! good key ring stays in force. Outages are logged when they start and when they end, not per
//! attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::TrustStore;
use crate::clock::{SharedClock, UnixTime};
use crate::metadata::fetch::{FetchOptions, fetch};

/// How often and how eagerly to refresh.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Time between scheduled refreshes of one partner (a partner may override it).
    pub interval: Duration,
    /// Least time between two fetches of one partner's document, however asked.
    pub min_gap: Duration,
    /// Timeout of one fetch.
    pub timeout: Duration,
    /// First retry delay after a failure; doubles per failure up to `interval`.
    pub retry: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            min_gap: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            retry: Duration::from_secs(30),
        }
    }
}

/// What an on-demand refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New keys are in force.
    Updated,
    /// Fetched; the keys were the same.
    Unchanged,
    /// Fetched too recently; nothing done.
    RateLimited,
    /// The fetch failed; the last good keys stay.
    Failed(String),
    /// No such partner, or it has no metadata URL.
    NotApplicable,
    /// The refresher is not running or did not answer in time.
    Unavailable,
}

/// One fetch's result, handed to the owner (to persist keys and status).
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// The partner's name.
    pub partner: String,
    /// When (Unix seconds).
    pub at: UnixTime,
    /// The DER certificates now in force, or the one-line error.
    pub result: Result<Vec<Vec<u8>>, String>,
}

/// Called after every fetch.
pub type ReportHook = Arc<dyn Fn(FetchReport) + Send + Sync>;

/// Asks the running refresher for immediate refreshes.
#[derive(Debug, Clone)]
pub struct RefreshHandle {
    tx: mpsc::Sender<(String, oneshot::Sender<RefreshOutcome>)>,
    wait: Duration,
}

impl RefreshHandle {
    /// Refreshes `partner` now unless it was fetched within `min_gap`; waits for the outcome.
    pub async fn refresh_now(&self, partner: &str) -> RefreshOutcome {
        let (tx, rx) = oneshot::channel();
        if self.tx.send((partner.to_owned(), tx)).await.is_err() {
            return RefreshOutcome::Unavailable;
        }
        tokio::time::timeout(self.wait, rx).await.ok().and_then(Result::ok).unwrap_or(RefreshOutcome::Unavailable)
    }
}

struct PartnerState {
    interval: Duration,
    next_due: Instant,
    last_attempt: Option<Instant>,
    failures: u32,
}

/// Starts the refresher; it stops when `cancel` fires.
pub fn spawn(
    trust: Arc<TrustStore>,
    clock: SharedClock,
    policy: RefreshPolicy,
    hook: Option<ReportHook>,
    cancel: CancellationToken,
) -> RefreshHandle {
    let (tx, mut rx) = mpsc::channel::<(String, oneshot::Sender<RefreshOutcome>)>(256);
    let wait = policy.timeout + Duration::from_secs(2);
    let refresher = Refresher { trust, clock, policy, hook, states: HashMap::new() };
    tokio::spawn(async move {
        let mut r = refresher;
        r.sync(true);
        loop {
            r.sync(false);
            let next =
                r.states.values().map(|s| s.next_due).min().unwrap_or_else(|| Instant::now() + r.policy.interval);
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep_until(next) => {
                    let now = Instant::now();
                    let due: Vec<String> = r.states.iter().filter(|(_, s)| s.next_due <= now).map(|(n, _)| n.clone()).collect();
                    for name in due {
                        r.refresh(&name).await;
                    }
                }
                Some((name, reply)) = rx.recv() => {
                    r.sync(false);
                    let outcome = r.on_demand(&name).await;
                    let _ = reply.send(outcome);
                }
            }
        }
    });
    RefreshHandle { tx, wait }
}

struct Refresher {
    trust: Arc<TrustStore>,
    clock: SharedClock,
    policy: RefreshPolicy,
    hook: Option<ReportHook>,
    states: HashMap<String, PartnerState>,
}

impl Refresher {
    /// Tracks the metadata partners of the current snapshot; at start-up every one is due at once.
    fn sync(&mut self, startup: bool) {
        let snap = self.trust.snapshot();
        let now = Instant::now();
        let partners: Vec<(String, Duration)> = snap
            .partners
            .iter()
            .filter(|p| p.metadata.is_some())
            .map(|p| (p.name.to_ascii_lowercase(), p.refresh_interval.unwrap_or(self.policy.interval)))
            .collect();
        self.states.retain(|n, _| partners.iter().any(|(p, _)| p == n));
        for (name, interval) in partners {
            let state = self.states.entry(name).or_insert_with(|| PartnerState {
                next_due: if startup { now } else { now + interval },
                last_attempt: None,
                failures: 0,
                interval,
            });
            if state.interval != interval {
                // A changed interval applies from the last attempt on.
                state.next_due = state.last_attempt.unwrap_or(now) + interval;
                state.interval = interval;
            }
        }
    }

    async fn on_demand(&mut self, name: &str) -> RefreshOutcome {
        let key = name.to_ascii_lowercase();
        match self.states.get(&key) {
            None => RefreshOutcome::NotApplicable,
            Some(s) if s.last_attempt.is_some_and(|t| t.elapsed() < self.policy.min_gap) => RefreshOutcome::RateLimited,
            Some(_) => self.refresh(&key).await,
        }
    }

    async fn refresh(&mut self, key: &str) -> RefreshOutcome {
        let snap = self.trust.snapshot();
        let Some(partner) = snap.partner(key).cloned() else { return RefreshOutcome::NotApplicable };
        let Some(source) = partner.metadata.clone() else { return RefreshOutcome::NotApplicable };
        let options = FetchOptions {
            allow_http: source.allow_http,
            ca_pem: source.ca_pem.as_ref().map(|c| c.to_vec()),
            timeout: self.policy.timeout,
        };
        let started = Instant::now();
        let now = self.clock.now();
        let result = match fetch(&source.url, &options).await {
            Ok(doc) => doc.check(now).map_err(|e| format!("metadata from {} is unusable: {e}", source.url)),
            Err(e) => Err(e.to_string()),
        };
        let Some(state) = self.states.get_mut(key) else { return RefreshOutcome::NotApplicable };
        state.last_attempt = Some(started);
        let (outcome, report) = match result {
            Ok(checked) => {
                if state.failures > 0 {
                    tracing::info!(partner = %partner.name, url = %source.url, failures = state.failures, "partner metadata reachable again");
                }
                state.failures = 0;
                state.next_due = Instant::now() + state.interval;
                let certificates = checked.certificates;
                let keys = checked.keys.into_iter().map(Arc::new).collect();
                let changed = self.trust.replace_partner_keys(&partner.name, keys);
                if changed {
                    tracing::info!(partner = %partner.name, keys = certificates.len(), "partner keys updated from metadata");
                }
                (if changed { RefreshOutcome::Updated } else { RefreshOutcome::Unchanged }, Ok(certificates))
            }
            Err(e) => {
                if state.failures == 0 {
                    tracing::warn!(partner = %partner.name, error = %e, "partner metadata refresh failed; keeping the last good keys");
                }
                state.failures = state.failures.saturating_add(1);
                let backoff = self.policy.retry.saturating_mul(1 << state.failures.min(16).saturating_sub(1));
                state.next_due = Instant::now() + backoff.min(state.interval);
                (RefreshOutcome::Failed(e.clone()), Err(e))
            }
        };
        if let Some(hook) = &self.hook {
            hook(FetchReport { partner: partner.name.clone(), at: now, result: report });
        }
        outcome
    }
}
