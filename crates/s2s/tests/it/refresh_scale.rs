//! Metadata refresh with many partners, on tokio's paused clock and a fetcher of our own (no
//! sockets): no more than `max_concurrent` fetches run at once, and schedules are spread by the
//! seeded jitter instead of every partner refreshing at the same instant.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use s2s::clock::FixedClock;
use s2s::metadata::{MetadataDocument, MetadataKey};
use s2s::partner::refresh::{self, FetchFuture, FetchReport, MetadataFetcher, RefreshPolicy, ReportHook};
use s2s::partner::{MetadataSource, TrustStore};
use s2s::principal::LYNC;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::*;

const PARTNERS: usize = 50;
const HOUR: Duration = Duration::from_secs(3600);

/// Records every fetch (which URL, when) and how many run at once; each fetch waits until `open`
/// is true, then answers `doc` (or fails when there is none).
struct Probe {
    open: watch::Receiver<bool>,
    doc: Option<MetadataDocument>,
    in_flight: AtomicUsize,
    most: AtomicUsize,
    started: Mutex<Vec<(String, Instant)>>,
}

impl Probe {
    fn new(open: watch::Receiver<bool>, doc: Option<MetadataDocument>) -> Arc<Self> {
        Arc::new(Self {
            open,
            doc,
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            started: Mutex::new(Vec::new()),
        })
    }

    fn started(&self) -> Vec<(String, Instant)> {
        self.started.lock().unwrap().clone()
    }
}

struct ProbeFetcher(Arc<Probe>);

impl MetadataFetcher for ProbeFetcher {
    fn fetch(&self, source: &MetadataSource, _timeout: Duration) -> FetchFuture {
        let probe = Arc::clone(&self.0);
        probe.started.lock().unwrap().push((source.url.clone(), Instant::now()));
        let now = probe.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        probe.most.fetch_max(now, Ordering::SeqCst);
        Box::pin(async move {
            let mut open = probe.open.clone();
            let _ = open.wait_for(|o| *o).await;
            tokio::task::yield_now().await;
            probe.in_flight.fetch_sub(1, Ordering::SeqCst);
            probe.doc.clone().ok_or_else(|| "offline".to_owned())
        })
    }
}

/// 50 metadata partners, `P0`…`P49`, each with its own URL.
fn fifty_partners() -> Arc<TrustStore> {
    let partners = (0..PARTNERS)
        .map(|i| {
            let source = MetadataSource {
                url: format!("https://p{i}.litwareinc.com/metadata/json/1"),
                allow_http: false,
                ca_pem: None,
            };
            partner(&format!("P{i}"), &format!("00000000-0000-0000-0000-{i:012}"), REALM, vec![], Some(source))
        })
        .collect();
    Arc::new(TrustStore::new(local(), partners))
}

fn document() -> MetadataDocument {
    MetadataDocument {
        realm: Some(REALM.into()),
        service_name: Some(LYNC.into()),
        issuer: Some(lync_principal()),
        keys: vec![MetadataKey::signing(key_a().cert_der.clone())],
        ..MetadataDocument::default()
    }
}

fn start(policy: RefreshPolicy, probe: &Arc<Probe>, hook: Option<ReportHook>) -> CancellationToken {
    let cancel = CancellationToken::new();
    refresh::spawn_with(
        fifty_partners(),
        Arc::new(FixedClock::new(NOW)),
        policy,
        hook,
        cancel.clone(),
        Arc::new(ProbeFetcher(Arc::clone(probe))),
    );
    cancel
}

