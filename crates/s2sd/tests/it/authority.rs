//! The authorization-server role as an admin and a client meet it: `s2sd tenant …` and
//! `s2sd service-principal …` (secrets shown once and never again, certificates, SPNs, every
//! refusal one line), and a running `s2sd serve` that picks a new tenant up live and answers its
//! metadata document and token endpoint over https.

use std::process::Command;

use serde_json::Value;

use crate::support::{DEADLINE, SHAREPOINT, Site, poll, self_signed, sha1_upper_hex};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "c3ab8885-458f-4864-8804-1608145e2ac4";

/// A tenant, SharePoint with an SPN for `host`, and the client with a secret; returns the secret.
fn configure(site: &Site, host: &str) -> String {
    site.json(&["tenant", "new", "--realm", TENANT, "--name", "Litware"]);
    let spn = format!("{SHAREPOINT}/{host}");
    site.json(&["service-principal", "new", "--app-id", "sharepoint", "--display-name", "SharePoint", "--spn", &spn]);
    site.json(&["service-principal", "new", "--app-id", CLIENT, "--display-name", "Add-in"]);
    let added = site.json(&["service-principal", "credential", "add", "--app-id", CLIENT, "--type", "symmetric"]);
    added["secret"].as_str().unwrap().to_owned()
}

