//! `s2sd partner-application new|list|show|set|remove`: registering a partner by metadata URL
//! (fetched and checked before anything is stored) or by application id + realm + certificate,
//! and every way a registration can fail — each with a one-line reason and nothing stored.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{
    DEADLINE, Guard, LYNC, REALM, SHAREPOINT, Site, closed_port, expired_certificate, pem_to_der, poll, self_signed,
    sha1_upper_hex, stable, tool, x5t_from_thumbprint,
};

/// `python3 -m http.server` over a directory, on a port the kernel picks; killed on drop.
struct StaticFiles {
    port: u16,
    _process: Guard,
}

impl StaticFiles {
    fn serve(dir: &Path, log: &Path) -> Self {
        let child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is installed");
        let mut guard = Guard(child);
        let port = poll("python3 -m http.server to announce its port", DEADLINE, || {
            if let Some(status) = guard.0.try_wait().unwrap() {
                panic!("python3 -m http.server exited with {status}");
            }
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let rest = text.split_once(" port ")?.1;
            rest.split_whitespace().next()?.parse::<u16>().ok()
        });
        Self { port, _process: guard }
    }

    fn url(&self, file: &str) -> String {
        format!("http://127.0.0.1:{}/{file}", self.port)
    }
}

/// `partner-application new --identity <name> args…`, which must fail with a one-line error and store nothing.
fn refused(site: &Site, name: &str, args: &[&str]) -> String {
    let mut all = vec!["partner-application", "new", "--identity", name];
    all.extend_from_slice(args);
    let err = site.fails(&all);
    assert_eq!(site.partners(), json!([]), "a refused registration stores nothing ({err})");
    err
}

/// A metadata document in the Exchange/Lync JSON form holding one signing certificate.
fn document(issuer: Option<&str>, der: &[u8], der_file: &Path) -> String {
    std::fs::write(der_file, der).unwrap();
    let x5t = x5t_from_thumbprint(&sha1_upper_hex(der_file));
    let mut doc = json!({
        "id": "_test",
        "version": "1.0",
        "realm": REALM,
        "keys": [{
            "usage": "signing",
            "keyinfo": {"x5t": x5t},
            "keyvalue": {"type": "x509Certificate", "value": std_b64(der)},
        }],
        "endpoints": [],
    });
    if let Some(i) = issuer {
        doc["issuer"] = json!(i);
    }
    doc.to_string()
}

/// Standard base64 (with padding), as metadata documents carry certificates.
fn std_b64(data: &[u8]) -> String {
    let url = crate::support::b64url_encode(data).replace('-', "+").replace('_', "/");
    let pad = (4 - url.len() % 4) % 4;
    format!("{url}{}", "=".repeat(pad))
}

