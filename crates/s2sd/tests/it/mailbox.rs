//! `s2sd mailbox user …`, `s2sd mailbox item list`, `s2sd role-assignment …` and the
//! linked-account settings of `s2sd partner-application`, through the real executable.

use crate::support::{LYNC, REALM, Site};

#[test]
fn mailbox_users_are_created_listed_shown_and_removed() {
    let site = Site::new();
    let out = site.ok(&["mailbox", "user", "new", "--smtp", "KenMyer@LitwareInc.com", "--display-name", "Ken Myer"]);
    assert!(out.contains("Mailbox user kenmyer@litwareinc.com created"), "{out}");
    let sid = "S-1-5-21-1004336348-1177238915-682003330-1001";
    let david = site.json(&[
        "mailbox",
        "user",
        "new",
        "--smtp",
        "davidl@litwareinc.com",
        "--sip",
        "sip:david@litwareinc.com",
        "--sid",
        sid,
    ]);
    assert_eq!(david["sip"], "david@litwareinc.com");
    assert_eq!(david["sid"], sid.to_ascii_lowercase());
    let folders: Vec<&str> =
        david["folders"].as_array().unwrap().iter().map(|f| f["distinguished"].as_str().unwrap()).collect();
    for f in ["root", "inbox", "conversationhistory", "contacts", "deleteditems", "archivemsgfolderroot"] {
        assert!(folders.contains(&f), "no {f} in {folders:?}");
    }
    let err =
        site.fails(&["mailbox", "user", "new", "--smtp", "other@litwareinc.com", "--sip", "KENMYER@litwareinc.com"]);
    assert!(err.contains("exists already"), "{err}");
    let err = site.fails(&["mailbox", "user", "new", "--smtp", "not-an-address"]);
    assert!(err.contains("is not an address"), "{err}");

    let list = site.json(&["mailbox", "user", "list"]);
    let smtps: Vec<&str> = list.as_array().unwrap().iter().map(|u| u["smtp"].as_str().unwrap()).collect();
    assert_eq!(smtps, ["davidl@litwareinc.com", "kenmyer@litwareinc.com"]);
    // show finds a user by any address or the SID.
    for address in ["sip:david@litwareinc.com", "davidl@litwareinc.com", sid] {
        assert_eq!(site.json(&["mailbox", "user", "show", address])["smtp"], "davidl@litwareinc.com", "{address}");
    }
    let text = site.ok(&["mailbox", "user", "show", "kenmyer@litwareinc.com"]);
    assert!(text.contains("Conversation History (conversationhistory) — 0 items"), "{text}");
    assert!(site.ok(&["mailbox", "item", "list", "--user", "kenmyer@litwareinc.com"]).contains("No items"));
    let err = site.fails(&["mailbox", "item", "list", "--user", "kenmyer@litwareinc.com", "--folder", "calendar"]);
    assert!(err.contains("has no folder calendar"), "{err}");

    site.ok(&["mailbox", "user", "remove", "davidl@litwareinc.com"]);
    let err = site.fails(&["mailbox", "user", "show", "davidl@litwareinc.com"]);
    assert!(err.contains("no mailbox user has the address"), "{err}");
}

#[test]
fn role_assignments_and_linked_accounts() {
    let site = Site::new();
    site.configure("exchange");
    site.ok(&["mailbox", "user", "new", "--smtp", "lync-app@litwareinc.com"]);
    let ra = site.json(&["role-assignment", "new", "--role", "userapplication", "--user", "lync-app@litwareinc.com"]);
    assert_eq!(ra["role"], "UserApplication");
    site.ok(&["role-assignment", "new", "--role", "ArchiveApplication", "--user", "lync-app@litwareinc.com"]);
    let err = site.fails(&["role-assignment", "new", "--role", "UserApplication", "--user", "lync-app@litwareinc.com"]);
    assert!(err.contains("has the UserApplication role already"), "{err}");
    let run = site.run(&["role-assignment", "new", "--role", "Admin", "--user", "lync-app@litwareinc.com"]);
    assert_ne!(run.code, Some(0));
    let err = site.fails(&["role-assignment", "new", "--role", "UserApplication", "--user", "ghost@litwareinc.com"]);
    assert!(err.contains("no mailbox user"), "{err}");
    let list = site.json(&["role-assignment", "list", "--user", "lync-app@litwareinc.com"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    site.ok(&["role-assignment", "remove", "--role", "ArchiveApplication", "--user", "lync-app@litwareinc.com"]);
    let err =
        site.fails(&["role-assignment", "remove", "--role", "ArchiveApplication", "--user", "lync-app@litwareinc.com"]);
    assert!(err.contains("does not have the ArchiveApplication role"), "{err}");
    assert_eq!(site.json(&["mailbox", "user", "show", "lync-app@litwareinc.com"])["roles"][0], "UserApplication");

    // A partner's linked account and SID setting, on new and set.
    let cert = site.path("lync.crt");
    site.ok(&["certificate", "export", "--out", cert.to_str().unwrap()]);
    let p = site.json(&[
        "partner-application",
        "new",
        "--identity",
        "Lync",
        "--application-identifier",
        LYNC,
        "--realm",
        REALM,
        "--certificate",
        cert.to_str().unwrap(),
        "--trust-level",
        "full",
        "--linked-account",
        "Lync-App@litwareinc.com",
    ]);
    assert_eq!(p["linked_account"], "lync-app@litwareinc.com");
    assert_eq!(p["accept_security_identifier_information"], false);
    let p = site.json(&["partner-application", "set", "Lync", "--accept-security-identifier-information"]);
    assert_eq!(p["accept_security_identifier_information"], true);
    let run = site.run(&["partner-application", "set", "Lync", "--linked-account", "nobody@litwareinc.com"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("warning: the linked account nobody@litwareinc.com is not a mailbox user"), "{run:#?}");
    let p = site.json(&[
        "partner-application",
        "set",
        "Lync",
        "--linked-account",
        "",
        "--accept-security-identifier-information",
        "false",
    ]);
    assert_eq!(p["linked_account"], serde_json::Value::Null);
    assert_eq!(p["accept_security_identifier_information"], false);
    let err = site.fails(&["partner-application", "set", "Lync", "--linked-account", "not an address"]);
    assert!(err.contains("is not an address"), "{err}");
}
