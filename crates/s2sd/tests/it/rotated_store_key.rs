//! A node holding a rotated-away store key keeps serving its last configuration and says why. A
//! running node read its SQLite store's key (beside the file) at start; `s2sd store rotate-key`
//! re-encrypts the private keys under a new key and puts that key beside the store, and a next
//! certificate is staged. The node cannot decrypt the newer configuration with the key it holds:
//! it keeps answering — the same metadata (one key, the current certificate), `/healthz` at the
//! configuration version it had — and its log says that the reload failed and that it serves the
//! last configuration, naming the store key.

use std::time::Duration;

use s2s::clock::{Clock as _, SystemClock};

use crate::support::{DEADLINE, Site, poll};

#[test]
fn a_node_with_a_rotated_away_store_key_serves_its_last_configuration_and_logs_why() {
    let site = Site::new();
    site.configure("exchange");
    let node = site.serve();
    let x5t = site.current_x5t();
    let metadata_x5ts = || {
        let md = node.get("/metadata/json/1", &[]);
        assert_eq!(md.status, 200, "{md:?}");
        let keys = md.json()["keys"].as_array().unwrap().clone();
        keys.iter().map(|k| k["keyinfo"]["x5t"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let version = || node.get("/healthz", &[]).json()["config_version"].as_i64().unwrap();
    assert_eq!(metadata_x5ts(), vec![x5t.clone()]);
    let before = version();

    let new_key = site.path("rotated.key");
    let rotated = site.ok(&["store", "rotate-key", "--new-key-file", new_key.to_str().unwrap()]);
    assert!(rotated.starts_with("Store key rotated"), "{rotated}");
    let soon = time::OffsetDateTime::from_unix_timestamp(SystemClock.now() + 49 * 3600).unwrap();
    let soon = soon.format(&time::format_description::well_known::Rfc3339).unwrap();
    site.ok(&["certificate", "roll", "--certificate", "new", "--effective-date", &soon]);
    assert_eq!(site.certificates().len(), 2, "the CLI, with the new key, staged the next certificate");

    // The node says why it does not apply the newer configuration…
    let line = poll("the node to log that it cannot apply the newer configuration", DEADLINE, || {
        node.stderr().lines().find(|l| l.contains("serving the last configuration")).map(str::to_owned)
    });
    eprintln!("the node logged: {line}");
    assert!(line.contains("reload failed"), "{line}");
    assert!(line.contains("store key") && line.contains("rotated"), "the log names the rotated store key: {line}");
    // …and keeps serving the last one: a few poll intervals later, still the same answers.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(node.get("/healthz", &[]).status, 200);
    assert_eq!(version(), before, "the node stays at the configuration it could read");
    assert_eq!(metadata_x5ts(), vec![x5t], "the metadata is the last configuration's: no staged certificate");
}
