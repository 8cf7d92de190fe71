//! `s2sd token inspect` and a running `s2sd serve` decide alike: one store with three partner
//! applications registered by certificate (Lync, Full; Reports, Application; Retired, disabled),
//! a matrix of tokens signed here, and for each token inspect's verdict and failing step set
//! beside the server's answer on `/s2s/whoami` (status, `x-ms-diagnostics` number, reason).

use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use s2s::token::VerifyingKey;
use serde_json::{Value, json};

use crate::support::{EXCHANGE, LYNC, Node, REALM, SHAREPOINT, Site, b64url_encode, pem_to_der, self_signed};

const REPORTS: &str = "11111111-2222-3333-4444-555555555555";
const RETIRED: &str = "99999999-2222-3333-4444-555555555555";

/// What both must conclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Accepted,
    /// Refused with this reason, Exchange number, at this validator step.
    Refused(&'static str, u32, &'static str),
}

/// A partner's signing material: the key (PEM) and the certificate's thumbprints.
struct Signer {
    key: EncodingKey,
    x5t: String,
    x5t_s256: String,
}

impl Signer {
    fn new(site: &Site, name: &str) -> (Self, std::path::PathBuf) {
        let (cert, key) = self_signed(site.dir.path(), name, &format!("{name}.litwareinc.com"));
        let der = pem_to_der(&std::fs::read_to_string(&cert).unwrap());
        let parsed = VerifyingKey::from_certificate(&der).unwrap();
        let signer = Self {
            key: EncodingKey::from_rsa_pem(&std::fs::read(&key).unwrap()).unwrap(),
            x5t: parsed.x5t().to_owned(),
            x5t_s256: parsed.x5t_s256().to_owned(),
        };
        (signer, cert)
    }

    /// A compact JWT with this header and claims.
    fn sign(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.key).unwrap()
    }

    /// RS256 with `x5t`.
    fn rs256(&self, claims: &Value) -> String {
        self.sign(&self.header(Algorithm::RS256), claims)
    }

    fn header(&self, alg: Algorithm) -> Header {
        let mut h = Header::new(alg);
        h.x5t = Some(self.x5t.clone());
        h
    }
}

fn register(site: &Site, name: &str, app_id: &str, cert: &Path, trust: &str, enabled: bool) {
    site.ok(&[
        "partner-application",
        "new",
        "--identity",
        name,
        "--application-identifier",
        app_id,
        "--realm",
        REALM,
        "--certificate",
        cert.to_str().unwrap(),
        "--trust-level",
        trust,
        "--enabled",
        if enabled { "true" } else { "false" },
    ]);
}

/// An act-as token: an unsigned outer token naming a user, carrying `actor`.
fn act_as(actor: &str, iss_app: &str, aud: &str, now: i64) -> String {
    let header = b64url_encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({
        "aud": aud,
        "iss": format!("{iss_app}@{REALM}"),
        "nbf": now - 60,
        "exp": now + 3600,
        "actortoken": actor,
        "sip": "kenmyer@litwareinc.com",
        "smtp": "kenmyer@litwareinc.com",
    });
    format!("{header}.{}.", b64url_encode(serde_json::to_string(&claims).unwrap().as_bytes()))
}

/// `token inspect --output json` on the site's store, presented to `authority`.
fn inspect(site: &Site, token: &str, authority: &str) -> (Option<i32>, Value) {
    let run = site.run(&["token", "inspect", token, "--host", authority, "--output", "json"]);
    let report: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("inspect printed no JSON ({e}): {run:#?}"));
    (run.code, report)
}

