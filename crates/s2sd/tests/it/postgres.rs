//! The shared PostgreSQL store of the multi-node tests: a fresh schema of `S2S_TEST_DATABASE_URL`
//! per test (dropped afterwards, whatever happens) with a store key file of its own (0600), the
//! `s2sd` CLI against it, and `s2sd serve` nodes on it. These tests are `#[ignore]`d (`scripts/test.sh`
//! runs them with `--ignored` when it has a database) and fail when run without the variable.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sqlx::{Connection as _, Executor as _};

use crate::support::{DEADLINE, Guard, Site, curl, poll};

/// The shared store: its URL (with the test's schema) and key file.
pub struct Pg {
    pub store: String,
    pub key_file: String,
}

/// A node on the shared store, killed when dropped.
pub struct PgNode {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub process: Guard,
}

impl Pg {
    /// `s2sd --store <pg> --store-key-file <key> args…`, its environment cleared of store settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("s2sd"));
        cmd.env_remove("S2S_STORE").env_remove("S2S_STORE_KEY_FILE").env_remove("S2S_LOG");
        cmd.args(["--store", &self.store, "--store-key-file", &self.key_file]).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        assert!(out.status.success(), "`s2sd {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a CLI command with `--output json` that must succeed; returns the parsed document.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.command(args).args(["--output", "json"]).output().unwrap();
        assert!(out.status.success(), "`s2sd {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Starts `s2sd serve --insecure-http` on an ephemeral port; waits for `/healthz`.
    pub fn serve(&self, dir: &Path, name: &str) -> PgNode {
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
        let node = PgNode { base, process };
        poll(&format!("/healthz of {name}"), DEADLINE, || {
            (curl(&format!("{}/healthz", node.base), None, &[]).status == 200).then_some(())
        });
        node
    }
}

impl PgNode {
    /// `127.0.0.1:<port>`: the host its callers put in a token's audience.
    pub fn authority(&self) -> &str {
        self.base.strip_prefix("http://").unwrap()
    }
}

/// Runs `check` with the shared store in a fresh schema and a key file of its own; fails, naming
/// `what`, when `S2S_TEST_DATABASE_URL` is not set.
pub fn with_postgres(what: &str, check: impl FnOnce(&Site, &Pg)) {
    let database = required_database_url(what);
    let site = Site::new();
    let key_file = site.path("pg-store.key").to_str().unwrap().to_owned();
    let schema = Schema::new(&database);
    let pg = Pg { store: schema.url.clone(), key_file: key_file.clone() };
    assert!(pg.command(&["store", "generate-key", "--out", &key_file]).status().unwrap().success());
    check(&site, &pg);
}

/// `S2S_TEST_DATABASE_URL`, when set.
pub fn database_url() -> Option<String> {
    std::env::var("S2S_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty())
}

/// `S2S_TEST_DATABASE_URL`, or a failure naming `what`: a PostgreSQL test never passes having
/// checked nothing.
pub fn required_database_url(what: &str) -> String {
    database_url()
        .unwrap_or_else(|| panic!("{what} needs PostgreSQL: set S2S_TEST_DATABASE_URL (scripts/test.sh provides one)"))
}

/// A fresh schema of the test database; dropped with its tables when this value is dropped, even
/// after a failed assertion.
pub struct Schema {
    database: String,
    name: String,
    /// The database URL with `search_path` set to the schema.
    pub url: String,
}

impl Schema {
    pub fn new(database: &str) -> Self {
        let mut suffix = [0u8; 6];
        aws_lc_rs::rand::fill(&mut suffix).unwrap();
        let name = format!("s2s_it_{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>());
        admin(database, format!("CREATE SCHEMA {name}"));
        let mut url = url::Url::parse(database).unwrap();
        url.query_pairs_mut().append_pair("options", &format!("-c search_path={name}"));
        Self { database: database.to_owned(), name, url: url.to_string() }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        admin(&self.database, format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

/// Runs one statement on the test database.
fn admin(database: &str, sql: String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
        conn.close().await.unwrap();
    });
}
