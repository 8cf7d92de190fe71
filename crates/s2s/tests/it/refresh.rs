//! Metadata refresh on an unknown thumbprint, against a real HTTP metadata server on 127.0.0.1.
//! Real sockets need real time, so the waits are short: `min_gap` is a second (long enough that a
//! busy machine cannot let it pass between two steps that must fall inside it) and every fetch is
//! awaited through the refresher's report hook rather than by sleeping.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use s2s::clock::FixedClock;
use s2s::metadata::{MetadataDocument, MetadataKey};
use s2s::middleware::S2sAuth;
use s2s::partner::refresh::{self, FetchReport, RefreshOutcome, RefreshPolicy, ReportHook};
use s2s::partner::{MetadataSource, TrustStore};
use s2s::principal::LYNC;
use s2s::validate::{RejectionKind, Validator};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::common::*;

const MIN_GAP: Duration = Duration::from_secs(1);

/// A metadata server whose answer can be switched, counting the requests it gets.
struct MetadataServer {
    answer: Mutex<(StatusCode, String)>,
    hits: AtomicUsize,
}

impl MetadataServer {
    fn publish(&self, keys: &[&TestKey]) {
        let doc = MetadataDocument {
            id: Some("_lync".into()),
            name: Some("Lync".into()),
            realm: Some(REALM.into()),
            service_name: Some(LYNC.into()),
            issuer: Some(lync_principal()),
            keys: keys.iter().map(|k| MetadataKey::signing(k.cert_der.clone())).collect(),
            ..MetadataDocument::default()
        };
        *self.answer.lock().unwrap() = (StatusCode::OK, doc.to_json());
    }