#[tokio::test(start_paused = true)]
async fn no_more_than_the_bound_of_fetches_run_at_once() {
    let (open, closed) = watch::channel(false);
    let probe = Probe::new(closed, None);
    let (tx, mut reports) = mpsc::unbounded_channel::<FetchReport>();
    let hook: ReportHook = Arc::new(move |r| {
        let _ = tx.send(r);
    });
    let policy = RefreshPolicy { max_concurrent: 8, ..RefreshPolicy::default() };
    let cancel = start(policy, &probe, Some(hook));

    // Every partner is due at start-up, every fetch blocks: exactly the bound is in flight.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(probe.in_flight.load(Ordering::SeqCst), 8);
    assert_eq!(probe.started().len(), 8, "the other 42 wait for a free slot");

    // Released, all 50 get their turn, never more than 8 at once.
    open.send(true).unwrap();
    let mut fetched = BTreeSet::new();
    while fetched.len() < PARTNERS {
        let report = tokio::time::timeout(HOUR, reports.recv()).await.expect("a fetch report").unwrap();
        assert_eq!(report.result, Err("offline".to_owned()));
        fetched.insert(report.partner);
    }
    assert_eq!(probe.most.load(Ordering::SeqCst), 8);
    cancel.cancel();
}

/// When each partner was fetched, as offsets from the refresher's start, until every partner's
/// first scheduled refresh (start-up spread plus the interval and its jitter) is past.
async fn fetch_offsets(policy: RefreshPolicy) -> BTreeMap<String, Vec<Duration>> {
    let (_open, opened) = watch::channel(true);
    let probe = Probe::new(opened, Some(document()));
    let begin = Instant::now();
    let cancel = start(policy, &probe, None);
    tokio::time::sleep(policy_horizon()).await;
    cancel.cancel();
    let mut offsets: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for (url, at) in probe.started() {
        offsets.entry(url).or_default().push(at - begin);
    }
    assert_eq!(offsets.len(), PARTNERS);
    offsets
}

/// The start-up spread (at most a minute here) and one interval with its +10 % jitter, and a bit.
fn policy_horizon() -> Duration {
    HOUR.mul_f64(1.1) + Duration::from_secs(120)
}

fn seeded(seed: u64, startup_spread: Duration) -> RefreshPolicy {
    RefreshPolicy { interval: HOUR, jitter_percent: 10, startup_spread, seed: Some(seed), ..RefreshPolicy::default() }
}

#[tokio::test(start_paused = true)]
async fn first_refreshes_are_spread_by_the_seeded_jitter() {
    // Start-up spread over a minute: the first fetches fall at many instants inside it.
    let spread = fetch_offsets(seeded(7, Duration::from_secs(60))).await;
    let firsts: BTreeSet<Duration> = spread.values().map(|o| o[0]).collect();
    assert!(firsts.iter().all(|f| *f <= Duration::from_secs(60)), "{firsts:?}");
    assert!(firsts.len() >= PARTNERS - 5, "only {} distinct first instants", firsts.len());

    // Without a start-up spread all are fetched at once; the first scheduled refreshes that follow
    // fall anywhere within ±10 % of the hour, not at one instant.
    let at_once = fetch_offsets(seeded(7, Duration::ZERO)).await;
    assert!(at_once.values().all(|o| o[0] == Duration::ZERO));
    let seconds: BTreeSet<Duration> = at_once.values().map(|o| o[1] - o[0]).collect();
    let (low, high) = (HOUR.mul_f64(0.9), HOUR.mul_f64(1.1));
    assert!(seconds.iter().all(|d| *d >= low && *d <= high), "{seconds:?}");
    assert!(seconds.len() >= PARTNERS - 5, "only {} distinct refresh instants", seconds.len());
    let (first, last) = (seconds.first().unwrap(), seconds.last().unwrap());
    assert!(*last - *first > Duration::from_secs(360), "spread over more than ±3 % only: {first:?}..{last:?}");

    // The randomness is the seed's: the same seed, the same schedule; another seed, another one.
    assert_eq!(fetch_offsets(seeded(7, Duration::ZERO)).await, at_once);
    assert_ne!(fetch_offsets(seeded(8, Duration::ZERO)).await, at_once);
}
