//! `s2sd oauth-config set|show`: service names map to application ids, the realm is required
//! first, bad input is refused with a one-line reason and changes nothing.

use crate::support::{EXCHANGE, LYNC, REALM, SHAREPOINT, Site};

#[test]
fn service_names_map_to_their_application_ids() {
    let site = Site::new();
    let cases = [
        ("exchange", EXCHANGE),
        ("Exchange", EXCHANGE),
        ("sharepoint", SHAREPOINT),
        ("lync", LYNC),
        ("skype", LYNC),
        ("C3AB8885-458F-4864-8804-1608145E2AC4", "c3ab8885-458f-4864-8804-1608145e2ac4"),
    ];
    for (name, app_id) in cases {
        let set = site.json(&["oauth-config", "set", "--realm", "LitwareInc.com", "--service-name", name]);
        assert_eq!(set["service_name"], app_id, "--service-name {name}");
        assert_eq!(set["realm"], REALM, "the realm is stored in lower case");
        let shown = site.json(&["oauth-config", "show"]);
        assert_eq!(shown, set, "show prints what set saved (--service-name {name})");
    }
    let text = site.ok(&["oauth-config", "show"]);
    assert!(text.contains("c3ab8885-458f-4864-8804-1608145e2ac4"), "{text}");
}

#[test]
fn first_set_needs_a_realm_and_a_service_name() {
    let site = Site::new();
    let err = site.fails(&["oauth-config", "show"]);
    assert!(err.contains("oauth-config set"), "show on an empty store says how to configure: {err}");
    let err = site.fails(&["oauth-config", "set", "--service-name", "lync"]);
    assert!(err.contains("--realm"), "{err}");
    let err = site.fails(&["oauth-config", "set", "--realm", REALM]);
    assert!(err.contains("--service-name"), "{err}");
    site.fails(&["oauth-config", "show"]);
    let err = site.fails(&["oauth-config", "set", "--realm", "user@litwareinc.com", "--service-name", "lync"]);
    assert!(err.contains("not a realm"), "{err}");
    site.fails(&["oauth-config", "show"]);
}

#[test]
fn a_bad_service_name_is_refused_naming_the_accepted_values() {
    let site = Site::new();
    site.ok(&[
        "oauth-config",
        "set",
        "--realm",
        REALM,
        "--service-name",
        "exchange",
        "--hostname",
        "Mail.Litwareinc.com",
    ]);
    let before = site.json(&["oauth-config", "show"]);
    assert_eq!(before["hostnames"], serde_json::json!(["mail.litwareinc.com"]));

    let run = site.run(&["oauth-config", "set", "--service-name", "exchnage"]);
    let err = run.one_line_error();
    assert_ne!(run.code, Some(0));
    for word in ["exchnage", "exchange", "sharepoint", "lync", "skype", "GUID"] {
        assert!(err.contains(word), "the refusal should mention {word}: {err}");
    }
    assert_eq!(site.json(&["oauth-config", "show"]), before, "a refused set changes nothing");

    // Unspecified settings are kept by a later set.
    let after = site.json(&["oauth-config", "set", "--service-name", "sharepoint"]);
    assert_eq!(after["service_name"], SHAREPOINT);
    assert_eq!(after["realm"], REALM);
    assert_eq!(after["hostnames"], before["hostnames"]);
}
