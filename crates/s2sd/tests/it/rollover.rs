//! Certificates over time, proved on two real HTTPS servers run in-process with one controllable
//! clock: node A (lync) calls node B (exchange) under continuous load while A rolls its issuer
//! certificate — zero rejected tokens, with B's regular refresh and with B's refresh interval
//! longer than the lead time (the unknown-x5t refresh saves the day) — and B keeps validating
//! with the last good keys while A's metadata endpoint is down (its fetch attempts counted by a
//! listener on A's port), logging the outage once when it starts and once when it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser as _;
use s2s::clock::{Clock, FixedClock, SystemClock};
use s2s::partner::refresh::RefreshPolicy;
use s2s::principal::EXCHANGE;
use s2s::token::UserClaims;
use s2sd::server::{self, Running, ServeOptions, TlsSource};
use tempfile::TempDir;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

const REALM: &str = "litwareinc.com";
const HOURS_49: i64 = 49 * 3600;

struct Pair {
    _dir: TempDir,
    clock: Arc<FixedClock>,
    a_store: String,
    b_store: String,
    a: Running,
    b: Running,
    a_cancel: CancellationToken,
    cancel: CancellationToken,
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.a_cancel.cancel();
        self.cancel.cancel();
    }
}

async fn cli(store: &str, args: &[&str]) {
    let mut argv = vec!["s2sd", "--store", store];
    argv.extend_from_slice(args);
    let code = s2sd::cli::run(s2sd::cli::Cli::try_parse_from(argv).unwrap()).await.unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS, "s2sd {}", args.join(" "));
}

async fn start(
    store: &str,
    tls: std::path::PathBuf,
    clock: Arc<FixedClock>,
    refresh: RefreshPolicy,
    cancel: CancellationToken,
) -> Running {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    start_on(listener, store, tls, clock, refresh, cancel).await
}

async fn start_on(
    listener: std::net::TcpListener,
    store: &str,
    tls: std::path::PathBuf,
    clock: Arc<FixedClock>,
    refresh: RefreshPolicy,
    cancel: CancellationToken,
) -> Running {
    let options = ServeOptions {
        tls: Some(TlsSource::SelfSigned { dir: tls, names: Vec::new() }),
        refresh,
        poll: Duration::from_millis(50),
    };
    server::start(s2sd::store::open_stores(store).await.unwrap(), clock, options, listener, cancel).await.unwrap()
}

