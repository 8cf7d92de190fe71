//! The shared store under stress, with real processes. Kill safety: a configuration write is one
//! transaction. A loop of `s2sd partner-application new` runs, and children are killed with SIGKILL
//! at points spread over a write's whole life (before the store opens, during the write, after it).
//! Afterwards every partner the CLI acknowledged (printed) is present and whole — name, application
//! id, realm, its certificate — any other partner is whole or absent, and the store opens and takes
//! writes. Then kills that are shown to land inside a write transaction (the test holds each write
//! at its last statement with a trigger of its own and kills it there): each leaves nothing
//! behind. Against a fresh SQLite file always, and against a fresh schema of `S2S_TEST_DATABASE_URL`
//! when that is set; there, also: a CLI change reaches a running node within two seconds through
//! LISTEN/NOTIFY alone (its version poll is set to a minute).

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    DEADLINE, Guard, REALM, Site, curl, pem_to_der, poll, self_signed, sha1_upper_hex, x5t_from_thumbprint,
};

/// Writes in the loop.
const WRITES: usize = 24;

/// Where the children write: the store URL and, for PostgreSQL, its key file.
struct Target {
    store: String,
    key_file: Option<String>,
}

impl Target {
    /// `s2sd --store … [--store-key-file …] args…`, its environment cleared of store settings.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("s2sd"));
        cmd.env_remove("S2S_STORE").env_remove("S2S_STORE_KEY_FILE").env_remove("S2S_LOG");
        cmd.args(["--store", &self.store]);
        if let Some(key_file) = &self.key_file {
            cmd.args(["--store-key-file", key_file]);
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs a command that must succeed with `--output json`; returns the document.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.command(args).args(["--output", "json"]).output().unwrap();
        assert!(out.status.success(), "`s2sd {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The application id of the `i`th partner.
fn app_id(i: usize) -> String {
    format!("{i:08x}-0000-0ff1-ce00-000000000000")
}

/// The loop and the checks, on one store.
fn kill_writers_and_check(site: &Site, target: &Target) {
    let (cert, _) = self_signed(site.dir.path(), "partner", "partner.litwareinc.com");
    let der = site.path("partner.der");
    std::fs::write(&der, pem_to_der(&std::fs::read_to_string(&cert).unwrap())).unwrap();
    let x5t = x5t_from_thumbprint(&sha1_upper_hex(&der));
    let cert = cert.to_str().unwrap().to_owned();

    let new_partner = |i: usize| {
        let name = format!("partner-{i:02}");
        let app = app_id(i);
        let mut cmd = target.command(&[
            "partner-application",
            "new",
            "--identity",
            &name,
            "--application-identifier",
            &app,
            "--realm",
            REALM,
            "--certificate",
            &cert,
            "--output",
            "json",
        ]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };

    // One write left alone: acknowledged, and how long a whole write takes here.
    let start = Instant::now();
    let out = new_partner(0).wait_with_output().unwrap();
    let whole = start.elapsed();
    assert!(out.status.success(), "the first write failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut acknowledged = vec![0];
    let mut killed = 0;

    for i in 1..WRITES {
        let mut child = new_partner(i);
        // From at once to a little after a whole write would take: every stage gets hit.
        let delay = whole.mul_f64((i % 8) as f64 / 6.0);
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL; a no-op for a child that has exited already
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            let printed: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("write {i} succeeded but printed no JSON ({e})"));
            assert_eq!(printed["name"], format!("partner-{i:02}"));
            acknowledged.push(i);
        } else {
            assert!(
                out.status.code().is_none(),
                "write {i} failed by itself: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            killed += 1;
        }
    }
    assert!(killed > 0, "no write was killed (a whole write takes {whole:?})");

    // The store opens, and every partner in it is whole.
    let listed = target.json(&["partner-application", "list"]);
    let partners = listed.as_array().unwrap();
    for partner in partners {
        let name = partner["name"].as_str().unwrap();
        let i: usize = name.strip_prefix("partner-").unwrap().parse().unwrap();
        assert_eq!(partner["application_id"], app_id(i), "{partner}");
        assert_eq!(partner["realm"], REALM, "{partner}");
        let keys = partner["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{partner}");
        assert_eq!(keys[0]["x5t"], x5t.as_str(), "{partner}");
    }
    // Every acknowledged partner is there.
    for i in &acknowledged {
        let name = format!("partner-{i:02}");
        assert!(
            partners.iter().any(|p| p["name"] == name.as_str()),
            "{name} was acknowledged but is missing: {listed}"
        );
        let shown = target.json(&["partner-application", "show", &name]);
        assert_eq!(shown["application_id"], app_id(*i));
    }
    // Then kills that certainly land inside a write transaction: each one after the write has
    // inserted its partner and certificate, while it is held at its last statement.
    kill_inside_write_transactions(site, target, &cert);

    // And the store still takes writes.
    target.json(&["partner-application", "remove", "partner-00"]);
    let again = target.json(&[
        "partner-application",
        "new",
        "--identity",
        "partner-00",
        "--application-identifier",
        &app_id(0),
        "--realm",
        REALM,
        "--certificate",
        &cert,
    ]);
    assert_eq!(again["keys"][0]["x5t"], x5t.as_str());
}

/// Kills inside a write transaction, shown rather than hoped for. A trigger the test adds to the
/// store holds every write at its last statement (the `config_version` bump, after the partner and
/// its certificate are inserted): on SQLite a long cross join, on PostgreSQL `pg_sleep` after
/// naming the session. A child is killed only once the test has seen it there — on SQLite its write
/// lock held for 300 ms (`BEGIN IMMEDIATE` from the test is refused), on PostgreSQL its session,
/// with a transaction id (it has written), sleeping in the trigger. Afterwards each change is
/// wholly absent: no partner, no certificate row, no orphan, the version where it was; then the
/// trigger is dropped.
fn kill_inside_write_transactions(site: &Site, target: &Target, cert: &str) {
    const KILLS: usize = 3;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let db = runtime.block_on(Db::open(target));
    let version_before = runtime.block_on(db.version());
    runtime.block_on(db.hold_writes());
    for k in 0..KILLS {
        let name = format!("held-{k}");
        let app = app_id(100 + k);
        let mut child = target
            .command(&[
                "partner-application",
                "new",
                "--identity",
                &name,
                "--application-identifier",
                &app,
                "--realm",
                REALM,
                "--certificate",
                cert,
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(site.path(&format!("{name}.err"))).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let mut held_since: Option<Instant> = None;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{name}: the write ended ({status}) before it was seen inside its transaction");
            }
            if runtime.block_on(db.writer_held()) {
                let since = *held_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(300) {
                    break;
                }
            } else {
                held_since = None;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{name}: never seen inside its write transaction");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(status.code().is_none(), "{name} was killed inside its transaction, yet exited with {status}");
        runtime.block_on(db.wait_writer_gone());

        assert_eq!(runtime.block_on(db.version()), version_before, "{name}: the version bump survived the kill");
        assert_eq!(runtime.block_on(db.partner_rows(&name)), (0, 0), "{name}: part of a killed write survived");
        assert_eq!(runtime.block_on(db.orphan_certificates()), 0, "certificate rows without their partner");
        let listed = target.json(&["partner-application", "list"]);
        assert!(!listed.as_array().unwrap().iter().any(|p| p["name"] == name.as_str()), "{name} listed: {listed}");
    }
    runtime.block_on(db.release_writes());
}

/// The test's own connection to the store under test.
enum Db {
    Sqlite(tokio::sync::Mutex<sqlx::SqliteConnection>),
    Postgres { conn: tokio::sync::Mutex<sqlx::PgConnection>, tag: String },
}

impl Db {
    async fn open(target: &Target) -> Self {
        use sqlx::Connection as _;
        if let Some(path) = target.store.strip_prefix("sqlite:") {
            // No busy wait: `BEGIN IMMEDIATE` is refused at once while another writer holds the lock.
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).busy_timeout(Duration::ZERO);
            Self::Sqlite(tokio::sync::Mutex::new(sqlx::SqliteConnection::connect_with(&options).await.unwrap()))
        } else {
            let at = target.store.find("s2s_it_").expect("a test schema in the store URL");
            let tag = format!("kill-{}", &target.store[at..at + "s2s_it_".len() + 12]);
            let conn = sqlx::PgConnection::connect(&target.store).await.unwrap();
            Self::Postgres { conn: tokio::sync::Mutex::new(conn), tag }
        }
    }

    async fn exec(&self, sql: String) {
        use sqlx::Executor as _;
        match self {
            Self::Sqlite(c) => c.lock().await.execute(sqlx::AssertSqlSafe(sql)).await.map(drop),
            Self::Postgres { conn, .. } => conn.lock().await.execute(sqlx::AssertSqlSafe(sql)).await.map(drop),
        }
        .unwrap();
    }

    async fn count(&self, sql: &str, bind: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Self::Sqlite(c) => sqlx::query_scalar(sql).bind(bind).fetch_one(&mut *c.lock().await).await.unwrap(),
            Self::Postgres { conn, .. } => {
                sqlx::query_scalar(sql).bind(bind).fetch_one(&mut *conn.lock().await).await.unwrap()
            }
        }
    }

    /// Makes every write stop at its `config_version` bump, inside its transaction.
    async fn hold_writes(&self) {
        match self {
            Self::Sqlite(_) => {
                self.exec("CREATE TABLE kill_window (n INTEGER NOT NULL)".into()).await;
                self.exec(
                    "INSERT INTO kill_window WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c \
                     WHERE n < 2000) SELECT n FROM c"
                        .into(),
                )
                .await;
                // 8·10⁹ rows to count: far longer than any wait here.
                self.exec(
                    "CREATE TRIGGER kill_window BEFORE UPDATE ON config_version BEGIN \
                     SELECT count(*) FROM kill_window a, kill_window b, kill_window c; END"
                        .into(),
                )
                .await;
            }
            Self::Postgres { tag, .. } => {
                self.exec(format!(
                    "CREATE FUNCTION kill_window() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     PERFORM set_config('application_name', '{tag}', true); PERFORM pg_sleep(3); RETURN NEW; END $$"
                ))
                .await;
                self.exec(
                    "CREATE TRIGGER kill_window BEFORE UPDATE ON config_version FOR EACH ROW \
                     EXECUTE FUNCTION kill_window()"
                        .into(),
                )
                .await;
            }
        }
    }

    async fn release_writes(&self) {
        match self {
            Self::Sqlite(_) => {
                self.exec("DROP TRIGGER kill_window".into()).await;
                self.exec("DROP TABLE kill_window".into()).await;
            }
            Self::Postgres { .. } => {
                self.exec("DROP TRIGGER kill_window ON config_version".into()).await;
                self.exec("DROP FUNCTION kill_window()".into()).await;
            }
        }
    }

    /// Whether a CLI write is inside its transaction, held by the trigger.
    async fn writer_held(&self) -> bool {
        match self {
            Self::Sqlite(c) => {
                use sqlx::Executor as _;
                let mut c = c.lock().await;
                match c.execute("BEGIN IMMEDIATE").await {
                    Ok(_) => {
                        c.execute("ROLLBACK").await.unwrap();
                        false
                    }
                    Err(e) if e.to_string().contains("database is locked") => true,
                    Err(e) => panic!("BEGIN IMMEDIATE: {e}"),
                }
            }
            Self::Postgres { tag, .. } => {
                self.count(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                     AND backend_xid IS NOT NULL AND wait_event = 'PgSleep'",
                    tag,
                )
                .await
                    == 1
            }
        }
    }

    /// After a kill: the server side of the killed write is gone (PostgreSQL notices the closed
    /// connection once the trigger's sleep ends, and rolls back).
    async fn wait_writer_gone(&self) {
        if let Self::Postgres { tag, .. } = self {
            let start = Instant::now();
            while self.count("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", tag).await > 0 {
                assert!(start.elapsed() < Duration::from_secs(15), "the killed write's session lingers");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    async fn version(&self) -> i64 {
        self.count("SELECT version FROM config_version WHERE id = 1 AND $1 = $1", "").await
    }

    /// (partner rows, certificate rows) of partner `name` (both backends share the schema).
    async fn partner_rows(&self, name: &str) -> (i64, i64) {
        let certificates =
            "SELECT count(*) FROM partner_certificates pc JOIN partners p ON p.id = pc.partner_id WHERE p.name = $1";
        (self.count("SELECT count(*) FROM partners WHERE name = $1", name).await, self.count(certificates, name).await)
    }

    async fn orphan_certificates(&self) -> i64 {
        let sql =
            "SELECT count(*) FROM partner_certificates WHERE partner_id NOT IN (SELECT id FROM partners) AND $1 = $1";
        self.count(sql, "").await
    }
}

#[test]
fn killed_writers_leave_every_acknowledged_partner_whole_on_sqlite() {
    let site = Site::new();
    let target = Target { store: site.store.clone(), key_file: None };
    kill_writers_and_check(&site, &target);
}

#[test]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
fn killed_writers_leave_every_acknowledged_partner_whole_on_postgres() {
    with_postgres(kill_writers_and_check);
}

/// A node whose version poll is a minute apart applies a change made by another node's CLI within
/// two seconds: the store's change notification wakes it.
#[test]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
fn a_change_reaches_a_running_node_within_two_seconds_on_postgres() {
    with_postgres(|site, target| {
        target.json(&["oauth-config", "set", "--realm", REALM, "--service-name", "exchange"]);
        target.json(&["certificate", "new"]);
        let (cert, _) = self_signed(site.dir.path(), "lync", "lync.litwareinc.com");
        let cert = cert.to_str().unwrap().to_owned();

        let mut serve =
            target.command(&["serve", "--insecure-http", "--listen", "127.0.0.1:0", "--poll-interval-ms", "60000"]);
        let stderr = site.path("serve.err");
        serve.stdout(Stdio::piped()).stderr(std::fs::File::create(&stderr).unwrap());
        let mut node = Guard(serve.spawn().unwrap());
        let mut line = String::new();
        // Kept open until the node is killed: it may print more.
        let mut stdout = std::io::BufReader::new(node.0.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let base = line
            .strip_prefix("Serving ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no `Serving …` line: {line:?}; {}", std::fs::read_to_string(&stderr).unwrap()))
            .to_owned();
        let version = || {
            let health = curl(&format!("{base}/healthz"), None, &[]);
            (health.status == 200).then(|| health.json()["config_version"].as_i64().unwrap())
        };
        let started = poll("/healthz of the node", DEADLINE, version);
        let applied = |after: i64, what: &str| {
            let start = Instant::now();
            poll(what, Duration::from_secs(2), || version().filter(|v| *v > after));
            start.elapsed()
        };
        // Let the node reach its minute-long wait, then change the store from "another node".
        std::thread::sleep(Duration::from_millis(500));
        let written = Instant::now();
        target.json(&[
            "partner-application",
            "new",
            "--identity",
            "Lync",
            "--application-identifier",
            "00000004-0000-0ff1-ce00-000000000000",
            "--realm",
            REALM,
            "--certificate",
            &cert,
        ]);
        let took = applied(started, "the new partner on the running node");
        eprintln!(
            "a CLI write reached the node {took:?} after the CLI returned ({:?} after it started)",
            written.elapsed()
        );
        let now = version().unwrap();
        target.json(&["partner-application", "set", "Lync", "--enabled", "false"]);
        applied(now, "the disabled partner on the running node");
    });
}

/// Runs `check` on a fresh schema of `S2S_TEST_DATABASE_URL` (dropped afterwards, whatever
/// happens) with a store key of its own; fails when the variable is not set.
fn with_postgres(check: impl FnOnce(&Site, &Target)) {
    let database = crate::postgres::required_database_url("the PostgreSQL kill test");
    let site = Site::new();
    let schema = crate::postgres::Schema::new(&database);
    let key_arg = site.path("store.key").to_str().unwrap().to_owned();
    let target = Target { store: schema.url.clone(), key_file: Some(key_arg.clone()) };
    assert!(target.command(&["store", "generate-key", "--out", &key_arg]).status().unwrap().success());
    check(&site, &target);
}
