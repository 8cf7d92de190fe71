//! Several nodes on one PostgreSQL database, as a front-end pool: two `s2sd serve` processes share
//! one store (a fresh schema of `S2S_TEST_DATABASE_URL`), one store key file and one token-issuer
//! certificate. A partner (Lync, a SQLite store of its own with its own certificate) registered
//! through the CLI is honoured by both nodes within two seconds; then load runs against both, node 1
//! is killed with SIGKILL in the middle of it, and node 2 answers every request it gets with a
//! validated 200. Skipped (with a note) when `S2S_TEST_DATABASE_URL` is not set.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::postgres::{PgNode, with_postgres};
use crate::support::{EXCHANGE, LYNC, REALM, USER, curl, poll};

/// How long a CLI change may take to reach both running nodes.
const LIVE: Duration = Duration::from_secs(2);
/// Load before the kill, and after it.
const BEFORE_KILL: Duration = Duration::from_secs(3);
const AFTER_KILL: Duration = Duration::from_secs(3);
/// Concurrent request loops per node.
const LOOPS_PER_NODE: usize = 4;

impl PgNode {
    fn get(&self, path: &str, token: Option<&str>) -> crate::support::Http {
        let header = token.map(|t| format!("Authorization: Bearer {t}"));
        curl(
            &format!("{}{path}", self.base),
            None,
            header.as_slice().iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
        )
    }
}

/// What one node's request loops saw.
#[derive(Default)]
struct Tally {
    /// 200 answers.
    ok: AtomicU64,
    /// Answers other than 200 (a refused or failed validation).
    refused: AtomicU64,
    /// Transport errors that happened before the kill was sent (not caused by it).
    errors_before_kill: AtomicU64,
    /// Transport errors after the kill was sent.
    errors_after_kill: AtomicU64,
    /// 200 answers received after the kill was sent.
    ok_after_kill: AtomicU64,
}