fn check(name: &str, site: &Site, node: &Node, token: &str, expect: Expect) {
    let (code, report) = inspect(site, token, node.authority());
    let resp = node.get_with_token("/s2s/whoami", token);
    let signature = token.rsplit('.').next().unwrap_or_default();
    let printed = report.to_string();
    assert!(signature.len() < 16 || !printed.contains(signature), "{name}: inspect printed the signature");
    let steps = report["steps"].as_array().unwrap_or_else(|| panic!("{name}: no steps: {report}"));
    assert!(!steps.is_empty(), "{name}");
    match expect {
        Expect::Accepted => {
            assert_eq!(code, Some(0), "{name}: {report:#}");
            assert_eq!(report["accepted"], true, "{name}");
            assert_eq!(report["result"]["outcome"], "accepted", "{name}");
            assert_eq!(report["failed_step"], Value::Null, "{name}");
            assert!(steps.iter().all(|s| s["outcome"] != "failed"), "{name}: {report:#}");
            assert_eq!(resp.status, 200, "{name}: the server refused what inspect accepted: {resp:#?}");
            let whoami = resp.json();
            assert_eq!(whoami["partner"], report["result"]["partner"], "{name}");
            assert_eq!(whoami["token_kind"], report["result"]["kind"], "{name}");
        }
        Expect::Refused(reason, number, step) => {
            assert_eq!(code, Some(1), "{name}: {report:#}");
            assert_eq!(report["accepted"], false, "{name}");
            assert_eq!(report["result"]["reason"], reason, "{name}: {report:#}");
            assert_eq!(report["result"]["code"], number, "{name}");
            assert_eq!(report["failed_step"], step, "{name}: {report:#}");
            let last = steps.last().unwrap();
            assert_eq!(
                (&last["step"], &last["outcome"], &last["reason"]),
                (&json!(step), &json!("failed"), &json!(reason))
            );
            assert!(report["diagnosis"]["fix"].as_str().is_some_and(|f| !f.is_empty()), "{name}: {report:#}");
            assert_eq!(resp.status, 401, "{name}: the server accepted what inspect refused: {resp:#?}");
            let diagnostics = resp.header("x-ms-diagnostics").unwrap_or_else(|| panic!("{name}: {resp:#?}"));
            assert!(diagnostics.starts_with(&format!("{number};")), "{name}: {diagnostics}");
            assert_eq!(resp.json()["reason"], reason, "{name}: {resp:#?}");
        }
    }
}

