//! Tokens, client secrets, private keys and passwords never reach a log. One scenario, every CLI
//! command and the server run with `--log trace` (the most verbose filter): store A (Lync) imports
//! its token-issuer certificate from a PFX with a password; store B (Exchange) trusts A by
//! certificate and is an authorization server with a client secret; B serves. A issues app-only and
//! act-as tokens that B validates; B's token endpoint issues a token for the secret and refuses a
//! wrong one; a token with a broken signature is refused. Then every log line (stderr of every
//! command and of the server) is searched for every secret used: the client secret, each token,
//! each signature and each embedded actor token, each line of the PEM private key, and the PFX
//! password. A finding names the secret's kind and where, never the secret.

use serde_json::Value;

use crate::support::{
    CLIENT, EXCHANGE, LYNC, REALM, Run, SHAREPOINT, Site, TENANT, USER, b64_decode, client_credentials, self_signed,
    tool,
};

const TRACE: [&str; 2] = ["--log", "trace"];

/// The logs collected so far: (where, text).
#[derive(Default)]
struct Logs(Vec<(String, String)>);

impl Logs {
    /// Runs `s2sd --log trace args…` on `site` (with `env`), keeps its stderr, asserts success.
    fn run(&mut self, site: &Site, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut all = TRACE.to_vec();
        all.extend_from_slice(args);
        let run = site.run_env(&all, env);
        self.0.push((format!("stderr of `s2sd {}`", args.join(" ")), run.stderr.clone()));
        assert_eq!(run.code, Some(0), "`s2sd {}` failed (its stderr is kept for the search)", args.join(" "));
        run
    }

    fn json(&mut self, site: &Site, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        serde_json::from_str(&self.run(site, &all, &[]).stdout).unwrap()
    }
}

/// A JWT and its parts worth hiding: the whole token and its signature (when it has one).
fn token_secrets(kind: &str, token: &str, out: &mut Vec<(String, String)>) {
    out.push((kind.to_owned(), token.to_owned()));
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{kind} is a JWT");
    if parts[2].len() >= 16 {
        out.push((format!("the signature of {kind}"), parts[2].to_owned()));
    }
    // An act-as token carries the actor token, signed, in its claims.
    let claims: Value = serde_json::from_slice(&b64_decode(parts[1])).unwrap();
    if let Some(actor) = claims["actortoken"].as_str() {
        token_secrets(&format!("the actor token inside {kind}"), actor, out);
    }
}