#[test]
fn tenants_principals_and_spns() {
    let site = Site::new();
    assert!(site.ok(&["tenant", "list"]).contains("No tenants"));
    let made = site.json(&["tenant", "new"]);
    let generated = made["realm"].as_str().unwrap().to_owned();
    assert!(generated.len() == 36 && generated.as_bytes()[14] == b'4', "a random GUID: {generated}");
    site.json(&["tenant", "new", "--realm", &TENANT.to_uppercase(), "--name", "Litware"]);
    let tenants = site.json(&["tenant", "list"]);
    assert_eq!(tenants.as_array().unwrap().len(), 2);
    assert!(tenants.as_array().unwrap().iter().any(|t| t["realm"] == TENANT && t["name"] == "Litware"), "{tenants}");
    assert!(site.fails(&["tenant", "new", "--realm", TENANT]).contains("exists already"));
    assert!(site.fails(&["tenant", "new", "--realm", "litwareinc.com"]).contains("GUID"));

    // With two tenants, --tenant is required; with it, the principal is registered.
    let spn = format!("{SHAREPOINT}/*.contoso.com");
    let err = site.fails(&["service-principal", "new", "--app-id", "sharepoint", "--display-name", "SP"]);
    assert!(err.contains("give --tenant"), "{err}");
    let sp = site.json(&[
        "service-principal",
        "new",
        "--tenant",
        TENANT,
        "--app-id",
        "sharepoint",
        "--display-name",
        "SP",
        "--spn",
        &spn,
        "--spn",
        "SP.Contoso.com",
    ]);
    assert_eq!(sp["app_id"], SHAREPOINT);
    assert_eq!(sp["spns"], serde_json::json!([spn, format!("{SHAREPOINT}/sp.contoso.com")]));
    let dup =
        site.fails(&["service-principal", "new", "--tenant", TENANT, "--app-id", SHAREPOINT, "--display-name", "x"]);
    assert!(dup.contains("exists already"), "{dup}");
    let other_app = site.fails(&[
        "service-principal",
        "new",
        "--tenant",
        TENANT,
        "--app-id",
        CLIENT,
        "--display-name",
        "x",
        "--spn",
        &format!("{SHAREPOINT}/sp.contoso.com"),
    ]);
    assert!(other_app.contains("names application"), "{other_app}");
    let bad_host = site.fails(&[
        "service-principal",
        "spn",
        "add",
        "--tenant",
        TENANT,
        "--app-id",
        "sharepoint",
        "--spn",
        "a.*.com",
    ]);
    assert!(bad_host.contains("not a host name"), "{bad_host}");
    let unknown = site.fails(&[
        "service-principal",
        "new",
        "--tenant",
        "0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11",
        "--app-id",
        CLIENT,
        "--display-name",
        "x",
    ]);
    assert!(unknown.contains("s2sd tenant new --realm 0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11"), "{unknown}");

    // SPNs: add (idempotent), remove (must exist).
    let added = site.json(&[
        "service-principal",
        "spn",
        "add",
        "--tenant",
        TENANT,
        "--app-id",
        "sharepoint",
        "--spn",
        "team.fabrikam.com:8443",
    ]);
    assert_eq!(added["changed"], serde_json::json!([format!("{SHAREPOINT}/team.fabrikam.com:8443")]));
    let again = site.json(&[
        "service-principal",
        "spn",
        "add",
        "--tenant",
        TENANT,
        "--app-id",
        "sharepoint",
        "--spn",
        "team.fabrikam.com:8443",
    ]);
    assert_eq!(again["changed"], serde_json::json!([]));
    site.json(&[
        "service-principal",
        "spn",
        "remove",
        "--tenant",
        TENANT,
        "--app-id",
        "sharepoint",
        "--spn",
        "*.contoso.com",
    ]);
    let missing = site.fails(&[
        "service-principal",
        "spn",
        "remove",
        "--tenant",
        TENANT,
        "--app-id",
        "sharepoint",
        "--spn",
        "x.example",
    ]);
    assert!(missing.contains("has no SPN"), "{missing}");
    let shown = site.json(&["service-principal", "show", "--tenant", TENANT, "--app-id", SHAREPOINT]);
    assert_eq!(shown["spns"].as_array().unwrap().len(), 2, "{shown}");

    // set / list / remove.
    let off =
        site.json(&["service-principal", "set", "--tenant", TENANT, "--app-id", "sharepoint", "--enabled", "false"]);
    assert_eq!(off["enabled"], false);
    assert!(
        site.fails(&["service-principal", "set", "--tenant", TENANT, "--app-id", "sharepoint"])
            .contains("nothing to change")
    );
    let list = site.json(&["service-principal", "list", "--tenant", TENANT]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    site.json(&["service-principal", "remove", "--tenant", TENANT, "--app-id", "sharepoint"]);
    assert!(
        site.fails(&["service-principal", "show", "--tenant", TENANT, "--app-id", "sharepoint"])
            .contains("no service principal")
    );
}

#[test]
fn a_secret_is_shown_once_and_certificates_carry_their_dates() {
    let site = Site::new();
    site.ok(&["tenant", "new", "--realm", TENANT]);
    site.ok(&["service-principal", "new", "--app-id", CLIENT, "--display-name", "Add-in"]);
    let run = site.run(&["service-principal", "credential", "add", "--app-id", CLIENT, "--type", "symmetric"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("only time the client secret is shown"), "{run:#?}");
    let secret = run
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 44 && l.ends_with('='))
        .expect("the secret line")
        .to_owned();
    assert!(run.stdout.contains(&format!("client_id: {CLIENT}@{TENANT}")), "{}", run.stdout);

    // Never again: not in list, show, their JSON, nor the database file in plain text.
    for args in [
        vec!["service-principal", "credential", "list", "--app-id", CLIENT],
        vec!["service-principal", "show", "--app-id", CLIENT],
    ] {
        let text = site.ok(&args);
        let mut json_args = args.clone();
        json_args.extend(["--output", "json"]);
        let json = site.ok(&json_args);
        assert!(!text.contains(&secret) && !json.contains(&secret), "{text}\n{json}");
        assert!(!json.contains("secret_hash") && !json.contains("hash"), "{json}");
    }
    let db = std::fs::read(site.path("s2s.db")).unwrap();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is stored in plain text");

    // A certificate: its validity becomes the credential's; dates outside it are refused.
    let (crt, _key) = self_signed(site.dir.path(), "client", "client.litwareinc.com");
    let cert = crt.to_str().unwrap();
    let added = site.json(&[
        "service-principal",
        "credential",
        "add",
        "--app-id",
        CLIENT,
        "--type",
        "asymmetric",
        "--usage",
        "verify",
        "--certificate",
        cert,
    ]);
    assert_eq!(added["type"], "asymmetric");
    assert_eq!(added["thumbprint"], sha1_upper_hex(&crt_der(&site, cert)));
    assert_eq!(added["status"], "valid");
    let dup = site.fails(&[
        "service-principal",
        "credential",
        "add",
        "--app-id",
        CLIENT,
        "--type",
        "asymmetric",
        "--certificate",
        cert,
    ]);
    assert!(dup.contains("registered already"), "{dup}");
    let late = site.fails(&[
        "service-principal",
        "credential",
        "add",
        "--app-id",
        CLIENT,
        "--type",
        "asymmetric",
        "--certificate",
        cert,
        "--end",
        "2099-01-01",
    ]);
    assert!(late.contains("within the certificate's validity"), "{late}");
    let no_file = site.fails(&["service-principal", "credential", "add", "--app-id", CLIENT, "--type", "asymmetric"]);
    assert!(no_file.contains("--certificate"), "{no_file}");
    let past = site.fails(&[
        "service-principal",
        "credential",
        "add",
        "--app-id",
        CLIENT,
        "--type",
        "symmetric",
        "--end",
        "2020-01-01",
    ]);
    assert!(past.contains("expired already"), "{past}");

    let list = site.json(&["service-principal", "credential", "list", "--app-id", CLIENT]);
    let ids: Vec<String> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2);
    site.json(&["service-principal", "credential", "remove", "--app-id", CLIENT, "--id", &ids[0]]);
    assert!(
        site.fails(&["service-principal", "credential", "remove", "--app-id", CLIENT, "--id", &ids[0]])
            .contains("has no credential")
    );
}

