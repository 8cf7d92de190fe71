//! `s2sd token issue|inspect`: mint our tokens for a partner, and take any token apart — both
//! layers decoded, then the server's own validator run on it with its trace printed step by step
//! (the verdict is the validator's, never re-decided here), and the fix for a refusal. Inspect
//! never prints a token or a signature.

use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;
use s2s::client::IssueError;
use s2s::client::Issuer;
use s2s::partner::TrustStore;
use s2s::principal::Principal;
use s2s::token::{ActorToken, Compact, UserClaims};
use s2s::validate::{Outcome, Step, TraceStep, Validator, Verdict};

use super::{Printer, now, rfc3339};
use crate::store::Store;
use crate::{diagnosis, trust};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Mint an app-only actor token, or an act-as token with --user, for calling a partner.
    Issue {
        /// The partner application to call (its application id becomes the audience).
        #[arg(long)]
        partner: String,
        /// The host (and port) the partner is called at, as in its URL.
        #[arg(long)]
        host: String,
        /// Act for this user: sip:…, smtp:…, upn:…, or a bare address.
        #[arg(long)]
        user: Option<String>,
    },
    /// Decode a token and show, step by step, how this server's validator decides on it.
    Inspect {
        /// The token (or - to read it from standard input).
        token: String,
        /// The host the token was presented to (default: the host in its audience).
        #[arg(long)]
        host: Option<String>,
    },
}

