//! Explaining refusals to admins: from a rejection reason (our JSON body) or an Exchange error
//! number (`x-ms-diagnostics`), the likely cause and the command that fixes it, on which side.

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
        2011 => "realm_mismatch_audience_issuer",
        2012 => "unexpected_realm_in_nameid",
        5002 => "unknown_realm",
        4002 => "audience_host_mismatch",
        4003 => "wrong_audience",
        10001 if text.contains("expired") => "signing_certificate_expired",
        10001 => "unknown_thumbprint",
        1001 => "invalid_signature",
        3001 if text.contains("not valid for") => "token_not_yet_valid",
        3001 => "token_expired",
        2015 => "act_as_not_allowed",
        6001 => "user_not_found",
        6002 => "user_ambiguous",
        7001 => "no_matching_partner_app",
        _ => "",
    }
}

/// Diagnoses a refusal by its stable reason (falls back on the Exchange number when the reason is unknown).
pub fn explain(reason: &str, code: u32, partner: Option<&str>) -> Diagnosis {
    let p = partner.unwrap_or("<partner>");
    let d = |cause: &str, fix: String| Diagnosis { cause: cause.to_owned(), fix };
    match reason {
        "partner_disabled" => d(
            "the target knows us as a partner application, but the partner is disabled",
            format!("on the target: s2sd partner-application set {p} --enabled true"),
        ),
        "unknown_issuer" => d(
            "the target does not know us as a partner application (or knows us under another realm)",
            "on the target: s2sd partner-application new --identity <name> --metadata-url https://<our host>/metadata/json/1 --trust-level full".into(),
        ),
        "unknown_thumbprint" | "invalid_signature" | "signing_certificate_expired" => d(
            "the target holds another certificate for us: our certificate was rolled or replaced, or theirs expired",
            format!("on the target: s2sd partner-application refresh {p}; on our side: s2sd certificate list"),
        ),
        "realm_mismatch_audience_issuer" | "unexpected_realm_in_nameid" | "unknown_realm" => d(
            "the realms do not match: our realm is not the one the target expects",
            "on our side: s2sd oauth-config show (the realm must be the target's realm); fix it with s2sd oauth-config set --realm <realm>".into(),
        ),
        "audience_host_mismatch" => d(
            "the token names another host than the one it was sent to (alias, load balancer or port)",
            "call the target by the host name in its URL, or on the target: s2sd oauth-config set --hostname <alias>".into(),
        ),
        "wrong_audience" => d(
            "the token is for another application than the target (wrong service name)",
            "on our side: check the partner's application id (s2sd partner-application show <name>)".into(),
        ),
        "token_expired" | "token_not_yet_valid" => d(
            "the token's lifetime does not cover the target's clock: the clocks differ by more than 5 minutes",
            "synchronise both servers' clocks (NTP)".into(),
        ),
        "act_as_not_allowed" | "actor_not_trusted_for_delegation" => d(
            "the partner may not act for users (trust level is not Full)",
            format!("on the target: s2sd partner-application set {p} --trust-level full"),
        ),
        "user_not_found" => d(
            "the target found no mailbox user matching the token's user (no mailbox, or the SIP/SMTP address differs)",
            "on the target: s2sd mailbox user new --smtp <address> --sip <sip address> (or correct the user's addresses)".into(),
        ),
        "user_ambiguous" => d(
            "more than one mailbox user on the target matches the token's user",
            "on the target: s2sd mailbox user list, and remove the duplicate address".into(),
        ),
        "no_matching_partner_app" => d(
            "an authorization server issued our token, but the target has no partner application for us marked to use it",
            format!("on the target: s2sd partner-application new --identity {p} --application-identifier <our id> --realm '' --use-auth-server"),
        ),
        _ => d(
            "the target refused the token",
            format!("read the reason above (Exchange error {code}); s2sd token inspect <token> explains a token step by step"),
        ),
    }
}
