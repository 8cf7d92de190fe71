//! The storage connectivity test between two servers run in-process: lync (A) writes into
//! kenmyer's Conversation History on exchange (B) over EWS; then one test per failure cause, each
//! diagnosed with the cause and the fixing command.

use std::time::Duration;

use clap::Parser as _;
use s2s::clock::{Clock as _, SystemClock};
use s2s::partner::refresh::RefreshPolicy;
use s2sd::connectivity::{self, Report, StorageTest};
use s2sd::server::{self, Running, ServeOptions, TlsSource};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

const REALM: &str = "litwareinc.com";
const KEN: &str = "sip:kenmyer@litwareinc.com";

struct Pair {
    dir: TempDir,
    a_store: String,
    b_store: String,
    b: Running,
    cancel: CancellationToken,
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn cli(store: &str, args: &[&str]) {
    let mut argv = vec!["s2sd", "--store", store];
    argv.extend_from_slice(args);
    let code = s2sd::cli::run(s2sd::cli::Cli::try_parse_from(argv).unwrap()).await.unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS, "s2sd {}", args.join(" "));
}

/// A (lync) and B (exchange, plain http unless `tls`), kenmyer's mailbox on B; B trusts A by its
/// certificate (Full), A knows B by B's metadata URL.
async fn pair(tls: bool) -> Pair {
    let dir = TempDir::new().unwrap();
    let a_store = format!("sqlite:{}", dir.path().join("a.db").display());
    let b_store = format!("sqlite:{}", dir.path().join("b.db").display());
    cli(&a_store, &["oauth-config", "set", "--realm", REALM, "--service-name", "lync"]).await;
    cli(&a_store, &["certificate", "new"]).await;
    cli(&b_store, &["oauth-config", "set", "--realm", REALM, "--service-name", "exchange"]).await;
    cli(&b_store, &["certificate", "new"]).await;
    cli(&b_store, &["mailbox", "user", "new", "--smtp", "kenmyer@litwareinc.com", "--sip", KEN]).await;
    let a_cert = dir.path().join("a.pem");
    cli(&a_store, &["certificate", "export", "--format", "pem", "--out", a_cert.to_str().unwrap()]).await;
    cli(
        &b_store,
        &[
            "partner-application",
            "new",
            "--identity",
            "Lync",
            "--application-identifier",
            s2s::principal::LYNC,
            "--realm",
            REALM,
            "--certificate",
            a_cert.to_str().unwrap(),
            "--trust-level",
            "full",
        ],
    )
    .await;
    let cancel = CancellationToken::new();
    let options = ServeOptions {
        tls: tls.then(|| TlsSource::SelfSigned { dir: dir.path().join("b-tls"), names: Vec::new() }),
        refresh: RefreshPolicy::default(),
        poll: Duration::from_millis(50),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = server::start(
        s2sd::store::open_stores(&b_store).await.unwrap(),
        s2s::clock::system(),
        options,
        listener,
        cancel.clone(),
    )
    .await
    .unwrap();
    let scheme = if tls { "https" } else { "http" };
    let md = format!("{scheme}://{}/autodiscover/metadata/json/1", b.addr);
    let mut args =
        vec!["partner-application", "new", "--identity", "Exchange", "--metadata-url", &md, "--trust-level", "full"];
    let ca = b.tls_cert.as_ref().map(|c| c.display().to_string());
    match &ca {
        Some(ca) => args.extend(["--tls-ca", ca.as_str()]),
        None => args.push("--allow-http-metadata"),
    }
    cli(&a_store, &args).await;
    Pair { dir, a_store, b_store, b, cancel }
}

impl Pair {
    /// Waits until B runs the store's current configuration.
    async fn b_caught_up(&self) {
        let want = s2sd::store::open(&self.b_store).await.unwrap().version().await.unwrap();
        for _ in 0..100 {
            if self.b.state.version.load(std::sync::atomic::Ordering::Acquire) >= want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("B did not apply version {want}");
    }

    async fn run(&self, test: StorageTest) -> Report {
        let store = s2sd::store::open(&self.a_store).await.unwrap();
        connectivity::test_storage(store.as_ref(), &test, SystemClock.now()).await
    }

    async fn run_for(&self, sip: &str) -> Report {
        self.run(StorageTest { sip_uri: sip.into(), delete_item: true, target: None, tls_ca: None }).await
    }
}

fn diagnosis(report: &Report) -> String {
    assert!(!report.passed, "expected a failure: {report:?}");
    let d = report.diagnosis.as_ref().expect("a diagnosis");
    format!("{} | {}", d.cause, d.fix)
}

#[tokio::test]
async fn passes_between_two_servers_and_the_item_lands_in_conversation_history() {
    let pair = pair(false).await;
    pair.b_caught_up().await;
    let report = pair.run(StorageTest { sip_uri: KEN.into(), delete_item: false, target: None, tls_ca: None }).await;
    assert!(report.passed, "{report:#?}");
    assert_eq!(report.steps.len(), 3);
    let out = assert_cmd::Command::cargo_bin("s2sd")
        .unwrap()
        .args([
            "--store",
            &pair.b_store,
            "--output",
            "json",
            "mailbox",
            "item",
            "list",
            "--user",
            "kenmyer@litwareinc.com",
            "--folder",
            "conversationhistory",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("s2s storage connectivity test"), "{text}");

    let with_delete = pair.run_for(KEN).await;
    assert!(with_delete.passed, "{with_delete:#?}");
    assert_eq!(with_delete.steps.len(), 4);
    assert!(with_delete.steps.iter().all(|s| s.ok));
}

#[tokio::test]
async fn target_that_does_not_know_us() {
    let pair = pair(false).await;
    cli(&pair.b_store, &["partner-application", "remove", "Lync"]).await;
    pair.b_caught_up().await;
    let d = diagnosis(&pair.run_for(KEN).await);
    assert!(d.contains("does not know us") && d.contains("partner-application new"), "{d}");
}

#[tokio::test]
async fn partner_disabled_or_not_full_trust() {
    let pair = pair(false).await;
    cli(&pair.b_store, &["partner-application", "set", "Lync", "--enabled", "false"]).await;
    pair.b_caught_up().await;
    let d = diagnosis(&pair.run_for(KEN).await);
    assert!(d.contains("disabled") && d.contains("--enabled true"), "{d}");

    cli(&pair.b_store, &["partner-application", "set", "Lync", "--enabled", "true", "--trust-level", "application"])
        .await;
    pair.b_caught_up().await;
    let d = diagnosis(&pair.run_for(KEN).await);
    assert!(d.contains("trust level") && d.contains("--trust-level full"), "{d}");
}

#[tokio::test]
async fn realm_mismatch() {
    let pair = pair(false).await;
    // B accepts Lync in any realm, but its own realm differs from the one A now uses.
    cli(&pair.b_store, &["partner-application", "remove", "Lync"]).await;
    let a_cert = pair.dir.path().join("a.pem");
    cli(
        &pair.b_store,
        &[
            "partner-application",
            "new",
            "--identity",
            "Lync",
            "--application-identifier",
            s2s::principal::LYNC,
            "--realm",
            "",
            "--certificate",
            a_cert.to_str().unwrap(),
            "--trust-level",
            "full",
        ],
    )
    .await;
    cli(&pair.a_store, &["oauth-config", "set", "--realm", "fabrikam.com"]).await;
    pair.b_caught_up().await;
    let d = diagnosis(&pair.run_for("sip:kenmyer@fabrikam.com").await);
    assert!(d.contains("realms do not match") && d.contains("oauth-config set --realm"), "{d}");
}

#[tokio::test]
async fn rolled_certificate() {
    let pair = pair(false).await;
    // A replaces its certificate; B holds A's old one (registered by hand, no metadata to refresh).
    cli(&pair.a_store, &["certificate", "new"]).await;
    pair.b_caught_up().await;
    let d = diagnosis(&pair.run_for(KEN).await);
    assert!(d.contains("another certificate") && d.contains("refresh"), "{d}");
}

#[tokio::test]
async fn unknown_user() {
    let pair = pair(false).await;
    pair.b_caught_up().await;
    let d = diagnosis(&pair.run_for("sip:nobody@litwareinc.com").await);
    assert!(d.contains("no mailbox user") && d.contains("mailbox user new"), "{d}");
}

#[tokio::test]
async fn audience_host_mismatch_behind_a_host_rewriting_proxy() {
    let pair = pair(false).await;
    pair.b_caught_up().await;
    // A load balancer that forwards to B but sets Host to the backend's own address.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = proxy.local_addr().unwrap();
    let back = pair.b.addr;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = proxy.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && inbound.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let text =
                    String::from_utf8_lossy(&head).replace(&format!("127.0.0.1:{}", front.port()), &back.to_string());
                let mut outbound = tokio::net::TcpStream::connect(back).await.unwrap();
                outbound.write_all(text.as_bytes()).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let target = format!("http://127.0.0.1:{}/EWS/Exchange.asmx", front.port());
    let report =
        pair.run(StorageTest { sip_uri: KEN.into(), delete_item: true, target: Some(target), tls_ca: None }).await;
    let d = diagnosis(&report);
    assert!(d.contains("another host") && d.contains("--hostname"), "{d}");
}

#[tokio::test]
async fn tls_failure() {
    let pair = pair(true).await;
    pair.b_caught_up().await;
    // Calling B over https without trusting its self-signed certificate.
    let target = format!("https://{}/EWS/Exchange.asmx", pair.b.addr);
    let other_ca = std::fs::read(pair.b.tls_cert.as_ref().unwrap()).unwrap();
    assert!(
        pair.run(StorageTest {
            sip_uri: KEN.into(),
            delete_item: true,
            target: Some(target.clone()),
            tls_ca: Some(other_ca)
        })
        .await
        .passed
    );
    let wrong = s2sd::issuer::generate_tls(
        &["localhost".into()],
        30,
        time::OffsetDateTime::from_unix_timestamp(SystemClock.now()).unwrap(),
    )
    .unwrap();
    let wrong_pem = s2sd::issuer::export_pem(&wrong.cert_der).into_bytes();
    let d = diagnosis(
        &pair
            .run(StorageTest { sip_uri: KEN.into(), delete_item: true, target: Some(target), tls_ca: Some(wrong_pem) })
            .await,
    );
    assert!(d.contains("TLS") && d.contains("--tls-ca"), "{d}");
}

#[tokio::test]
async fn dns_failure() {
    let pair = pair(false).await;
    let target = "https://no-such-host.invalid/EWS/Exchange.asmx".to_owned();
    let d = diagnosis(
        &pair.run(StorageTest { sip_uri: KEN.into(), delete_item: true, target: Some(target), tls_ca: None }).await,
    );
    assert!(d.contains("DNS"), "{d}");
}
