//! Property tests: round trips of the textual forms we write, and "never panics" on anything a
//! peer could send (the same entry points the fuzz targets cover).

use std::sync::OnceLock;

use proptest::prelude::*;
use s2s::challenge::{self, BearerChallenge};
use s2s::metadata::MetadataDocument;
use s2s::principal::Principal;
use s2s::token::{ActorClaims, Compact, Header, OuterClaims, OuterTemplate, OuterToken, UserClaims, outer};
use s2s::validate::Validator;
use serde_json::{Value, json};

use crate::common::*;

fn shared_validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(validator)
}

fn good_actor() -> &'static str {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| actor_token(key_a()))
}

/// The payload of a compact token as JSON.
fn payload_json(token: &str) -> Value {
    let compact = Compact::split(token).unwrap();
    compact.claims::<Value>().unwrap()
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(any::<String>())
}

fn user_claims() -> impl Strategy<Value = UserClaims> {
    (opt_text(), opt_text(), opt_text(), opt_text(), opt_text(), opt_text())
        .prop_map(|(nameid, nii, upn, smtp, sip, msexchuid)| UserClaims { nameid, nii, upn, smtp, sip, msexchuid })
}

/// JSON values a peer could put in a claim, biased toward what the validator looks at.
fn claim_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (NOW - 4000..NOW + 4000).prop_map(Value::from),
        (NOW - 4000..NOW + 4000).prop_map(|n| Value::from(n.to_string())),
        any::<String>().prop_map(Value::from),
        Just(Value::from(audience())),
        Just(Value::from(lync_principal())),
        Just(Value::from("true")),
        Just(Value::from(good_actor())),
        Just(json!([audience(), 1])),
        Just(json!({"nested": {"x": [null]}})),
    ]
}

const CLAIM_NAMES: &[&str] = &[
    "aud",
    "iss",
    "nameid",
    "nbf",
    "exp",
    "iat",
    "trustedfordelegation",
    "actortoken",
    "actort",
    "nii",
    "upn",
    "smtp",
    "sip",
    "msexchuid",
    "identityprovider",
    "x",
];

fn header_object() -> impl Strategy<Value = Value> {
    let alg = proptest::sample::select(vec!["RS256", "none", "NONE", "PS256", "HS256", "", "rs256"]);
    let thumb = proptest::option::of(prop_oneof![
        Just(key_a().x5t()),
        Just(format!("{}=", key_a().x5t())),
        Just(key_b().x5t()),
        any::<String>(),
    ]);
    (alg, thumb, any::<bool>()).prop_map(|(alg, x5t, as_kid)| {
        let mut h = json!({"typ": "JWT", "alg": alg});
        if let Some(t) = x5t {
            h[if as_kid { "kid" } else { "x5t" }] = json!(t);
        }
        h
    })
}

/// Who signs a structured token.
#[derive(Debug, Clone)]
enum Signer {
    /// A key (A is trusted, B and C are not).
    Key(&'static TestKey),
    /// A segment that is no signature.
    Garbage(String),
}

fn signer() -> impl Strategy<Value = Signer> {
    prop_oneof![
        4 => Just(Signer::Key(key_a())),
        1 => Just(Signer::Key(key_c())),
        1 => prop_oneof![Just(String::new()), "[A-Za-z0-9_-]{0,400}", any::<String>()].prop_map(Signer::Garbage),
    ]
}

/// Set (`Some`) or remove (`None`) a claim.
fn mutations() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    proptest::collection::vec((proptest::sample::select(CLAIM_NAMES), proptest::option::of(claim_value())), 0..4)
}

fn apply(mut claims: Value, mutations: &[(&str, Option<Value>)]) -> Value {
    for (name, value) in mutations {
        match value {
            Some(v) => claims[*name] = v.clone(),
            None => {
                claims.as_object_mut().unwrap().remove(*name);
            }
        }
    }
    claims
}

