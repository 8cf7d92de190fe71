//! `s2sd certificate new|list|remove|export|import`: key sizes, roles (current → previous),
//! removal rules, export formats, and PFX import with the password from a file or a variable.

use serde_json::Value;

use crate::support::{Site, pem_to_der, self_signed, sha1_upper_hex, stable, tool, x5t_from_thumbprint};

fn current(site: &Site) -> Value {
    let certs = site.certificates();
    let current: Vec<&Value> = certs.iter().filter(|c| c["role"] == "current").collect();
    assert_eq!(current.len(), 1, "exactly one current certificate: {certs:#?}");
    current[0].clone()
}

#[test]
fn new_needs_a_realm_defaults_to_2048_bits_and_refuses_1024() {
    let site = Site::new();
    let err = site.fails(&["certificate", "new"]);
    assert!(err.contains("oauth-config set"), "{err}");
    assert!(site.certificates().is_empty());

    site.ok(&["oauth-config", "set", "--realm", "litwareinc.com", "--service-name", "lync"]);
    let created = site.json(&["certificate", "new"]);
    assert_eq!(created["key_bits"], 2048);
    assert_eq!(created["subject"], "CN=litwareinc.com");
    let thumbprint = created["thumbprint"].as_str().unwrap();
    assert_eq!(created["x5t"].as_str().unwrap(), x5t_from_thumbprint(thumbprint), "x5t is base64url(SHA-1)");

    let bigger = site.json(&["certificate", "new", "--key-size", "3072"]);
    assert_eq!(bigger["key_bits"], 3072);

    let before = site.certificates();
    let err = site.fails(&["certificate", "new", "--key-size", "1024"]);
    assert!(err.contains("1024") && err.contains("2048"), "{err}");
    assert_eq!(stable(site.certificates()), stable(before), "a refused new changes nothing");
}

#[test]
fn a_second_certificate_demotes_the_first_and_only_the_previous_can_be_removed() {
    let site = Site::new();
    site.configure("exchange");
    let certs = site.certificates();
    assert_eq!(certs.len(), 1);
    let first = &certs[0];
    assert_eq!(first["role"], "current");
    assert!((729..=730).contains(&first["days_left"].as_i64().unwrap()), "{first}");
    assert_eq!(first["has_private_key"], true);
    assert_eq!(first["x5t"].as_str().unwrap(), x5t_from_thumbprint(first["thumbprint"].as_str().unwrap()));

    let second = site.json(&["certificate", "new", "--validity-days", "30"]);
    let certs = site.certificates();
    assert_eq!(certs.len(), 2);
    let now_current = current(&site);
    assert_eq!(now_current["thumbprint"], second["thumbprint"]);
    assert!((29..=30).contains(&now_current["days_left"].as_i64().unwrap()), "{now_current}");
    let previous = certs.iter().find(|c| c["role"] == "previous").expect("the first is now previous");
    assert_eq!(previous["thumbprint"], first["thumbprint"]);

    let err = site.fails(&["certificate", "remove", "--thumbprint", second["thumbprint"].as_str().unwrap()]);
    assert!(err.contains("current"), "{err}");
    assert_eq!(site.certificates().len(), 2, "removing the current certificate is refused");

    let removed = site.json(&["certificate", "remove", "--previous"]);
    assert_eq!(removed["removed"], first["thumbprint"]);
    let certs = site.certificates();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0]["thumbprint"], second["thumbprint"]);
    let err = site.fails(&["certificate", "remove", "--previous"]);
    assert!(err.contains("no previous"), "{err}");
}