impl Tally {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[test]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
fn two_nodes_on_postgres_honour_a_new_partner_and_survive_a_killed_peer() {
    with_postgres("the multi-node PostgreSQL test", |lync, pg| {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&pg.key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the store key file is private");

        // The pool's configuration and its one issuer certificate, made once through the CLI.
        pg.ok(&["oauth-config", "set", "--realm", REALM, "--service-name", "exchange"]);
        pg.ok(&["certificate", "new"]);
        let exchange_cert = lync.path("exchange.pem");
        pg.ok(&["certificate", "export", "--out", exchange_cert.to_str().unwrap()]);

        // The caller: Lync, with a store and certificate of its own, knowing Exchange by its certificate.
        lync.configure("lync");
        let lync_cert = lync.path("lync.pem");
        lync.ok(&["certificate", "export", "--out", lync_cert.to_str().unwrap()]);
        lync.ok(&[
            "partner-application",
            "new",
            "--identity",
            "Exchange",
            "--application-identifier",
            EXCHANGE,
            "--realm",
            REALM,
            "--certificate",
            exchange_cert.to_str().unwrap(),
        ]);

        let mut node1 = pg.serve(lync.dir.path(), "node1");
        let node2 = pg.serve(lync.dir.path(), "node2");
        // One act-as token per node: the audience names the host the node is called at.
        let token_for = |node: &PgNode| {
            let args = ["token", "issue", "--partner", "Exchange", "--host", node.authority(), "--user", USER];
            lync.ok(&args).trim().to_owned()
        };
        let tokens = [token_for(&node1), token_for(&node2)];
        for (node, token) in [&node1, &node2].into_iter().zip(&tokens) {
            assert_eq!(node.get("/s2s/whoami", Some(token)).status, 401, "Lync is not a partner yet");
        }

        // Lync registered through the CLI (as on node 1's host): both nodes honour it within 2 s.
        pg.ok(&[
            "partner-application",
            "new",
            "--identity",
            "Lync",
            "--application-identifier",
            LYNC,
            "--realm",
            REALM,
            "--certificate",
            lync_cert.to_str().unwrap(),
            "--trust-level",
            "full",
        ]);
        let added = Instant::now();
        for (name, node, token) in [("node 1", &node1, &tokens[0]), ("node 2", &node2, &tokens[1])] {
            let who = poll(&format!("{name} to honour the new partner"), LIVE.saturating_sub(added.elapsed()), || {
                let resp = node.get("/s2s/whoami", Some(token));
                (resp.status == 200).then(|| resp.json())
            });
            assert_eq!(who["partner"], "Lync", "{who}");
            assert_eq!(who["token_kind"], "act_as", "{who}");
            assert_eq!(who["user"]["sip"], "kenmyer@litwareinc.com", "{who}");
        }
        eprintln!("the partner reached both nodes {:?} after the CLI returned", added.elapsed());

        // Load on both nodes; node 1 is killed with SIGKILL in the middle of it.
        let killed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let tallies = [Arc::new(Tally::default()), Arc::new(Tally::default())];
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let mut loops = Vec::new();
        for (i, node) in [&node1, &node2].into_iter().enumerate() {
            let url = format!("{}/s2s/whoami", node.base);
            let bearer = format!("Bearer {}", tokens[i]);
            for _ in 0..LOOPS_PER_NODE {
                let (client, url, bearer) = (client.clone(), url.clone(), bearer.clone());
                let (tally, killed, stop) = (tallies[i].clone(), killed.clone(), stop.clone());
                loops.push(runtime.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let answer = client.get(&url).header("authorization", &bearer).send().await;
                        let after_kill = killed.load(Ordering::SeqCst);
                        match answer {
                            Ok(resp) if resp.status() == reqwest::StatusCode::OK => {
                                // The whole body, so that a cut-off answer is a transport error.
                                if resp.bytes().await.is_ok() {
                                    tally.ok.fetch_add(1, Ordering::Relaxed);
                                    if after_kill {
                                        tally.ok_after_kill.fetch_add(1, Ordering::Relaxed);
                                    }
                                } else if after_kill || killed.load(Ordering::SeqCst) {
                                    tally.errors_after_kill.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    tally.errors_before_kill.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Ok(resp) => {
                                eprintln!("{url}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
                                tally.refused.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) if after_kill => {
                                tally.errors_after_kill.fetch_add(1, Ordering::Relaxed);
                                // A dead node refuses at once; don't spin on it.
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Err(error) => {
                                eprintln!("{url}: {error}");
                                tally.errors_before_kill.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }));
            }
        }
        std::thread::sleep(BEFORE_KILL);
        let before = [Tally::get(&tallies[0].ok), Tally::get(&tallies[1].ok)];
        // Sent after the flag is up: an error seen with the flag down happened before the kill.
        killed.store(true, Ordering::SeqCst);
        node1.process.0.kill().unwrap(); // SIGKILL
        node1.process.0.wait().unwrap();
        std::thread::sleep(AFTER_KILL);
        stop.store(true, Ordering::Relaxed);
        runtime.block_on(async {
            for task in loops {
                task.await.unwrap();
            }
        });

        let [t1, t2] = &tallies;
        eprintln!(
            "node 1: {} ok ({before_1} before the kill), {} refused, {} transport errors before the kill, {} after; \
             node 2: {} ok ({before_2} before the kill), {} refused, {} transport errors",
            Tally::get(&t1.ok),
            Tally::get(&t1.refused),
            Tally::get(&t1.errors_before_kill),
            Tally::get(&t1.errors_after_kill),
            Tally::get(&t2.ok),
            Tally::get(&t2.refused),
            Tally::get(&t2.errors_before_kill) + Tally::get(&t2.errors_after_kill),
            before_1 = before[0],
            before_2 = before[1],
        );
        // Node 2: every request validated, before and after its peer died.
        assert_eq!(Tally::get(&t2.refused), 0, "node 2 refused requests");
        assert_eq!(Tally::get(&t2.errors_before_kill) + Tally::get(&t2.errors_after_kill), 0, "node 2 failed requests");
        assert!(before[1] > 0, "node 2 served nothing before the kill");
        assert!(Tally::get(&t2.ok) > before[1], "node 2 served nothing after the kill");
        // Node 1: validated everything while alive; after the kill only connection errors.
        assert_eq!(Tally::get(&t1.refused), 0, "node 1 refused requests");
        assert_eq!(Tally::get(&t1.errors_before_kill), 0, "node 1 failed requests while alive");
        assert!(before[0] > 0, "node 1 served nothing before the kill");
        assert!(Tally::get(&t1.errors_after_kill) > 0, "node 1 still answered after SIGKILL");

        // Node 2 still follows the store: disabling Lync reaches it within 2 s.
        pg.ok(&["partner-application", "set", "Lync", "--enabled", "false"]);
        poll("node 2 to refuse the disabled partner", LIVE, || {
            (node2.get("/s2s/whoami", Some(&tokens[1])).status == 401).then_some(())
        });
    });
}
