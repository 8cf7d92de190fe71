//! The authorization-server role on PostgreSQL: two `s2sd serve` nodes share one store (a fresh
//! schema of `S2S_TEST_DATABASE_URL`, one store key file). A tenant, a service principal and a
//! client secret made through the CLI against that store reach node 2's token endpoint within two
//! seconds, and disabling the principal makes both nodes refuse it within two seconds. Skipped
//! (with a note) when `S2S_TEST_DATABASE_URL` is not set.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{Connection as _, Executor as _};

use crate::support::{DEADLINE, Guard, REALM, SHAREPOINT, Site, curl, poll};

/// How long a CLI change may take to reach both running nodes.
const LIVE: Duration = Duration::from_secs(2);
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "c3ab8885-458f-4864-8804-1608145e2ac4";

/// The shared PostgreSQL store: its URL (with the test's schema) and key file.
struct Pg {
    store: String,
    key_file: String,
}

/// A node on the shared store, killed when dropped.
struct PgNode {
    /// `http://127.0.0.1:<port>`.
    base: String,
    _process: Guard,
}

impl Pg {
    /// `s2sd --store <pg> --store-key-file <key> args…`, its environment cleared of store settings.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("s2sd"));
        cmd.env_remove("S2S_STORE").env_remove("S2S_STORE_KEY_FILE").env_remove("S2S_LOG");
        cmd.args(["--store", &self.store, "--store-key-file", &self.key_file]).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs a CLI command with `--output json` that must succeed; returns the parsed document.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.command(args).args(["--output", "json"]).output().unwrap();
        assert!(out.status.success(), "`s2sd {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Starts `s2sd serve --insecure-http` on an ephemeral port; waits for `/healthz`.
    fn serve(&self, dir: &Path, name: &str) -> PgNode {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        let child = self
            .command(&["serve", "--insecure-http", "--listen", "127.0.0.1:0"])
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut process = Guard(child);
        let line = poll(&format!("the `Serving …` line of {name}"), DEADLINE, || {
            if let Some(status) = process.0.try_wait().unwrap() {
                panic!("{name} exited with {status}: {}", std::fs::read_to_string(&stderr).unwrap_or_default());
            }
            let text = std::fs::read_to_string(&stdout).unwrap_or_default();
            text.lines().next().filter(|l| l.starts_with("Serving ")).map(str::to_owned)
        });
        let base = line["Serving ".len()..].split(' ').next().unwrap().to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{line}");
        let node = PgNode { base, _process: process };
        poll(&format!("/healthz of {name}"), DEADLINE, || {
            (curl(&format!("{}/healthz", node.base), None, &[]).status == 200).then_some(())
        });
        node
    }
}

impl PgNode {
    /// A client-credentials grant for SharePoint at 127.0.0.1 with `secret`; (status, JSON body).
    fn token(&self, secret: &str) -> (u16, Value) {
        let client_id = format!("{CLIENT}@{TENANT}");
        let resource = format!("{SHAREPOINT}/127.0.0.1@{TENANT}");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "5", "-w", "\n%{http_code}"]);
        for field in [
            "grant_type=client_credentials".to_owned(),
            format!("client_id={client_id}"),
            format!("client_secret={secret}"),
            format!("resource={resource}"),
        ] {
            cmd.arg("--data-urlencode").arg(field);
        }
        let out = cmd.arg(format!("{}/{TENANT}/tokens/OAuth/2", self.base)).output().expect("curl is installed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())))
    }
}

/// Runs `check` with the shared PostgreSQL store in a fresh schema (dropped afterwards, whatever
/// happens) and a store key file of its own; prints a note and returns when
/// `S2S_TEST_DATABASE_URL` is not set.
fn with_postgres(check: impl FnOnce(&Site, &Pg)) {
    let Some(database) = std::env::var("S2S_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty()) else {
        eprintln!("note: S2S_TEST_DATABASE_URL is not set; the PostgreSQL authority test is skipped");
        return;
    };
    let site = Site::new();
    let mut suffix = [0u8; 6];
    aws_lc_rs::rand::fill(&mut suffix).unwrap();
    let schema = format!("s2s_it_{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let admin = |sql: String| {
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&database).await.unwrap();
            conn.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
            conn.close().await.unwrap();
        });
    };
    admin(format!("CREATE SCHEMA {schema}"));
    let mut url = url::Url::parse(&database).unwrap();
    url.query_pairs_mut().append_pair("options", &format!("-c search_path={schema}"));
    let key_file = site.path("pg-store.key").to_str().unwrap().to_owned();
    let pg = Pg { store: url.to_string(), key_file: key_file.clone() };
    assert!(pg.command(&["store", "generate-key", "--out", &key_file]).status().unwrap().success());

    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&site, &pg)));
    admin(format!("DROP SCHEMA {schema} CASCADE"));
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn two_nodes_on_postgres_serve_the_same_tenants_and_principals() {
    with_postgres(|site, pg| {
        // The pool's identity and its one signing certificate.
        pg.json(&["oauth-config", "set", "--realm", REALM, "--service-name", "exchange"]);
        pg.json(&["certificate", "new"]);
        let node1 = pg.serve(site.dir.path(), "node1");
        let node2 = pg.serve(site.dir.path(), "node2");
        let (status, answer) = node2.token("not yet");
        assert_ne!(status, 200, "{answer}");

        // The tenant, SharePoint with an SPN for 127.0.0.1, and a client with a secret, through the CLI.
        pg.json(&["tenant", "new", "--realm", TENANT, "--name", "Litware"]);
        let spn = format!("{SHAREPOINT}/127.0.0.1");
        pg.json(&["service-principal", "new", "--app-id", "sharepoint", "--display-name", "SharePoint", "--spn", &spn]);
        pg.json(&["service-principal", "new", "--app-id", CLIENT, "--display-name", "Add-in"]);
        let added = pg.json(&["service-principal", "credential", "add", "--app-id", CLIENT, "--type", "symmetric"]);
        let secret = added["secret"].as_str().unwrap().to_owned();
        let changed = Instant::now();
        let answer = poll("node 2 to issue a token to the new client", LIVE, || {
            let (status, answer) = node2.token(&secret);
            (status == 200).then_some(answer)
        });
        eprintln!("the client reached node 2 {:?} after the CLI returned", changed.elapsed());
        assert_eq!(answer["token_type"], "Bearer", "{answer}");
        assert_eq!(answer["resource"], format!("{SHAREPOINT}/127.0.0.1@{TENANT}"), "{answer}");
        poll("node 1 to issue a token to the new client", LIVE.saturating_sub(changed.elapsed()), || {
            (node1.token(&secret).0 == 200).then_some(())
        });
        let (status, answer) = node2.token("wrong");
        assert_eq!((status, &answer["error"]), (401, &Value::from("invalid_client")), "{answer}");

        // Disabled through the CLI: both nodes refuse it within two seconds.
        pg.json(&["service-principal", "set", "--tenant", TENANT, "--app-id", CLIENT, "--enabled", "false"]);
        let changed = Instant::now();
        for (name, node) in [("node 1", &node1), ("node 2", &node2)] {
            poll(&format!("{name} to refuse the disabled client"), LIVE.saturating_sub(changed.elapsed()), || {
                let (status, answer) = node.token(&secret);
                (status == 400 && answer["error"] == "unauthorized_client").then_some(())
            });
        }
        eprintln!("the change reached both nodes {:?} after the CLI returned", changed.elapsed());
    });
}
