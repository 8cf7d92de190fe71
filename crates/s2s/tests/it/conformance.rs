//! The conformance vectors of the protocol reference §9, parsed with a fixed clock: MS-XOAUTH
//! §4.2/§4.4, the SharePoint high-trust example, the Java TokenHelper token, and the §1.5 metadata
//! shapes (with a real certificate standing in for the truncated base64).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use s2s::clock::FixedClock;
use s2s::metadata::{Endpoint, MetadataDocument, MetadataError, MetadataKey};
use s2s::partner::{LocalIdentity, TrustStore};
use s2s::principal::{EXCHANGE, LYNC, Principal, SHAREPOINT};
use s2s::token::outer::NII_ACTIVE_DIRECTORY;
use s2s::token::{ActorClaims, ActorToken, Compact, Header, OuterToken, TokenError, thumbprint};
use s2s::validate::{RejectionKind, TokenKind, Validator};
use serde_json::json;

use crate::common::*;

/// A signature segment that is valid base64url but no signature of anything.
const DUMMY_SIGNATURE: &str = "ZHVtbXktc2lnbmF0dXJl";

const XOAUTH_REALM: &str = "EXHB-88371dom.extest.contoso.com";
const XOAUTH_ACTOR_HEADER: &str = r#"{"typ":"JWT","alg":"RS256","x5t":"mH-TTlt-HAXC9-vjKVFtX6bAsR0"}"#;
const XOAUTH_ACTOR_CLAIMS: &str = r#"{"aud":"00000003-0000-0ff1-ce00-000000000000/contoso.com@EXHB-88371dom.extest.contoso.com","iss":"00000002-0000-0ff1-ce00-000000000000@EXHB-88371dom.extest.contoso.com","nbf":"1323380605","exp":"1323409405","nameid":"00000002-0000-0ff1-ce00-000000000000@EXHB-88371dom.extest.contoso.com","trustedfordelegation":"true"}"#;
const XOAUTH_NBF: i64 = 1_323_380_605;
const XOAUTH_EXP: i64 = 1_323_409_405;

const SP_REALM: &str = "52aa6841-b76b-4ed4-a3d7-a259fce1dfa2";
const SP_ISSUER_ID: &str = "11111111-1111-1111-1111-111111111111";
const SP_CLIENT_ID: &str = "c3ab8885-458f-4864-8804-1608145e2ac4";

/// The high-trust actor token embedded in the Java TokenHelper port (protocol reference §9 item 7,
/// read_file id 31125697325), verbatim.
const JAVA_TOKENHELPER_ACTOR: &str = concat!(
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6IkxSeEhSSXAtQktEN3hHNy1rdEttZ29OVDdFbyJ9.",
    "eyJhdWQiOiIwMDAwMDAwMy0wMDAwLTBmZjEtY2UwMC0wMDAwMDAwMDAwMDAvc2hhcmVwb2ludEAyMDBhOGU3OS1hOThlLTRiNzktYTZlMy1j",
    "NjM3YzY0ODI0NzEiLCJpc3MiOiIxMTExMTExMS0xMTExLTExMTEtMTExMS0xMTExMTExMTExMTFAMjAwYThlNzktYTk4ZS00Yjc5LWE2ZTMt",
    "YzYzN2M2NDgyNDcxIiwibmJmIjoiMTQ0NDc4MDgwMCIsImV4cCI6IjE0NDQ4MjQwMDAiLCJuYW1laWQiOiI0ZWJiOGY4Ni1iNDBjLTRjYzUt",
    "ODI1NS00ZWJlZWEwMThkYzVAMjAwYThlNzktYTk4ZS00Yjc5LWE2ZTMtYzYzN2M2NDgyNDcxIiwidHJ1c3RlZGZvcmRlbGVnYXRpb24iOiJ0",
    "cnVlIn0.",
    "ug03mm3q6yinrqwT4MrwK-xRYTlND17NpzrNo4fjJNEVcsflcjmFMjFXAeaORCR-FNJrNnt5BMMRlTilwmOa9FnYqviA4GK-hKIkDFAs_Gmm",
    "zidIBe72pX88dX375HO3bccLpVu_Q_9IcYD6j247PdRN0MgX2SJmrZ5BMoCEAcbwYqbGTyBgomSPs6rqgE5sTI5Pklk9p_gLKc-14PhkR9i-S",
    "Ac9NwFSkBuun3GUxkMXOLkLN_pcN5wXlBvk6wumCC2VrAKXTevuSVp_qqGdSEWPKVxhbZtUYwNhq3WOCtZjroBsuUs4at4LpOTBjyH766ANg_",
    "DJWO2LGIXldpAGHA",
);

