//! Why a token was refused: a stable `reason()` for logs and metrics, the Exchange error number
//! and name admins already know (protocol reference §8.3), and a sentence for humans.

use std::fmt;

/// Declares `RejectionKind` with its facts (stable reason, Exchange number, Exchange name), and
/// `RejectionKind::ALL` listing every kind, so no kind can be added without both.
macro_rules! rejection_kinds {
    ($($(#[doc = $doc:literal])* $name:ident => ($reason:literal, $code:literal, $exchange:literal),)*) => {
        /// What went wrong, in the order the validator checks (protocol reference §3.3).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum RejectionKind {
            $($(#[doc = $doc])* $name,)*
        }

        impl RejectionKind {
            /// Every kind the validator can produce.
            pub const ALL: &'static [RejectionKind] = &[$(RejectionKind::$name,)*];

            fn facts(self) -> (&'static str, u32, &'static str) {
                match self {
                    $(RejectionKind::$name => ($reason, $code, $exchange),)*
                }
            }
        }
    };
}

rejection_kinds! {
    /// Over the size limit before decoding.
    TokenTooLarge => ("token_too_large", 2005, "NoClaimFound"),
    /// Not three segments, not base64url, not JSON.
    MalformedToken => ("malformed_token", 2005, "NoClaimFound"),
    /// The JOSE header lists `crit` extensions we do not implement (RFC 7515 §4.1.11).
    UnsupportedCriticalHeader => ("unsupported_critical_header", 2021, "UnsupportedCriticalHeader"),
    /// The outer token carries a signature.
    OuterTokenAlsoSigned => ("outer_token_signed", 2001, "OuterTokenAlsoSigned"),
    /// An `alg=none` token presented without (or as) the actor.
    ActorTokenMustBeSigned => ("actor_token_unsigned", 2002, "ActorTokenMustBeSigned"),
    /// The actor's `alg` is not the key record's algorithm.
    AlgorithmMismatch => ("algorithm_mismatch", 1001, "InvalidSignature"),
    /// The actor has no `aud`, or one not of the form `<app>/<host>@<realm>`.
    InvalidAudience => ("invalid_audience", 2010, "InvalidAudience"),
    /// `aud` has an empty realm.
    EmptyRealmFromAudience => ("empty_realm_in_audience", 4001, "EmptyRealmFromAudience"),
    /// `aud` names another application than ours.
    WrongAudience => ("wrong_audience", 4003, "WrongAudience"),
    /// `aud` names another host than the request's.
    UnexpectedHostNameInAudience => ("audience_host_mismatch", 4002, "UnexpectedHostNameInAudience"),
    /// No `iss`.
    MissingIssuer => ("missing_issuer", 2003, "MissingIssuer"),
    /// `iss` is not `<id>@<realm>`.
    InvalidIssuerFormat => ("invalid_issuer_format", 2006, "InvalidIssuerFormat"),
    /// No partner has that issuer id and realm.
    NoConfiguredIssuerMatched => ("unknown_issuer", 2008, "NoConfiguredIssuerMatched"),
    /// The partner exists but is disabled.
    PartnerDisabled => ("partner_disabled", 2008, "NoConfiguredIssuerMatched"),
    /// Issuer realm differs from the audience realm.
    MismatchedRealmBetweenAudienceAndIssuer => ("realm_mismatch_audience_issuer", 2011, "MismatchedRealmBetweenAudienceAndIssuer"),
    /// No key of the partner has the header's thumbprint.
    NoCertificateFound => ("unknown_thumbprint", 10001, "NoCertificateFound"),
    /// The signing certificate named by the token has expired.
    SigningCertificateExpired => ("signing_certificate_expired", 10001, "NoCertificateFound"),
    /// The signature does not verify.
    InvalidSignature => ("invalid_signature", 1001, "InvalidSignature"),
    /// No `exp`.
    MissingExpiry => ("missing_expiry", 3001, "TokenExpired"),
    /// Past `exp` (plus skew).
    TokenExpired => ("token_expired", 3001, "TokenExpired"),
    /// Before `nbf` (minus skew).
    TokenNotYetValid => ("token_not_yet_valid", 3001, "TokenExpired"),
    /// The actor's lifetime (`exp - nbf`, or `exp - iat`) is over the validator's bound.
    TokenLifetimeTooLong => ("token_lifetime_too_long", 2020, "TokenLifetimeTooLong"),
    /// `nameid` is not `<id>@<realm>`.
    InvalidNameIdFormat => ("invalid_nameid_format", 2009, "InvalidNameIdFormat"),
    /// `nameid` names another application than the partner.
    UnexpectedAppIdInNameId => ("unexpected_app_id_in_nameid", 7002, "UnexpectedAppIdInNameId"),
    /// `nameid` realm differs from the issuer realm.
    UnexpectedRealmInNameId => ("unexpected_realm_in_nameid", 2012, "UnexpectedRealmInNameId"),
    /// Outer `iss` is not `<id>@<realm>`.
    InvalidOuterTokenIssuerFormat => ("invalid_outer_issuer_format", 2007, "InvalidOuterTokenIssuerFormat"),
    /// Outer `iss` names another application than the actor's `nameid`.
    InvalidOuterTokenIssuerIdValue => ("outer_issuer_mismatch", 2016, "InvalidOuterTokenIssuerIdValue"),
    /// Outer `aud` differs from the actor's.
    OuterAudienceMismatch => ("outer_audience_mismatch", 2010, "InvalidAudience"),
    /// The realm is not one of ours.
    OrganizationIdNotFoundFromRealm => ("unknown_realm", 5002, "OrganizationIdNotFoundFromRealm"),
    /// The actor is not trusted for delegation but names a user.
    ActorNotTrustedForDelegation => ("actor_not_trusted_for_delegation", 2015, "TokenProfileNotApplicable"),
    /// The partner's trust level does not allow acting for users.
    ActAsNotAllowed => ("act_as_not_allowed", 2015, "TokenProfileNotApplicable"),
    /// An act-as token without any user claim.
    NoUserClaimsFound => ("no_user_claims", 2013, "NoUserClaimsFound"),
    /// An authorization server issued the actor for an application that is not a partner marked to use it.
    NoMatchingPartnerAppFound => ("no_matching_partner_app", 7001, "NoMatchingPartnerAppFound"),
}

impl RejectionKind {
    /// Stable snake-case reason (log field, metrics label).
    pub fn reason(self) -> &'static str {
        self.facts().0
    }

    /// The Exchange error number used in `x-ms-diagnostics`.
    pub fn code(self) -> u32 {
        self.facts().1
    }

    /// The Exchange error name.
    pub fn exchange_name(self) -> &'static str {
        self.facts().2
    }

    /// The kind with this stable reason.
    pub fn from_reason(reason: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.reason() == reason)
    }
}

