//! The decision: is this bearer token from a partner we trust, for us, now — and for whom?
//! `Validator` checks in Exchange's order (protocol reference §3.3), verifies every actor
//! signature with the algorithm of our key record, and caches successes until they expire or the
//! trust configuration changes. `validate_traced` runs the same checks and records each step
//! (`trace`), for explaining a decision. It never logs tokens.

mod cache;
mod checks;
mod lifetime;
mod rejection;
#[cfg(test)]
mod tests;
mod trace;

use std::sync::Arc;

use serde::Serialize;

pub use rejection::{Rejection, RejectionKind, diagnostics_header};
pub use trace::{Outcome, Step, Trace, TraceStep, Verdict};

use checks::{
    check_audience, check_issuer, check_signature, describe_user, has_actor_claim, malformed, thumbprint_form,
};
use trace::{NoTrace, Recorder, Steps};

use crate::clock::{SharedClock, UnixTime};
use crate::partner::{Partner, PartnerKind, TrustLevel, TrustSnapshot, TrustStore};
use crate::principal::Principal;
use crate::token::{ActorToken, Compact, OuterToken, TokenError, UserClaims};

/// Clock skew allowed on `nbf`/`exp`, as .NET peers allow.
pub const DEFAULT_SKEW_SECONDS: i64 = 300;
/// Longest actor lifetime accepted by default (`exp - nbf`, or `exp - iat` without `nbf`): 48 h,
/// twice the 24 h that Exchange, SharePoint and ACS issue.
pub const DEFAULT_MAX_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

/// App-only or acting for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A signed actor token alone.
    AppOnly,
    /// An outer token naming a user, carrying the actor.
    ActAs,
}

/// An accepted token: who called, for whom, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Validated {
    /// The partner application's name.
    pub partner: String,
    /// The calling application's id.
    pub app_id: String,
    /// The realm of the token.
    pub realm: String,
    /// The partner's trust level.
    pub trust_level: TrustLevel,
    /// App-only or act-as.
    pub kind: TokenKind,
    /// The user claims of an act-as token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserClaims>,
    /// Trust the SID in `nameid` (partner setting).
    pub accept_security_identifier_information: bool,
    /// The partner's linked account, whose rights app-only calls carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linked_account: Option<String>,
    /// The authorization server that issued the actor, when not the partner itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_server: Option<String>,
    /// The thumbprint of the certificate that signed the actor.
    pub x5t: String,
    /// Not before (the later of actor and outer).
    pub not_before: Option<UnixTime>,
    /// Expiry (the earlier of actor and outer).
    pub expires_at: UnixTime,
    /// The trust generation it was decided under.
    #[serde(skip)]
    pub generation: u64,
}

/// Validates bearer tokens against the published trust configuration.
pub struct Validator {
    trust: Arc<TrustStore>,
    clock: SharedClock,
    skew: i64,
    /// Longest actor lifetime accepted, in seconds.
    max_lifetime: i64,
    cache: cache::ValidationCache,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("skew", &self.skew)
            .field("max_lifetime", &self.max_lifetime)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator over `trust`, reading time from `clock`, with the default skew and a cache of 16k entries.
    pub fn new(trust: Arc<TrustStore>, clock: SharedClock) -> Self {
        Self {
            trust,
            clock,
            skew: DEFAULT_SKEW_SECONDS,
            max_lifetime: seconds_of(DEFAULT_MAX_TOKEN_LIFETIME),
            cache: cache::ValidationCache::new(16 * 1024),
        }
    }

    /// Sets the allowed clock skew.
    pub fn with_skew(mut self, seconds: i64) -> Self {
        self.skew = seconds;
        self
    }

    /// Sets the longest actor lifetime accepted ([`DEFAULT_MAX_TOKEN_LIFETIME`] by default): an actor
    /// whose `exp - nbf` (or `exp - iat` without `nbf`) is longer is refused
    /// ([`RejectionKind::TokenLifetimeTooLong`]), however much of it remains.
    pub fn with_max_token_lifetime(mut self, max: std::time::Duration) -> Self {
        self.max_lifetime = seconds_of(max);
        self
    }