#[test]
fn no_secret_reaches_a_log_at_trace_level() {
    let mut logs = Logs::default();
    let mut secrets: Vec<(String, String)> = Vec::new();
    let (a, b) = (Site::new(), Site::new());

    // A: its issuer certificate from a PFX protected by a password (given in a variable).
    let (cert, key) = self_signed(a.dir.path(), "lync-issuer", "lync.litwareinc.com");
    let mut random = [0u8; 18];
    aws_lc_rs::rand::fill(&mut random).unwrap();
    let password = format!("pfx-{}", crate::support::b64url_encode(&random));
    let pfx = a.path("lync-issuer.pfx");
    let (key_s, cert_s, pfx_s) = (key.to_str().unwrap(), cert.to_str().unwrap(), pfx.to_str().unwrap());
    let passout = format!("pass:{password}");
    tool("openssl", &["pkcs12", "-export", "-inkey", key_s, "-in", cert_s, "-out", pfx_s, "-passout", &passout]);
    secrets.push(("the PFX password".into(), password.clone()));
    let pem = std::fs::read_to_string(&key).unwrap();
    for (n, line) in pem.lines().filter(|l| !l.starts_with("-----")).enumerate() {
        if line.len() >= 32 {
            secrets.push((format!("line {} of the PEM private key", n + 1), line.to_owned()));
        }
    }
    logs.run(&a, &["oauth-config", "set", "--realm", REALM, "--service-name", "lync"], &[]);
    logs.run(
        &a,
        &["certificate", "import", pfx_s, "--password-env", "S2S_IT_PFX_PASSWORD"],
        &[("S2S_IT_PFX_PASSWORD", &password)],
    );
    let a_cert = a.path("a.crt");
    logs.run(&a, &["certificate", "export", "--out", a_cert.to_str().unwrap()], &[]);

    // B: Exchange trusting A by certificate, and an authorization server with a client secret.
    logs.run(&b, &["oauth-config", "set", "--realm", REALM, "--service-name", "exchange"], &[]);
    logs.run(&b, &["certificate", "new"], &[]);
    let b_cert = b.path("b.crt");
    logs.run(&b, &["certificate", "export", "--out", b_cert.to_str().unwrap()], &[]);
    let lync = ["partner-application", "new", "--identity", "Lync", "--application-identifier", LYNC, "--realm", REALM];
    logs.run(&b, &[&lync[..], &["--certificate", a_cert.to_str().unwrap(), "--trust-level", "full"]].concat(), &[]);
    let exchange = [
        "partner-application",
        "new",
        "--identity",
        "Exchange",
        "--application-identifier",
        EXCHANGE,
        "--realm",
        REALM,
    ];
    logs.run(&a, &[&exchange[..], &["--certificate", b_cert.to_str().unwrap()]].concat(), &[]);
    logs.json(&b, &["tenant", "new", "--realm", TENANT, "--name", "Litware"]);
    let spn = format!("{SHAREPOINT}/127.0.0.1");
    logs.json(
        &b,
        &["service-principal", "new", "--app-id", "sharepoint", "--display-name", "SharePoint", "--spn", &spn],
    );
    logs.json(&b, &["service-principal", "new", "--app-id", CLIENT, "--display-name", "Add-in"]);
    let added = logs.json(&b, &["service-principal", "credential", "add", "--app-id", CLIENT, "--type", "symmetric"]);
    let secret = added["secret"].as_str().unwrap().to_owned();
    secrets.push(("the client secret".into(), secret.clone()));

    let tls = b.path("tls");
    let node = b.serve_with(&["--tls-dir", tls.to_str().unwrap(), "--log", "trace"]);
    let ca = node.tls_cert.clone().unwrap();

    // Tokens A issues, validated by B.
    let host = node.authority().to_owned();
    let app_only = logs.run(&a, &["token", "issue", "--partner", "Exchange", "--host", &host], &[]).stdout;
    let act_as =
        logs.run(&a, &["token", "issue", "--partner", "Exchange", "--host", &host, "--user", USER], &[]).stdout;
    let (app_only, act_as) = (app_only.trim().to_owned(), act_as.trim().to_owned());
    token_secrets("the app-only token", &app_only, &mut secrets);
    token_secrets("the act-as token", &act_as, &mut secrets);
    for (what, token) in [("app-only", &app_only), ("act-as", &act_as)] {
        let who = node.get_with_token("/s2s/whoami", token);
        assert_eq!(who.status, 200, "B validates the {what} token: {:?}", who.header("x-ms-diagnostics"));
        assert_eq!(who.json()["partner"], "Lync");
    }
    // A token with a broken signature (its last character changed) is refused: the failure path logs too.
    let mut broken = app_only.clone();
    let last = broken.pop().unwrap();
    broken.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(node.get_with_token("/s2s/whoami", &broken).status, 401);
    token_secrets("the broken-signature token", &broken, &mut secrets);

    // B's token endpoint: a token for the secret (twice: issued, then reused), a wrong secret refused.
    for _ in 0..2 {
        let (status, answer) = client_credentials(&node.base, Some(&ca), &secret);
        assert_eq!(status, 200, "the token endpoint issues a token: {}", answer["error"]);
        token_secrets("the issued access token", answer["access_token"].as_str().unwrap(), &mut secrets);
    }
    let (status, answer) = client_credentials(&node.base, Some(&ca), &format!("{secret}x"));
    assert_eq!((status, &answer["error"]), (401, &Value::from("invalid_client")));
    secrets.push(("a near miss of the client secret".into(), format!("{secret}x")));
    logs.run(&b, &["service-principal", "credential", "list", "--app-id", CLIENT], &[]);
    logs.run(&a, &["certificate", "list"], &[]);

    let served = node.stderr();
    assert!(served.contains("TRACE") || served.contains("DEBUG"), "the server logged at trace level");
    logs.0.push(("stderr of `s2sd serve`".into(), served));
    let total: usize = logs.0.iter().map(|(_, t)| t.len()).sum();
    assert!(total > 10_000, "the logs are too short ({total} bytes) to prove anything");

    let mut found = Vec::new();
    for (kind, secret) in &secrets {
        for (place, text) in &logs.0 {
            if let Some(n) = text.lines().position(|l| l.contains(secret.as_str())) {
                found.push(format!("{kind} in line {} of the {place}", n + 1));
            }
        }
    }
    assert!(found.is_empty(), "secrets reached the logs ({} bytes searched): {found:#?}", total);
    eprintln!("searched {total} bytes of trace logs for {} secrets: none found", secrets.len());
}
