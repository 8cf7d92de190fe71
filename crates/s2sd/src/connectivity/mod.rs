//! The outbound side of the communications-server role: proving the trust with the storage
//! connectivity test (Test-CsExStorageConnectivity: open the user's Conversation History folder
//! over EWS as that user, write an item, optionally delete it), archiving IM transcripts as mail
//! items, and the unified contact store (the user's contacts in the mailbox). Every failure is
//! diagnosed: what the target said, the likely cause, and the command that fixes it on which side.

pub mod ews;

use std::time::Instant;

use s2s::client::Issuer;
use s2s::principal::EXCHANGE;
use s2s::token::UserClaims;

pub use ews::{Contact, EwsClient, EwsError, EwsId, Folder, TransportKind};

use crate::diagnosis::{self, Diagnosis};
use crate::store::{PartnerKind, PartnerRecord, Store, StoreError};
use crate::{outbound, trust};

/// Why a connectivity command could not start or failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectivityError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No Exchange target could be found.
    #[error(
        "no Exchange target: register Exchange as a partner application by metadata URL (s2sd partner-application new --identity Exchange --metadata-url https://<exchange>/autodiscover/metadata/json/1), set s2sd oauth-config set --exchange-autodiscover-url, or pass --target"
    )]
    NoTarget,
    /// The address is not a SIP URI.
    #[error("`{0}` is not a SIP URI: use sip:user@domain")]
    BadSipUri(String),
    /// A URL could not be built.
    #[error("`{0}` is not a valid URL")]
    BadUrl(String),
    /// The token could not be made.
    #[error(transparent)]
    Outbound(#[from] outbound::OutboundError),
    /// An EWS call failed.
    #[error(transparent)]
    Ews(#[from] EwsError),
}

/// Where the mailbox service is and how we know.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Target {
    /// The EWS URL.
    pub url: String,
    /// The partner application that represents it.
    pub partner: String,
    /// How it was found.
    pub found_by: String,
}

/// One step of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// What was done.
    pub name: String,
    /// Whether it worked.
    pub ok: bool,
    /// Milliseconds it took.
    pub millis: u128,
    /// What came of it.
    pub detail: String,
}

/// A run: its steps, and the diagnosis when one failed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The target.
    pub target: Option<Target>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// True when every step worked.
    pub passed: bool,
    /// Why it failed, and the fix.
    pub diagnosis: Option<Diagnosis>,
}

/// A prepared connection to a user's mailbox on the Exchange partner.
pub struct Session {
    /// The EWS client carrying the user's act-as token.
    pub client: EwsClient,
    /// The target.
    pub target: Target,
}

/// What a storage connectivity test does.
#[derive(Debug, Clone)]
pub struct StorageTest {
    /// The user, `sip:…`.
    pub sip_uri: String,
    /// Delete the test item afterwards.
    pub delete_item: bool,
    /// An explicit EWS URL (else found from the Exchange partner).
    pub target: Option<String>,
    /// PEM roots for the target's TLS (else the partner's `--tls-ca`, else the system's).
    pub tls_ca: Option<Vec<u8>>,
}