#[test]
fn export_writes_pem_to_stdout_and_der_to_a_file() {
    let site = Site::new();
    site.configure("lync");
    let cert = current(&site);
    let thumbprint = cert["thumbprint"].as_str().unwrap();

    let pem = site.ok(&["certificate", "export", "--format", "pem"]);
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"), "{pem}");
    assert!(!pem.contains("PRIVATE KEY"), "export never includes the key");
    let default = site.ok(&["certificate", "export"]);
    assert_eq!(default, pem, "PEM is the default format");

    let der_file = site.path("issuer.cer");
    let written = site.json(&["certificate", "export", "--format", "der", "--out", der_file.to_str().unwrap()]);
    assert_eq!(written["thumbprint"], thumbprint);
    assert_eq!(sha1_upper_hex(&der_file), thumbprint, "the DER's SHA-1 is the thumbprint");
    assert_eq!(std::fs::read(&der_file).unwrap(), pem_to_der(&pem), "PEM and DER hold the same certificate");

    let err = site.fails(&["certificate", "export", "--format", "der"]);
    assert!(err.contains("--out"), "DER to a terminal is refused: {err}");
    let err = site.fails(&["certificate", "export", "--thumbprint", "0000000000000000000000000000000000000000"]);
    assert!(err.contains("no certificate with thumbprint"), "{err}");
}

#[test]
fn import_a_pfx_with_the_password_from_a_variable_or_a_file() {
    let site = Site::new();
    site.configure("exchange");
    let dir = site.dir.path();
    let (cert, key) = self_signed(dir, "imported", "litwareinc.com");
    let pfx = dir.join("imported.pfx");
    tool(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-inkey",
            key.to_str().unwrap(),
            "-in",
            cert.to_str().unwrap(),
            "-out",
            pfx.to_str().unwrap(),
            "-passout",
            "pass:secret",
        ],
    );
    let expected = tool("openssl", &["x509", "-in", cert.to_str().unwrap(), "-noout", "-fingerprint", "-sha1"]);
    let expected = expected.trim().rsplit('=').next().unwrap().replace(':', "").to_ascii_uppercase();
    let before = site.certificates();

    // A wrong password (first line of the file) fails, names the password, and changes nothing.
    let wrong = dir.join("wrong-password");
    std::fs::write(&wrong, "not-the-secret\n").unwrap();
    let err = site.fails(&["certificate", "import", pfx.to_str().unwrap(), "--password-file", wrong.to_str().unwrap()]);
    assert!(err.to_lowercase().contains("password"), "{err}");
    assert!(!err.contains("not-the-secret"), "the password never appears in messages: {err}");
    assert_eq!(stable(site.certificates()), stable(before.clone()), "a failed import changes nothing");

    // A variable that is not set fails the same way.
    let err = site.fails(&["certificate", "import", pfx.to_str().unwrap(), "--password-env", "S2SD_IT_NO_SUCH_VAR"]);
    assert!(err.contains("S2SD_IT_NO_SUCH_VAR"), "{err}");
    assert_eq!(stable(site.certificates()), stable(before.clone()));

    // The right password from a variable works, and the imported certificate becomes current.
    let pfx_arg = pfx.to_str().unwrap();
    let run = site.run_env(
        &["certificate", "import", pfx_arg, "--password-env", "S2SD_IT_PFX_PASSWORD", "--output", "json"],
        &[("S2SD_IT_PFX_PASSWORD", "secret")],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let imported: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(imported["thumbprint"], expected.as_str());
    assert!(!run.stdout.contains("secret") && !run.stderr.contains("secret"), "{run:#?}");
    let after = site.certificates();
    assert_eq!(after.len(), 2);
    assert_eq!(current(&site)["thumbprint"], expected.as_str());
    assert_eq!(current(&site)["has_private_key"], true);
    let previous = after.iter().find(|c| c["role"] == "previous").unwrap();
    assert_eq!(previous["thumbprint"], before[0]["thumbprint"]);

    // The right password from a file is read (first line only); importing the current certificate
    // again is refused and changes nothing.
    let right = dir.join("right-password");
    std::fs::write(&right, "secret\nignored second line\n").unwrap();
    let err = site.fails(&["certificate", "import", pfx_arg, "--password-file", right.to_str().unwrap()]);
    assert!(err.contains("already exists") && err.contains(&expected), "{err}");
    assert!(!err.contains("password"), "the password from the file was accepted: {err}");
    assert_eq!(stable(site.certificates()), stable(after));
}