/// A validator for `local` trusting one partner (holding key A, which signed none of the vectors).
fn vector_validator(local: LocalIdentity, name: &str, app_id: &str, realm: &str, now: i64) -> Validator {
    let partner = partner(name, app_id, realm, vec![key_a().verifying()], None);
    Validator::new(Arc::new(TrustStore::new(local, vec![partner])), Arc::new(FixedClock::new(now)))
}

fn decode_outer(token: &str) -> OuterToken {
    let compact = Compact::split(token).unwrap();
    let header = compact.header().unwrap();
    assert!(header.is_unsigned());
    OuterToken::decode(&compact, &header).unwrap()
}

#[test]
fn ms_xoauth_4_2_actor_token() {
    let token = compact(XOAUTH_ACTOR_HEADER, XOAUTH_ACTOR_CLAIMS, DUMMY_SIGNATURE);
    let actor = ActorToken::decode(&token).unwrap();
    assert_eq!(
        actor.header,
        Header {
            typ: Some("JWT".into()),
            alg: "RS256".into(),
            x5t: Some("mH-TTlt-HAXC9-vjKVFtX6bAsR0".into()),
            ..Header::default()
        }
    );
    let exchange = format!("{EXCHANGE}@{XOAUTH_REALM}");
    assert_eq!(
        actor.claims,
        ActorClaims {
            aud: Some(format!("{SHAREPOINT}/contoso.com@{XOAUTH_REALM}")),
            iss: Some(exchange.clone()),
            nameid: Some(exchange),
            nbf: Some(XOAUTH_NBF),
            exp: Some(XOAUTH_EXP),
            iat: None,
            trustedfordelegation: true,
            identityprovider: None,
        }
    );
    assert_eq!(XOAUTH_EXP - XOAUTH_NBF, 8 * 3600, "the spec's 8 h lifetime");
    assert_eq!(
        thumbprint::x5t_to_hex(actor.header.x5t.as_deref().unwrap()).as_deref(),
        Some("987F934E5B7E1C05C2F7EBE329516D5FA6C0B11D")
    );
    let aud = Principal::parse(actor.claims.aud.as_deref().unwrap()).unwrap();
    assert_eq!(aud, Principal::audience(SHAREPOINT, "contoso.com", XOAUTH_REALM));
    // The dummy signature decodes but verifies under no key.
    assert_eq!(actor.compact.verify("RS256", &key_a().verifying()), Err(TokenError::BadSignature));

    // A SharePoint trusting Exchange gets through audience, issuer and realm checks, and stops at
    // the key lookup: nobody has the spec's certificate.
    let local =
        LocalIdentity { app_id: SHAREPOINT.into(), realm: XOAUTH_REALM.to_ascii_lowercase(), ..Default::default() };
    let v = vector_validator(local, "Exchange", EXCHANGE, XOAUTH_REALM, XOAUTH_NBF + 60);
    let err = v.validate(&token, "contoso.com").unwrap_err();
    assert_eq!(err.kind, RejectionKind::NoCertificateFound, "{err}");
    assert_eq!(err.partner.as_deref(), Some("Exchange"));
    assert!(err.detail.contains("mH-TTlt-HAXC9-vjKVFtX6bAsR0"), "{err}");
}

