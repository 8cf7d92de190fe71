//! Keeping partner key rings fresh: a supervisor task re-reads every metadata partner's document
//! on an interval (each schedule moved by random jitter, so partners added together do not refresh
//! together), at once when asked (unknown thumbprint or bad signature; at most once per `min_gap`
//! per partner), and backs off on failures. At most `max_concurrent` fetches are in flight; the
//! others wait their turn, on-demand ones first. A failed fetch never removes keys: the last good
//! key ring stays in force. Outages are logged when they start and when they end, not per attempt.
//! Scheduling reads tokio's clock (paused in tests); dates come from the `Clock`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{MetadataSource, TrustStore};
use crate::clock::{SharedClock, UnixTime};
use crate::metadata::MetadataDocument;
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
    /// Most fetches in flight at once (at least 1).
    pub max_concurrent: usize,
    /// Each scheduled refresh moves by a random amount of up to this percentage of its interval,
    /// earlier or later.
    pub jitter_percent: u32,
    /// The first refreshes after start are spread at random over this window (zero: all due at
    /// once, still at most `max_concurrent` at a time).
    pub startup_spread: Duration,
    /// Seed of the jitter (fixed in tests); `None` seeds from the clock and the process id.
    pub seed: Option<u64>,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            min_gap: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            retry: Duration::from_secs(30),
            max_concurrent: 8,
            jitter_percent: 10,
            startup_spread: Duration::ZERO,
            seed: None,
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

/// A fetch of one metadata document, as the refresher runs it.
pub type FetchFuture = Pin<Box<dyn Future<Output = Result<MetadataDocument, String>> + Send>>;

/// Reads a partner's metadata document (HTTP in production; tests substitute their own).
pub trait MetadataFetcher: Send + Sync {
    /// Starts fetching `source`; the refresher also bounds it by `timeout`.
    fn fetch(&self, source: &MetadataSource, timeout: Duration) -> FetchFuture;
}

/// Fetches over HTTP(S) with `metadata::fetch`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpFetcher;

impl MetadataFetcher for HttpFetcher {
    fn fetch(&self, source: &MetadataSource, timeout: Duration) -> FetchFuture {
        let url = source.url.clone();
        let options =
            FetchOptions { allow_http: source.allow_http, ca_pem: source.ca_pem.as_ref().map(|c| c.to_vec()), timeout };
        Box::pin(async move { fetch(&url, &options).await.map_err(|e| e.to_string()) })
    }
}

type Request = (String, oneshot::Sender<RefreshOutcome>);

/// Asks the running refresher for immediate refreshes.
#[derive(Debug, Clone)]
pub struct RefreshHandle {
    tx: mpsc::Sender<Request>,
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
    /// A fetch of this partner is running.
    in_flight: bool,
    /// Asked for on demand: goes before scheduled fetches.
    urgent: bool,
    /// On-demand callers waiting for the running (or next) fetch.
    waiters: Vec<oneshot::Sender<RefreshOutcome>>,
}

/// Starts the refresher, fetching over HTTP(S); it stops when `cancel` fires.
pub fn spawn(
    trust: Arc<TrustStore>,
    clock: SharedClock,
    policy: RefreshPolicy,
    hook: Option<ReportHook>,
    cancel: CancellationToken,
) -> RefreshHandle {
    spawn_with(trust, clock, policy, hook, cancel, Arc::new(HttpFetcher))
}