/// Runs the storage connectivity test; never fails as a whole — failures are steps with a diagnosis.
pub async fn test_storage(store: &dyn Store, test: &StorageTest, now: i64) -> Report {
    let mut report = Report { target: None, steps: Vec::new(), passed: false, diagnosis: None };
    let started = Instant::now();
    let session = match open(store, &test.sip_uri, test.target.as_deref(), test.tls_ca.as_deref(), now).await {
        Ok(s) => s,
        Err(e) => {
            report.steps.push(step("prepare the act-as token for the user", false, started, e.to_string()));
            report.diagnosis = Some(diagnose(&e, None));
            return report;
        }
    };
    report.steps.push(step(
        "prepare the act-as token for the user",
        true,
        started,
        format!("target {} ({})", session.target.url, session.target.found_by),
    ));
    report.target = Some(session.target.clone());
    let t = Instant::now();
    let folder = match session.client.get_folder("conversationhistory").await {
        Ok(f) => {
            report.steps.push(step("open the Conversation History folder (GetFolder)", true, t, "found".into()));
            f
        }
        Err(e) => return failed(report, "open the Conversation History folder (GetFolder)", t, e),
    };
    let t = Instant::now();
    let subject = format!("s2s storage connectivity test {}", crate::timestamp::rfc3339(now));
    let item = match session
        .client
        .create_message(&Folder::Id(&folder), &subject, "Written by s2sd test storage-connectivity.")
        .await
    {
        Ok(i) => {
            report.steps.push(step("write a test item (CreateItem)", true, t, format!("saved \"{subject}\"")));
            i
        }
        Err(e) => return failed(report, "write a test item (CreateItem)", t, e),
    };
    if test.delete_item {
        let t = Instant::now();
        if let Err(e) = session.client.delete_item(&item, true).await {
            return failed(report, "delete the test item (DeleteItem)", t, e);
        }
        report.steps.push(step("delete the test item (DeleteItem)", true, t, "deleted".into()));
    }
    report.passed = true;
    report
}

/// Opens an EWS session to `sip_uri`'s mailbox on the Exchange partner.
pub async fn open(
    store: &dyn Store,
    sip_uri: &str,
    explicit_target: Option<&str>,
    tls_ca: Option<&[u8]>,
    now: i64,
) -> Result<Session, ConnectivityError> {
    let user = sip_user(sip_uri)?;
    let partners = store.partners().await?;
    let config = store.oauth_config().await?;
    let (partner, target) =
        find_target(&partners, config.as_ref().and_then(|c| c.exchange_autodiscover_url.as_deref()), explicit_target)?;
    let url = url::Url::parse(&target.url).map_err(|_| ConnectivityError::BadUrl(target.url.clone()))?;
    let loaded = trust::load(store, now).await?;
    let issuer = Issuer::new(loaded.issuer, s2s::clock::system());
    let authorization =
        outbound::authorization(&issuer, &partners, partner, &url, Some(&user), s2s::clock::system()).await?;
    let ca = tls_ca.map(<[u8]>::to_vec).or_else(|| partner.tls_ca_pem.as_ref().map(|p| p.as_bytes().to_vec()));
    let client = EwsClient::new(url, authorization, ca.as_deref())?;
    Ok(Session { client, target })
}

/// The user claims for a SIP URI.
fn sip_user(sip_uri: &str) -> Result<UserClaims, ConnectivityError> {
    if !sip_uri.to_ascii_lowercase().starts_with("sip:") {
        return Err(ConnectivityError::BadSipUri(sip_uri.to_owned()));
    }
    UserClaims::from_address(sip_uri).ok_or_else(|| ConnectivityError::BadSipUri(sip_uri.to_owned()))
}

/// The Exchange partner and its EWS URL: `--target`, else the partner's metadata URL host, else the
/// configured autodiscover URL's host.
fn find_target<'a>(
    partners: &'a [PartnerRecord],
    autodiscover: Option<&str>,
    explicit: Option<&str>,
) -> Result<(&'a PartnerRecord, Target), ConnectivityError> {
    let exchange = partners
        .iter()
        .find(|p| p.kind == PartnerKind::Application && p.enabled && p.application_id.eq_ignore_ascii_case(EXCHANGE))
        .ok_or(ConnectivityError::NoTarget)?;
    let ews_at = |base: &str| -> Option<String> {
        let u = url::Url::parse(base).ok()?;
        let host = u.host_str()?;
        let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
        Some(format!("{}://{host}{port}/EWS/Exchange.asmx", u.scheme()))
    };
    let (url, found_by) = if let Some(t) = explicit {
        (t.to_owned(), "--target".to_owned())
    } else if let Some(u) = exchange.metadata_url.as_deref().and_then(ews_at) {
        (u, format!("the metadata URL of partner {}", exchange.name))
    } else if let Some(u) = autodiscover.and_then(ews_at) {
        (u, "oauth-config --exchange-autodiscover-url".to_owned())
    } else {
        return Err(ConnectivityError::NoTarget);
    };
    Ok((exchange, Target { url, partner: exchange.name.clone(), found_by }))
}