    fn fail(&self) {
        *self.answer.lock().unwrap() = (StatusCode::INTERNAL_SERVER_ERROR, "boom".into());
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_metadata(server: Arc<MetadataServer>) -> String {
    async fn metadata(State(s): State<Arc<MetadataServer>>) -> (StatusCode, [(&'static str, &'static str); 1], String) {
        s.hits.fetch_add(1, Ordering::SeqCst);
        let (status, body) = s.answer.lock().unwrap().clone();
        (status, [("content-type", "application/json")], body)
    }
    let app = Router::new().route("/metadata/json/1", get(metadata)).with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/metadata/json/1")
}

struct Fixture {
    server: Arc<MetadataServer>,
    trust: Arc<TrustStore>,
    auth: S2sAuth,
    handle: refresh::RefreshHandle,
    reports: mpsc::UnboundedReceiver<FetchReport>,
    cancel: CancellationToken,
}

impl Fixture {
    /// The server publishes key A; the partner starts with key A; the refresher is running and
    /// has done its start-up fetch.
    async fn start() -> Self {
        let server =
            Arc::new(MetadataServer { answer: Mutex::new((StatusCode::OK, String::new())), hits: AtomicUsize::new(0) });
        server.publish(&[key_a()]);
        let url = serve_metadata(Arc::clone(&server)).await;
        let source = MetadataSource { url, allow_http: true, ca_pem: None };
        let trust = Arc::new(TrustStore::new(local(), vec![lync_partner(vec![key_a().verifying()], Some(source))]));
        let clock = Arc::new(FixedClock::new(NOW));
        let validator = Arc::new(Validator::new(Arc::clone(&trust), clock.clone()));
        let (tx, reports) = mpsc::unbounded_channel();
        let hook: ReportHook = Arc::new(move |r| {
            let _ = tx.send(r);
        });
        let policy = RefreshPolicy {
            interval: Duration::from_secs(3600),
            min_gap: MIN_GAP,
            timeout: Duration::from_secs(5),
            retry: Duration::from_secs(3600),
            ..RefreshPolicy::default()
        };
        let cancel = CancellationToken::new();
        let handle = refresh::spawn(Arc::clone(&trust), clock, policy, Some(hook), cancel.clone());
        let auth = S2sAuth::new(validator).with_refresher(handle.clone());
        let mut f = Self { server, trust, auth, handle, reports, cancel };
        let startup = f.next_report().await;
        assert_eq!(startup.result, Ok(vec![key_a().cert_der.clone()]), "start-up fetch");
        assert_eq!(f.server.hits(), 1);
        f
    }

    async fn next_report(&mut self) -> FetchReport {
        tokio::time::timeout(Duration::from_secs(10), self.reports.recv()).await.expect("a fetch report").unwrap()
    }

    /// Lets `min_gap` pass since the last fetch.
    async fn after_min_gap(&self) {
        tokio::time::sleep(MIN_GAP + Duration::from_millis(50)).await;
    }

    fn partner_x5ts(&self) -> Vec<String> {
        self.trust.snapshot().partner("lync").unwrap().keys.iter().map(|k| k.x5t().to_owned()).collect()
    }

    /// A validator without cache over the same trust store.
    fn bare(&self) -> Validator {
        Validator::new(Arc::clone(&self.trust), Arc::new(FixedClock::new(NOW))).with_cache_capacity(0)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[tokio::test]
async fn unknown_thumbprint_refreshes_once_then_rate_limits_and_keeps_last_good_keys() {
    let mut f = Fixture::start().await;
    let token_b = act_as_token(&actor_token(key_b()));

    // The partner rolls over to B; until we re-read its metadata, B is unknown.
    f.server.publish(&[key_b()]);
    let refused = f.bare().validate(&token_b, HOST).unwrap_err();
    assert_eq!(refused.kind, RejectionKind::NoCertificateFound);
    assert_eq!(refused.partner.as_deref(), Some("Lync"));
    assert!(refused.may_need_refresh());

    f.after_min_gap().await;
    let accepted = f.auth.authenticate(&token_b, HOST).await.unwrap();
    assert_eq!(accepted.x5t, key_b().x5t());
    assert_eq!(f.server.hits(), 2, "exactly one fetch on demand");
    assert_eq!(f.next_report().await.result, Ok(vec![key_b().cert_der.clone()]));
    assert_eq!(f.partner_x5ts(), vec![key_b().x5t()]);
    // A is gone from the metadata, so from the key ring.
    assert_eq!(f.bare().validate(&actor_token(key_a()), HOST).unwrap_err().kind, RejectionKind::NoCertificateFound);

    // Another unknown thumbprint right away: rate-limited, no second fetch.
    let token_c = actor_token(key_c());
    let refused = f.auth.authenticate(&token_c, HOST).await.unwrap_err();
    assert_eq!(refused.kind, RejectionKind::NoCertificateFound);
    assert_eq!(f.handle.refresh_now("Lync").await, RefreshOutcome::RateLimited);
    assert_eq!(f.server.hits(), 2, "no fetch within min_gap");

    // The metadata server breaks: the fetch fails and the last good keys (B) stay in force.
    f.after_min_gap().await;
    f.server.fail();
    match f.handle.refresh_now("Lync").await {
        RefreshOutcome::Failed(e) => assert!(e.contains("500"), "{e}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(f.server.hits(), 3);
    assert!(f.next_report().await.result.is_err());
    assert_eq!(f.partner_x5ts(), vec![key_b().x5t()]);
    assert_eq!(f.bare().validate(&token_b, HOST).unwrap().x5t, key_b().x5t());
    // An unknown key during the outage is refused (after the one allowed attempt), B still works.
    f.after_min_gap().await;
    assert_eq!(f.auth.authenticate(&token_c, HOST).await.unwrap_err().kind, RejectionKind::NoCertificateFound);
    assert_eq!(f.server.hits(), 4);
    assert!(f.auth.authenticate(&token_b, HOST).await.is_ok());
    assert_eq!(f.server.hits(), 4, "a known key needs no fetch");
}

#[tokio::test]
async fn rollover_with_both_keys_published_keeps_the_old_one() {
    let mut f = Fixture::start().await;
    f.server.publish(&[key_a(), key_b()]);
    f.after_min_gap().await;
    assert_eq!(f.handle.refresh_now("lync").await, RefreshOutcome::Updated);
    assert_eq!(f.next_report().await.result.unwrap().len(), 2);
    assert_eq!(f.partner_x5ts(), vec![key_a().x5t(), key_b().x5t()]);
    assert!(f.bare().validate(&actor_token(key_a()), HOST).is_ok());
    assert!(f.bare().validate(&actor_token(key_b()), HOST).is_ok());
    // Same document again: unchanged, and the trust generation stays.
    let generation = f.trust.snapshot().generation;
    f.after_min_gap().await;
    assert_eq!(f.handle.refresh_now("Lync").await, RefreshOutcome::Unchanged);
    assert_eq!(f.trust.snapshot().generation, generation);
    assert_eq!(f.handle.refresh_now("nobody").await, RefreshOutcome::NotApplicable);
}
