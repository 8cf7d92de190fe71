#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The token endpoint seen as an attacker tries it: refusals and logs never carry what the request
//! sent (a secret smuggled into another field, a forged log line), and the hold-back of failing
//! clients cannot be turned against a real client.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use tokio::time::Instant;

use super::fixture::*;
use super::{CLIENT, HOST, REALM, TOKEN_PATH, resource};
use crate::authority::{FAILURES_BEFORE_DELAY, FAILURES_PER_SOURCE_BEFORE_DELAY};

/// A secret that is registered nowhere: a request carrying it still must not show it.
const SMUGGLED: &str = "s3cr3t-VALUE-0123456789abcdef";
/// What a forged log line would start with.
const FORGED: &str = "FORGED-LINE";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `f` on a current-thread runtime with every event at TRACE written, as `s2sd serve` writes
/// them (fmt, no colours), into the returned buffer.
fn with_captured_logs<T, F: std::future::Future<Output = T>>(f: impl FnOnce() -> F) -> (T, String) {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    // Callsite interest is global: while a single dispatcher exists, tracing computes it from the
    // registering thread's own default, so another test's thread (no subscriber) would cache
    // "never" for the endpoint's events. A second dispatcher that lives for the whole test binary
    // makes interest the union over all of them; one capture at a time, the cache rebuilt inside.
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let out = tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        runtime.block_on(f())
    });
    (out, logs.text())
}

async fn post_raw(body: &str, path: &str) -> Answer {
    let f = fixture();
    let request = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(&f.router, request).await
}

#[track_caller]
fn assert_clean(what: &str, answer: &Answer, logs: &str) {
    let description = answer.json["error_description"].as_str().unwrap_or_default();
    for (place, text) in [("error_description", description), ("logs", logs)] {
        assert!(!text.contains(SMUGGLED), "{what}: the secret is in the {place}:\n{text}");
        assert!(!text.contains("s3cr3t"), "{what}: part of the secret is in the {place}:\n{text}");
    }
    assert!(!description.contains(['\n', '\r']), "{what}: a raw line break in {description:?}");
    assert!(!description.contains(FORGED), "{what}: the description repeats the input: {description:?}");
    for line in logs.lines() {
        let start = line.trim_start();
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].iter().any(|l| start.starts_with(l)),
            "{what}: a log line not written by the logger (forged):\n{logs}"
        );
    }
}

#[test]
fn refusals_and_logs_never_carry_what_the_request_sent() {
    let res = resource();
    let client_id = format!("{CLIENT}@{REALM}");
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let cases: Vec<(&str, String, String)> = vec![
        (
            "`;` separators with a secret inside",
            format!(
                "grant_type=client_credentials;client_id={client_id};client_secret={SMUGGLED};resource={}",
                enc(&res)
            ),
            TOKEN_PATH.into(),
        ),
        (
            "an assertion in client_assertion_type",
            format!(
                "grant_type=client_credentials&client_id={CLIENT}&client_assertion=x.y.z&client_assertion_type=eyJ0eXAi.{SMUGGLED}.sig&resource={}",
                enc(&res)
            ),
            TOKEN_PATH.into(),
        ),
        (
            "a line break in client_id",
            format!(
                "grant_type=client_credentials&client_id={CLIENT}%0A{FORGED}%0D%0A{FORGED}&client_secret=wrong&resource={}",
                enc(&res)
            ),
            TOKEN_PATH.into(),
        ),
        (
            "a line break in client_id's realm",
            format!(
                "grant_type=client_credentials&client_id={CLIENT}@x%0A{FORGED}&client_secret=wrong&resource={}",
                enc(&res)
            ),
            TOKEN_PATH.into(),
        ),
        (
            "a line break in grant_type",
            format!("grant_type=client_credentials%0A{FORGED}&client_id={client_id}&client_secret=wrong"),
            TOKEN_PATH.into(),
        ),
        (
            "a secret and a line break in resource",
            format!(
                "grant_type=client_credentials&client_id={client_id}&client_secret=wrong&resource=x;client_secret={SMUGGLED}%0A{FORGED}"
            ),
            TOKEN_PATH.into(),
        ),
        (
            "a secret and a line break in scope",
            format!(
                "grant_type=client_credentials&client_id={client_id}&client_secret=wrong&scope={FORGED}%0A{SMUGGLED}"
            ),
            TOKEN_PATH.into(),
        ),
        (
            "a line break in the realm of the URL",
            "grant_type=client_credentials".into(),
            format!("/x%0A{FORGED}%0A{SMUGGLED}/tokens/OAuth/2"),
        ),
    ];
    for (what, body, path) in cases {
        let (answer, logs) = with_captured_logs(|| post_raw(&body, &path));
        assert!(answer.status.is_client_error(), "{what}: {}", answer.json);
        assert_clean(what, &answer, &logs);
        assert!(logs.contains("token request refused"), "{what}: the refusal is logged:\n{logs}");
    }
}

