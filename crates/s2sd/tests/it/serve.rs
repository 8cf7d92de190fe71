//! `s2sd serve` and `s2sd demo` as a user runs them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{DEADLINE, EXCHANGE, REALM, Site, poll};

#[test]
fn insecure_http_logs_a_plain_http_warning() {
    let site = Site::new();
    site.configure("exchange");
    let http = site.serve_http();
    assert!(http.base.starts_with("http://127.0.0.1:"), "{}", http.base);
    poll("the PLAIN HTTP warning", DEADLINE, || http.stderr().contains("PLAIN HTTP").then_some(()));
    let warning = http.stderr().lines().find(|l| l.contains("PLAIN HTTP")).unwrap().to_owned();
    assert!(warning.contains("WARN"), "{warning}");
    let doc = http.get("/metadata/json/1", &[]).json();
    assert_eq!(doc["issuer"], format!("{EXCHANGE}@{REALM}"));

    // Over https there is no such warning.
    let other = Site::new();
    other.configure("exchange");
    let https = other.serve();
    assert!(!https.stderr().contains("PLAIN HTTP"), "{}", https.stderr());
}

#[test]
fn demo_shows_an_accepted_call_and_a_diagnosed_refusal() {
    // TMPDIR points into a directory of our own, so we can see that the demo leaves nothing behind.
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("s2sd"))
        .arg("demo")
        .env("TMPDIR", tmp.path())
        .env_remove("S2S_STORE")
        .env_remove("S2S_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("s2sd demo did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "s2sd demo failed ({status}):\n{stdout}\n{stderr}");
    for expected in ["HTTP 200", "HTTP 401", "x-ms-diagnostics: 2008", "\"token_kind\": \"act_as\"", "Demo finished"] {
        assert!(stdout.contains(expected), "the demo output lacks `{expected}`:\n{stdout}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "the demo left files behind: {left:?}");
}