/// Starts the refresher with `fetcher` reading the documents; it stops when `cancel` fires.
pub fn spawn_with(
    trust: Arc<TrustStore>,
    clock: SharedClock,
    policy: RefreshPolicy,
    hook: Option<ReportHook>,
    cancel: CancellationToken,
    fetcher: Arc<dyn MetadataFetcher>,
) -> RefreshHandle {
    let (tx, mut rx) = mpsc::channel::<Request>(256);
    let wait = policy.timeout + Duration::from_secs(2);
    let seed = policy.seed.unwrap_or_else(|| (clock.now() as u64) ^ (u64::from(std::process::id()) << 32));
    let mut r = Refresher {
        trust,
        clock,
        policy,
        hook,
        fetcher,
        states: HashMap::new(),
        running: HashMap::new(),
        rng: SplitMix(seed),
    };
    tokio::spawn(async move {
        let mut fetches: JoinSet<Result<MetadataDocument, String>> = JoinSet::new();
        r.sync(true);
        loop {
            r.sync(false);
            r.launch_due(&mut fetches);
            let slot_free = fetches.len() < r.max_concurrent();
            let next = r.next_due().unwrap_or_else(|| Instant::now() + r.policy.interval);
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep_until(next), if slot_free => {}
                Some(done) = fetches.join_next_with_id(), if !fetches.is_empty() => {
                    let (id, result) = match done {
                        Ok((id, result)) => (id, result),
                        Err(e) => (e.id(), Err(format!("the metadata fetch failed: {e}"))),
                    };
                    r.complete(id, result);
                }
                Some((name, reply)) = rx.recv() => {
                    r.sync(false);
                    r.on_demand(&name, reply);
                }
            }
        }
        fetches.abort_all();
    });
    RefreshHandle { tx, wait }
}

/// A small seeded generator for the jitter (splitmix64): deterministic per seed, no global state.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=bound` nanoseconds.
    fn up_to(&mut self, bound: Duration) -> Duration {
        let bound = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        match bound.checked_add(1) {
            Some(span) => Duration::from_nanos(self.next() % span),
            None => Duration::from_nanos(self.next()),
        }
    }
}

struct Refresher {
    trust: Arc<TrustStore>,
    clock: SharedClock,
    policy: RefreshPolicy,
    hook: Option<ReportHook>,
    fetcher: Arc<dyn MetadataFetcher>,
    states: HashMap<String, PartnerState>,
    /// Running fetches: task id → partner key.
    running: HashMap<Id, String>,
    rng: SplitMix,
}

impl Refresher {
    fn max_concurrent(&self) -> usize {
        self.policy.max_concurrent.max(1)
    }

    /// `interval`, moved at random by up to `jitter_percent` of it, earlier or later.
    fn jittered(&mut self, interval: Duration) -> Duration {
        let span = interval.mul_f64(f64::from(self.policy.jitter_percent.min(100)) / 100.0);
        (interval.saturating_sub(span)) + self.rng.up_to(span.saturating_mul(2))
    }

    /// Tracks the metadata partners of the current snapshot; at start-up every one is due within
    /// `startup_spread`.
    fn sync(&mut self, startup: bool) {
        let snap = self.trust.snapshot();
        let now = Instant::now();
        let partners: Vec<(String, Duration)> = snap
            .partners
            .iter()
            .filter(|p| p.metadata.is_some())
            .map(|p| (p.name.to_ascii_lowercase(), p.refresh_interval.unwrap_or(self.policy.interval)))
            .collect();
        for (name, state) in &mut self.states {
            if !partners.iter().any(|(p, _)| p == name) {
                for w in state.waiters.drain(..) {
                    let _ = w.send(RefreshOutcome::NotApplicable);
                }
            }
        }
        self.states.retain(|n, _| partners.iter().any(|(p, _)| p == n));
        for (name, interval) in partners {
            if !self.states.contains_key(&name) {
                let first = if startup { self.rng.up_to(self.policy.startup_spread) } else { self.jittered(interval) };
                self.states.insert(
                    name.clone(),
                    PartnerState {
                        next_due: now + first,
                        last_attempt: None,
                        failures: 0,
                        interval,
                        in_flight: false,
                        urgent: false,
                        waiters: Vec::new(),
                    },
                );
            }
            let changed = self.states.get(&name).is_some_and(|s| s.interval != interval);
            if changed {
                // A changed interval applies from the last attempt on.
                let next = self.jittered(interval);
                if let Some(state) = self.states.get_mut(&name) {
                    state.next_due = state.last_attempt.unwrap_or(now) + next;
                    state.interval = interval;
                }
            }
        }
    }

