//! What every test here shares: a fresh store per test (`Site`), the CLI run against it,
//! `s2sd serve` children killed on drop (`Node`), curl probes (`curl`), openssl-made fixtures,
//! base64url for taking tokens apart, and bounded polling. Everything listens on 127.0.0.1 with
//! ports chosen by the kernel (`--listen 127.0.0.1:0`), so tests running in parallel never collide.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub const REALM: &str = "litwareinc.com";
pub const EXCHANGE: &str = "00000002-0000-0ff1-ce00-000000000000";
pub const SHAREPOINT: &str = "00000003-0000-0ff1-ce00-000000000000";
pub const LYNC: &str = "00000004-0000-0ff1-ce00-000000000000";
pub const USER: &str = "sip:kenmyer@litwareinc.com";

/// The longest any single wait may take.
pub const DEADLINE: Duration = Duration::from_secs(5);
const STEP: Duration = Duration::from_millis(50);
/// The longest a CLI command may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `f` every 50 ms until it yields `Some`, for at most `deadline`; panics naming `what` otherwise.
pub fn poll<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(STEP);
    }
}

/// The result of one CLI run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: std::process::Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts failure with exactly one line on stderr, `error: …`; returns that line.
    pub fn one_line_error(&self) -> &str {
        assert!(self.code.is_some_and(|c| c != 0), "expected a failure, got {self:#?}");
        let stderr = self.stderr.trim_end();
        assert!(stderr.starts_with("error: "), "stderr does not start with `error: `: {self:#?}");
        assert!(!stderr.contains('\n'), "the error is not one line: {self:#?}");
        stderr
    }

    /// Asserts failure and returns the one `error: …` line, tolerating log lines around it.
    pub fn error_line(&self) -> &str {
        assert!(self.code.is_some_and(|c| c != 0), "expected a failure, got {self:#?}");
        let errors: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "expected exactly one `error: ` line: {self:#?}");
        errors[0]
    }
}

/// A fresh directory holding an SQLite store; the CLI and servers run against it.
pub struct Site {
    pub dir: TempDir,
    pub store: String,
}

impl Site {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("s2sd-it-").tempdir().unwrap();
        let store = format!("sqlite:{}", dir.path().join("s2s.db").display());
        Self { dir, store }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `s2sd --store <this store> args…`, with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = assert_cmd::Command::cargo_bin("s2sd").unwrap();
        cmd.env_remove("S2S_STORE").env_remove("S2S_LOG").arg("--store").arg(&self.store).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.timeout(CLI_TIMEOUT).output().unwrap())
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, Some(0), "`s2sd {}` failed: {run:#?}", args.join(" "));
        run.stdout
    }

    /// Runs a command with `--output json` that must succeed; returns the parsed document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("`s2sd {}` printed no JSON ({e}): {out}", all.join(" ")))
    }

    /// Runs a command that must fail with a one-line error; returns the error line.
    pub fn fails(&self, args: &[&str]) -> String {
        self.run(args).one_line_error().to_owned()
    }

    /// Realm litwareinc.com, the given service name, and a fresh token-issuer certificate.
    pub fn configure(&self, service_name: &str) {
        self.ok(&["oauth-config", "set", "--realm", REALM, "--service-name", service_name]);
        self.ok(&["certificate", "new"]);
    }

    /// The `certificate list --output json` rows.
    pub fn certificates(&self) -> Vec<Value> {
        self.json(&["certificate", "list"]).as_array().unwrap().clone()
    }

    /// The x5t of the current certificate.
    pub fn current_x5t(&self) -> String {
        let certs = self.certificates();
        let current = certs.iter().find(|c| c["role"] == "current").expect("a current certificate");
        current["x5t"].as_str().unwrap().to_owned()
    }

    /// The `partner-application list --output json` document.
    pub fn partners(&self) -> Value {
        self.json(&["partner-application", "list"])
    }

    /// Starts `s2sd serve` on an ephemeral port with its self-signed TLS identity in `<dir>/tls`.
    pub fn serve(&self) -> Node {
        let tls_dir = self.path("tls");
        self.serve_with(&["--tls-dir", tls_dir.to_str().unwrap()])
    }

    /// Starts `s2sd serve --insecure-http` on an ephemeral port.
    pub fn serve_http(&self) -> Node {
        self.serve_with(&["--insecure-http"])
    }

    /// Starts `s2sd serve --listen 127.0.0.1:0 extra…` and waits until `/healthz` answers.
    pub fn serve_with(&self, extra: &[&str]) -> Node {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        let stdout = self.path(&format!("serve-{n}.out"));
        let stderr = self.path(&format!("serve-{n}.err"));
        let child = Command::new(assert_cmd::cargo::cargo_bin!("s2sd"))
            .env_remove("S2S_STORE")
            .env_remove("S2S_LOG")
            .args(["--store", &self.store, "serve", "--listen", "127.0.0.1:0", "--poll-interval-ms", "200"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut guard = Guard(child);
        let line = poll("the `Serving …` line of s2sd serve", DEADLINE, || {
            if let Some(status) = guard.0.try_wait().unwrap() {
                panic!("s2sd serve exited with {status}: {}", read(&stderr));
            }
            read(&stdout).lines().next().filter(|l| l.starts_with("Serving ")).map(str::to_owned)
        });
        let base = line["Serving ".len()..].split(' ').next().unwrap().to_owned();
        let tls_cert = line.split_once("; TLS certificate: ").map(|(_, p)| PathBuf::from(p.trim()));
        let node = Node { base, tls_cert, stderr, _process: guard };
        poll("/healthz of s2sd serve", DEADLINE, || (node.get("/healthz", &[]).status == 200).then_some(()));
        node
    }
}

/// A child process, killed and reaped on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `s2sd serve`, killed when dropped.
pub struct Node {
    /// `https://127.0.0.1:<port>` (or `http://…`).
    pub base: String,
    /// The TLS certificate it printed on its first line.
    pub tls_cert: Option<PathBuf>,
    stderr: PathBuf,
    _process: Guard,
}

impl Node {
    /// `127.0.0.1:<port>`.
    pub fn authority(&self) -> &str {
        self.base.split_once("://").unwrap().1
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What it logged so far.
    pub fn stderr(&self) -> String {
        read(&self.stderr)
    }

    /// GET `path` with extra headers (`Name: value`), trusting its TLS certificate.
    pub fn get(&self, path: &str, headers: &[&str]) -> Http {
        curl(&self.url(path), self.tls_cert.as_deref(), headers)
    }

    /// GET `path` with `Authorization: Bearer <token>`.
    pub fn get_with_token(&self, path: &str, token: &str) -> Http {
        self.get(path, &[&format!("Authorization: Bearer {token}")])
    }
}

/// An HTTP answer as curl saw it.
#[derive(Debug)]
pub struct Http {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Http {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }
}

/// GET `url` with curl (`-sS -D headers -o body -w %{http_code}`), 5 s at most.
pub fn curl(url: &str, cacert: Option<&Path>, headers: &[&str]) -> Http {
    let head = tempfile::NamedTempFile::new().unwrap();
    let body = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "5", "-w", "%{http_code}", "-D"]).arg(head.path()).arg("-o").arg(body.path());
    if let Some(ca) = cacert {
        cmd.arg("--cacert").arg(ca);
    }
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    let out = cmd.arg(url).output().expect("curl is installed");
    let code = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let headers = read(head.path())
        .lines()
        .filter(|l| !l.starts_with("HTTP/"))
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Http { status: code.parse().unwrap_or(0), headers, body: read(body.path()) }
}