#[test]
fn new_by_metadata_url_over_https_needs_the_servers_certificate() {
    let lync = Site::new();
    lync.configure("lync");
    let node = lync.serve();
    assert!(node.base.starts_with("https://127.0.0.1:"), "{}", node.base);
    let tls_cert = node.tls_cert.clone().expect("serve prints its TLS certificate path");
    assert_eq!(tls_cert, lync.path("tls").join("tls.crt"), "--tls-dir <dir> keeps the certificate in <dir>/tls.crt");

    let site = Site::new();
    site.configure("exchange");
    let url = node.url("/metadata/json/1");

    let closed = format!("https://127.0.0.1:{}/metadata/json/1", closed_port());
    let err = refused(&site, "Lync", &["--metadata-url", &closed, "--trust-level", "full"]);
    assert!(err.contains("unreachable") && err.contains(&closed), "{err}");

    // A self-signed server is not trusted without --tls-ca.
    let run = site.run(&["partner-application", "new", "--identity", "Lync", "--metadata-url", &url]);
    let err = run.error_line();
    assert!(err.contains("certificate") && err.contains(&url), "the TLS failure is named: {err}");
    assert_eq!(site.partners(), json!([]));

    let not_pem = site.path("not-a-ca.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let err = refused(&site, "Lync", &["--metadata-url", &url, "--tls-ca", not_pem.to_str().unwrap()]);
    assert!(err.contains("PEM"), "{err}");

    let ca = tls_cert.to_str().unwrap();
    let p = site.json(&[
        "partner-application",
        "new",
        "--identity",
        "Lync",
        "--metadata-url",
        &url,
        "--trust-level",
        "full",
        "--tls-ca",
        ca,
    ]);
    assert_eq!(p["name"], "Lync");
    assert_eq!(p["application_id"], LYNC);
    assert_eq!(p["realm"], REALM);
    assert_eq!(p["issuer"], format!("{LYNC}@{REALM}"));
    assert_eq!(p["trust_level"], "Full");
    assert_eq!(p["enabled"], true);
    assert_eq!(p["metadata_url"], url.as_str());
    assert_eq!(p["tls_ca"], true);
    assert_eq!(p["allow_http_metadata"], false);
    assert_eq!(p["metadata_status"], "ok");
    assert_eq!(p["keys"].as_array().unwrap().len(), 1);
    assert_eq!(p["keys"][0]["x5t"].as_str().unwrap(), lync.current_x5t(), "the partner's current certificate");
    assert_eq!(stable(site.partners()), stable(json!([p])));

    let err = site.fails(&["partner-application", "new", "--identity", "Lync", "--metadata-url", &url, "--tls-ca", ca]);
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(stable(site.partners()), stable(json!([p])));
}

/// A TLS verification failure is one line that names the fix.
#[test]
fn a_tls_failure_is_reported_on_one_line() {
    let lync = Site::new();
    lync.configure("lync");
    let node = lync.serve();
    let site = Site::new();
    site.configure("exchange");
    let err = refused(&site, "Lync", &["--metadata-url", &node.url("/metadata/json/1")]);
    assert!(err.contains("not trusted") && err.contains("--tls-ca"), "{err}");
}

#[test]
fn new_by_metadata_url_over_plain_http_needs_the_flag() {
    let lync = Site::new();
    lync.configure("lync");
    let node = lync.serve_http();
    assert!(node.base.starts_with("http://127.0.0.1:"), "{}", node.base);
    assert_eq!(node.tls_cert, None);

    let site = Site::new();
    site.configure("exchange");
    let url = node.url("/metadata/json/1");
    let err = refused(&site, "Lync", &["--metadata-url", &url]);
    assert!(err.contains("plain http") && err.contains("--allow-http-metadata"), "{err}");

    let p = site.json(&[
        "partner-application",
        "new",
        "--identity",
        "Lync",
        "--metadata-url",
        &url,
        "--allow-http-metadata",
    ]);
    assert_eq!(p["application_id"], LYNC);
    assert_eq!(p["allow_http_metadata"], true);
    assert_eq!(p["trust_level"], "Application", "the default trust level");
    assert_eq!(p["keys"][0]["x5t"].as_str().unwrap(), lync.current_x5t());
    assert_eq!(site.partners().as_array().unwrap().len(), 1);
}

#[test]
fn new_refuses_unusable_metadata_documents_and_stores_nothing() {
    let site = Site::new();
    site.configure("exchange");
    let www = site.path("www");
    std::fs::create_dir_all(&www).unwrap();
    let issuer = format!("{LYNC}@{REALM}");

    std::fs::write(www.join("metadata.json"), "<html><body>It works!</body></html>\n").unwrap();
    std::fs::write(www.join("nokeys.json"), json!({"issuer": issuer, "realm": REALM, "keys": []}).to_string()).unwrap();
    let expired = std::fs::read_to_string(expired_certificate(site.dir.path())).unwrap();
    let expired_doc = document(Some(&issuer), &pem_to_der(&expired), &site.path("expired.der"));
    std::fs::write(www.join("expired.json"), expired_doc).unwrap();
    let (good, _) = self_signed(site.dir.path(), "good", REALM);
    let good_der = pem_to_der(&std::fs::read_to_string(good).unwrap());
    std::fs::write(www.join("noissuer.json"), document(None, &good_der, &site.path("good.der"))).unwrap();
    std::fs::write(www.join("good.json"), document(Some(&issuer), &good_der, &site.path("good.der"))).unwrap();

    let files = StaticFiles::serve(&www, &site.path("http-server.log"));
    let cases = [
        ("metadata.json", "not valid JSON"),
        ("nokeys.json", "no signing keys"),
        ("expired.json", "expired"),
        ("noissuer.json", "no issuer"),
        ("missing.json", "HTTP 404"),
    ];
    for (file, expected) in cases {
        let url = files.url(file);
        let err = refused(&site, "Lync", &["--metadata-url", &url, "--allow-http-metadata"]);
        assert!(err.contains(expected) && err.contains(&url), "{file}: expected `{expected}` in: {err}");
    }

    // The same server with a well-formed document works: the failures above were the documents.
    let p = site.json(&[
        "partner-application",
        "new",
        "--identity",
        "Lync",
        "--metadata-url",
        &files.url("good.json"),
        "--allow-http-metadata",
    ]);
    assert_eq!(p["issuer"], issuer);
    assert_eq!(p["keys"][0]["x5t"].as_str().unwrap(), x5t_from_thumbprint(&sha1_upper_hex(&site.path("good.der"))));
}

/// The arguments registering SharePoint by hand (upper-case GUID and realm, to check normalisation).
fn by_hand(certificate: &str) -> [&str; 6] {
    [
        "--application-identifier",
        "00000003-0000-0FF1-CE00-000000000000",
        "--realm",
        "LitwareInc.com",
        "--certificate",
        certificate,
    ]
}

#[test]
fn new_by_certificate_then_list_show_set_remove() {
    let site = Site::new();
    site.configure("exchange");
    let dir = site.dir.path();
    let (cert, _) = self_signed(dir, "sharepoint", "sharepoint.litwareinc.com");
    let cert_arg = cert.to_str().unwrap();
    let der = dir.join("sharepoint.der");
    std::fs::write(&der, pem_to_der(&std::fs::read_to_string(&cert).unwrap())).unwrap();
    let x5t = x5t_from_thumbprint(&sha1_upper_hex(&der));
    // Refusals first: an expired certificate, an id that is not a GUID, missing pieces.
    let expired = expired_certificate(dir);
    let err = refused(&site, "SharePoint", &by_hand(expired.to_str().unwrap()));
    assert!(err.contains("expired"), "{err}");
    let err = refused(
        &site,
        "SharePoint",
        &["--application-identifier", "sharepoint-ish", "--realm", REALM, "--certificate", cert_arg],
    );
    assert!(err.contains("sharepoint-ish"), "{err}");
    let run =
        site.run(&["partner-application", "new", "--identity", "SharePoint", "--application-identifier", SHAREPOINT]);
    assert_ne!(run.code, Some(0), "--realm and --certificate are required with --application-identifier");
    assert_eq!(site.partners(), json!([]));

    let mut new = vec!["partner-application", "new", "--identity", "SharePoint"];
    new.extend(by_hand(cert_arg));
    let p = site.json(&new);
    assert_eq!(p["name"], "SharePoint");
    assert_eq!(p["application_id"], SHAREPOINT, "the GUID is stored in lower case");
    assert_eq!(p["realm"], REALM, "the realm is stored in lower case");
    assert_eq!(p["trust_level"], "Application");
    assert_eq!(p["enabled"], true);
    assert_eq!(p["metadata_url"], Value::Null);
    assert_eq!(p["keys"][0]["x5t"].as_str().unwrap(), x5t);
    assert_eq!(p["keys"][0]["subject"], "CN=sharepoint.litwareinc.com");

    let err = site.fails(&new);
    assert!(err.contains("exists already"), "a duplicate name is refused: {err}");
    assert_eq!(stable(site.partners()), stable(json!([p])), "list shows the one partner");

    let shown = site.ok(&["partner-application", "show", "SharePoint"]);
    assert!(shown.contains(&format!("x5t {x5t}")), "show prints the keys with their x5t: {shown}");
    assert!(shown.contains(SHAREPOINT), "{shown}");
    assert_eq!(stable(site.json(&["partner-application", "show", "SharePoint"])), stable(p.clone()));

    let changed = site.json(&["partner-application", "set", "SharePoint", "--enabled", "false"]);
    assert_eq!(changed["enabled"], false);
    assert_eq!(site.partners()[0]["enabled"], false);
    let changed = site.json(&["partner-application", "set", "SharePoint", "--trust-level", "full"]);
    assert_eq!(changed["trust_level"], "Full");
    let changed = site.json(&["partner-application", "set", "SharePoint", "--trust-level", "application"]);
    assert_eq!(changed["trust_level"], "Application");
    assert_eq!(site.partners()[0]["trust_level"], "Application");
    assert_eq!(site.partners()[0]["enabled"], false, "unrelated settings are kept");
    let err = site.fails(&["partner-application", "set", "SharePoint"]);
    assert!(err.contains("nothing to change"), "{err}");

    // A new certificate, as DER this time, replaces the key.
    let (cert2, _) = self_signed(dir, "sharepoint2", "sharepoint.litwareinc.com");
    let der2 = dir.join("sharepoint2.der");
    tool("openssl", &["x509", "-in", cert2.to_str().unwrap(), "-outform", "der", "-out", der2.to_str().unwrap()]);
    let changed = site.json(&["partner-application", "set", "SharePoint", "--certificate", der2.to_str().unwrap()]);
    assert_eq!(changed["keys"][0]["x5t"].as_str().unwrap(), x5t_from_thumbprint(&sha1_upper_hex(&der2)));

    let removed = site.json(&["partner-application", "remove", "SharePoint"]);
    assert_eq!(removed["removed"], "SharePoint");
    assert_eq!(site.partners(), json!([]));
    let err = site.fails(&["partner-application", "remove", "SharePoint"]);
    assert!(err.contains("no partner application named SharePoint"), "{err}");
    site.fails(&["partner-application", "show", "SharePoint"]);
    site.fails(&["partner-application", "set", "SharePoint", "--enabled", "true"]);
}
