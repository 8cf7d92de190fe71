//! The decision: is this bearer token from a partner we trust, for us, now — and for whom?
//! `Validator` checks in Exchange's order (protocol reference §3.3), verifies every actor
//! signature with the algorithm of our key record, and caches successes until they expire or the
//! trust configuration changes. It never logs tokens.

mod cache;
mod rejection;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Serialize;

pub use rejection::{Rejection, RejectionKind, diagnostics_header};

use crate::clock::{SharedClock, UnixTime};
use crate::partner::{Partner, PartnerKind, TrustLevel, TrustSnapshot, TrustStore};
use crate::principal::{self, Principal};
use crate::token::{ActorToken, Compact, Header, OuterToken, TokenError, UserClaims};

/// Clock skew allowed on `nbf`/`exp`, as .NET peers allow.
pub const DEFAULT_SKEW_SECONDS: i64 = 300;

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
    cache: cache::ValidationCache,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator").field("skew", &self.skew).finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator over `trust`, reading time from `clock`, with the default skew and a cache of 16k entries.
    pub fn new(trust: Arc<TrustStore>, clock: SharedClock) -> Self {
        Self { trust, clock, skew: DEFAULT_SKEW_SECONDS, cache: cache::ValidationCache::new(16 * 1024) }
    }

    /// Sets the allowed clock skew.
    pub fn with_skew(mut self, seconds: i64) -> Self {
        self.skew = seconds;
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
            && hit.expires_at + self.skew >= now
            && hit.not_before.is_none_or(|nbf| nbf - self.skew <= now)
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
        let compact = Compact::split(token).map_err(malformed)?;
        let header = compact.header().map_err(malformed)?;
        // Step 1–2: the shape decides the path; alg=none only as an outer token with an actor inside.
        if header.is_unsigned() {
            let outer = OuterToken::decode(&compact, &header).map_err(|e| match e {
                TokenError::Signed => Rejection::new(
                    RejectionKind::OuterTokenAlsoSigned,
                    "the outer token has alg none but a non-empty signature segment",
                ),
                other => malformed(other),
            })?;
            let Some(actor_text) = outer.claims.actortoken.as_deref() else {
                return Err(Rejection::new(
                    RejectionKind::ActorTokenMustBeSigned,
                    "the token is unsigned (alg none) and carries no signed actor token",
                ));
            };
            let actor = ActorToken::decode(actor_text).map_err(malformed)?;
            if actor.header.is_unsigned() {
                return Err(Rejection::new(
                    RejectionKind::ActorTokenMustBeSigned,
                    "the actor token is unsigned (alg none)",
                ));
            }
            let (partner, mut v) = self.check_actor(snapshot, &actor, authority, now)?;
            self.check_outer(snapshot, &partner, &actor, &outer, now, &mut v)?;
            Ok(v)
        } else {
            if has_actor_claim(&compact) {
                return Err(Rejection::new(
                    RejectionKind::OuterTokenAlsoSigned,
                    "the token carries an actor token but is itself signed; outer tokens are unsigned",
                ));
            }
            let claims = compact.claims().map_err(malformed)?;
            let actor = ActorToken { compact, header, claims };
            let (_, v) = self.check_actor(snapshot, &actor, authority, now)?;
            Ok(v)
        }
    }

    /// Steps 3–7 on the signed actor token.
    fn check_actor(
        &self,
        snapshot: &TrustSnapshot,
        actor: &ActorToken<'_>,
        authority: &str,
        now: UnixTime,
    ) -> Result<(Arc<Partner>, Validated), Rejection> {
        let local = &snapshot.local;
        let c = &actor.claims;
        // Step 3: audience.
        let aud_text = c
            .aud
            .as_deref()
            .ok_or_else(|| Rejection::new(RejectionKind::InvalidAudience, "the actor token has no aud"))?;
        let aud = parse_audience(aud_text)?;
        if !aud.app_id.eq_ignore_ascii_case(&local.app_id) {
            return Err(Rejection::new(
                RejectionKind::WrongAudience,
                format!("the token is for application {}, but this server is {}", aud.app_id, local.app_id),
            ));
        }
        let host = aud.host.as_deref().unwrap_or_default();
        if !principal::authority_matches(host, authority)
            && !local.hostnames.iter().any(|h| principal::authority_matches(host, h))
        {
            return Err(Rejection::new(
                RejectionKind::UnexpectedHostNameInAudience,
                format!("the token is for host {host}, but it was presented to {authority}"),
            ));
        }
        // Step 4: issuer.
        let iss_text = c
            .iss
            .as_deref()
            .ok_or_else(|| Rejection::new(RejectionKind::MissingIssuer, "the actor token has no iss"))?;
        let iss = Principal::parse(iss_text).ok().filter(|p| p.host.is_none()).ok_or_else(|| {
            Rejection::new(
                RejectionKind::InvalidIssuerFormat,
                format!("issuer `{iss_text}` is not <application id>@<realm>"),
            )
        })?;
        let mut candidates =
            snapshot.partners_with_app_id(&iss.app_id).filter(|p| p.serves_realm(&iss.realm)).peekable();
        if candidates.peek().is_none() {
            return Err(Rejection::new(
                RejectionKind::NoConfiguredIssuerMatched,
                format!("issuer {iss} is not a partner application here"),
            ));
        }
        let candidates: Vec<&Arc<Partner>> = candidates.collect();
        let partner = candidates.iter().find(|p| p.enabled).map(|p| Arc::clone(p)).ok_or_else(|| {
            let name = &candidates[0].name;
            Rejection::new(
                RejectionKind::PartnerDisabled,
                format!("the partner application {name} (issuer {iss}) is disabled"),
            )
            .partner(name)
        })?;
        if !iss.realm.eq_ignore_ascii_case(&aud.realm) {
            return Err(Rejection::new(
                RejectionKind::MismatchedRealmBetweenAudienceAndIssuer,
                format!("the issuer realm {} differs from the audience realm {}", iss.realm, aud.realm),
            )
            .partner(&partner.name));
        }
        // Step 5: signature, with the algorithm of our key record.
        let key = partner.key_for(&actor.header).ok_or_else(|| {
            Rejection::new(
                RejectionKind::NoCertificateFound,
                format!("no certificate of partner {} has thumbprint {}", partner.name, thumb_of(&actor.header)),
            )
            .partner(&partner.name)
        })?;
        if key.not_after() < now {
            return Err(Rejection::new(
                RejectionKind::SigningCertificateExpired,
                format!("the signing certificate {} of partner {} has expired", key.x5t(), partner.name),
            )
            .partner(&partner.name));
        }
        actor.compact.verify(&actor.header.alg, key).map_err(|e| match e {
            TokenError::AlgorithmMismatch { expected, found } => Rejection::new(
                RejectionKind::AlgorithmMismatch,
                format!("the actor token says alg {found}, but the partner's key is {expected}"),
            )
            .partner(&partner.name),
            _ => Rejection::new(
                RejectionKind::InvalidSignature,
                format!(
                    "the actor signature does not verify under certificate {} of partner {}",
                    key.x5t(),
                    partner.name
                ),
            )
            .partner(&partner.name),
        })?;
        // Step 6: lifetime.
        self.check_lifetime(c.nbf, c.exp, now, "actor")?;
        // Step 7: nameid.
        let nameid_text = c.nameid.as_deref().unwrap_or(iss_text);
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
                (None, Arc::clone(&partner))
            }
            PartnerKind::AuthServer => {
                let app = self.partner_of_auth_server(snapshot, &partner, &nameid)?;
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
        // Step 9: the realm must be ours.
        if !local.owns_realm(&aud.realm) {
            return Err(Rejection::new(
                RejectionKind::OrganizationIdNotFoundFromRealm,
                format!("realm {} is not this server's realm ({})", aud.realm, local.realm),
            )
            .partner(&partner.name));
        }
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
                    "auth server {} issued a token for application {}, which is not a partner application marked to use an auth server (s2sd partner-application new --application-identifier {} --use-auth-server)",
                    auth_server.name, nameid.app_id, nameid.app_id
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
        _snapshot: &TrustSnapshot,
        partner: &Partner,
        actor: &ActorToken<'_>,
        outer: &OuterToken,
        now: UnixTime,
        v: &mut Validated,
    ) -> Result<(), Rejection> {
        let o = &outer.claims;
        let iss_text = o.iss.as_deref().unwrap_or_default();
        let iss = Principal::parse(iss_text).ok().filter(|p| p.host.is_none()).ok_or_else(|| {
            Rejection::new(
                RejectionKind::InvalidOuterTokenIssuerFormat,
                format!("outer issuer `{iss_text}` is not <application id>@<realm>"),
            )
            .partner(&partner.name)
        })?;
        if !iss.app_id.eq_ignore_ascii_case(&partner.app_id) {
            return Err(Rejection::new(
                RejectionKind::InvalidOuterTokenIssuerIdValue,
                format!(
                    "the outer token is issued by {}, but the actor is partner {} ({})",
                    iss.app_id, partner.name, partner.app_id
                ),
            )
            .partner(&partner.name));
        }
        if let Some(outer_aud) = o.aud.as_deref() {
            let same = match (Principal::parse(outer_aud), actor.claims.aud.as_deref().map(Principal::parse)) {
                (Ok(a), Some(Ok(b))) => a == b,
                _ => false,
            };
            if !same {
                return Err(Rejection::new(
                    RejectionKind::OuterAudienceMismatch,
                    "the outer token's aud differs from the actor's",
                )
                .partner(&partner.name));
            }
        }
        self.check_lifetime(o.nbf, o.exp.or(actor.claims.exp), now, "outer")?;
        if !actor.claims.trustedfordelegation {
            return Err(Rejection::new(
                RejectionKind::ActorNotTrustedForDelegation,
                format!("partner {}'s actor token is not trusted for delegation but names a user", partner.name),
            )
            .partner(&partner.name));
        }
        if partner.trust_level != TrustLevel::Full {
            return Err(Rejection::new(
                RejectionKind::ActAsNotAllowed,
                format!(
                    "partner {} has trust level {} and may not act for users (set it to Full: s2sd partner-application set {} --trust-level full)",
                    partner.name, partner.trust_level, partner.name
                ),
            )
            .partner(&partner.name));
        }
        if o.user.is_empty() {
            return Err(Rejection::new(
                RejectionKind::NoUserClaimsFound,
                "the outer token names no user (no nameid, upn, smtp or sip)",
            )
            .partner(&partner.name));
        }
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

    fn check_lifetime(
        &self,
        nbf: Option<UnixTime>,
        exp: Option<UnixTime>,
        now: UnixTime,
        which: &str,
    ) -> Result<(), Rejection> {
        let exp =
            exp.ok_or_else(|| Rejection::new(RejectionKind::MissingExpiry, format!("the {which} token has no exp")))?;
        if exp + self.skew < now {
            return Err(Rejection::new(
                RejectionKind::TokenExpired,
                format!("the {which} token expired {} s ago (clock skew allowed: {} s)", now - exp, self.skew),
            ));
        }
        if let Some(nbf) = nbf
            && nbf - self.skew > now
        {
            return Err(Rejection::new(
                RejectionKind::TokenNotYetValid,
                format!(
                    "the {which} token is not valid for another {} s (clock skew allowed: {} s)",
                    nbf - now,
                    self.skew
                ),
            ));
        }
        Ok(())
    }
}

