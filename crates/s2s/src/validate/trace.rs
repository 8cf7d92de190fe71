//! What the validator did, step by step: the `Recorder` its checks report to (a no-op on the hot
//! path, so `validate` allocates nothing for tracing), and the `Trace` that
//! `Validator::validate_traced` returns — each step with its outcome and a sentence, ending with the
//! verdict the validator returned. Details never contain the token or a signature.

use serde::Serialize;

use super::{Rejection, Validated};

/// One check of the validator, in the order it runs them (protocol reference §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Size limit, three segments, a decodable header.
    Split,
    /// The layers: `alg=none` only as an outer token carrying a signed actor; a signed token
    /// carries no actor; both layers' claims decode.
    OuterRules,
    /// The actor's `aud`: our application id, the host the token was presented to, a realm.
    Audience,
    /// The actor's `iss`: a partner (enabled) for that realm, realm equal to the audience's.
    Issuer,
    /// The partner's key the header names (by `x5t`, `kid`, `x5t#S256`, or its only key), still
    /// valid, verifying the signature with the key record's algorithm.
    Signature,
    /// The actor's `nbf`/`exp`, with the allowed clock skew.
    Lifetime,
    /// The actor's `nameid`: the partner application (or, for an authorization server, the
    /// application it issued for), in the issuer's realm.
    NameId,
    /// The realm is ours.
    Realm,
    /// The outer token's `iss` names the actor's application.
    OuterIssuer,
    /// The outer token's `aud`, when present, equals the actor's.
    OuterAudience,
    /// The outer token's `nbf`/`exp`, with the allowed clock skew.
    OuterLifetime,
    /// The actor is trusted for delegation.
    Delegation,
    /// The partner's trust level allows acting for users.
    TrustLevel,
    /// The outer token names a user.
    UserClaims,
}

impl Step {
    /// Every step, in the validator's order.
    pub const ALL: &'static [Step] = &[
        Step::Split,
        Step::OuterRules,
        Step::Audience,
        Step::Issuer,
        Step::Signature,
        Step::Lifetime,
        Step::NameId,
        Step::Realm,
        Step::OuterIssuer,
        Step::OuterAudience,
        Step::OuterLifetime,
        Step::Delegation,
        Step::TrustLevel,
        Step::UserClaims,
    ];

    /// Stable snake-case name (as serialized).
    pub fn name(self) -> &'static str {
        match self {
            Step::Split => "split",
            Step::OuterRules => "outer_rules",
            Step::Audience => "audience",
            Step::Issuer => "issuer",
            Step::Signature => "signature",
            Step::Lifetime => "lifetime",
            Step::NameId => "nameid",
            Step::Realm => "realm",
            Step::OuterIssuer => "outer_issuer",
            Step::OuterAudience => "outer_audience",
            Step::OuterLifetime => "outer_lifetime",
            Step::Delegation => "delegation",
            Step::TrustLevel => "trust_level",
            Step::UserClaims => "user_claims",
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check held.
    Passed,
    /// The check refused the token; validation stopped here.
    Failed,
    /// The check does not apply to this token.
    Skipped,
}

/// One recorded step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// Which check.
    pub step: Step,
    /// How it ended.
    pub outcome: Outcome,
    /// What was found, in words (never the token or a signature).
    pub detail: String,
    /// The rejection reason, for the failed step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// The validator's decision, as the trace reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    /// Accepted: who called, for whom, until when.
    Accepted(Box<Validated>),
    /// Refused.
    Refused {
        /// Stable reason.
        reason: &'static str,
        /// Exchange error number.
        code: u32,
        /// Exchange error name.
        exchange_name: &'static str,
        /// The rejection's sentence.
        detail: String,
        /// The partner concerned, once known.
        #[serde(skip_serializing_if = "Option::is_none")]
        partner: Option<String>,
    },
}

impl Verdict {
    pub(crate) fn of(result: &Result<Validated, Rejection>) -> Self {
        match result {
            Ok(v) => Verdict::Accepted(Box::new(v.clone())),
            Err(r) => Verdict::Refused {
                reason: r.reason(),
                code: r.code(),
                exchange_name: r.kind.exchange_name(),
                detail: r.detail.clone(),
                partner: r.partner.clone(),
            },
        }
    }
}

/// The steps one validation took and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// The steps, in the order they ran.
    pub steps: Vec<TraceStep>,
    /// The validator's decision (the same the returned result carries).
    pub verdict: Verdict,
}

impl Trace {
    /// True when the token was accepted.
    pub fn accepted(&self) -> bool {
        matches!(self.verdict, Verdict::Accepted(_))
    }

    /// The step that refused the token, if any.
    pub fn failed_step(&self) -> Option<&TraceStep> {
        self.steps.iter().find(|s| s.outcome == Outcome::Failed)
    }
}

/// Where the checks report their steps. `NoTrace` does nothing (and builds no strings);
/// `Steps` keeps them.
pub(crate) trait Recorder {
    /// Records a step; `detail` is called only by recorders that keep steps.
    fn record(&mut self, step: Step, outcome: Outcome, detail: impl FnOnce() -> String);

    /// Records the step that refused the token.
    fn refusal(&mut self, step: Step, rejection: &Rejection);

    /// A passed step.
    #[inline(always)]
    fn pass(&mut self, step: Step, detail: impl FnOnce() -> String) {
        self.record(step, Outcome::Passed, detail);
    }

    /// A step that does not apply.
    #[inline(always)]
    fn skip(&mut self, step: Step, detail: impl FnOnce() -> String) {
        self.record(step, Outcome::Skipped, detail);
    }

    /// Records `rejection` as `step`'s failure and hands it back (for `map_err`).
    #[inline(always)]
    fn fail(&mut self, step: Step, rejection: Rejection) -> Rejection {
        self.refusal(step, &rejection);
        rejection
    }
}

/// The hot path's recorder: keeps nothing.
pub(crate) struct NoTrace;

impl Recorder for NoTrace {
    #[inline(always)]
    fn record(&mut self, _: Step, _: Outcome, _: impl FnOnce() -> String) {}

    #[inline(always)]
    fn refusal(&mut self, _: Step, _: &Rejection) {}
}

/// Keeps every step.
#[derive(Default)]
pub(crate) struct Steps(pub(crate) Vec<TraceStep>);

impl Recorder for Steps {
    fn record(&mut self, step: Step, outcome: Outcome, detail: impl FnOnce() -> String) {
        self.0.push(TraceStep { step, outcome, detail: detail(), reason: None });
    }

    fn refusal(&mut self, step: Step, rejection: &Rejection) {
        self.0.push(TraceStep {
            step,
            outcome: Outcome::Failed,
            detail: rejection.detail.clone(),
            reason: Some(rejection.reason()),
        });
    }
}
