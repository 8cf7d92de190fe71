//! The authorization-server role on PostgreSQL: two `s2sd serve` nodes share one store (a fresh
//! schema of `S2S_TEST_DATABASE_URL`, one store key file). A tenant, a service principal and a
//! client secret made through the CLI against that store reach node 2's token endpoint within two
//! seconds, and disabling the principal makes both nodes refuse it within two seconds. Skipped
//! (with a note) when `S2S_TEST_DATABASE_URL` is not set.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::postgres::{PgNode, with_postgres};
use crate::support::{CLIENT, REALM, SHAREPOINT, TENANT, client_credentials, poll};

/// How long a CLI change may take to reach both running nodes.
const LIVE: Duration = Duration::from_secs(2);

impl PgNode {
    /// A client-credentials grant for SharePoint at 127.0.0.1 with `secret`; (status, JSON body).
    fn token(&self, secret: &str) -> (u16, Value) {
        client_credentials(&self.base, None, secret)
    }
}

#[test]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
fn two_nodes_on_postgres_serve_the_same_tenants_and_principals() {
    with_postgres("the PostgreSQL authority test", |site, pg| {
        // The pool's identity and its one signing certificate.
        pg.json(&["oauth-config", "set", "--realm", REALM, "--service-name", "exchange"]);
        pg.json(&["certificate", "new"]);
        let node1 = pg.serve(site.dir.path(), "node1");
        let node2 = pg.serve(site.dir.path(), "node2");
        // No tenant yet: the node answers, and refuses with the unknown-tenant error (ACS90002).
        let (status, answer) = node2.token("not yet");
        assert_eq!((status, &answer["error"]), (400, &Value::from("invalid_request")), "{answer}");
        let description = answer["error_description"].as_str().unwrap_or_default();
        assert!(description.starts_with("ACS90002: unknown tenant"), "{answer}");

        // The tenant, SharePoint with an SPN for 127.0.0.1, and a client with a secret, through the CLI.
        pg.json(&["tenant", "new", "--realm", TENANT, "--name", "Litware"]);
        let spn = format!("{SHAREPOINT}/127.0.0.1");
        pg.json(&["service-principal", "new", "--app-id", "sharepoint", "--display-name", "SharePoint", "--spn", &spn]);
        pg.json(&["service-principal", "new", "--app-id", CLIENT, "--display-name", "Add-in"]);
        let added = pg.json(&["service-principal", "credential", "add", "--app-id", CLIENT, "--type", "symmetric"]);
        let secret = added["secret"].as_str().unwrap().to_owned();
        let changed = Instant::now();
        let answer = poll("node 2 to issue a token to the new client", LIVE, || {
            let (status, answer) = node2.token(&secret);
            (status == 200).then_some(answer)
        });
        eprintln!("the client reached node 2 {:?} after the CLI returned", changed.elapsed());
        assert_eq!(answer["token_type"], "Bearer", "{answer}");
        assert_eq!(answer["resource"], format!("{SHAREPOINT}/127.0.0.1@{TENANT}"), "{answer}");
        poll("node 1 to issue a token to the new client", LIVE.saturating_sub(changed.elapsed()), || {
            (node1.token(&secret).0 == 200).then_some(())
        });
        let (status, answer) = node2.token("wrong");
        assert_eq!((status, &answer["error"]), (401, &Value::from("invalid_client")), "{answer}");

        // Disabled through the CLI: both nodes refuse it within two seconds.
        pg.json(&["service-principal", "set", "--tenant", TENANT, "--app-id", CLIENT, "--enabled", "false"]);
        let changed = Instant::now();
        for (name, node) in [("node 1", &node1), ("node 2", &node2)] {
            poll(&format!("{name} to refuse the disabled client"), LIVE.saturating_sub(changed.elapsed()), || {
                let (status, answer) = node.token(&secret);
                (status == 400 && answer["error"] == "unauthorized_client").then_some(())
            });
        }
        eprintln!("the change reached both nodes {:?} after the CLI returned", changed.elapsed());
    });
}