fn parse_audience(aud: &str) -> Result<Principal, Rejection> {
    if let Some((_, "")) = aud.rsplit_once('@') {
        return Err(Rejection::new(
            RejectionKind::EmptyRealmFromAudience,
            format!("audience `{aud}` has an empty realm"),
        ));
    }
    match Principal::parse(aud) {
        Ok(p) if p.host.is_some() => Ok(p),
        _ => Err(Rejection::new(
            RejectionKind::InvalidAudience,
            format!("audience `{aud}` is not of the form <application id>/<host>@<realm>"),
        )),
    }
}

fn malformed(e: TokenError) -> Rejection {
    match e {
        TokenError::TooLarge { .. } => Rejection::new(RejectionKind::TokenTooLarge, e.to_string()),
        other => Rejection::new(RejectionKind::MalformedToken, format!("the token is malformed: {other}")),
    }
}

fn thumb_of(header: &Header) -> &str {
    header.x5t.as_deref().or(header.kid.as_deref()).or(header.x5t_s256.as_deref()).unwrap_or("(none)")
}

/// True when a signed token's payload has an `actortoken` claim (it would be an outer token).
fn has_actor_claim(compact: &Compact<'_>) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default, alias = "actort")]
        actortoken: Option<serde::de::IgnoredAny>,
    }
    compact.claims::<Probe>().is_ok_and(|p| p.actortoken.is_some())
}