/// The certificate file as DER (for the thumbprint), written beside it.
fn crt_der(site: &Site, pem: &str) -> std::path::PathBuf {
    let der = site.path("client.der");
    crate::support::tool("openssl", &["x509", "-in", pem, "-outform", "DER", "-out", der.to_str().unwrap()]);
    der
}

/// `curl -X POST` with a form body; returns (status, JSON body).
fn post_form(url: &str, cacert: &std::path::Path, fields: &[(&str, &str)]) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "5", "-w", "\n%{http_code}", "--cacert"]).arg(cacert);
    for (k, v) in fields {
        cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
    }
    let out = cmd.arg(url).output().expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())))
}

#[test]
fn a_running_node_serves_new_tenants_live() {
    let site = Site::new();
    site.configure(SHAREPOINT);
    let node = site.serve();
    let cacert = node.tls_cert.clone().unwrap();
    let token_url = node.url(&format!("/{TENANT}/tokens/OAuth/2"));
    let before = node.get(&format!("/{TENANT}/metadata/json/1"), &[]);
    assert_eq!(before.status, 404, "{before:#?}");

    let secret = configure(&site, "127.0.0.1");
    // A last write whose effect is visible: once it is served, every earlier write is too (a
    // reload reads the whole configuration at one version).
    let marker = "0b1f3a57-6a1c-4f4e-9a63-5d2f3f0e8c11";
    site.ok(&["tenant", "new", "--realm", marker]);
    poll("the configuration to reach the node", DEADLINE, || {
        (node.get(&format!("/{marker}/metadata/json/1"), &[]).status == 200).then_some(())
    });
    let doc = node.get(&format!("/{TENANT}/metadata/json/1"), &[]).json();
    assert_eq!(doc["issuer"], format!("00000001-0000-0000-c000-000000000000@{TENANT}"));
    assert_eq!(doc["endpoints"][0]["location"], token_url);
    let client_id = format!("{CLIENT}@{TENANT}");
    let resource = format!("{SHAREPOINT}/127.0.0.1@{TENANT}");
    let (status, answer) = post_form(
        &token_url,
        &cacert,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("resource", &resource),
        ],
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], "86400");
    assert_eq!(answer["resource"], resource);
    let (status, answer) = post_form(
        &token_url,
        &cacert,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", "wrong"),
            ("resource", &resource),
        ],
    );
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], "invalid_client");

    // Disabling the client applies live too.
    site.ok(&["service-principal", "set", "--tenant", TENANT, "--app-id", CLIENT, "--enabled", "false"]);
    poll("the disabled client to be refused", DEADLINE, || {
        let (status, answer) = post_form(
            &token_url,
            &cacert,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", &secret),
                ("resource", &resource),
            ],
        );
        (status == 400 && answer["error"] == "unauthorized_client").then_some(())
    });
}
