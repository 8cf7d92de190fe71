#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The authority's model: SPNs, the failure counter, replay memory, secrets and GUIDs.

use std::sync::Arc;

use base64::Engine as _;
use s2s::clock::FixedClock;
use s2s::principal::{EXCHANGE, SHAREPOINT};

use super::NOW;
use crate::authority::*;

// ---------------------------------------------------------------------------------------------
// SPNs

#[test]
fn spns_match_exact_hosts_and_one_label_wildcards() {
    let exact = Spn::parse(SHAREPOINT, &format!("{SHAREPOINT}/SP.Contoso.com")).unwrap();
    assert_eq!(exact.text(), format!("{SHAREPOINT}/sp.contoso.com"));
    assert!(exact.matches("sp.contoso.com"));
    assert!(exact.matches("SP.CONTOSO.COM:443"), "an SPN without a port matches any port");
    assert!(!exact.matches("sp.contoso.com.evil.example"));
    assert!(!exact.matches("contoso.com"));

    let wild = Spn::parse(SHAREPOINT, "*.contoso.com").unwrap();
    assert_eq!(wild.text(), format!("{SHAREPOINT}/*.contoso.com"), "a bare host gets the app id");
    assert!(wild.matches("mail.contoso.com"));
    assert!(wild.matches("Mail.Contoso.com:8443"));
    assert!(!wild.matches("contoso.com"), "the wildcard stands for one label, not none");
    assert!(!wild.matches("a.b.contoso.com"), "…and not two");
    assert!(!wild.matches("evilcontoso.com"));

    let ported = Spn::parse(SHAREPOINT, "sp.contoso.com:8443").unwrap();
    assert!(ported.matches("sp.contoso.com:8443"));
    assert!(ported.matches("sp.contoso.com"), "a resource without a port is compared by host");
    assert!(!ported.matches("sp.contoso.com:443"));
    assert!(Spn::parse(SHAREPOINT, "127.0.0.1").unwrap().matches("127.0.0.1:50123"));
}

#[test]
fn spns_refuse_what_is_not_a_host_of_this_principal() {
    assert!(matches!(
        Spn::parse(SHAREPOINT, &format!("{EXCHANGE}/mail.contoso.com")),
        Err(SpnError::OtherAppId { .. })
    ));
    for bad in ["", "x/", "*", "a.*.contoso.com", "*contoso.com", "sp contoso.com", "sp.contoso.com:", "sp..com", "h@r"]
    {
        let text = if bad.starts_with("x/") { format!("{SHAREPOINT}/") } else { bad.to_owned() };
        assert!(Spn::parse(SHAREPOINT, &text).is_err(), "`{text}` was accepted");
    }
}

// ---------------------------------------------------------------------------------------------
// Memory: failing clients and replays

#[test]
fn failing_clients_wait_longer_and_longer_then_are_forgotten() {
    let a = Authority::new(None, Arc::new(FixedClock::new(NOW)));
    for i in 0..FAILURES_BEFORE_DELAY {
        assert_eq!(a.delay_for(Some("t|c"), None, NOW), None, "after {i} failures");
        a.record_failure(Some("t|c"), None, NOW);
    }
    let delays: Vec<u64> = (0..7)
        .map(|_| {
            let d = a.delay_for(Some("t|c"), None, NOW).unwrap().as_secs();
            a.record_failure(Some("t|c"), None, NOW);
            d
        })
        .collect();
    assert_eq!(delays, [1, 2, 3, 4, 5, 5, 5]);
    assert_eq!(a.delay_for(Some("t|other"), None, NOW), None, "per client");
    assert_eq!(a.delay_for(Some("t|c"), None, NOW + FAILURE_WINDOW), None, "a minute after the last failure");
    a.record_failure(Some("t|c"), None, NOW + FAILURE_WINDOW);
    assert_eq!(a.delay_for(Some("t|c"), None, NOW + FAILURE_WINDOW), None, "the count starts again");
    for _ in 0..FAILURES_BEFORE_DELAY {
        a.record_failure(Some("t|c"), None, NOW + FAILURE_WINDOW);
    }
    assert!(a.delay_for(Some("t|c"), None, NOW + FAILURE_WINDOW).is_some());
    a.record_success("t|c", None);
    assert_eq!(a.delay_for(Some("t|c"), None, NOW + FAILURE_WINDOW), None, "a success forgets");
}

#[test]
fn an_assertion_is_accepted_once_until_it_expires() {
    let a = Authority::new(None, Arc::new(FixedClock::new(NOW)));
    assert!(!a.replayed("t|c|jti-1", NOW + 600, NOW));
    assert!(a.replayed("t|c|jti-1", NOW + 600, NOW + 1));
    assert!(a.replayed("t|c|jti-1", NOW + 600, NOW + 600 + ASSERTION_SKEW), "still within its skewed lifetime");
    assert!(!a.replayed("t|c|jti-2", NOW + 600, NOW));
    assert!(!a.replayed("t|c|jti-1", NOW + 9000, NOW + 601 + ASSERTION_SKEW), "an expired entry is no replay");
}

#[test]
fn secrets_guids_and_hashes() {
    let s = generate_secret().unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).unwrap().len(), SECRET_BYTES);
    assert_ne!(*s, *generate_secret().unwrap());
    let g = new_guid().unwrap();
    assert!(s2s::principal::is_guid(&g) && g.as_bytes()[14] == b'4', "{g}");
    assert_eq!(secret_hash(&[1; 32], "x"), secret_hash(&[1; 32], "x"));
    assert_ne!(secret_hash(&[1; 32], "x"), secret_hash(&[2; 32], "x"), "the pepper keys the hash");
}
