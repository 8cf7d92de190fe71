//! Explaining refusals to admins: from a rejection reason (our JSON body) or an Exchange error
//! number (`x-ms-diagnostics`), the likely cause and the command that fixes it, on which side. The
//! library states what is wrong; the `s2sd` commands that fix it live only here.

use s2s::client::IssueError;
use s2s::validate::RejectionKind;

/// A cause and its remedy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnosis {
    /// What is wrong, in words.
    pub cause: String,
    /// What to run, and where.
    pub fix: String,
}

/// Splits an `x-ms-diagnostics` value into its number and reason text.
pub fn parse_header(value: &str) -> Option<(u32, String)> {
    let (code, rest) = value.split_once(';').unwrap_or((value, ""));
    let code = code.trim().parse().ok()?;
    let reason = rest
        .split(';')
        .find_map(|p| p.trim().strip_prefix("reason="))
        .map(|r| r.trim_matches('"').to_owned())
        .unwrap_or_default();
    Some((code, reason))
}

/// The stable reason for an Exchange error number, when only `x-ms-diagnostics` was sent (as real
/// Exchange does); the reason text tells the cases that share a number apart.
pub fn reason_for(code: u32, text: &str) -> &'static str {
    let text = text.to_ascii_lowercase();
    match code {
        2008 if text.contains("disabled") => "partner_disabled",
        2008 => "unknown_issuer",
        10001 if text.contains("expired") => "signing_certificate_expired",
        10001 => "unknown_thumbprint",
        1001 if text.contains("alg") => "algorithm_mismatch",
        1001 => "invalid_signature",
        3001 if text.contains("not valid for") => "token_not_yet_valid",
        3001 if text.contains("no exp") => "missing_expiry",
        3001 => "token_expired",
        2015 if text.contains("delegation") => "actor_not_trusted_for_delegation",
        2015 => "act_as_not_allowed",
        2005 if text.contains("size") || text.contains("large") => "token_too_large",
        2010 if text.contains("outer") => "outer_audience_mismatch",
        6001 => "user_not_found",
        6002 => "user_ambiguous",
        // The other numbers belong to one rejection kind each.
        _ => RejectionKind::ALL.iter().find(|k| k.code() == code).map_or("", |k| k.reason()),
    }
}

/// Diagnoses a refusal by its stable reason (falls back on the Exchange number when the reason is unknown).
pub fn explain(reason: &str, code: u32, partner: Option<&str>) -> Diagnosis {
    if let Some(d) = RejectionKind::from_reason(reason).and_then(|k| for_kind(k, partner)) {
        return d;
    }
    let d = |cause: &str, fix: String| Diagnosis { cause: cause.to_owned(), fix };
    match reason {
        "user_not_found" => d(
            "the target found no mailbox user matching the token's user (no mailbox, or the SIP/SMTP address differs)",
            "on the target: s2sd mailbox user new --smtp <address> --sip <sip address> (or correct the user's addresses)".into(),
        ),
        "user_ambiguous" => d(
            "more than one mailbox user on the target matches the token's user",
            "on the target: s2sd mailbox user list, and remove the duplicate address".into(),
        ),
        _ => d(
            "the target refused the token",
            format!("read the reason above (Exchange error {code}); s2sd token inspect <token> explains a token step by step"),
        ),
    }
}

