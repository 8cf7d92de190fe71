#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The token endpoint seen as an attacker tries it: refusals and logs never carry what the request
//! sent (a secret smuggled into another field, a forged log line), and the hold-back of failing
//! clients cannot be turned against a real client.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, header};

use super::fixture::*;
use super::{CLIENT, HOST, REALM, TOKEN_PATH, resource};

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
    let out = tracing::subscriber::with_default(subscriber, || runtime.block_on(f()));
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
