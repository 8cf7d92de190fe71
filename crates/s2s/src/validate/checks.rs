//! The checks that need no validator state: audience, issuer, signature (steps 3–5 of
//! protocol reference §3.3), and the small readers of the token they share with `Validator`.

use std::sync::Arc;

use super::{Rejection, RejectionKind};
use crate::clock::UnixTime;
use crate::partner::{LocalIdentity, Partner, TrustSnapshot};
use crate::principal::{self, Principal};
use crate::token::{ActorToken, Compact, Header, TokenError, UserClaims, VerifyingKey};

/// Step 3: `aud` is `<our app id>/<host>@<realm>`, the host the one the token was presented to
/// (or one of our host names).
pub(super) fn check_audience(
    local: &LocalIdentity,
    aud: Option<&str>,
    authority: &str,
) -> Result<Principal, Rejection> {
    let aud_text = aud.ok_or_else(|| Rejection::new(RejectionKind::InvalidAudience, "the actor token has no aud"))?;
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
    Ok(aud)
}

/// Step 4: `iss` is `<id>@<realm>` of an enabled partner for that realm, in the audience's realm.
pub(super) fn check_issuer<'t>(
    snapshot: &TrustSnapshot,
    iss: Option<&'t str>,
    aud: &Principal,
) -> Result<(&'t str, Principal, Arc<Partner>), Rejection> {
    let iss_text = iss.ok_or_else(|| Rejection::new(RejectionKind::MissingIssuer, "the actor token has no iss"))?;
    let iss = Principal::parse(iss_text).ok().filter(|p| p.host.is_none()).ok_or_else(|| {
        Rejection::new(
            RejectionKind::InvalidIssuerFormat,
            format!("issuer `{iss_text}` is not <application id>@<realm>"),
        )
    })?;
    let candidates: Vec<&Arc<Partner>> =
        snapshot.partners_with_app_id(&iss.app_id).filter(|p| p.serves_realm(&iss.realm)).collect();
    let Some(first) = candidates.first() else {
        return Err(Rejection::new(
            RejectionKind::NoConfiguredIssuerMatched,
            format!("issuer {iss} is not a partner application here"),
        ));
    };
    let partner = candidates.iter().find(|p| p.enabled).map(|p| Arc::clone(p)).ok_or_else(|| {
        Rejection::new(
            RejectionKind::PartnerDisabled,
            format!("the partner application {} (issuer {iss}) is disabled", first.name),
        )
        .partner(&first.name)
    })?;
    if !iss.realm.eq_ignore_ascii_case(&aud.realm) {
        return Err(Rejection::new(
            RejectionKind::MismatchedRealmBetweenAudienceAndIssuer,
            format!("the issuer realm {} differs from the audience realm {}", iss.realm, aud.realm),
        )
        .partner(&partner.name));
    }
    Ok((iss_text, iss, partner))
}

/// Step 5: the key the header names, still valid, verifies the signature with its own algorithm.
pub(super) fn check_signature<'p>(
    partner: &'p Partner,
    actor: &ActorToken<'_>,
    now: UnixTime,
) -> Result<&'p Arc<VerifyingKey>, Rejection> {
    let key = partner.key_for(&actor.header).ok_or_else(|| {
        Rejection::new(
            RejectionKind::NoCertificateFound,
            format!(
                "no certificate of partner {} has {} {}",
                partner.name,
                thumbprint_form(&actor.header),
                thumb_of(&actor.header)
            ),
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
            format!("the actor signature does not verify under certificate {} of partner {}", key.x5t(), partner.name),
        )
        .partner(&partner.name),
    })?;
    Ok(key)
}

/// Which header field selected the key, in `Partner::key_for`'s order.
pub(super) fn thumbprint_form(header: &Header) -> &'static str {
    if header.x5t.is_some() {
        "x5t"
    } else if header.kid.is_some() {
        "kid"
    } else if header.x5t_s256.is_some() {
        "x5t#S256"
    } else {
        "the partner's only key (no thumbprint in the header)"
    }
}

pub(super) fn describe_user(user: &UserClaims) -> String {
    let mut parts = Vec::new();
    for (name, value) in [("sip", &user.sip), ("smtp", &user.smtp), ("upn", &user.upn), ("nameid", &user.nameid)] {
        if let Some(v) = value {
            parts.push(format!("{name} {v}"));
        }
    }
    parts.join(", ")
}

pub(super) fn parse_audience(aud: &str) -> Result<Principal, Rejection> {
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

pub(super) fn malformed(e: TokenError) -> Rejection {
    match e {
        TokenError::TooLarge { .. } => Rejection::new(RejectionKind::TokenTooLarge, e.to_string()),
        TokenError::UnsupportedCritical => Rejection::new(RejectionKind::UnsupportedCriticalHeader, e.to_string()),
        other => Rejection::new(RejectionKind::MalformedToken, format!("the token is malformed: {other}")),
    }
}

pub(super) fn thumb_of(header: &Header) -> &str {
    header.x5t.as_deref().or(header.kid.as_deref()).or(header.x5t_s256.as_deref()).unwrap_or("(none)")
}

/// True when a signed token's payload has an `actortoken` claim (it would be an outer token).
pub(super) fn has_actor_claim(compact: &Compact<'_>) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default, alias = "actort")]
        actortoken: Option<serde::de::IgnoredAny>,
    }
    compact.claims::<Probe>().is_ok_and(|p| p.actortoken.is_some())
}