pub async fn run(cmd: Cmd, store: &Arc<dyn Store>, out: &Printer) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Issue { partner, host, user } => {
            let loaded = trust::load(store.as_ref(), now()).await?;
            let record = store.partner(&partner).await?.with_context(|| {
                format!("no partner application named {partner} (see s2sd partner-application list)")
            })?;
            let user = user
                .map(|u| {
                    UserClaims::from_address(&u)
                        .with_context(|| format!("`{u}` is not an address: use sip:user@domain, smtp:…, upn:…"))
                })
                .transpose()?;
            let issuer = Issuer::new(loaded.issuer, s2s::clock::system());
            let audience = issuer.audience(&record.application_id, &host);
            let (token, via) = if record.use_auth_server {
                let partners = store.partners().await?;
                let url = url::Url::parse(&format!("https://{host}/"))
                    .with_context(|| format!("--host `{host}` is not a host[:port]"))?;
                let header = crate::outbound::authorization(
                    &issuer,
                    &partners,
                    &record,
                    &url,
                    user.as_ref(),
                    s2s::clock::system(),
                )
                .await?;
                (header.trim_start_matches("Bearer ").to_owned(), "auth server")
            } else {
                let token = match &user {
                    Some(u) => issuer.act_as_token(&audience, u).map_err(issue_error)?,
                    None => issuer.actor_token(&audience).map_err(issue_error)?.to_string(),
                };
                (token, "self-issued")
            };
            let expires = issuer.cached_expiry(&audience).map(rfc3339);
            if out.json() {
                out.emit(
                    "",
                    serde_json::json!({
                        "token": token,
                        "kind": if user.is_some() { "act_as" } else { "app_only" },
                    "actor_from": via,
                        "audience": audience.to_string(),
                        "expires_at": expires,
                        "user": user,
                    }),
                );
            } else {
                println!("{token}");
            }
        }
        Cmd::Inspect { token, host } => {
            let token = if token == "-" {
                let mut s = String::new();
                std::io::stdin().take(64 * 1024).read_to_string(&mut s)?;
                s
            } else {
                token
            };
            let token = token.trim().trim_start_matches("Bearer ").trim();
            let loaded = trust::load(store.as_ref(), now()).await?;
            let report = inspect(token, host.as_deref(), loaded);
            let ok = report.accepted;
            out.emit(report.text(), serde_json::to_value(&report)?);
            return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `token inspect` prints: both layers decoded (never a signature), the validator's own
/// steps, its verdict, and for a refusal the diagnosis.
/// A minting error with the command that fixes it, when there is one.
fn issue_error(e: IssueError) -> anyhow::Error {
    match diagnosis::issue_fix(&e) {
        Some(fix) => anyhow::anyhow!("{e} ({fix})"),
        None => e.into(),
    }
}

#[derive(Debug, serde::Serialize)]
struct Report {
    /// Both layers as decoded (kind, headers, claims).
    #[serde(flatten)]
    layers: Decoded,
    /// The host the token was taken as presented to.
    authority: String,
    steps: Vec<TraceStep>,
    failed_step: Option<Step>,
    accepted: bool,
    verdict: String,
    result: Verdict,
    diagnosis: Option<diagnosis::Diagnosis>,
}

impl Report {
    fn text(&self) -> String {
        let mut t = format!("Token kind: {}\n", self.layers.kind);
        if let Some(o) = &self.layers.outer_claims {
            t.push_str(&format!("Outer token claims (unsigned; trusted only through the actor):\n{}\n", pretty(o)));
        }
        if let Some(h) = &self.layers.actor_header {
            t.push_str(&format!("Actor token header:\n{}\n", pretty(h)));
        }
        if let Some(c) = &self.layers.actor_claims {
            t.push_str(&format!("Actor token claims:\n{}\n", pretty(c)));
        }
        t.push_str(&format!("Validation, as presented to {} (the server's own steps):\n", self.authority));
        for s in &self.steps {
            let mark = match s.outcome {
                Outcome::Passed => "ok  ",
                Outcome::Failed => "FAIL",
                Outcome::Skipped => "skip",
            };
            t.push_str(&format!("  [{mark}] {}: {}\n", s.step.name(), s.detail));
        }
        t.push_str(&format!("Verdict: {}", self.verdict));
        if let Some(d) = &self.diagnosis {
            t.push_str(&format!("\nCause: {}\nFix:   {}", d.cause, d.fix));
        }
        t
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default().lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// The layers of a token, decoded as far as they decode (nothing is checked here).
#[derive(Debug, serde::Serialize)]
struct Decoded {
    kind: &'static str,
    outer_header: Option<serde_json::Value>,
    outer_claims: Option<serde_json::Value>,
    actor_header: Option<serde_json::Value>,
    actor_claims: Option<serde_json::Value>,
    /// The host in the actor's audience: the default authority to validate against.
    #[serde(skip)]
    audience_host: Option<String>,
}

fn decode(token: &str) -> Decoded {
    let mut d = Decoded {
        kind: "undecodable",
        outer_header: None,
        outer_claims: None,
        actor_header: None,
        actor_claims: None,
        audience_host: None,
    };
    let Some((compact, header)) = Compact::split(token).ok().and_then(|c| c.header().ok().map(|h| (c, h))) else {
        return d;
    };
    let actor_text = if header.is_unsigned() {
        d.kind = "act-as (outer + actor)";
        d.outer_header = serde_json::to_value(&header).ok();
        let claims: Option<serde_json::Value> = compact.claims().ok();
        let actor = claims.as_ref().and_then(|c| c.get("actortoken").or(c.get("actort"))).and_then(|a| a.as_str());
        let actor = actor.map(str::to_owned);
        d.outer_claims = claims.map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                for key in ["actortoken", "actort"] {
                    if o.contains_key(key) {
                        o.insert(key.into(), serde_json::Value::String("<the actor token below>".into()));
                    }
                }
            }
            v
        });
        match actor {
            Some(a) => a,
            None => return d,
        }
    } else {
        d.kind = "app-only (actor)";
        token.to_owned()
    };
    if let Ok(actor) = ActorToken::decode(&actor_text) {
        d.actor_header = serde_json::to_value(&actor.header).ok();
        d.actor_claims = serde_json::to_value(&actor.claims).ok();
        d.audience_host = actor.claims.aud.as_deref().and_then(|a| Principal::parse(a).ok()).and_then(|a| a.host);
    }
    d
}

/// Decodes `token` for display and asks the validator the server uses (same trust, same clock skew)
/// for its decision, step by step.
fn inspect(token: &str, host: Option<&str>, loaded: trust::Loaded) -> Report {
    let mut decoded = decode(token);
    let authority = host.map(str::to_owned).or(decoded.audience_host.take()).unwrap_or_default();
    let validator = Validator::new(Arc::new(TrustStore::new(loaded.local, loaded.partners)), s2s::clock::system())
        .with_cache_capacity(0);
    let (result, trace) = validator.validate_traced(token, &authority);
    let (verdict, diag) = match &result {
        Ok(v) => {
            (format!("this server would ACCEPT it: partner {} ({}), {:?}", v.partner, v.trust_level, v.kind), None)
        }
        Err(r) => (
            format!("this server would REFUSE it: {r}"),
            Some(diagnosis::explain(r.reason(), r.code(), r.partner.as_deref())),
        ),
    };
    Report {
        layers: decoded,
        authority,
        failed_step: trace.failed_step().map(|s| s.step),
        accepted: trace.accepted(),
        steps: trace.steps,
        verdict,
        result: trace.verdict,
        diagnosis: diag,
    }
}