fn good_actor_header() -> Value {
    json!({"typ": "JWT", "alg": "RS256", "x5t": key_a().x5t()})
}

/// `header.payload.signature` with the signature made by `signer` over the first two.
fn signed(header: &Value, claims: &Value, signer: &Signer) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = match signer {
        Signer::Key(k) => b64(k.signing.sign(input.as_bytes()).unwrap()),
        Signer::Garbage(s) => s.clone(),
    };
    format!("{input}.{signature}")
}

/// A structured token: mostly-good actor claims with a few claims changed or removed, a mostly-good
/// header, signed by a trusted key most of the time; optionally wrapped in a mostly-good outer
/// token. The flag says whether it is the untouched, trusted act-as or app-only token.
fn structured_token() -> impl Strategy<Value = (String, bool)> {
    let header = prop_oneof![4 => Just(good_actor_header()), 1 => header_object()];
    let outer_header = prop_oneof![
        4 => Just(json!({"typ": "JWT", "alg": "none"})),
        1 => header_object(),
    ];
    let outer_signature = prop_oneof![4 => Just(Signer::Garbage(String::new())), 1 => signer()];
    (header, mutations(), signer(), any::<bool>(), outer_header, mutations(), outer_signature).prop_map(
        |(header, actor_mutations, signer, wrap, outer_header, outer_mutations, outer_signer)| {
            let base = serde_json::to_value(actor_claims(NOW)).unwrap();
            let actor = signed(&header, &apply(base, &actor_mutations), &signer);
            let actor_good = header == good_actor_header()
                && actor_mutations.is_empty()
                && matches!(signer, Signer::Key(k) if std::ptr::eq(k, key_a()));
            if !wrap {
                return (actor, actor_good);
            }
            let base = payload_json(&act_as_token(&actor));
            let good = actor_good
                && outer_mutations.is_empty()
                && outer_header == json!({"typ": "JWT", "alg": "none"})
                && matches!(&outer_signer, Signer::Garbage(s) if s.is_empty());
            (signed(&outer_header, &apply(base, &outer_mutations), &outer_signer), good)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn principal_display_parses_back(
        app in "[^@/]{1,40}",
        host in proptest::option::of("[^/]{1,40}"),
        realm in "[^@]{1,40}",
    ) {
        let p = match &host {
            Some(h) => Principal::audience(&app, h, &realm),
            None => Principal::new(&app, &realm),
        };
        prop_assert_eq!(Principal::parse(&p.to_string()).unwrap(), p);
    }

    #[test]
    fn principal_parse_is_idempotent(s in any::<String>()) {
        if let Ok(p) = Principal::parse(&s) {
            prop_assert_eq!(Principal::parse(&p.to_string()).unwrap(), p);
        }
    }

    #[test]
    fn bearer_challenge_round_trips(
        realm in opt_text(),
        client_id in any::<String>(),
        trusted_issuers in proptest::collection::vec("[^,\\s]([^,]{0,30}[^,\\s])?", 0..5),
        authorization_uri in opt_text(),
        error in opt_text(),
    ) {
        let b = BearerChallenge { realm, client_id, trusted_issuers, authorization_uri, error };
        let value = b.to_header_value();
        prop_assert!(value.starts_with("Bearer "));
        if b.realm.is_some() {
            prop_assert!(value.starts_with("Bearer realm=\""), "realm first");
        }
        let parsed = challenge::parse(&value).unwrap();
        prop_assert_eq!(parsed.len(), 1);
        prop_assert_eq!(BearerChallenge::from_challenges(&parsed).unwrap(), b);
    }

    #[test]
    fn outer_template_mints_what_build_builds(
        user in user_claims(),
        aud in any::<String>(),
        iss in any::<String>(),
        nbf in any::<i64>(),
        exp in any::<i64>(),
        actor in prop_oneof![Just(good_actor().to_owned()), any::<String>()],
    ) {
        let template = OuterTemplate::new(&aud, &iss, nbf, exp, &actor).unwrap();
        let minted = template.mint(&user).unwrap();
        let claims = OuterClaims {
            aud: Some(aud), iss: Some(iss), nbf: Some(nbf), exp: Some(exp), actortoken: Some(actor), user,
        };
        let built = outer::build(&claims).unwrap();
        prop_assert_eq!(payload_json(&minted), payload_json(&built));
        // Both are well-formed outer tokens that read back as the claims.
        for token in [&minted, &built] {
            let compact = Compact::split(token).unwrap();
            let header = compact.header().unwrap();
            prop_assert_eq!(&header, &Header { typ: Some("JWT".into()), alg: "none".into(), ..Header::default() });
            prop_assert_eq!(&OuterToken::decode(&compact, &header).unwrap().claims, &claims);
        }
    }

    #[test]
    fn compact_never_panics(s in any::<String>()) {
        if let Ok(compact) = Compact::split(&s) {
            prop_assert_eq!(compact.signing_input.len() + 1 + compact.signature.len(), s.len());
            if let Ok(header) = compact.header() {
                let _ = OuterToken::decode(&compact, &header);
                let _ = compact.verify(&header.alg, &key_a().verifying());
            }
            let _ = compact.claims::<Value>();
            let _ = compact.claims::<ActorClaims>();
        }
    }

    #[test]
    fn metadata_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(doc) = MetadataDocument::parse(&bytes) {
            let _ = doc.check(NOW);
        }
    }

    #[test]
    fn metadata_parse_never_panics_on_json_shapes(
        names in proptest::collection::vec(proptest::sample::select(vec![
            "issuer", "serviceName", "realm", "keys", "keyValue", "keyinfo", "x5t", "value", "type", "usage", "endpoints",
        ]), 0..6),
        values in proptest::collection::vec(claim_value(), 0..6),
        b64_cert in any::<bool>(),
    ) {
        let mut obj = serde_json::Map::new();
        for (n, v) in names.iter().zip(values) {
            obj.insert((*n).to_owned(), v);
        }
        if b64_cert {
            use base64::Engine as _;
            let cert = base64::engine::general_purpose::STANDARD.encode(&key_a().cert_der);
            obj.insert("keys".into(), json!([{"keyvalue": {"type": "x509Certificate", "value": cert}},
                                               {"keyvalue": obj.get("keyValue").cloned().unwrap_or(Value::Null)}]));
        }
        if let Ok(doc) = MetadataDocument::parse(Value::Object(obj).to_string().as_bytes()) {
            let _ = doc.check(NOW);
            let _ = MetadataDocument::parse(doc.to_json().as_bytes());
        }
    }

    #[test]
    fn challenge_parse_never_panics(s in any::<String>()) {
        if let Ok(challenges) = challenge::parse(&s) {
            prop_assert!(!challenges.is_empty());
            let _ = BearerChallenge::from_challenges(&challenges);
        }
    }

    #[test]
    fn challenge_parse_never_panics_on_challenge_like_input(s in r#"([A-Za-z_]{1,8}|[ ,="\\]|"[^"]{0,8}"|=+){0,24}"#) {
        let _ = challenge::parse(&s);
    }

    #[test]
    fn validate_never_panics(token in any::<String>(), authority in any::<String>()) {
        prop_assert!(shared_validator().validate(&token, &authority).is_err());
    }

    #[test]
    fn validate_never_panics_on_structured_tokens((token, good) in structured_token()) {
        match shared_validator().validate(&token, HOST) {
            Ok(v) => {
                // Whatever gets through was signed by the Lync key (the only one trusted).
                prop_assert_eq!(&v.partner, "Lync");
                prop_assert_eq!(&v.x5t, &key_a().x5t());
            }
            Err(e) => prop_assert!(!good, "the untouched token was refused: {}", e),
        }
    }
}