/// A and B configured through the CLI; B trusts A by metadata URL with trust level Full.
async fn pair(b_refresh: RefreshPolicy) -> Pair {
    let dir = TempDir::new().unwrap();
    let a_store = format!("sqlite:{}", dir.path().join("a.db").display());
    let b_store = format!("sqlite:{}", dir.path().join("b.db").display());
    cli(&a_store, &["oauth-config", "set", "--realm", REALM, "--service-name", "lync"]).await;
    cli(&a_store, &["certificate", "new"]).await;
    cli(&b_store, &["oauth-config", "set", "--realm", REALM, "--service-name", "exchange"]).await;
    cli(&b_store, &["certificate", "new"]).await;
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let a_cancel = CancellationToken::new();
    let cancel = CancellationToken::new();
    let a = start(&a_store, dir.path().join("a-tls"), clock.clone(), RefreshPolicy::default(), a_cancel.clone()).await;
    let b = start(&b_store, dir.path().join("b-tls"), clock.clone(), b_refresh, cancel.clone()).await;
    let a_md = format!("https://{}/metadata/json/1", a.addr);
    let a_ca = a.tls_cert.as_ref().unwrap().display().to_string();
    cli(
        &b_store,
        &[
            "partner-application",
            "new",
            "--identity",
            "Lync",
            "--metadata-url",
            &a_md,
            "--trust-level",
            "full",
            "--tls-ca",
            &a_ca,
        ],
    )
    .await;
    let pair = Pair { _dir: dir, clock, a_store, b_store, a, b, a_cancel, cancel };
    eventually("B applies the partner", || pair.b.state.trust.load().partner("Lync").is_some()).await;
    pair
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

fn b_keys(pair: &Pair) -> Vec<String> {
    pair.b
        .state
        .trust
        .load()
        .partner("Lync")
        .map(|p| p.keys.iter().map(|k| k.x5t().to_owned()).collect())
        .unwrap_or_default()
}

fn a_signing_x5t(pair: &Pair) -> String {
    pair.a.state.issuer.identity().key.as_ref().map(|k| k.x5t().to_owned()).unwrap_or_default()
}

/// Continuous act-as calls from A to B's /s2s/whoami. The gate lets the test move the clock
/// between requests (a request in flight across a 49-hour jump would expire for the wrong reason).
struct Load {
    ok: Arc<AtomicU64>,
    rejected: Arc<AtomicU64>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    gate: Arc<RwLock<()>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(pair: &Pair) -> Self {
        let ok = Arc::new(AtomicU64::new(0));
        let rejected = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let gate = Arc::new(RwLock::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let pem = std::fs::read(pair.b.tls_cert.as_ref().unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
            .build()
            .unwrap();
        let url = url::Url::parse(&format!("https://{}/s2s/whoami", pair.b.addr)).unwrap();
        let issuer = Arc::clone(&pair.a.state.issuer);
        let user = UserClaims::from_address("sip:kenmyer@litwareinc.com").unwrap();
        let (ok2, rejected2, failures2, gate2, stop2) =
            (ok.clone(), rejected.clone(), failures.clone(), gate.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !stop2.load(Ordering::Relaxed) {
                let _held = gate2.read().await;
                let auth = issuer.authorization(EXCHANGE, &url, Some(&user)).unwrap();
                let resp = client.get(url.clone()).header("Authorization", auth).send().await.unwrap();
                if resp.status().is_success() {
                    ok2.fetch_add(1, Ordering::Relaxed);
                } else {
                    rejected2.fetch_add(1, Ordering::Relaxed);
                    let diag = resp.headers().get("x-ms-diagnostics").map(|v| v.to_str().unwrap_or("").to_owned());
                    failures2.lock().unwrap().push(format!("{} {diag:?}", resp.status()));
                }
            }
        });
        Self { ok, rejected, failures, gate, stop, task }
    }

    /// Moves the shared clock with no request in flight.
    async fn advance(&self, clock: &FixedClock, seconds: i64) {
        let _exclusive = self.gate.write().await;
        clock.advance(seconds);
    }

    /// Waits until `n` more calls than now have succeeded, all within this phase; panics naming
    /// `phase` when a call is rejected or when they do not come within 10 s.
    async fn wait_for_more(&self, n: u64, phase: &str) {
        let start = self.ok.load(Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if self.rejected.load(Ordering::Relaxed) > 0 {
                panic!("{phase}: B rejected tokens: {:?}", self.failures.lock().unwrap());
            }
            let done = self.ok.load(Ordering::Relaxed) - start;
            if done >= n {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{phase}: only {done} of {n} calls succeeded within 10 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), self.rejected.load(Ordering::Relaxed), failures)
    }
}

fn effective_in_49h(pair: &Pair) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(pair.clock.now() + HOURS_49).unwrap();
    at.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollover_with_regular_refresh_rejects_no_token() {
    let fast = RefreshPolicy {
        interval: Duration::from_millis(300),
        min_gap: Duration::from_millis(100),
        ..RefreshPolicy::default()
    };
    let pair = pair(fast).await;
    let old = a_signing_x5t(&pair);
    let load = Load::start(&pair);
    load.wait_for_more(20, "before the roll").await;

    // Stage the next certificate: published at once, B learns it by its regular refresh.
    cli(&pair.a_store, &["certificate", "roll", "--certificate", "new", "--effective-date", &effective_in_49h(&pair)])
        .await;
    eventually("B holds A's next certificate", || b_keys(&pair).len() == 2).await;
    assert_eq!(a_signing_x5t(&pair), old, "the next certificate must not sign before its effective date");
    load.wait_for_more(20, "next certificate staged").await;

    // Cross the effective date: A promotes the next certificate and signs with it.
    load.advance(&pair.clock, HOURS_49 + 60).await;
    eventually("A signs with the new certificate", || a_signing_x5t(&pair) != old).await;
    load.wait_for_more(20, "signing with the new certificate").await;

    // Remove the previous one: it leaves A's metadata, then B's key ring.
    cli(&pair.a_store, &["certificate", "remove", "--previous"]).await;
    eventually("B drops A's previous certificate", || b_keys(&pair) == vec![a_signing_x5t(&pair)]).await;
    load.wait_for_more(20, "previous certificate removed").await;

    let (ok, rejected, failures) = load.finish().await;
    assert_eq!(rejected, 0, "rejected tokens: {failures:?}");
    assert!(ok >= 80, "only {ok} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_x5t_refresh_saves_a_rollover_the_schedule_missed() {
    // B's scheduled refresh comes long after the lead time: only the unknown-x5t refresh can help.
    let slow = RefreshPolicy {
        interval: Duration::from_secs(3600),
        min_gap: Duration::from_millis(500),
        ..RefreshPolicy::default()
    };
    let pair = pair(slow).await;
    let old = a_signing_x5t(&pair);
    let load = Load::start(&pair);
    load.wait_for_more(20, "before the roll").await;

    cli(&pair.a_store, &["certificate", "roll", "--certificate", "new", "--effective-date", &effective_in_49h(&pair)])
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await; // past B's minimum gap since its start-up fetch
    assert_eq!(b_keys(&pair), vec![old.clone()], "B must not have refreshed on schedule");

    load.advance(&pair.clock, HOURS_49 + 60).await;
    eventually("A signs with the new certificate", || a_signing_x5t(&pair) != old).await;
    load.wait_for_more(30, "signing with the new certificate").await;
    assert!(b_keys(&pair).contains(&a_signing_x5t(&pair)), "B fetched A's metadata on the unknown x5t");

    let (ok, rejected, failures) = load.finish().await;
    assert_eq!(rejected, 0, "rejected tokens: {failures:?}");
    assert!(ok >= 50, "only {ok} calls");
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn metadata_outage_keeps_the_last_good_keys_and_logs_once() {
    // current_thread: every server task runs on this thread, under this thread's log subscriber.
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let text = || String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    const FAILED: &str = "partner metadata refresh failed";
    const BACK: &str = "partner metadata reachable again";

    let retrying = RefreshPolicy {
        interval: Duration::from_millis(200),
        min_gap: Duration::from_millis(50),
        retry: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        ..RefreshPolicy::default()
    };
    let mut pair = pair(retrying).await;
    let load = Load::start(&pair);
    load.wait_for_more(10, "before the outage").await;
    assert_eq!(text().matches(FAILED).count(), 0, "no outage logged before it:\n{}", text());

    // The outage: A's server stops (its issuer and key stay, so A's tokens keep coming), and a
    // listener on its port takes its place, counting B's fetch attempts — each one a connection,
    // closed at once, so the fetch fails.
    let a_addr = pair.a.addr;
    pair.a_cancel.cancel();
    (&mut pair.a.done).await.unwrap().unwrap();
    let mut bound = None;
    for _ in 0..100 {
        if let Ok(l) = tokio::net::TcpListener::bind(a_addr).await {
            bound = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = bound.unwrap_or_else(|| panic!("A's port {a_addr} was not free within 5 s of its shutdown"));
    let fetches = Arc::new(AtomicU64::new(0));
    let counted = fetches.clone();
    let counter = tokio::spawn(async move {
        loop {
            let (stream, _) = dead.accept().await.unwrap();
            counted.fetch_add(1, Ordering::Relaxed);
            drop(stream);
        }
    });
    eventually("B to try A's metadata three times during the outage", || fetches.load(Ordering::Relaxed) >= 3).await;
    load.wait_for_more(20, "during the outage").await;
    let store = s2sd::store::open(&pair.b_store).await.unwrap();
    let status = store.partner("Lync").await.unwrap().unwrap().metadata_status;
    assert!(
        matches!(status, Some(s2sd::store::MetadataStatus::Failed(_))),
        "B recorded the failed fetches: {status:?}"
    );
    assert_eq!(b_keys(&pair).len(), 1, "the last good keys stay in force");
    let during = fetches.load(Ordering::Relaxed);
    let logged = text();
    assert_eq!(
        logged.matches(FAILED).count(),
        1,
        "the outage start is logged once over {during} failed fetches:\n{logged}"
    );
    assert_eq!(logged.matches(BACK).count(), 0, "no recovery logged during the outage:\n{logged}");

    // The end of the outage: A serves again on its port, with its store and TLS identity.
    counter.abort();
    let _ = counter.await;
    let listener = std::net::TcpListener::bind(a_addr).unwrap();
    let a_dir = pair._dir.path().join("a-tls");
    let _a_again = start_on(
        listener,
        &pair.a_store,
        a_dir,
        pair.clock.clone(),
        RefreshPolicy::default(),
        pair.cancel.child_token(),
    )
    .await;
    let mut back = false;
    for _ in 0..200 {
        let status = store.partner("Lync").await.unwrap().unwrap().metadata_status;
        if status == Some(s2sd::store::MetadataStatus::Ok) && text().contains(BACK) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back, "B did not fetch A's metadata again within 10 s of A's return:\n{}", text());
    load.wait_for_more(20, "after the outage").await;
    // A few more scheduled refreshes (200 ms apart) succeed without logging anything more.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let (ok, rejected, failures) = load.finish().await;
    assert_eq!(rejected, 0, "B refused tokens around the outage: {failures:?}");
    assert!(ok >= 50, "only {ok} calls");
    let logged = text();
    assert_eq!(logged.matches(FAILED).count(), 1, "the outage start is logged exactly once:\n{logged}");
    assert_eq!(logged.matches(BACK).count(), 1, "the outage end is logged exactly once:\n{logged}");
}

async fn cli_err(store: &str, args: &[&str]) -> String {
    let mut argv = vec!["s2sd", "--store", store];
    argv.extend_from_slice(args);
    match s2sd::cli::run(s2sd::cli::Cli::try_parse_from(argv).unwrap()).await {
        Ok(code) => panic!("s2sd {} succeeded ({code:?})", args.join(" ")),
        Err(e) => s2sd::cli::one_line(&e),
    }
}

#[tokio::test]
async fn roll_refuses_a_short_lead_time_unless_forced() {
    let dir = TempDir::new().unwrap();
    let store = format!("sqlite:{}", dir.path().join("a.db").display());
    cli(&store, &["oauth-config", "set", "--realm", REALM, "--service-name", "lync"]).await;
    cli(&store, &["certificate", "new"]).await;
    let soon = time::OffsetDateTime::from_unix_timestamp(SystemClock.now() + 24 * 3600).unwrap();
    let soon = soon.format(&time::format_description::well_known::Rfc3339).unwrap();
    let err = cli_err(&store, &["certificate", "roll", "--certificate", "new", "--effective-date", &soon]).await;
    assert!(err.contains("48 h") && err.contains("--force"), "{err}");
    let opened = s2sd::store::open(&store).await.unwrap();
    assert_eq!(opened.certificates().await.unwrap().len(), 1, "nothing staged");
    let err =
        cli_err(&store, &["certificate", "roll", "--certificate", "new", "--effective-date", "next tuesday"]).await;
    assert!(err.contains("RFC 3339"), "{err}");

    cli(&store, &["certificate", "roll", "--certificate", "new", "--effective-date", &soon, "--force"]).await;
    let certs = opened.certificates().await.unwrap();
    assert_eq!(certs.iter().map(|c| c.role.as_str()).collect::<Vec<_>>(), ["current", "next"]);
    assert!(certs[1].effective_at.is_some());
}

#[tokio::test]
async fn expiring_certificates_show_in_health_and_metrics() {
    let pair = pair(RefreshPolicy::default()).await;
    // A partner whose certificate expires in 30 days, registered by certificate.
    let now = time::OffsetDateTime::from_unix_timestamp(pair.clock.now()).unwrap();
    let short = s2sd::issuer::generate("fabrikam.com", &[], 2048, 30, now).unwrap();
    let file = pair._dir.path().join("short.pem");
    std::fs::write(&file, s2sd::issuer::export_pem(&short.cert_der)).unwrap();
    cli(
        &pair.b_store,
        &[
            "partner-application",
            "new",
            "--identity",
            "Reports",
            "--application-identifier",
            "11111111-2222-3333-4444-555555555555",
            "--realm",
            REALM,
            "--certificate",
            file.to_str().unwrap(),
        ],
    )
    .await;
    // The version is advertised last: once B shows it, everything built from it (trust, schedule) is in place.
    let want = s2sd::store::open(&pair.b_store).await.unwrap().version().await.unwrap();
    eventually("B applies the partner", || {
        pair.b.state.version.load(std::sync::atomic::Ordering::Acquire) >= want
            && pair.b.state.trust.load().partner("Reports").is_some()
    })
    .await;

    let pem = std::fs::read(pair.b.tls_cert.as_ref().unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
        .build()
        .unwrap();
    let health: serde_json::Value =
        client.get(format!("https://{}/healthz", pair.b.addr)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "warning", "{health}");
    let expiring = health["expiring_certificates"].as_array().unwrap();
    assert!(
        expiring.iter().any(|e| e["owner"] == "partner Reports" && e["days_left"].as_i64().unwrap() <= 30),
        "{health}"
    );
    assert!(!expiring.iter().any(|e| e["owner"] == "partner Lync"), "A's certificate is far from expiry: {health}");

    let metrics = client.get(format!("https://{}/metrics", pair.b.addr)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("s2s_certificate_days_left{owner=\"partner Reports\""), "{metrics}");
}

#[tokio::test]
async fn tls_certificate_is_replaced_without_a_restart() {
    let dir = TempDir::new().unwrap();
    let store = format!("sqlite:{}", dir.path().join("s.db").display());
    cli(&store, &["oauth-config", "set", "--realm", REALM, "--service-name", "exchange"]).await;
    let now = time::OffsetDateTime::from_unix_timestamp(SystemClock.now()).unwrap();
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let first = s2sd::issuer::generate_tls(&names, 30, now).unwrap();
    s2sd::issuer::write_pem_files(&first, &cert, &key).unwrap();
    let cancel = CancellationToken::new();
    let options = ServeOptions {
        tls: Some(TlsSource::Files { cert: cert.clone(), key: key.clone() }),
        refresh: RefreshPolicy::default(),
        poll: Duration::from_millis(50),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let node = server::start(s2sd::store::open_stores(&store).await.unwrap(), clock, options, listener, cancel.clone())
        .await
        .unwrap();
    let trusting = |der: &[u8]| {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_der(der).unwrap()])
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    let url = format!("https://127.0.0.1:{}/healthz", node.addr.port());
    assert!(trusting(&first.cert_der).get(&url).send().await.is_ok());

    let second = s2sd::issuer::generate_tls(&names, 30, now).unwrap();
    s2sd::issuer::write_pem_files(&second, &cert, &key).unwrap();
    let mut served = false;
    for _ in 0..100 {
        if trusting(&second.cert_der).get(&url).send().await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the new TLS certificate was not served within 10 s");
    assert!(trusting(&first.cert_der).get(&url).send().await.is_err(), "the old certificate is no longer served");
    cancel.cancel();
}

#[tokio::test]
async fn refresh_reads_the_partner_metadata_now() {
    let pair = pair(RefreshPolicy::default()).await;
    let store = s2sd::store::open(&pair.b_store).await.unwrap();
    assert_eq!(store.partner("Lync").await.unwrap().unwrap().certificates.len(), 1);
    cli(&pair.a_store, &["certificate", "roll", "--certificate", "new", "--effective-date", &effective_in_49h(&pair)])
        .await;
    eventually("A publishes its next certificate", || pair.a.state.metadata.load().keys.len() == 2).await;
    cli(&pair.b_store, &["partner-application", "refresh", "Lync"]).await;
    let lync = store.partner("Lync").await.unwrap().unwrap();
    assert_eq!(lync.certificates.len(), 2, "the staged certificate is held after a refresh");
    assert_eq!(lync.metadata_status, Some(s2sd::store::MetadataStatus::Ok));
    let err = cli_err(&pair.b_store, &["auth-server", "refresh", "Lync"]).await;
    assert!(err.contains("not an auth server") && err.contains("partner-application"), "{err}");
}