#[test]
fn inspect_and_the_server_agree_on_every_token() {
    let site = Site::new();
    site.configure("exchange");
    let (lync, lync_cert) = Signer::new(&site, "lync");
    let (reports, reports_cert) = Signer::new(&site, "reports");
    let (retired, retired_cert) = Signer::new(&site, "retired");
    let (stranger, _) = Signer::new(&site, "stranger");
    register(&site, "Lync", LYNC, &lync_cert, "full", true);
    register(&site, "Reports", REPORTS, &reports_cert, "application", true);
    register(&site, "Retired", RETIRED, &retired_cert, "full", false);
    let node = site.serve_http();
    let now = s2s::clock::system().now();
    let aud = format!("{EXCHANGE}/{}@{REALM}", node.authority());
    let claims = |app: &str, tweak: &dyn Fn(&mut Value)| {
        let mut c = json!({
            "aud": aud,
            "iss": format!("{app}@{REALM}"),
            "nameid": format!("{app}@{REALM}"),
            "nbf": now - 60,
            "exp": now + 3600,
            "trustedfordelegation": "true",
        });
        tweak(&mut c);
        c
    };
    let good = lync.rs256(&claims(LYNC, &|_| {}));
    let tampered = {
        let (signed, sig) = good.rsplit_once('.').unwrap();
        let mut sig: Vec<char> = sig.chars().collect();
        let mid = sig.len() / 2;
        sig[mid] = if sig[mid] == 'A' { 'B' } else { 'A' };
        format!("{signed}.{}", sig.into_iter().collect::<String>())
    };
    let s256 = {
        let mut h = Header::new(Algorithm::RS256);
        h.x5t_s256 = Some(lync.x5t_s256.clone());
        lync.sign(&h, &claims(LYNC, &|_| {}))
    };
    let unknown_x5t = {
        let mut h = lync.header(Algorithm::RS256);
        h.x5t = Some(stranger.x5t.clone());
        lync.sign(&h, &claims(LYNC, &|_| {}))
    };
    let reports_actor = reports.rs256(&claims(REPORTS, &|_| {}));

    use Expect::*;
    let cases: Vec<(&str, String, Expect)> = vec![
        ("valid app-only (x5t)", good.clone(), Accepted),
        ("valid act-as", act_as(&good, LYNC, &aud, now), Accepted),
        (
            "expired 60 s ago, inside the clock skew",
            lync.rs256(&claims(LYNC, &|c| {
                c["nbf"] = json!(now - 3600);
                c["exp"] = json!(now - 60);
            })),
            Accepted,
        ),
        (
            "expired beyond the clock skew",
            lync.rs256(&claims(LYNC, &|c| {
                c["nbf"] = json!(now - 7200);
                c["exp"] = json!(now - 1000);
            })),
            Refused("token_expired", 3001, "lifetime"),
        ),
        (
            "not yet valid",
            lync.rs256(&claims(LYNC, &|c| c["nbf"] = json!(now + 1000))),
            Refused("token_not_yet_valid", 3001, "lifetime"),
        ),
        ("x5t#S256 thumbprint", s256, Accepted),
        ("unknown thumbprint", unknown_x5t, Refused("unknown_thumbprint", 10001, "signature")),
        ("bad signature", tampered, Refused("invalid_signature", 1001, "signature")),
        (
            "wrong audience",
            lync.rs256(&claims(LYNC, &|c| c["aud"] = json!(format!("{SHAREPOINT}/{}@{REALM}", node.authority())))),
            Refused("wrong_audience", 4003, "audience"),
        ),
        (
            "wrong realm",
            lync.rs256(&claims(LYNC, &|c| c["aud"] = json!(format!("{EXCHANGE}/{}@fabrikam.com", node.authority())))),
            Refused("realm_mismatch_audience_issuer", 2011, "issuer"),
        ),
        ("disabled partner", retired.rs256(&claims(RETIRED, &|_| {})), Refused("partner_disabled", 2008, "issuer")),
        ("application trust, app-only", reports_actor.clone(), Accepted),
        (
            "application trust acting for a user",
            act_as(&reports_actor, REPORTS, &aud, now),
            Refused("act_as_not_allowed", 2015, "trust_level"),
        ),
        (
            "alg mismatch (RS384 against an RS256 key)",
            lync.sign(&lync.header(Algorithm::RS384), &claims(LYNC, &|_| {})),
            Refused("algorithm_mismatch", 1001, "signature"),
        ),
        ("malformed", "not.a.token".to_owned(), Refused("malformed_token", 2005, "split")),
    ];
    for (name, token, expect) in &cases {
        check(name, &site, &node, token, *expect);
    }
}

#[test]
fn inspect_text_prints_the_steps_and_the_fix_never_the_signature() {
    let site = Site::new();
    site.configure("exchange");
    let (lync, lync_cert) = Signer::new(&site, "lync");
    register(&site, "Lync", LYNC, &lync_cert, "full", false);
    let now = s2s::clock::system().now();
    let host = "mail.litwareinc.com";
    let token = lync.rs256(&json!({
        "aud": format!("{EXCHANGE}/{host}@{REALM}"),
        "iss": format!("{LYNC}@{REALM}"),
        "nbf": now - 60,
        "exp": now + 3600,
    }));
    let run = site.run(&["token", "inspect", &token]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let out = &run.stdout;
    assert!(out.contains(&format!("as presented to {host}")), "the host comes from the audience: {out}");
    assert!(out.contains("[ok  ] audience:") && out.contains("[FAIL] issuer:"), "{out}");
    assert!(out.contains("REFUSE") && out.contains("partner_disabled"), "{out}");
    assert!(out.contains("Fix:   on the target: s2sd partner-application set Lync --enabled true"), "{out}");
    assert!(!out.contains(token.rsplit('.').next().unwrap()), "the signature is never printed");
}