#[test]
fn ms_xoauth_4_4_outer_token_with_actort() {
    let actor = compact(XOAUTH_ACTOR_HEADER, XOAUTH_ACTOR_CLAIMS, DUMMY_SIGNATURE);
    // §4.4 abbreviates the user values; smtp/sip and the msexchuid tail are filled in here.
    let msexchuid = "842e4c3a-5d2f-4a0c-9b1e-6f2f2d7c9a10@exhb-88371dom.extest.contoso.com";
    let payload = json!({
        "aud": format!("{SHAREPOINT}/contoso.com@{XOAUTH_REALM}"),
        "iss": format!("{EXCHANGE}@{XOAUTH_REALM}"),
        "nbf": "1323380605",
        "exp": "1323409405",
        "nameid": format!("ewsuser-55a83300@{XOAUTH_REALM}"),
        "smtp": "ewsuser-55a83300@exhb-88371dom.extest.contoso.com",
        "sip": "ewsuser-55a83300@exhb-88371dom.extest.contoso.com",
        "msexchuid": msexchuid,
        "actort": actor,
    });
    let token = compact(r#"{"typ":"JWT","alg":"none"}"#, &payload.to_string(), "");
    assert!(token.ends_with('.'), "alg none: empty signature segment, trailing dot");
    let outer = decode_outer(&token);
    let c = &outer.claims;
    assert_eq!(c.actortoken.as_deref(), Some(actor.as_str()), "`actort` is read as `actortoken`");
    assert_eq!((c.nbf, c.exp), (Some(XOAUTH_NBF), Some(XOAUTH_EXP)));
    assert_eq!(c.iss.as_deref(), Some(format!("{EXCHANGE}@{XOAUTH_REALM}").as_str()));
    assert_eq!(c.user.nameid.as_deref(), Some(format!("ewsuser-55a83300@{XOAUTH_REALM}").as_str()));
    assert_eq!(c.user.msexchuid.as_deref(), Some(msexchuid));
    assert!(c.user.smtp.is_some() && c.user.sip.is_some() && c.user.upn.is_none());
    let inner = ActorToken::decode(c.actortoken.as_deref().unwrap()).unwrap();
    assert_eq!(inner.claims.nameid, c.iss, "outer iss = actor nameid");

    // The validator follows `actort` into the actor and stops at the (unknown) key.
    let local =
        LocalIdentity { app_id: SHAREPOINT.into(), realm: XOAUTH_REALM.to_ascii_lowercase(), ..Default::default() };
    let v = vector_validator(local, "Exchange", EXCHANGE, XOAUTH_REALM, XOAUTH_NBF + 60);
    assert_eq!(v.validate(&token, "contoso.com").unwrap_err().kind, RejectionKind::NoCertificateFound);
}

#[test]
fn actort_spelling_is_accepted_end_to_end() {
    let actor = actor_token(key_a());
    let payload = json!({
        "aud": audience(), "iss": lync_principal(), "nbf": (NOW - 60).to_string(), "exp": (NOW + 3600).to_string(),
        "smtp": "kenmyer@litwareinc.com", "actort": actor,
    });
    let token = compact(r#"{"typ":"JWT","alg":"none"}"#, &payload.to_string(), "");
    let v = validator().validate(&token, HOST).unwrap();
    assert_eq!(v.kind, TokenKind::ActAs);
    assert_eq!(v.user.as_ref().unwrap().smtp.as_deref(), Some("kenmyer@litwareinc.com"));
    // The same, signed: an outer token carrying `actort` must not be signed.
    let signed = s2s::token::jws::sign(
        &Header { typ: Some("JWT".into()), alg: "RS256".into(), x5t: Some(key_a().x5t()), ..Header::default() },
        &payload,
        &key_a().signing,
    )
    .unwrap();
    assert_eq!(validator().validate(&signed, HOST).unwrap_err().kind, RejectionKind::OuterTokenAlsoSigned);
}

#[test]
fn sharepoint_high_trust_example() {
    let aud = format!("{SHAREPOINT}/MarketingServer@{SP_REALM}");
    let actor_claims = json!({
        "aud": aud,
        "iss": format!("{SP_ISSUER_ID}@{SP_REALM}"),
        "nbf": "1403212820",
        "exp": "1403256020",
        "nameid": format!("{SP_CLIENT_ID}@{SP_REALM}"),
        "trustedfordelegation": "true",
    });
    let actor = compact(
        r#"{"typ":"JWT","alg":"RS256","x5t":"7MjK99QvkVdwz6UrKldx8AG7ydM"}"#,
        &actor_claims.to_string(),
        DUMMY_SIGNATURE,
    );
    let sid = "s-1-5-21-2127521184-1604012920-1887927527-415108";
    let outer_claims = json!({
        "aud": aud,
        "iss": format!("{SP_CLIENT_ID}@{SP_REALM}"),
        "nbf": "1403212820",
        "exp": "1403256020",
        "nameid": sid,
        "nii": NII_ACTIVE_DIRECTORY,
        "actortoken": actor,
    });
    let token = compact(r#"{"typ":"JWT","alg":"none"}"#, &outer_claims.to_string(), "");

    let outer = decode_outer(&token);
    assert_eq!(outer.claims.user.nameid.as_deref(), Some(sid));
    assert_eq!(outer.claims.user.nii.as_deref(), Some(NII_ACTIVE_DIRECTORY));
    assert_eq!((outer.claims.nbf, outer.claims.exp), (Some(1_403_212_820), Some(1_403_256_020)));
    let a = ActorToken::decode(outer.claims.actortoken.as_deref().unwrap()).unwrap();
    assert_eq!(a.header.x5t.as_deref(), Some("7MjK99QvkVdwz6UrKldx8AG7ydM"));
    assert_eq!(
        thumbprint::x5t_to_hex("7MjK99QvkVdwz6UrKldx8AG7ydM").as_deref(),
        Some("ECC8CAF7D42F915770CFA52B2A5771F001BBC9D3")
    );
    assert_eq!(a.claims.exp.unwrap() - a.claims.nbf.unwrap(), 12 * 3600, "TokenHelper's 12 h");
    assert!(a.claims.trustedfordelegation);
    assert_eq!(a.claims.nameid, outer.claims.iss, "outer iss = actor nameid (the client id)");
    assert_ne!(a.claims.iss, a.claims.nameid, "issuer id and client id differ in this example");
    let aud = Principal::parse(a.claims.aud.as_deref().unwrap()).unwrap();
    assert_eq!(aud.host.as_deref(), Some("marketingserver"));
    assert_eq!(aud.realm, SP_REALM);

    let local = LocalIdentity { app_id: SHAREPOINT.into(), realm: SP_REALM.into(), ..Default::default() };
    let v = vector_validator(local, "HighTrust", SP_ISSUER_ID, SP_REALM, 1_403_212_820 + 60);
    assert_eq!(v.validate(&token, "MarketingServer").unwrap_err().kind, RejectionKind::NoCertificateFound);
}

#[test]
fn java_tokenhelper_actor_token() {
    let compact = Compact::split(JAVA_TOKENHELPER_ACTOR).unwrap();
    assert_eq!(compact.signing_input, JAVA_TOKENHELPER_ACTOR.rsplit_once('.').unwrap().0);
    let signature = URL_SAFE_NO_PAD.decode(compact.signature).unwrap();
    assert_eq!(signature.len(), 256, "RS256 over RSA-2048");

    let actor = ActorToken::decode(JAVA_TOKENHELPER_ACTOR).unwrap();
    assert_eq!(actor.header.alg, "RS256");
    assert_eq!(actor.header.typ.as_deref(), Some("JWT"));
    assert_eq!(actor.header.x5t.as_deref(), Some("LRxHRIp-BKD7xG7-ktKmgoNT7Eo"));
    assert_eq!(
        thumbprint::x5t_to_hex("LRxHRIp-BKD7xG7-ktKmgoNT7Eo").as_deref(),
        Some("2D1C47448A7E04A0FBC46EFE92D2A6828353EC4A")
    );
    let realm = "200a8e79-a98e-4b79-a6e3-c637c6482471";
    assert_eq!(
        actor.claims,
        ActorClaims {
            aud: Some(format!("{SHAREPOINT}/sharepoint@{realm}")),
            iss: Some(format!("{SP_ISSUER_ID}@{realm}")),
            nameid: Some(format!("4ebb8f86-b40c-4cc5-8255-4ebeea018dc5@{realm}")),
            nbf: Some(1_444_780_800),
            exp: Some(1_444_824_000),
            iat: None,
            trustedfordelegation: true,
            identityprovider: None,
        }
    );
    // A real 256-byte signature, just not by any key we hold.
    assert_eq!(actor.compact.verify("RS256", &key_a().verifying()), Err(TokenError::BadSignature));
    assert!(matches!(actor.compact.verify("PS256", &key_a().verifying()), Err(TokenError::AlgorithmMismatch { .. })));
}

/// The Exchange document of §1.5 with a real certificate.
fn exchange_document(cert: &[u8], x5t: &str) -> String {
    json!({
        "id": "_70b34511-d105-4e2b-9675-39f53305bb01",
        "version": "1.0",
        "name": "Exchange",
        "realm": "*",
        "serviceName": EXCHANGE,
        "issuer": format!("{EXCHANGE}@*"),
        "allowedAudiences": [format!("{EXCHANGE}@*")],
        "keys": [{"usage": "signing", "keyinfo": {"x5t": x5t},
                  "keyvalue": {"type": "x509Certificate", "value": STANDARD.encode(cert)}}],
        "endpoints": [{"location": "https://outlook.office365.com:444/autodiscover/metadata/json/1",
                       "protocol": "OAuth2", "usage": "metadata"}],
    })
    .to_string()
}

#[test]
fn exchange_metadata_shape() {
    let k = key_a();
    let doc = MetadataDocument::parse(exchange_document(&k.cert_der, &k.x5t()).as_bytes()).unwrap();
    let expected = MetadataDocument {
        id: Some("_70b34511-d105-4e2b-9675-39f53305bb01".into()),
        version: Some("1.0".into()),
        name: Some("Exchange".into()),
        realm: Some("*".into()),
        service_name: Some(EXCHANGE.into()),
        issuer: Some(format!("{EXCHANGE}@*")),
        allowed_audiences: vec![format!("{EXCHANGE}@*")],
        keys: vec![MetadataKey { usage: "signing".into(), x5t: k.x5t(), certificate: k.cert_der.clone() }],
        endpoints: vec![Endpoint {
            location: "https://outlook.office365.com:444/autodiscover/metadata/json/1".into(),
            protocol: "OAuth2".into(),
            usage: "metadata".into(),
        }],
    };
    assert_eq!(doc, expected);
    assert_eq!(doc.token_endpoint(), None, "a metadata endpoint is not a token endpoint");
    let checked = doc.check(NOW).unwrap();
    assert_eq!(checked.issuer, Principal::new(EXCHANGE, "*"));
    assert_eq!(checked.keys.len(), 1);
    assert_eq!(checked.keys[0].x5t(), k.x5t());
    assert_eq!(checked.certificates, vec![k.cert_der.clone()]);
    // Our writer emits the same superset, and reads back identically.
    assert_eq!(MetadataDocument::parse(doc.to_json().as_bytes()).unwrap(), doc);

    // A padded x5t is the same thumbprint; a wrong one names the entry.
    let padded = MetadataDocument::parse(exchange_document(&k.cert_der, &format!("{}=", k.x5t())).as_bytes()).unwrap();
    assert_eq!(padded.keys[0].x5t, k.x5t());
    let wrong = MetadataDocument::parse(exchange_document(&k.cert_der, &key_b().x5t()).as_bytes()).unwrap_err();
    assert!(matches!(wrong, MetadataError::BadKey { index: 1, .. }), "{wrong}");
}

#[test]
fn sharepoint_se_metadata_shape() {
    let k = key_b();
    // Standard base64 wrapped at 64 columns with CRLF, as certutil and PowerShell write it.
    let b64 = STANDARD.encode(&k.cert_der);
    let wrapped: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let wrapped = wrapped.join("\r\n");
    let farm = "af90cc03-4a26-45e9-906a-609cebcebbde";
    let text = json!({
        "issuer": format!("{SHAREPOINT}@{farm}"),
        "keys": [{"keyValue": {"type": "x509certificate", "value": wrapped}, "usage": "Signing"}],
        "name": SHAREPOINT,
        "serviceName": SHAREPOINT,
    })
    .to_string();
    assert!(text.contains(r"\r\n") && !text.contains("keyinfo") && !text.contains("endpoints"));
    let doc = MetadataDocument::parse(text.as_bytes()).unwrap();
    assert_eq!(doc.keys.len(), 1);
    assert_eq!(doc.keys[0].usage, "signing", "usage is lower-cased");
    assert_eq!(doc.keys[0].certificate, k.cert_der);
    assert_eq!(doc.keys[0].x5t, k.x5t(), "x5t computed when the document has none");
    assert!(doc.endpoints.is_empty() && doc.realm.is_none() && doc.id.is_none());
    let checked = doc.check(NOW).unwrap();
    assert_eq!(checked.issuer, Principal::new(SHAREPOINT, farm));
    assert_eq!(checked.name.as_deref(), Some(SHAREPOINT));
    assert_eq!(checked.keys[0].x5t(), k.x5t());
}

#[test]
fn metadata_names_and_values_in_any_case_and_expired_keys_dropped() {
    let k = key_a();
    let expired = certificate(&k.pair, "lync-old.litwareinc.com", NOW - 400 * 86_400, NOW - 86_400);
    let text = json!({
        "SERVICENAME": LYNC,
        "Realm": REALM,
        "KEYS": [
            {"USAGE": "SIGNING", "KEYVALUE": {"TYPE": "X509CERTIFICATE", "VALUE": STANDARD.encode(&expired)}},
            {"usage": "signing", "KeyInfo": {"X5T": k.x5t()},
             "keyValue": {"type": "x509Certificate", "value": STANDARD.encode(&k.cert_der).trim_end_matches('=')}},
            {"usage": "signing", "keyvalue": {"type": "jwk", "value": "{}"}},
        ],
    })
    .to_string();
    let doc = MetadataDocument::parse(text.as_bytes()).unwrap();
    assert_eq!(doc.keys.len(), 2, "the non-X.509 entry is ignored");
    let checked = doc.check(NOW).unwrap();
    assert_eq!(checked.issuer, Principal::new(LYNC, REALM), "serviceName@realm without issuer");
    assert_eq!(checked.certificates, vec![k.cert_der.clone()], "the expired certificate is dropped");
    // With only the expired one, the document is unusable.
    let only_expired = json!({"issuer": format!("{LYNC}@{REALM}"),
        "keys": [{"keyvalue": {"type": "x509Certificate", "value": STANDARD.encode(&expired)}}]});
    let err = MetadataDocument::parse(only_expired.to_string().as_bytes()).unwrap().check(NOW).unwrap_err();
    assert!(matches!(err, MetadataError::AllKeysExpired { .. }), "{err}");
}