fn read(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `value` without its `days_left` fields, which tick over while a test runs (a certificate made
/// this second has 730 days left, one second later 729), for comparing listings taken moments apart.
pub fn stable(value: impl Into<Value>) -> Value {
    match value.into() {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(k, _)| k != "days_left").map(|(k, v)| (k, stable(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(stable).collect()),
        other => other,
    }
}

/// Runs a helper program (openssl, …) that must succeed; returns its stdout.
pub fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A self-signed RSA 2048 certificate and key, `<dir>/<name>.crt` and `<dir>/<name>.key` (PEM).
pub fn self_signed(dir: &Path, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let subject = format!("/CN={cn}");
    tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &subject,
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    (cert, key)
}

/// A self-signed certificate valid only on 1–2 January 2020 (`openssl ca -startdate/-enddate`,
/// which OpenSSL 3.0 supports, unlike `req -not_after`).
pub fn expired_certificate(dir: &Path) -> PathBuf {
    let ca = dir.join("expired-ca");
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::write(ca.join("index.txt"), "").unwrap();
    std::fs::write(ca.join("serial"), "01\n").unwrap();
    std::fs::write(
        ca.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n",
    )
    .unwrap();
    let out = Command::new("openssl")
        .current_dir(&ca)
        .args(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "req.csr"])
        .args(["-subj", "/CN=expired.litwareinc.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("openssl")
        .current_dir(&ca)
        .args(["ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", "key.pem", "-in", "req.csr"])
        .args(["-notext", "-out", "expired.pem", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl ca: {}", String::from_utf8_lossy(&out.stderr));
    ca.join("expired.pem")
}

/// The DER inside a one-certificate PEM text.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    b64_decode(&body)
}

/// SHA-1 of `data` as upper-case hex (the Windows thumbprint form), by `openssl dgst`.
pub fn sha1_upper_hex(file: &Path) -> String {
    let out = tool("openssl", &["dgst", "-sha1", "-r", file.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_ascii_uppercase()
}

/// The x5t of a certificate whose thumbprint (SHA-1 hex) is `hex`: base64url of the digest bytes.
pub fn x5t_from_thumbprint(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    b64url_encode(&bytes)
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding.
pub fn b64url_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64URL[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Decodes base64 or base64url, with or without padding.
pub fn b64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => panic!("not base64: {c:?}"),
        }
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| acc | value(*c) << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[test]
fn base64url_round_trips() {
    for len in 0..10u8 {
        let data: Vec<u8> = (0..len).map(|i| i.wrapping_mul(97).wrapping_add(200)).collect();
        assert_eq!(b64_decode(&b64url_encode(&data)), data);
    }
    assert_eq!(b64url_encode(b"\xfb\xff"), "-_8");
}

/// The authority tenant and client the token-endpoint tests use.
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT: &str = "c3ab8885-458f-4864-8804-1608145e2ac4";

/// A client-credentials grant on `base` (`http(s)://127.0.0.1:<port>`) for SharePoint at 127.0.0.1,
/// as [`CLIENT`] of [`TENANT`] with `secret`: (status, JSON body; the body as a string when not JSON).
pub fn client_credentials(base: &str, ca: Option<&Path>, secret: &str) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "5", "-w", "\n%{http_code}"]);
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    for field in [
        "grant_type=client_credentials".to_owned(),
        format!("client_id={CLIENT}@{TENANT}"),
        format!("client_secret={secret}"),
        format!("resource={SHAREPOINT}/127.0.0.1@{TENANT}"),
    ] {
        cmd.arg("--data-urlencode").arg(field);
    }
    let out = cmd.arg(format!("{base}/{TENANT}/tokens/OAuth/2")).output().expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, "0"));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())))
}