/// The cause of a validator refusal and the `s2sd` command that fixes it, seen from the caller (the
/// target is the server that refused). `None` only for a kind this daemon does not know yet (the
/// test below fails then).
pub fn for_kind(kind: RejectionKind, partner: Option<&str>) -> Option<Diagnosis> {
    use RejectionKind as K;
    let p = partner.unwrap_or("<partner>");
    let d = |cause: &str, fix: String| Some(Diagnosis { cause: cause.to_owned(), fix });
    match kind {
        K::TokenTooLarge | K::MalformedToken => d(
            "the Authorization header does not carry one well-formed token (truncated, over 16 KiB, or not a JWT)",
            "send exactly one token after `Bearer `; s2sd token inspect <token> shows how it decodes, s2sd token issue --partner <name> --host <host> mints a reference token".into(),
        ),
        K::UnsupportedCriticalHeader => d(
            "the token's JOSE header marks extensions critical (crit) that the target does not implement",
            "mint tokens without crit in the header (s2sd token issue --partner <name> --host <host> mints a reference token); s2sd token inspect <token> shows the header".into(),
        ),
        K::TokenLifetimeTooLong => d(
            "the actor token lives longer (exp - nbf, or exp - iat) than the target accepts (48 h unless set otherwise)",
            "issue actor tokens that live at most 24 h, as s2sd token issue does; or, on the target, raise the bound: s2sd serve --max-token-lifetime-hours <hours> (or S2S_MAX_TOKEN_LIFETIME_HOURS)".into(),
        ),
        K::OuterTokenAlsoSigned | K::ActorTokenMustBeSigned => d(
            "the token has the wrong shape: an act-as token is an unsigned outer token carrying a signed actor token, an app-only token is the signed actor alone",
            "mint tokens with s2sd token issue --partner <name> --host <host> [--user <address>] and compare with s2sd token inspect <token>".into(),
        ),
        K::AlgorithmMismatch => d(
            "the token's alg differs from the algorithm of the certificate the target holds for us",
            format!("on the target: s2sd partner-application refresh {p}, or register the certificate we sign with (s2sd partner-application set {p} --certificate <file>); on our side: s2sd certificate list"),
        ),
        K::InvalidAudience | K::EmptyRealmFromAudience | K::OuterAudienceMismatch => d(
            "the token's audience is not <target application id>/<host>@<realm> (or the outer token's differs from the actor's)",
            "on our side: s2sd oauth-config show (our realm) and s2sd partner-application show <target> (its application id): the audience is built from both and the host called".into(),
        ),
        K::WrongAudience => d(
            "the token is for another application than the target (wrong service name)",
            "on our side: check the partner's application id (s2sd partner-application show <name>)".into(),
        ),
        K::UnexpectedHostNameInAudience => d(
            "the token names another host than the one it was sent to (alias, load balancer or port)",
            "call the target by the host name in its URL, or on the target: s2sd oauth-config set --hostname <alias>".into(),
        ),
        K::MissingIssuer | K::InvalidIssuerFormat | K::InvalidNameIdFormat | K::InvalidOuterTokenIssuerFormat => d(
            "the token's issuer (or nameid, or outer issuer) is not <application id>@<realm>",
            "on our side: s2sd oauth-config show (the service name and realm make the issuer); mint with s2sd token issue".into(),
        ),
        K::NoConfiguredIssuerMatched => d(
            "the target does not know us as a partner application (or knows us under another realm)",
            "on the target: s2sd partner-application new --identity <name> --metadata-url https://<our host>/metadata/json/1 --trust-level full".into(),
        ),
        K::PartnerDisabled => d(
            "the target knows us as a partner application, but the partner is disabled",
            format!("on the target: s2sd partner-application set {p} --enabled true"),
        ),
        K::MismatchedRealmBetweenAudienceAndIssuer | K::UnexpectedRealmInNameId | K::OrganizationIdNotFoundFromRealm => d(
            "the realms do not match: our realm is not the one the target expects",
            "on our side: s2sd oauth-config show (the realm must be the target's realm); fix it with s2sd oauth-config set --realm <realm>".into(),
        ),
        K::NoCertificateFound | K::SigningCertificateExpired | K::InvalidSignature => d(
            "the target holds another certificate for us: our certificate was rolled or replaced, or theirs expired",
            format!("on the target: s2sd partner-application refresh {p}; on our side: s2sd certificate list"),
        ),
        K::MissingExpiry => d(
            "the token has no exp claim",
            "mint tokens with s2sd token issue, which sets nbf and exp; s2sd token inspect <token> shows the claims".into(),
        ),
        K::TokenExpired | K::TokenNotYetValid => d(
            "the token's lifetime does not cover the target's clock: the clocks differ by more than 5 minutes",
            "synchronise both servers' clocks (NTP)".into(),
        ),
        K::UnexpectedAppIdInNameId | K::InvalidOuterTokenIssuerIdValue => d(
            "the token's nameid or outer issuer names another application than the partner whose certificate signed it",
            format!("on the target: s2sd partner-application show {p} (its application id must be our service name: s2sd oauth-config show)"),
        ),
        K::ActorNotTrustedForDelegation => d(
            "the actor token is not trusted for delegation, yet the outer token names a user",
            "mint act-as tokens with s2sd token issue --partner <name> --host <host> --user <address>, whose actor is trusted for delegation".into(),
        ),
        K::ActAsNotAllowed => d(
            "the partner may not act for users (trust level is not Full)",
            format!("on the target: s2sd partner-application set {p} --trust-level full"),
        ),
        K::NoUserClaimsFound => d(
            "the act-as token names no user (no nameid, upn, smtp or sip)",
            "pass the user: s2sd token issue --partner <name> --host <host> --user sip:<address>".into(),
        ),
        K::NoMatchingPartnerAppFound => d(
            "an authorization server issued our token, but the target has no partner application for us marked to use it",
            format!("on the target: s2sd partner-application new --identity {p} --application-identifier <our id> --realm '' --use-auth-server"),
        ),
        _ => None,
    }
}

/// The command that fixes a token the library could not mint.
pub fn issue_fix(error: &IssueError) -> Option<&'static str> {
    match error {
        IssueError::NoSigningKey => Some("create a token-issuer certificate: s2sd certificate new"),
        IssueError::NotConfigured => {
            Some("set the realm and service name: s2sd oauth-config set --realm <realm> --service-name <name>")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_kind_has_a_diagnosis_with_a_command() {
        for &kind in RejectionKind::ALL {
            let d = for_kind(kind, Some("Lync")).unwrap_or_else(|| panic!("no diagnosis for {kind:?}"));
            assert!(d.fix.contains("s2sd ") || d.fix.contains("NTP"), "{kind:?}: {d:?}");
            // By reason, and by Exchange number alone when that number is the kind's own.
            assert_eq!(explain(kind.reason(), kind.code(), Some("Lync")), d, "{kind:?}");
            let shared = RejectionKind::ALL.iter().filter(|k| k.code() == kind.code()).count() > 1;
            if !shared {
                assert_eq!(reason_for(kind.code(), ""), kind.reason(), "{kind:?}");
            }
        }
        assert_eq!(
            for_kind(RejectionKind::PartnerDisabled, Some("Lync")).unwrap().fix,
            "on the target: s2sd partner-application set Lync --enabled true"
        );
        assert_eq!(reason_for(2008, "the partner application Lync is disabled"), "partner_disabled");
        assert_eq!(
            reason_for(1001, "the actor token says alg RS384, but the partner's key is RS256"),
            "algorithm_mismatch"
        );
    }

    #[test]
    fn reasons_that_are_not_rejection_kinds_and_unknown_ones() {
        assert!(explain("user_not_found", 6001, None).fix.contains("s2sd mailbox user new"));
        assert!(explain("nonsense", 9999, None).fix.contains("Exchange error 9999"));
        assert_eq!(
            issue_fix(&IssueError::NoSigningKey),
            Some("create a token-issuer certificate: s2sd certificate new")
        );
    }
}