fn step(name: &str, ok: bool, started: Instant, detail: String) -> Step {
    Step { name: name.to_owned(), ok, millis: started.elapsed().as_millis(), detail }
}

/// A failed step; the fix names the target's partner record for us, whose name we do not know.
fn failed(mut report: Report, name: &str, started: Instant, e: EwsError) -> Report {
    let error = ConnectivityError::Ews(e);
    report.steps.push(step(name, false, started, error.to_string()));
    report.diagnosis = Some(diagnose(&error, Some("<our partner name there>")));
    report
}

/// The cause of a failure and its fix.
pub fn diagnose(e: &ConnectivityError, partner: Option<&str>) -> Diagnosis {
    let d = |cause: &str, fix: &str| Diagnosis { cause: cause.to_owned(), fix: fix.to_owned() };
    match e {
        ConnectivityError::Ews(EwsError::Http { status: 401, diagnostics, reason, .. }) => {
            let parsed = diagnostics.as_deref().and_then(diagnosis::parse_header);
            let code = parsed.as_ref().map_or(0, |(c, _)| *c);
            let text = parsed.map(|(_, t)| t).unwrap_or_default();
            let reason = reason.clone().unwrap_or_else(|| diagnosis::reason_for(code, &text).to_owned());
            diagnosis::explain(&reason, code, partner)
        }
        ConnectivityError::Ews(EwsError::Http { status, .. }) => d(
            &format!("the target answered HTTP {status}: it may not be an EWS endpoint"),
            "check the target URL (--target https://<exchange>/EWS/Exchange.asmx)",
        ),
        ConnectivityError::Ews(EwsError::Response { code, .. }) if code == "ErrorNonExistentMailbox" => d(
            "the user has no mailbox on the target",
            "on the target: s2sd mailbox user new --smtp <address> --sip <sip address>",
        ),
        ConnectivityError::Ews(EwsError::Response { code, .. })
            if code == "ErrorAccessDenied" || code == "ErrorImpersonateUserDenied" =>
        {
            d(
                "the target refused access to the mailbox",
                "on the target: the partner needs trust level Full to act for users (s2sd partner-application set <us> --trust-level full)",
            )
        }
        ConnectivityError::Ews(EwsError::Response { code, text }) => {
            d(&format!("the mailbox service answered {code}: {text}"), "see the target's logs for the item")
        }
        ConnectivityError::Ews(EwsError::Transport { kind: TransportKind::Tls, .. }) => d(
            "TLS failure: the target's certificate is not trusted (or TLS could not be negotiated)",
            "on our side: trust the target's CA (s2sd partner-application set Exchange --tls-ca FILE, or --tls-ca for this test)",
        ),
        ConnectivityError::Ews(EwsError::Transport { kind: TransportKind::Dns, .. }) => d(
            "DNS failure: the target's host name does not resolve",
            "fix DNS, or register the partner by a resolvable metadata URL (s2sd partner-application set Exchange --metadata-url …)",
        ),
        ConnectivityError::Ews(EwsError::Transport {
            kind: TransportKind::Connect | TransportKind::Timeout, ..
        }) => d(
            "the target does not answer (nothing listens on that port, or a firewall drops the connection)",
            "check that s2sd serve runs on the target and the port is open",
        ),
        ConnectivityError::NoTarget => d(
            "no Exchange partner is registered here",
            "on our side: s2sd partner-application new --identity Exchange --metadata-url https://<exchange>/autodiscover/metadata/json/1 --trust-level full",
        ),
        ConnectivityError::Outbound(o) => {
            d(&format!("we could not make a token: {o}"), "on our side: s2sd oauth-config show; s2sd certificate list")
        }
        other => d(&other.to_string(), "see the message above"),
    }
}

/// Saves an IM transcript as a mail item in the user's archive folder (Exchange archiving).
pub async fn archive_conversation(
    session: &Session,
    subject: &str,
    transcript: &str,
) -> Result<EwsId, ConnectivityError> {
    Ok(session.client.create_message(&Folder::Distinguished("archivemsgfolderroot"), subject, transcript).await?)
}
