//! `s2sd token issue|inspect`: mint our tokens for a partner, and take any token apart — both
//! layers decoded, the signature checked against every certificate we know, lifetimes and
//! audience explained in words. Inspect never prints a signature.

use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;
use s2s::client::Issuer;
use s2s::partner::TrustStore;
use s2s::principal::Principal;
use s2s::token::{ActorToken, Compact, OuterToken, UserClaims, VerifyingKey};
use s2s::validate::Validator;

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
    /// Decode a token, check what can be checked, and explain each finding.
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
                    Some(u) => issuer.act_as_token(&audience, u)?,
                    None => issuer.actor_token(&audience)?.to_string(),
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
            let report = inspect(token, host.as_deref(), loaded)?;
            let ok = report.accepted;
            out.emit(report.text(), serde_json::to_value(&report)?);
            return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, serde::Serialize)]
struct Finding {
    ok: bool,
    what: String,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    kind: &'static str,
    outer_claims: Option<serde_json::Value>,
    actor_header: serde_json::Value,
    actor_claims: serde_json::Value,
    findings: Vec<Finding>,
    accepted: bool,
    verdict: String,
    diagnosis: Option<diagnosis::Diagnosis>,
}

impl Report {
    fn text(&self) -> String {
        let mut t = format!("Token kind: {}\n", self.kind);
        if let Some(o) = &self.outer_claims {
            t.push_str(&format!("Outer token claims (unsigned; trusted only through the actor):\n{}\n", pretty(o)));
        }
        t.push_str(&format!(
            "Actor token header:\n{}\nActor token claims:\n{}\nFindings:\n",
            pretty(&self.actor_header),
            pretty(&self.actor_claims)
        ));
        for f in &self.findings {
            t.push_str(&format!("  [{}] {}\n", if f.ok { "ok" } else { "!!" }, f.what));
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

fn inspect(token: &str, host: Option<&str>, loaded: trust::Loaded) -> anyhow::Result<Report> {
    let now = now();
    let mut findings = Vec::new();
    let mut note = |ok: bool, what: String| findings.push(Finding { ok, what });
    let compact = Compact::split(token).context("not a compact JWT")?;
    let header = compact.header().context("the header cannot be decoded")?;
    let (kind, outer_claims, actor_text) = if header.is_unsigned() {
        let outer = OuterToken::decode(&compact, &header).context("an alg none token must have an empty signature")?;
        let actor = outer
            .claims
            .actortoken
            .clone()
            .context("unsigned token without an actortoken claim: it would be refused")?;
        note(true, "outer token is unsigned (alg none) and carries an actor token, as act-as tokens do".into());
        if outer.claims.user.is_empty() {
            note(false, "outer token names no user (nameid, upn, smtp, sip)".into());
        }
        (
            "act-as (outer + actor)",
            Some(serde_json::to_value(&outer.claims).map(|mut v| {
                if let Some(o) = v.as_object_mut() {
                    o.insert("actortoken".into(), serde_json::Value::String("<the actor token below>".into()));
                }
                v
            })?),
            actor,
        )
    } else {
        ("app-only (actor)", None, token.to_owned())
    };
    let actor = ActorToken::decode(&actor_text).context("the actor token cannot be decoded")?;
    if actor.header.is_unsigned() {
        note(false, "the actor token is unsigned (alg none): always refused".into());
    }
    // Signature against every certificate we know.
    let thumb = actor.header.x5t.clone().or(actor.header.kid.clone()).unwrap_or_default();
    let mut candidates: Vec<(String, VerifyingKey)> = Vec::new();
    for p in &loaded.partners {
        for k in &p.keys {
            if let Ok(v) = VerifyingKey::from_certificate(k.certificate_der()) {
                candidates.push((format!("partner {}", p.name), v));
            }
        }
    }
    for k in &loaded.metadata.keys {
        if let Ok(v) = VerifyingKey::from_certificate(&k.certificate) {
            candidates.push(("our own certificate".into(), v));
        }
    }
    match candidates.iter().find(|(_, k)| k.matches_x5t(&thumb)) {
        Some((whose, k)) => match actor.compact.verify(&actor.header.alg, k) {
            Ok(()) => {
                note(true, format!("signature verifies under {whose}'s certificate {} ({})", k.x5t(), k.subject()))
            }
            Err(e) => {
                note(false, format!("x5t {thumb} names {whose}'s certificate, but the signature does not verify: {e}"))
            }
        },
        None => note(false, format!("no certificate we know has x5t {thumb:?}; the signature cannot be checked here")),
    }
    let c = &actor.claims;
    match c.exp {
        Some(exp) if exp < now => note(false, format!("expired at {} ({} s ago)", rfc3339(exp), now - exp)),
        Some(exp) => note(true, format!("valid until {} ({} min from now)", rfc3339(exp), (exp - now) / 60)),
        None => note(false, "no exp claim: refused".into()),
    }
    if let Some(nbf) = c.nbf.filter(|n| *n > now) {
        note(false, format!("not valid before {} ({} s from now)", rfc3339(nbf), nbf - now));
    }
    let aud = c.aud.as_deref().map(Principal::parse);
    match &aud {
        Some(Ok(a)) if a.host.is_some() => {
            note(
                true,
                format!(
                    "audience: application {} at host {} in realm {}",
                    a.app_id,
                    a.host.as_deref().unwrap_or_default(),
                    a.realm
                ),
            );
            if !a.app_id.eq_ignore_ascii_case(&loaded.local.app_id) {
                note(false, format!("the audience is not this server's service name ({})", loaded.local.app_id));
            }
        }
        _ => note(false, "aud is missing or not <application id>/<host>@<realm>".into()),
    }
    if let (Some(iss), Some(nameid)) = (&c.iss, &c.nameid) {
        note(iss == nameid || c.identityprovider.is_some(), format!("issuer {iss}, calling application {nameid}"));
    }
    // The decision this server would take.
    let authority =
        host.map(str::to_owned).or_else(|| aud.and_then(Result::ok).and_then(|a| a.host)).unwrap_or_default();
    let validator = Validator::new(Arc::new(TrustStore::new(loaded.local, loaded.partners)), s2s::clock::system())
        .with_cache_capacity(0);
    let (accepted, verdict, diag) = match validator.validate(token, &authority) {
        Ok(v) => (
            true,
            format!("this server would ACCEPT it: partner {} ({}), {:?}", v.partner, v.trust_level, v.kind),
            None,
        ),
        Err(r) => (
            false,
            format!("this server would REFUSE it: {r}"),
            Some(diagnosis::explain(r.reason(), r.code(), r.partner.as_deref())),
        ),
    };
    Ok(Report {
        kind,
        outer_claims,
        actor_header: serde_json::to_value(&actor.header)?,
        actor_claims: serde_json::to_value(&actor.claims)?,
        findings,
        accepted,
        verdict,
        diagnosis: diag,
    })
}
