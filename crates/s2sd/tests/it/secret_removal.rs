//! A removed client secret stops working at once: on a running node, a client-credentials grant
//! with the secret succeeds, `s2sd service-principal credential remove` deletes it, and within the
//! live-reload window (the node polls its store every 200 ms here; two seconds allowed) the same
//! request is refused with 401 `invalid_client` — also when the node still holds a token it issued
//! for that very request (issued tokens are reused only after the client is authenticated).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{CLIENT, Node, SHAREPOINT, Site, TENANT, client_credentials, poll};

/// How long a CLI change may take to reach the running node.
const LIVE: Duration = Duration::from_secs(2);

/// The client-credentials grant on `node`.
fn token(node: &Node, secret: &str) -> (u16, Value) {
    client_credentials(&node.base, node.tls_cert.as_deref(), secret)
}

/// Tenant, SharePoint with an SPN for 127.0.0.1, and a client with a secret; (secret, credential id).
pub fn authority(site: &Site) -> (String, String) {
    site.configure("exchange");
    site.json(&["tenant", "new", "--realm", TENANT, "--name", "Litware"]);
    let spn = format!("{SHAREPOINT}/127.0.0.1");
    site.json(&["service-principal", "new", "--app-id", "sharepoint", "--display-name", "SharePoint", "--spn", &spn]);
    site.json(&["service-principal", "new", "--app-id", CLIENT, "--display-name", "Add-in"]);
    let added = site.json(&["service-principal", "credential", "add", "--app-id", CLIENT, "--type", "symmetric"]);
    let secret = added["secret"].as_str().expect("credential add prints the secret").to_owned();
    let id = added["id"].as_str().expect("credential add prints the credential id").to_owned();
    (secret, id)
}

#[test]
fn a_removed_client_secret_is_refused_on_a_running_node() {
    let site = Site::new();
    let (secret, id) = authority(&site);
    // A second secret of the same client: removing one must not touch the other.
    let other = site.json(&["service-principal", "credential", "add", "--app-id", CLIENT, "--type", "symmetric"]);
    let other = other["secret"].as_str().unwrap().to_owned();
    let node = site.serve();

    let (status, answer) = token(&node, &secret);
    assert_eq!(status, 200, "the secret works before its removal: {}", answer["error"]);
    assert_eq!(answer["token_type"], "Bearer");
    // Asked again: the same request, which the node may answer from its issued-token cache.
    assert_eq!(token(&node, &secret).0, 200);

    site.json(&["service-principal", "credential", "remove", "--tenant", TENANT, "--app-id", CLIENT, "--id", &id]);
    let removed = Instant::now();
    let (status, answer) = poll("the running node to refuse the removed secret", LIVE, || {
        let (status, answer) = token(&node, &secret);
        (status != 200).then_some((status, answer))
    });
    eprintln!("the removed secret was refused {:?} after the CLI returned", removed.elapsed());
    assert_eq!((status, &answer["error"]), (401, &Value::from("invalid_client")), "{}", answer["error_description"]);
    // Refused for good, not by a passing hiccup; the other secret still works.
    std::thread::sleep(Duration::from_millis(500));
    let (status, answer) = token(&node, &secret);
    assert_eq!((status, &answer["error"]), (401, &Value::from("invalid_client")));
    assert_eq!(token(&node, &other).0, 200, "the client's other secret still works");
}