    /// Sets the cache size (0 turns caching off).
    pub fn with_cache_capacity(mut self, entries: usize) -> Self {
        self.cache = cache::ValidationCache::new(entries);
        self
    }

    /// The trust configuration this validator reads.
    pub fn trust(&self) -> &Arc<TrustStore> {
        &self.trust
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Validates `token` as presented to us at `authority` (the request's `host[:port]`).
    pub fn validate(&self, token: &str, authority: &str) -> Result<Arc<Validated>, Rejection> {
        let snapshot = self.trust.load();
        let now = self.clock.now();
        if let Some(hit) = self.cache.get(token, authority, snapshot.generation)
            && hit.expires_at.saturating_add(self.skew) >= now
            && hit.not_before.is_none_or(|nbf| nbf.saturating_sub(self.skew) <= now)
        {
            return Ok(hit);
        }
        let validated = Arc::new(self.validate_uncached(&snapshot, token, authority, now)?);
        self.cache.insert(token, authority, Arc::clone(&validated));
        Ok(validated)
    }

    /// Validates without consulting or filling the cache.
    pub fn validate_uncached(
        &self,
        snapshot: &TrustSnapshot,
        token: &str,
        authority: &str,
        now: UnixTime,
    ) -> Result<Validated, Rejection> {
        self.run(snapshot, token, authority, now, &mut NoTrace)
    }

    /// Validates without the cache, recording every step it takes: the same checks as
    /// [`validate`](Self::validate), and a trace that ends with the verdict returned beside it.
    pub fn validate_traced(&self, token: &str, authority: &str) -> (Result<Validated, Rejection>, Trace) {
        let snapshot = self.trust.load();
        let mut steps = Steps::default();
        let result = self.run(&snapshot, token, authority, self.clock.now(), &mut steps);
        let verdict = Verdict::of(&result);
        (result, Trace { steps: steps.0, verdict })
    }

    /// Every check, in order, reporting to `rec`.
    fn run(
        &self,
        snapshot: &TrustSnapshot,
        token: &str,
        authority: &str,
        now: UnixTime,
        rec: &mut impl Recorder,
    ) -> Result<Validated, Rejection> {
        // Step 1: the compact form.
        let compact = Compact::split(token).map_err(|e| rec.fail(Step::Split, malformed(e)))?;
        let header = compact.header().map_err(|e| rec.fail(Step::Split, malformed(e)))?;
        rec.pass(Step::Split, || format!("three segments; header alg {}", header.alg));
        // Step 2: the shape decides the path; alg=none only as an outer token with an actor inside.
        if header.is_unsigned() {
            let outer = OuterToken::decode(&compact, &header).map_err(|e| {
                rec.fail(
                    Step::OuterRules,
                    match e {
                        TokenError::Signed => Rejection::new(
                            RejectionKind::OuterTokenAlsoSigned,
                            "the outer token has alg none but a non-empty signature segment",
                        ),
                        other => malformed(other),
                    },
                )
            })?;
            let Some(actor_text) = outer.claims.actortoken.as_deref() else {
                return Err(rec.fail(
                    Step::OuterRules,
                    Rejection::new(
                        RejectionKind::ActorTokenMustBeSigned,
                        "the token is unsigned (alg none) and carries no signed actor token",
                    ),
                ));
            };
            let actor = ActorToken::decode(actor_text).map_err(|e| rec.fail(Step::OuterRules, malformed(e)))?;
            if actor.header.is_unsigned() {
                return Err(rec.fail(
                    Step::OuterRules,
                    Rejection::new(RejectionKind::ActorTokenMustBeSigned, "the actor token is unsigned (alg none)"),
                ));
            }
            rec.pass(Step::OuterRules, || {
                format!(
                    "act-as: an unsigned outer token (alg none, empty signature) carrying an actor token signed with {}",
                    actor.header.alg
                )
            });
            let (partner, mut v) = self.check_actor(snapshot, &actor, authority, now, rec)?;
            self.check_outer(&partner, &actor, &outer, now, &mut v, rec)?;
            Ok(v)
        } else {
            if has_actor_claim(&compact) {
                return Err(rec.fail(
                    Step::OuterRules,
                    Rejection::new(
                        RejectionKind::OuterTokenAlsoSigned,
                        "the token carries an actor token but is itself signed; outer tokens are unsigned",
                    ),
                ));
            }
            let claims = compact.claims().map_err(|e| rec.fail(Step::OuterRules, malformed(e)))?;
            rec.pass(Step::OuterRules, || {
                format!("app-only: a token signed with {} without an actor token inside", header.alg)
            });
            let actor = ActorToken { compact, header, claims };
            let (_, v) = self.check_actor(snapshot, &actor, authority, now, rec)?;
            // Every step after the actor's own is about the outer token or the user.
            for &step in Step::ALL.iter().skip_while(|s| **s != Step::OuterIssuer) {
                rec.skip(step, || "app-only: there is no outer token and no user".to_owned());
            }
            Ok(v)
        }
    }

    /// Steps 3–9 on the signed actor token.
    fn check_actor(
        &self,
        snapshot: &TrustSnapshot,
        actor: &ActorToken<'_>,
        authority: &str,
        now: UnixTime,
        rec: &mut impl Recorder,
    ) -> Result<(Arc<Partner>, Validated), Rejection> {
        let local = &snapshot.local;
        let c = &actor.claims;
        // Step 3: audience.
        let aud = check_audience(local, c.aud.as_deref(), authority).map_err(|r| rec.fail(Step::Audience, r))?;
        rec.pass(Step::Audience, || {
            format!(
                "application {} (this server) at host {} (presented to {authority}), realm {}",
                aud.app_id,
                aud.host.as_deref().unwrap_or_default(),
                aud.realm
            )
        });
        // Step 4: issuer.
        let (iss_text, iss, partner) =
            check_issuer(snapshot, c.iss.as_deref(), &aud).map_err(|r| rec.fail(Step::Issuer, r))?;
        rec.pass(Step::Issuer, || {
            let kind = match partner.kind {
                PartnerKind::Application => "partner application",
                PartnerKind::AuthServer => "authorization server",
            };
            format!("issuer {iss} is {kind} {} (enabled), in the audience's realm", partner.name)
        });
        // Step 5: signature, with the algorithm of our key record.
        let key = check_signature(&partner, actor, now).map_err(|r| rec.fail(Step::Signature, r))?;
        rec.pass(Step::Signature, || {
            format!(
                "the signature verifies under partner {}'s certificate {} ({}), selected by {}, with {}",
                partner.name,
                key.x5t(),
                key.subject(),
                thumbprint_form(&actor.header),
                key.algorithm().name()
            )
        });
        // Step 6: lifetime.
        self.check_lifetime(c.nbf, c.exp, now, "actor").map_err(|r| rec.fail(Step::Lifetime, r))?;
        let lifetime =
            self.check_lifetime_bound(c, now).map_err(|r| rec.fail(Step::Lifetime, r.partner(&partner.name)))?;
        rec.pass(Step::Lifetime, || {
            format!(
                "{}; it lives {lifetime} s, within the bound of {} s",
                self.lifetime_detail(c.nbf, c.exp, now, "actor"),
                self.max_lifetime
            )
        });
        // Step 7: nameid.
        let nameid_text = c.nameid.as_deref().unwrap_or(iss_text);
        let (issuer_entry, partner) =
            self.check_nameid(snapshot, &partner, &iss, nameid_text).map_err(|r| rec.fail(Step::NameId, r))?;
        rec.pass(Step::NameId, || match &issuer_entry {
            Some(auth_server) => format!(
                "nameid {nameid_text}: authorization server {auth_server} issued it for partner application {}",
                partner.name
            ),
            None => format!("nameid {nameid_text} is the partner application's id, in the issuer's realm"),
        });
        // Step 9: the realm must be ours.
        if !local.owns_realm(&aud.realm) {
            return Err(rec.fail(
                Step::Realm,
                Rejection::new(
                    RejectionKind::OrganizationIdNotFoundFromRealm,
                    format!("realm {} is not this server's realm ({})", aud.realm, local.realm),
                )
                .partner(&partner.name),
            ));
        }
        rec.pass(Step::Realm, || format!("realm {} is this server's", aud.realm));
        let v = Validated {
            partner: partner.name.clone(),
            app_id: partner.app_id.clone(),
            realm: aud.realm,
            trust_level: partner.trust_level,
            kind: TokenKind::AppOnly,
            user: None,
            accept_security_identifier_information: partner.accept_security_identifier_information,
            linked_account: partner.linked_account.clone(),
            auth_server: issuer_entry,
            x5t: key.x5t().to_owned(),
            not_before: c.nbf,
            expires_at: c.exp.unwrap_or_default(),
            generation: snapshot.generation,
        };
        Ok((partner, v))
    }

    /// Step 7: `nameid` names the partner application (or, for an authorization server, an
    /// application marked to use it), in the issuer's realm. Returns the auth server's name, if
    /// any, and the partner application the token is for.
    fn check_nameid(
        &self,
        snapshot: &TrustSnapshot,
        partner: &Arc<Partner>,
        iss: &Principal,
        nameid_text: &str,
    ) -> Result<(Option<String>, Arc<Partner>), Rejection> {
        let nameid = Principal::parse(nameid_text).ok().filter(|p| p.host.is_none()).ok_or_else(|| {
            Rejection::new(
                RejectionKind::InvalidNameIdFormat,
                format!("nameid `{nameid_text}` is not <application id>@<realm>"),
            )
        })?;
        let (issuer_entry, partner) = match partner.kind {
            PartnerKind::Application => {
                if !nameid.app_id.eq_ignore_ascii_case(&partner.app_id) {
                    return Err(Rejection::new(
                        RejectionKind::UnexpectedAppIdInNameId,
                        format!("nameid names application {}, but the partner is {}", nameid.app_id, partner.app_id),
                    )
                    .partner(&partner.name));
                }
                (None, Arc::clone(partner))
            }
            PartnerKind::AuthServer => {
                let app = self.partner_of_auth_server(snapshot, partner, &nameid)?;
                (Some(partner.name.clone()), app)
            }
        };
        if !nameid.realm.eq_ignore_ascii_case(&iss.realm) {
            return Err(Rejection::new(
                RejectionKind::UnexpectedRealmInNameId,
                format!("nameid realm {} differs from the issuer realm {}", nameid.realm, iss.realm),
            )
            .partner(&partner.name));
        }
        Ok((issuer_entry, partner))
    }

    /// Step 7 for actors an authorization server issued: the partner application named by `nameid`
    /// must exist, be marked to use the auth server, and be enabled.
    fn partner_of_auth_server(
        &self,
        snapshot: &TrustSnapshot,
        auth_server: &Partner,
        nameid: &Principal,
    ) -> Result<Arc<Partner>, Rejection> {
        let mut apps = snapshot
            .partners_with_app_id(&nameid.app_id)
            .filter(|p| p.kind == PartnerKind::Application && p.use_auth_server && p.serves_realm(&nameid.realm))
            .peekable();
        let first = apps.peek().cloned().cloned().ok_or_else(|| {
            Rejection::new(
                RejectionKind::NoMatchingPartnerAppFound,
                format!(
                    "auth server {} issued a token for application {}, which is not a partner application marked to use an auth server",
                    auth_server.name, nameid.app_id
                ),
            )
            .partner(&auth_server.name)
        })?;
        apps.find(|p| p.enabled).cloned().ok_or_else(|| {
            Rejection::new(
                RejectionKind::PartnerDisabled,
                format!("the partner application {} is disabled", first.name),
            )
            .partner(&first.name)
        })
    }

    /// Steps 8 and 10 on the outer token, once the actor is trusted.
    fn check_outer(
        &self,
        partner: &Partner,
        actor: &ActorToken<'_>,
        outer: &OuterToken,
        now: UnixTime,
        v: &mut Validated,
        rec: &mut impl Recorder,
    ) -> Result<(), Rejection> {
        let o = &outer.claims;
        let iss_text = o.iss.as_deref().unwrap_or_default();
        let iss = Principal::parse(iss_text).ok().filter(|p| p.host.is_none()).ok_or_else(|| {
            rec.fail(
                Step::OuterIssuer,
                Rejection::new(
                    RejectionKind::InvalidOuterTokenIssuerFormat,
                    format!("outer issuer `{iss_text}` is not <application id>@<realm>"),
                )
                .partner(&partner.name),
            )
        })?;
        // The outer issuer is the actor's nameid exactly: application id and realm (both compare
        // case-insensitively; `Principal::parse` lower-cases them). The nameid was checked in step 7.
        let nameid_text = actor.claims.nameid.as_deref().or(actor.claims.iss.as_deref()).unwrap_or_default();
        let nameid = Principal::parse(nameid_text).ok();
        if nameid.as_ref().is_none_or(|n| n.app_id != iss.app_id || n.realm != iss.realm) {
            return Err(rec.fail(
                Step::OuterIssuer,
                Rejection::new(
                    RejectionKind::InvalidOuterTokenIssuerIdValue,
                    format!(
                        "the outer token is issued by {iss}, but the actor's nameid is {nameid_text} (partner {}): application id and realm must both be equal",
                        partner.name
                    ),
                )
                .partner(&partner.name),
            ));
        }
        rec.pass(Step::OuterIssuer, || format!("outer issuer {iss} is the actor's nameid (application and realm)"));
        if let Some(outer_aud) = o.aud.as_deref() {
            let same = match (Principal::parse(outer_aud), actor.claims.aud.as_deref().map(Principal::parse)) {
                (Ok(a), Some(Ok(b))) => a == b,
                _ => false,
            };
            if !same {
                return Err(rec.fail(
                    Step::OuterAudience,
                    Rejection::new(
                        RejectionKind::OuterAudienceMismatch,
                        "the outer token's aud differs from the actor's",
                    )
                    .partner(&partner.name),
                ));
            }
            rec.pass(Step::OuterAudience, || "the outer token's aud equals the actor's".to_owned());
        } else {
            rec.skip(Step::OuterAudience, || "the outer token has no aud; the actor's applies".to_owned());
        }
        let exp = o.exp.or(actor.claims.exp);
        self.check_lifetime(o.nbf, exp, now, "outer").map_err(|r| rec.fail(Step::OuterLifetime, r))?;
        rec.pass(Step::OuterLifetime, || self.lifetime_detail(o.nbf, exp, now, "outer"));
        if !actor.claims.trustedfordelegation {
            return Err(rec.fail(
                Step::Delegation,
                Rejection::new(
                    RejectionKind::ActorNotTrustedForDelegation,
                    format!("partner {}'s actor token is not trusted for delegation but names a user", partner.name),
                )
                .partner(&partner.name),
            ));
        }
        rec.pass(Step::Delegation, || "the actor token is trusted for delegation".to_owned());
        if partner.trust_level != TrustLevel::Full {
            return Err(rec.fail(
                Step::TrustLevel,
                Rejection::new(
                    RejectionKind::ActAsNotAllowed,
                    format!(
                        "partner {} has trust level {} and may not act for users (only trust level Full may)",
                        partner.name, partner.trust_level
                    ),
                )
                .partner(&partner.name),
            ));
        }
        rec.pass(Step::TrustLevel, || format!("partner {} has trust level Full and may act for users", partner.name));
        if o.user.is_empty() {
            return Err(rec.fail(
                Step::UserClaims,
                Rejection::new(
                    RejectionKind::NoUserClaimsFound,
                    "the outer token names no user (no nameid, upn, smtp or sip)",
                )
                .partner(&partner.name),
            ));
        }
        rec.pass(Step::UserClaims, || format!("acting for {}", describe_user(&o.user)));
        v.kind = TokenKind::ActAs;
        v.user = Some(o.user.clone());
        v.not_before = match (v.not_before, o.nbf) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(exp) = o.exp {
            v.expires_at = v.expires_at.min(exp);
        }
        Ok(())
    }
}

/// Whole seconds of `d`, saturating at `i64::MAX`.
fn seconds_of(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
