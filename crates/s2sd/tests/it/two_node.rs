//! Two `s2sd serve` processes in realm litwareinc.com — A as Lync, B as Exchange — that trust each
//! other by metadata URL, configured only through the CLI. A mints tokens (`token issue`), B's
//! `/s2s/whoami` decides; changes made with the CLI on B's store apply to the running B within
//! about a second. Also: the metadata document at every path, and `token inspect`.

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    DEADLINE, EXCHANGE, Http, LYNC, Node, REALM, Site, USER, b64_decode, b64url_encode, poll, sha1_upper_hex,
};

/// How long a CLI change may take to reach a running server (it polls the store every 200 ms here).
const LIVE: Duration = Duration::from_secs(3);

/// The challenge prefix B (Exchange) answers with.
fn exchange_challenge() -> String {
    format!("Bearer realm=\"{REALM}\",client_id=\"{EXCHANGE}\",trusted_issuers=")
}

/// A (Lync) and B (Exchange), each registered at the other with trust level Full.
/// Nodes are declared first so they stop before their directories go.
struct Pair {
    _node_a: Node,
    node_b: Node,
    a: Site,
    b: Site,
}

impl Pair {
    fn start() -> Self {
        let (a, b) = (Site::new(), Site::new());
        a.configure("lync");
        b.configure("exchange");
        let (node_a, node_b) = (a.serve(), b.serve());
        let exchange_md = node_b.url("/autodiscover/metadata/json/1");
        let lync_md = node_a.url("/metadata/json/1");
        let ca_b = node_b.tls_cert.clone().unwrap();
        let ca_a = node_a.tls_cert.clone().unwrap();
        a.ok(&[
            "partner-application",
            "new",
            "--identity",
            "Exchange",
            "--metadata-url",
            &exchange_md,
            "--trust-level",
            "full",
            "--tls-ca",
            ca_b.to_str().unwrap(),
        ]);
        b.ok(&[
            "partner-application",
            "new",
            "--identity",
            "Lync",
            "--metadata-url",
            &lync_md,
            "--trust-level",
            "full",
            "--tls-ca",
            ca_a.to_str().unwrap(),
        ]);
        for node in [&node_a, &node_b] {
            poll("both nodes to load their partner", DEADLINE, || {
                (node.get("/healthz", &[]).json()["partners"] == 1).then_some(())
            });
        }
        Self { _node_a: node_a, node_b, a, b }
    }

    /// `s2sd token issue` on A's store for calling B, acting for `user` when given.
    fn token(&self, user: Option<&str>) -> String {
        let mut args = vec!["token", "issue", "--partner", "Exchange", "--host", self.node_b.authority()];
        if let Some(u) = user {
            args.extend(["--user", u]);
        }
        let token = self.a.ok(&args).trim().to_owned();
        assert!(!token.is_empty() && !token.contains(char::is_whitespace), "one token on one line: {token:?}");
        token
    }

    /// B's `/s2s/whoami` with `token`.
    fn whoami(&self, token: &str) -> Http {
        self.node_b.get_with_token("/s2s/whoami", token)
    }
}