/// A refused token: what went wrong, a sentence saying so, and which partner it concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// What went wrong.
    pub kind: RejectionKind,
    /// A sentence for admins (never contains the token).
    pub detail: String,
    /// The partner the token claimed to come from, once known.
    pub partner: Option<String>,
}

impl Rejection {
    pub(crate) fn new(kind: RejectionKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), partner: None }
    }

    pub(crate) fn partner(mut self, name: &str) -> Self {
        self.partner = Some(name.to_owned());
        self
    }

    /// Stable snake-case reason.
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The Exchange error number.
    pub fn code(&self) -> u32 {
        self.kind.code()
    }

    /// True when fresh partner metadata might change the outcome (unknown key or bad signature).
    pub fn may_need_refresh(&self) -> bool {
        matches!(
            self.kind,
            RejectionKind::NoCertificateFound
                | RejectionKind::InvalidSignature
                | RejectionKind::SigningCertificateExpired
        )
    }

    /// The `x-ms-diagnostics` header value: `<code>;reason="…";error_category="invalid_token"`.
    pub fn diagnostics(&self) -> String {
        diagnostics_header(self.code(), &self.detail, "invalid_token")
    }
}

/// An `x-ms-diagnostics` value: `<code>;reason="<text>";error_category="<category>"`, with quotes and
/// control characters in the texts replaced so the header stays one well-formed line.
pub fn diagnostics_header(code: u32, reason: &str, category: &str) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c == '"' {
                    '\''
                } else if c.is_control() {
                    ' '
                } else {
                    c
                }
            })
            .collect()
    };
    format!("{code};reason=\"{}\";error_category=\"{}\"", clean(reason), clean(category))
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} {}): {}", self.reason(), self.code(), self.kind.exchange_name(), self.detail)
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::RejectionKind;

    #[test]
    fn every_kind_has_its_own_reason_and_is_found_by_it() {
        let mut reasons = std::collections::BTreeSet::new();
        for &kind in RejectionKind::ALL {
            assert!(reasons.insert(kind.reason()), "{kind:?} shares its reason");
            assert_eq!(RejectionKind::from_reason(kind.reason()), Some(kind));
            assert!(kind.code() >= 1000, "{kind:?}");
        }
        assert_eq!(reasons.len(), 33);
        assert_eq!(RejectionKind::from_reason("nope"), None);
    }
}
