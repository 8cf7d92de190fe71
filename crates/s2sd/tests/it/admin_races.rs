//! Two admins at once, as a real deployment meets them: `s2sd` processes started together against
//! one store (an SQLite file, and a PostgreSQL schema: the test command provides the database). Twenty
//! parallel `service-principal spn add` runs on one principal all land; fifteen rounds of
//! `partner-application set --enabled false` racing `--trust-level full` (and a service
//! principal's disable racing an SPN add) end disabled every time, with the other edit kept too.

use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::postgres::with_postgres;
use crate::support::Site;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const APP: &str = "00000002-0000-0ff1-ce00-000000000000";

/// Starts `s2sd` with `args` against a store, without waiting for it.
type Spawn<'a> = &'a dyn Fn(&[&str]) -> Child;

/// Waits for every child; each must exit 0.
fn all_succeed(children: Vec<(String, Child)>) {
    for (what, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "`s2sd {what}` failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The races, against whatever store `spawn` and `json` reach.
fn races(spawn: Spawn<'_>, json: &dyn Fn(&[&str]) -> Value) {
    json(&["tenant", "new", "--realm", TENANT, "--name", "Litware"]);
    json(&["service-principal", "new", "--app-id", "exchange", "--display-name", "Exchange"]);
    json(&[
        "partner-application",
        "new",
        "--identity",
        "Lync",
        "--application-identifier",
        "00000004-0000-0ff1-ce00-000000000000",
        "--realm",
        "litwareinc.com",
        "--use-auth-server",
    ]);

    // Twenty parallel SPN adds on one principal.
    let spns: Vec<String> = (0..20).map(|i| format!("{APP}/host{i:02}.litwareinc.com")).collect();
    let children = spns
        .iter()
        .map(|spn| {
            (format!("spn add {spn}"), spawn(&["service-principal", "spn", "add", "--app-id", APP, "--spn", spn]))
        })
        .collect();
    all_succeed(children);
    let shown = json(&["service-principal", "show", "--app-id", APP]);
    let stored: Vec<&str> = shown["spns"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    for spn in &spns {
        assert!(stored.contains(&spn.as_str()), "{spn} was lost to a race; stored: {stored:?}");
    }

    for round in 0..15 {
        json(&["partner-application", "set", "Lync", "--enabled", "true", "--trust-level", "application"]);
        let children = vec![
            ("set --enabled false".to_owned(), spawn(&["partner-application", "set", "Lync", "--enabled", "false"])),
            (
                "set --trust-level full".to_owned(),
                spawn(&["partner-application", "set", "Lync", "--trust-level", "full"]),
            ),
        ];
        all_succeed(children);
        let lync = json(&["partner-application", "show", "Lync"]);
        assert_eq!(lync["enabled"], false, "round {round}: the disable was undone: {lync}");
        assert_eq!(lync["trust_level"], "Full", "round {round}: the trust level edit was undone: {lync}");

        json(&["service-principal", "set", "--app-id", APP, "--enabled", "true"]);
        let spn = format!("{APP}/round{round}.litwareinc.com");
        let children = vec![
            (
                "service-principal set --enabled false".to_owned(),
                spawn(&["service-principal", "set", "--app-id", APP, "--enabled", "false"]),
            ),
            (format!("spn add {spn}"), spawn(&["service-principal", "spn", "add", "--app-id", APP, "--spn", &spn])),
        ];
        all_succeed(children);
        let shown = json(&["service-principal", "show", "--app-id", APP]);
        assert_eq!(shown["enabled"], false, "round {round}: the principal's disable was undone: {shown}");
        assert!(
            shown["spns"].as_array().unwrap().iter().any(|s| s == spn.as_str()),
            "round {round}: {spn} lost: {shown}"
        );
    }
}

#[test]
fn concurrent_cli_edits_all_land_on_sqlite() {
    let site = Site::new();
    let spawn = |args: &[&str]| {
        Command::new(assert_cmd::cargo::cargo_bin!("s2sd"))
            .env_remove("S2S_STORE")
            .env_remove("S2S_LOG")
            .args(["--store", &site.store])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    races(&spawn, &|args| site.json(args));
}

#[test]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
fn concurrent_cli_edits_all_land_on_postgres() {
    with_postgres("the PostgreSQL admin race test", |_site, pg| {
        let spawn = |args: &[&str]| pg.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        races(&spawn, &|args| pg.json(args));
    });
}