/// Asserts a 401 from B refusing a token: the challenge with `error="invalid_token"` and the Exchange number.
fn assert_refused(resp: &Http, code: u32, reason: &str) {
    assert_eq!(resp.status, 401, "{resp:#?}");
    let challenge = resp.header("www-authenticate").expect("a WWW-Authenticate challenge");
    assert!(challenge.starts_with(&exchange_challenge()), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let diagnostics = resp.header("x-ms-diagnostics").expect("x-ms-diagnostics");
    assert!(diagnostics.starts_with(&format!("{code};reason=\"")), "{diagnostics}");
    let body = resp.json();
    assert_eq!(body["reason"], reason, "{body}");
    assert_eq!(body["code"], code, "{body}");
}

#[test]
fn act_as_call_succeeds_then_disabling_the_partner_refuses_it_live() {
    let pair = Pair::start();
    let token = pair.token(Some(USER));
    let resp = pair.whoami(&token);
    assert_eq!(resp.status, 200, "{resp:#?}");
    let who = resp.json();
    assert_eq!(who["partner"], "Lync");
    assert_eq!(who["app_id"], LYNC);
    assert_eq!(who["realm"], REALM);
    assert_eq!(who["token_kind"], "act_as");
    assert_eq!(who["user"]["sip"], "kenmyer@litwareinc.com");
    assert_eq!(who["trust_level"], "Full");
    assert_eq!(who["x5t"].as_str().unwrap(), pair.a.current_x5t(), "signed with A's current certificate");

    // Disable Lync on B's store: the running B refuses the same token within the poll interval.
    pair.b.ok(&["partner-application", "set", "Lync", "--enabled", "false"]);
    let refused = poll("B to refuse a disabled partner", LIVE, || {
        let resp = pair.whoami(&token);
        (resp.status != 200).then_some(resp)
    });
    assert_refused(&refused, 2008, "partner_disabled");
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(!challenge.contains(LYNC), "a disabled partner is not a trusted issuer: {challenge}");

    // And accepts it again once re-enabled, still without a restart.
    pair.b.ok(&["partner-application", "set", "Lync", "--enabled", "true"]);
    poll("B to accept the re-enabled partner", LIVE, || (pair.whoami(&token).status == 200).then_some(()));
}

#[test]
fn app_only_tokens_pass_and_trust_level_application_refuses_act_as() {
    let pair = Pair::start();
    let app_only = pair.token(None);
    let resp = pair.whoami(&app_only);
    assert_eq!(resp.status, 200, "{resp:#?}");
    let who = resp.json();
    assert_eq!(who["token_kind"], "app_only");
    assert_eq!(who["partner"], "Lync");
    assert_eq!(who["user"], Value::Null);

    let act_as = pair.token(Some(USER));
    assert_eq!(pair.whoami(&act_as).status, 200);
    pair.b.ok(&["partner-application", "set", "Lync", "--trust-level", "application"]);
    let refused = poll("B to refuse act-as from an Application partner", LIVE, || {
        let resp = pair.whoami(&act_as);
        (resp.status != 200).then_some(resp)
    });
    assert_refused(&refused, 2015, "act_as_not_allowed");

    let resp = pair.whoami(&app_only);
    assert_eq!(resp.status, 200, "app-only calls stay allowed at trust level Application: {resp:#?}");
    assert_eq!(resp.json()["trust_level"], "Application");
}

#[test]
fn an_empty_bearer_gets_the_challenge_on_any_path() {
    let pair = Pair::start();
    for path in ["/_vti_bin/client.svc", "/s2s/whoami", "/EWS/Exchange.asmx"] {
        let resp = pair.node_b.get(path, &["Authorization: Bearer "]);
        assert_eq!(resp.status, 401, "{path}: {resp:#?}");
        let challenge = resp.header("www-authenticate").expect("a challenge");
        assert!(challenge.starts_with(&exchange_challenge()), "{path}: {challenge}");
        assert!(challenge.contains(&format!("{LYNC}@{REALM}")), "Lync is a trusted issuer: {challenge}");
        assert!(!challenge.contains("error="), "no token, so no error: {challenge}");
        assert_eq!(resp.header("x-ms-diagnostics"), None, "{resp:#?}");
    }
    // /s2s/whoami without any Authorization header is challenged too; other paths without one are not.
    let resp = pair.node_b.get("/s2s/whoami", &[]);
    assert_eq!(resp.status, 401, "{resp:#?}");
    assert!(resp.header("www-authenticate").unwrap().starts_with(&exchange_challenge()));
    assert_eq!(pair.node_b.get("/_vti_bin/client.svc", &[]).status, 404);
}

/// The header, the claims and the empty signature of an (unsigned) outer token.
fn outer_parts(token: &str) -> (&str, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "an outer token is header.payload.(empty signature): {token}");
    assert_eq!(parts[2], "", "the outer token is unsigned");
    (parts[0], serde_json::from_slice(&b64_decode(parts[1])).unwrap())
}

/// The actor token inside an act-as token.
fn actor_of(token: &str) -> String {
    outer_parts(token).1["actortoken"].as_str().expect("the outer token carries the actor").to_owned()
}

/// A copy of an act-as token with one character of the actor token's signature changed.
fn tamper_act_as(token: &str) -> String {
    let (header, mut claims) = outer_parts(token);
    claims["actortoken"] = Value::String(tamper_signature(&actor_of(token)));
    format!("{header}.{}.", b64url_encode(serde_json::to_string(&claims).unwrap().as_bytes()))
}

/// A copy of a signed compact JWT with one character in the middle of its signature changed.
fn tamper_signature(jwt: &str) -> String {
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    assert!(signature.len() > 100, "an RSA signature: {jwt}");
    let mut sig: Vec<char> = signature.chars().collect();
    let mid = sig.len() / 2;
    sig[mid] = if sig[mid] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", sig.into_iter().collect::<String>())
}

