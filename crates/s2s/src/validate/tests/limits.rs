//! The validator's limits against hostile headers and dates: `crit` extensions, the bound on an
//! actor's lifetime, absurd dates without overflow, and the outer issuer matched in full.

use super::*;

/// A token signed by Lync's key under a header given as JSON (for members `jws::Header` lacks).
fn sign_raw_header(header_json: &str, claims: &ActorClaims) -> String {
    let input = format!("{}.{}", b64(header_json), b64(&serde_json::to_string(claims).unwrap()));
    let sig = keys().lync.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[test]
fn a_header_marking_any_extension_critical_is_refused() {
    let v = validator();
    let x5t = keys().lync.x5t();
    // The same header without crit is accepted, so only crit decides.
    let plain = sign_raw_header(&format!(r#"{{"typ":"JWT","alg":"RS256","x5t":"{x5t}"}}"#), &good_claims());
    assert!(v.validate(&plain, HOST).is_ok());
    for crit in [r#"["exp"]"#, r#"["b64"]"#, r#"["urn:example:ext"]"#, "[]", r#""b64""#] {
        let header = format!(r#"{{"typ":"JWT","alg":"RS256","x5t":"{x5t}","crit":{crit},"b64":true}}"#);
        let actor = sign_raw_header(&header, &good_claims());
        let err = v.validate(&actor, HOST).unwrap_err();
        assert!(
            matches!(err.kind, RejectionKind::UnsupportedCriticalHeader | RejectionKind::MalformedToken),
            "actor crit {crit}: {err}"
        );
        if crit.starts_with("[\"") {
            assert_eq!(err.kind, RejectionKind::UnsupportedCriticalHeader, "{err}");
        }
        // The actor inside an outer token.
        let err = v.validate(&outer_for(&actor, |_| {}), HOST).unwrap_err();
        assert!(matches!(err.kind, RejectionKind::UnsupportedCriticalHeader | RejectionKind::MalformedToken), "{err}");
    }
    // An outer token whose own (unsigned) header marks an extension critical.
    let good = sign(&good_claims());
    let o = outer_for(&good, |_| {});
    let payload = o.split('.').nth(1).unwrap();
    let outer = format!("{}.{payload}.", b64(r#"{"typ":"JWT","alg":"none","crit":["urn:example:ext"]}"#));
    assert_eq!(v.validate(&outer, HOST).unwrap_err().kind, RejectionKind::UnsupportedCriticalHeader);
}

#[test]
fn an_actor_living_longer_than_the_bound_is_refused() {
    let v = validator();
    let hours = |h: i64| h * 3600;
    // 48 h is the default bound: exactly 48 h passes, a second more does not.
    let at_bound = with_claims(|c| {
        c.nbf = Some(NOW - 60);
        c.exp = Some(NOW - 60 + hours(48));
    });
    assert!(v.validate(&at_bound, HOST).is_ok());
    let over = with_claims(|c| {
        c.nbf = Some(NOW - 60);
        c.exp = Some(NOW - 60 + hours(48) + 1);
    });
    let err = v.validate(&over, HOST).unwrap_err();
    assert_eq!(err.kind, RejectionKind::TokenLifetimeTooLong, "{err}");
    assert!(err.detail.contains("48 h"), "{err}");
    // Without nbf, iat starts the lifetime.
    let by_iat = with_claims(|c| {
        c.nbf = None;
        c.iat = Some(NOW - 60);
        c.exp = Some(NOW + hours(72));
    });
    assert_eq!(v.validate(&by_iat, HOST).unwrap_err().kind, RejectionKind::TokenLifetimeTooLong);
    // The bound is the validator's to set.
    let lenient = validator().with_max_token_lifetime(std::time::Duration::from_secs(hours(100) as u64));
    assert!(lenient.validate(&by_iat, HOST).is_ok());
    let strict = validator().with_max_token_lifetime(std::time::Duration::from_secs(hours(1) as u64));
    assert_eq!(strict.validate(&sign(&good_claims()), HOST).unwrap_err().kind, RejectionKind::TokenLifetimeTooLong);
    // An outer token inherits the bound through its actor.
    assert_eq!(v.validate(&outer_for(&over, |_| {}), HOST).unwrap_err().kind, RejectionKind::TokenLifetimeTooLong);
}

#[test]
fn absurd_dates_are_refused_without_overflow() {
    let v = validator();
    let header = jws::Header {
        typ: Some("JWT".into()),
        alg: "RS256".into(),
        x5t: Some(keys().lync.x5t().into()),
        ..Default::default()
    };
    let extremes = [
        serde_json::json!(i64::MAX),
        serde_json::json!(i64::MIN),
        serde_json::json!(u64::MAX),
        serde_json::json!(-1),
        serde_json::json!(0),
        serde_json::json!(1e300),
        serde_json::json!(-1e300),
        serde_json::json!(9.2e18),
        serde_json::json!("9223372036854775807"),
        serde_json::json!("-9223372036854775808"),
        serde_json::json!(NOW),
        serde_json::Value::Null,
    ];
    for nbf in &extremes {
        for exp in &extremes {
            for iat in [serde_json::Value::Null, serde_json::json!(i64::MIN), serde_json::json!(i64::MAX)] {
                let mut claims = serde_json::to_value(good_claims()).unwrap();
                claims["nbf"] = nbf.clone();
                claims["exp"] = exp.clone();
                claims["iat"] = iat;
                let actor = jws::sign(&header, &claims, &keys().lync).unwrap();
                // Never a panic; an absurd lifetime is never accepted.
                for token in [actor.clone(), outer_for(&actor, |_| {})] {
                    let _ = v.validate(&token, HOST);
                    let (result, _) = v.validate_traced(&token, HOST);
                    if let Ok(ok) = result {
                        assert!(ok.expires_at.checked_sub(NOW).is_some_and(|l| l <= 48 * 3600 + 300), "{nbf} {exp}");
                    }
                }
            }
        }
    }
    // Outer dates too.
    let good = sign(&good_claims());
    for (nbf, exp) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MIN), (i64::MAX, i64::MAX), (i64::MIN, i64::MIN)] {
        let token = outer_for(&good, |o| {
            o.nbf = Some(nbf);
            o.exp = Some(exp);
        });
        let _ = v.validate(&token, HOST);
        let _ = v.validate_traced(&token, HOST);
    }
}

#[test]
fn the_outer_issuer_must_be_the_actors_nameid_realm_included() {
    let v = validator();
    let good = sign(&good_claims());
    // Right application id, another realm.
    let err = v.validate(&outer_for(&good, |o| o.iss = Some(format!("{LYNC}@fabrikam.com"))), HOST).unwrap_err();
    assert_eq!(err.kind, RejectionKind::InvalidOuterTokenIssuerIdValue, "{err}");
    // Case does not matter (GUIDs and realms compare case-insensitively).
    let upper = outer_for(&good, |o| o.iss = Some(format!("{}@{}", LYNC.to_uppercase(), REALM.to_uppercase())));
    assert!(v.validate(&upper, HOST).is_ok());
}
