//! Lifetime rules of the validator: `nbf`/`exp` against the clock with the configured skew
//! (saturating: the dates are the sender's, any value), and the bound on an actor token's
//! lifetime. Part of [`Validator`]'s one code path; nothing here reads the clock itself.

use super::*;

impl Validator {
    pub(super) fn check_lifetime(
        &self,
        nbf: Option<UnixTime>,
        exp: Option<UnixTime>,
        now: UnixTime,
        which: &str,
    ) -> Result<(), Rejection> {
        // Saturating throughout: the dates are the sender's, any i64 (or a float within ±1e15).
        let exp =
            exp.ok_or_else(|| Rejection::new(RejectionKind::MissingExpiry, format!("the {which} token has no exp")))?;
        if exp.saturating_add(self.skew) < now {
            return Err(Rejection::new(
                RejectionKind::TokenExpired,
                format!(
                    "the {which} token expired {} s ago (clock skew allowed: {} s)",
                    now.saturating_sub(exp),
                    self.skew
                ),
            ));
        }
        if let Some(nbf) = nbf
            && nbf.saturating_sub(self.skew) > now
        {
            return Err(Rejection::new(
                RejectionKind::TokenNotYetValid,
                format!(
                    "the {which} token is not valid for another {} s (clock skew allowed: {} s)",
                    nbf.saturating_sub(now),
                    self.skew
                ),
            ));
        }
        Ok(())
    }

    /// The actor's whole lifetime, `exp - nbf` (else `exp - iat`, else `exp - now`), must not exceed
    /// the bound: a token minted to live for years is refused even while it is current. The start
    /// counts as no later than `now` + skew (a later `nbf` is refused before; an `iat` in the future
    /// would otherwise shorten the lifetime at will). Computed in `i128`, so no date the sender can
    /// write overflows. Returns the lifetime in seconds.
    pub(super) fn check_lifetime_bound(&self, c: &crate::token::ActorClaims, now: UnixTime) -> Result<i128, Rejection> {
        let exp = c.exp.unwrap_or(now);
        let (start, from) = match (c.nbf, c.iat) {
            (Some(nbf), _) => (nbf, "nbf"),
            (None, Some(iat)) => (iat, "iat"),
            (None, None) => (now, "now (no nbf or iat)"),
        };
        let start = start.min(now.saturating_add(self.skew));
        let lifetime = i128::from(exp) - i128::from(start);
        if lifetime > i128::from(self.max_lifetime) {
            return Err(Rejection::new(
                RejectionKind::TokenLifetimeTooLong,
                format!(
                    "the actor token lives {lifetime} s from {from} to exp; at most {} s ({} h) is accepted",
                    self.max_lifetime,
                    self.max_lifetime / 3600
                ),
            ));
        }
        Ok(lifetime)
    }

    /// A passed lifetime in words (for the trace).
    pub(super) fn lifetime_detail(
        &self,
        nbf: Option<UnixTime>,
        exp: Option<UnixTime>,
        now: UnixTime,
        which: &str,
    ) -> String {
        let exp = exp.unwrap_or_default();
        let mut t = if exp >= now {
            format!("the {which} token expires in {} s", exp.saturating_sub(now))
        } else {
            format!(
                "the {which} token expired {} s ago, within the allowed clock skew of {} s",
                now.saturating_sub(exp),
                self.skew
            )
        };
        match nbf {
            Some(nbf) if nbf > now => t.push_str(&format!(
                "; it becomes valid in {} s, within the allowed clock skew of {} s",
                nbf.saturating_sub(now),
                self.skew
            )),
            Some(nbf) => t.push_str(&format!("; valid since {} s", now.saturating_sub(nbf))),
            None => t.push_str("; no nbf"),
        }
        t
    }
}