#[test]
fn token_inspect_accepts_a_good_token_and_refuses_a_tampered_one() {
    let pair = Pair::start();
    let token = pair.token(Some(USER));

    let run = pair.b.run(&["token", "inspect", &token]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("ACCEPT"), "{}", run.stdout);
    assert!(run.stdout.contains("signature verifies under partner Lync"), "{}", run.stdout);
    let actor = actor_of(&token);
    let signature = actor.rsplit('.').next().unwrap();
    assert!(!run.stdout.contains(signature), "inspect never prints a signature: {}", run.stdout);

    let run = pair.b.run(&["token", "inspect", &token, "--output", "json"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["accepted"], true);
    assert!(report["kind"].as_str().unwrap().starts_with("act-as"), "{report}");
    assert_eq!(report["actor_header"]["x5t"].as_str().unwrap(), pair.a.current_x5t());
    let aud = format!("{EXCHANGE}/{}@{REALM}", pair.node_b.authority());
    assert_eq!(report["actor_claims"]["aud"], aud);
    assert_eq!(report["diagnosis"], Value::Null);

    let tampered = tamper_act_as(&token);
    let run = pair.b.run(&["token", "inspect", &tampered]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.contains("REFUSE"), "{}", run.stdout);
    assert!(run.stdout.contains("signature does not verify"), "the reason is given: {}", run.stdout);
    let run = pair.b.run(&["token", "inspect", &tampered, "--output", "json"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["accepted"], false);
    assert!(report["verdict"].as_str().unwrap().contains("REFUSE"), "{report}");
    assert!(report["diagnosis"]["fix"].is_string(), "{report}");

    // The running server refuses it too, with the Exchange signature error.
    let resp = pair.whoami(&tampered);
    assert_refused(&resp, 1001, "invalid_signature");

    // An app-only token (the actor alone) with a changed signature is refused the same way.
    let app_only = tamper_signature(&pair.token(None));
    let run = pair.b.run(&["token", "inspect", &app_only]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.contains("REFUSE") && run.stdout.contains("app-only"), "{}", run.stdout);
}

#[test]
fn metadata_is_served_at_every_path_with_the_current_certificate() {
    let site = Site::new();
    site.configure("exchange");
    let node = site.serve();
    let x5t = site.current_x5t();
    let der = site.path("current.cer");
    site.ok(&["certificate", "export", "--format", "der", "--out", der.to_str().unwrap()]);
    let document = |path: &str| -> Value {
        let resp = node.get(path, &[]);
        assert_eq!(resp.status, 200, "{path}: {resp:#?}");
        assert!(resp.header("content-type").unwrap().starts_with("application/json"), "{resp:#?}");
        resp.json()
    };
    for path in [
        "/metadata/json/1",
        "/autodiscover/metadata/json/1",
        "/_layouts/15/metadata/json/1",
        "/_layouts/metadata/json/1",
    ] {
        let doc = document(path);
        assert_eq!(doc["issuer"], format!("{EXCHANGE}@{REALM}"), "{path}");
        assert_eq!(doc["realm"], REALM);
        assert_eq!(doc["serviceName"], EXCHANGE);
        let keys = doc["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{doc}");
        assert_eq!(keys[0]["usage"], "signing");
        assert_eq!(keys[0]["keyinfo"]["x5t"].as_str().unwrap(), x5t, "{path}");
        let published = b64_decode(keys[0]["keyvalue"]["value"].as_str().unwrap());
        assert_eq!(published, std::fs::read(&der).unwrap(), "the published certificate is ours");
    }
    assert_eq!(sha1_upper_hex(&der), site.certificates()[0]["thumbprint"].as_str().unwrap());

    // A new certificate is published beside the previous one without a restart; removing the
    // previous one unpublishes it.
    site.ok(&["certificate", "new"]);
    let new_x5t = site.current_x5t();
    let x5ts = |doc: &Value| -> Vec<String> {
        doc["keys"].as_array().unwrap().iter().map(|k| k["keyinfo"]["x5t"].as_str().unwrap().to_owned()).collect()
    };
    let both = poll("the new certificate to be published", LIVE, || {
        let keys = x5ts(&document("/metadata/json/1"));
        (keys.len() == 2).then_some(keys)
    });
    assert!(both.contains(&x5t) && both.contains(&new_x5t), "{both:?}");
    site.ok(&["certificate", "remove", "--previous"]);
    poll("the previous certificate to be unpublished", LIVE, || {
        (x5ts(&document("/metadata/json/1")) == [new_x5t.clone()]).then_some(())
    });
}
