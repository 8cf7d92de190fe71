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
        _ => d(
            "the target refused the token",
            format!("read the reason above (Exchange error {code}); s2sd token inspect <token> explains a token step by step"),
        ),
    }
}