    /// The earliest scheduled fetch not already running.
    fn next_due(&self) -> Option<Instant> {
        self.states.values().filter(|s| !s.in_flight).map(|s| s.next_due).min()
    }

    /// Starts due fetches, on-demand ones first, then the most overdue, while slots are free.
    fn launch_due(&mut self, fetches: &mut JoinSet<Result<MetadataDocument, String>>) {
        let now = Instant::now();
        let mut due: Vec<(bool, Instant, String)> = self
            .states
            .iter()
            .filter(|(_, s)| !s.in_flight && (s.urgent || s.next_due <= now))
            .map(|(n, s)| (!s.urgent, s.next_due, n.clone()))
            .collect();
        due.sort();
        for (_, _, key) in due {
            if fetches.len() >= self.max_concurrent() {
                break;
            }
            self.launch(&key, fetches);
        }
    }

    fn launch(&mut self, key: &str, fetches: &mut JoinSet<Result<MetadataDocument, String>>) {
        let snap = self.trust.snapshot();
        let source = snap.partner(key).and_then(|p| p.metadata.clone());
        let Some(state) = self.states.get_mut(key) else { return };
        let Some(source) = source else {
            for w in state.waiters.drain(..) {
                let _ = w.send(RefreshOutcome::NotApplicable);
            }
            state.urgent = false;
            state.next_due = Instant::now() + state.interval;
            return;
        };
        state.in_flight = true;
        state.urgent = false;
        state.last_attempt = Some(Instant::now());
        let timeout = self.policy.timeout;
        let fetch = self.fetcher.fetch(&source, timeout);
        let handle = fetches.spawn(async move {
            match tokio::time::timeout(timeout, fetch).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer from {} within {} s", source.url, timeout.as_secs_f64())),
            }
        });
        self.running.insert(handle.id(), key.to_owned());
    }

    fn on_demand(&mut self, name: &str, reply: oneshot::Sender<RefreshOutcome>) {
        let key = name.to_ascii_lowercase();
        let min_gap = self.policy.min_gap;
        match self.states.get_mut(&key) {
            None => {
                let _ = reply.send(RefreshOutcome::NotApplicable);
            }
            Some(s) if s.in_flight => s.waiters.push(reply),
            Some(s) if s.last_attempt.is_some_and(|t| t.elapsed() < min_gap) => {
                let _ = reply.send(RefreshOutcome::RateLimited);
            }
            Some(s) => {
                s.urgent = true;
                s.waiters.push(reply);
            }
        }
    }

    /// A fetch finished: new keys or backoff, the report hook, and the waiting callers.
    fn complete(&mut self, id: Id, result: Result<MetadataDocument, String>) {
        let Some(key) = self.running.remove(&id) else { return };
        let snap = self.trust.snapshot();
        let partner = snap.partner(&key).cloned();
        let next_interval = self.states.get(&key).map(|s| s.interval).map(|i| self.jittered(i));
        let Some(state) = self.states.get_mut(&key) else { return };
        state.in_flight = false;
        let (Some(partner), Some(source), Some(next_interval)) =
            (partner.clone(), partner.and_then(|p| p.metadata.clone()), next_interval)
        else {
            for w in state.waiters.drain(..) {
                let _ = w.send(RefreshOutcome::NotApplicable);
            }
            return;
        };
        let now = self.clock.now();
        let result =
            result.and_then(|doc| doc.check(now).map_err(|e| format!("metadata from {} is unusable: {e}", source.url)));
        let (outcome, report) = match result {
            Ok(checked) => {
                if state.failures > 0 {
                    tracing::info!(partner = %partner.name, url = %source.url, failures = state.failures, "partner metadata reachable again");
                }
                state.failures = 0;
                state.next_due = Instant::now() + next_interval;
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
        for w in state.waiters.drain(..) {
            let _ = w.send(outcome.clone());
        }
    }
}