#[test]
fn refusals_name_the_field_that_is_wrong() {
    let ((), logs) = with_captured_logs(|| async {
        let a = post_raw(&format!("grant_type=client_credentials;client_secret={SMUGGLED}"), TOKEN_PATH).await;
        a.refused("unsupported_grant_type", &["grant_type", "client_credentials"]);
        let a = post_raw(
            &format!(
                "grant_type=client_credentials&client_id={CLIENT}&client_assertion=x.y.z&client_assertion_type=nope"
            ),
            TOKEN_PATH,
        )
        .await;
        a.refused(
            "invalid_request",
            &["client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
        );
        // A known grant type from OAuth's own vocabulary is named, it is not a secret.
        let a = post_raw("grant_type=password", TOKEN_PATH).await;
        a.refused("unsupported_grant_type", &["`password`"]);
        // A well-formed client id is named (it is how admins find the principal).
        let unknown = "0badc0de-0000-4000-8000-000000000000";
        let a = post_raw(
            &format!("grant_type=client_credentials&client_id={unknown}&client_secret=x&resource=x"),
            TOKEN_PATH,
        )
        .await;
        a.refused("invalid_client", &[unknown]);
    });
    assert!(!logs.contains(SMUGGLED), "{logs}");
}

// ---------------------------------------------------------------------------------------------
// The hold-back of failing clients

/// Posts `client`'s secret from `source` and says how long the answer took (paused time: exact).
async fn timed_secret(f: &Fixture, client: &str, secret: &str, source: [u8; 4]) -> (Answer, Duration) {
    let body = super::form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &format!("{client}@{REALM}")),
        ("client_secret", secret),
        ("resource", &resource()),
    ]);
    let mut request = Request::post(TOKEN_PATH)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from((source, 40_000))));
    let start = Instant::now();
    let answer = send(&f.router, request).await;
    (answer, start.elapsed())
}

fn paused<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    runtime.block_on(f());
}

const ATTACKER: [u8; 4] = [203, 0, 113, 7];
const REAL: [u8; 4] = [192, 0, 2, 10];

#[test]
fn a_correct_request_is_never_held_back_by_someone_elses_failures() {
    paused(|| async {
        let f = fixture();
        for _ in 0..FAILURES_BEFORE_DELAY + 3 {
            timed_secret(&f, CLIENT, "wrong", ATTACKER).await.0.refused("invalid_client", &[]);
        }
        // The real client, from its own address and from the attacker's (a shared NAT): no wait.
        for source in [REAL, ATTACKER] {
            let (answer, took) = timed_secret(&f, CLIENT, &f.secret, source).await;
            answer.issued();
            assert_eq!(took, Duration::ZERO, "a request with a valid credential is never held back");
        }
    });
}

#[test]
fn the_attacker_is_slowed_per_client_and_per_address() {
    paused(|| async {
        let f = fixture();
        let mut waits = Vec::new();
        for _ in 0..FAILURES_BEFORE_DELAY + 3 {
            let (answer, took) = timed_secret(&f, CLIENT, "wrong", ATTACKER).await;
            answer.refused("invalid_client", &[]);
            waits.push(took.as_secs());
        }
        assert_eq!(waits, [0, 0, 0, 0, 0, 1, 2, 3], "one client from one address");
        // Another address guessing the same client is not slowed by the first one's failures.
        assert_eq!(timed_secret(&f, CLIENT, "wrong", REAL).await.1, Duration::ZERO);
        // One address trying ever new client ids is slowed once it has failed often enough.
        let mut waits = Vec::new();
        for i in 0..FAILURES_PER_SOURCE_BEFORE_DELAY + 2 {
            let fake = format!("0badc0de-0000-4000-8000-{i:012x}");
            let (answer, took) = timed_secret(&f, &fake, "wrong", [198, 51, 100, 1]).await;
            answer.refused("invalid_client", &[]);
            waits.push(took.as_secs());
        }
        let n = FAILURES_PER_SOURCE_BEFORE_DELAY as usize;
        assert!(waits[..n].iter().all(|w| *w == 0), "{waits:?}");
        assert_eq!(&waits[n..], [1, 2], "{waits:?}");
    });
}

#[test]
fn a_flood_of_fake_client_ids_does_not_evict_a_real_clients_counter() {
    paused(|| async {
        let f = fixture();
        for _ in 0..FAILURES_BEFORE_DELAY + 1 {
            timed_secret(&f, CLIENT, "wrong", ATTACKER).await;
        }
        // 100,000 fake client ids failing, each from its own address.
        for i in 0u32..100_000 {
            let fake = format!("0badc0de-0000-4000-8000-{i:012x}");
            let [_, a, b, c] = i.to_be_bytes();
            timed_secret(&f, &fake, "wrong", [10, a, b, c]).await;
        }
        // The attacker's next guess at the real client waits as long as before the flood.
        let (answer, took) = timed_secret(&f, CLIENT, "wrong", ATTACKER).await;
        answer.refused("invalid_client", &[]);
        assert_eq!(took, Duration::from_secs(2), "the real client's counter survived the flood");
    });
}
