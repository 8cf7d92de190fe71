//! The authentication metadata document (`/metadata/json/1`): a lenient reader that takes every
//! spelling real products emit (names and enum values in any case, `x5t` computed when absent,
//! base64 with line breaks) and a canonical writer in Exchange's superset form. `fetch` (feature
//! `fetch`) downloads and checks a partner's document.

#[cfg(feature = "fetch")]
pub mod fetch;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::principal::Principal;
use crate::token::{KeyError, VerifyingKey, thumbprint};

/// Largest metadata document accepted, checked before parsing.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// Standard base64 with or without `=` padding.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The protocol value that marks an OAuth2 endpoint.
pub const PROTOCOL_OAUTH2: &str = "OAuth2";

/// Why a metadata document is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Over the size limit.
    #[error("metadata document is {len} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON.
    #[error("metadata document is not valid JSON: {0}")]
    Json(String),
    /// JSON, but not an object.
    #[error("metadata document is not a JSON object")]
    NotAnObject,
    /// Neither `issuer` nor `serviceName` + `realm` name the principal.
    #[error("metadata document names no issuer (no `issuer`, nor `serviceName` with `realm`)")]
    MissingIssuer,
    /// `issuer` is not `<id>@<realm>`.
    #[error("metadata issuer `{0}` is not of the form <application id>@<realm>")]
    InvalidIssuer(String),
    /// A key entry cannot be read.
    #[error("metadata key #{index} is unusable: {reason}")]
    BadKey {
        /// Position in `keys`, from 1.
        index: usize,
        /// Why.
        reason: String,
    },
    /// No signing key at all.
    #[error("metadata document lists no signing keys")]
    NoKeys,
    /// Every signing key has expired.
    #[error("every signing certificate in the metadata has expired (latest expired at {latest})")]
    AllKeysExpired {
        /// The latest `notAfter` among them (Unix seconds).
        latest: UnixTime,
    },
}

/// A signing key entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataKey {
    /// `signing` (lower-cased on read).
    pub usage: String,
    /// The certificate thumbprint (computed from the certificate when the document has none).
    pub x5t: String,
    /// The DER certificate.
    pub certificate: Vec<u8>,
}

/// An endpoint entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// URL.
    pub location: String,
    /// `OAuth2`, `DelegationIssuance1.0`, …
    pub protocol: String,
    /// `metadata`, `issuance`, …
    pub usage: String,
}

/// A metadata document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataDocument {
    /// Document id.
    pub id: Option<String>,
    /// `1.0`.
    pub version: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Issuer realm (`*` = any).
    pub realm: Option<String>,
    /// The principal's application id.
    pub service_name: Option<String>,
    /// `<serviceName>@<realm>`.
    pub issuer: Option<String>,
    /// Audiences the principal accepts.
    pub allowed_audiences: Vec<String>,
    /// Signing keys.
    pub keys: Vec<MetadataKey>,
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// A document that passed the checks a partner registration needs.
#[derive(Debug)]
pub struct CheckedMetadata {
    /// Who issues: application id and realm.
    pub issuer: Principal,
    /// Display name, when the document has one.
    pub name: Option<String>,
    /// The keys that are currently valid, parsed.
    pub keys: Vec<VerifyingKey>,
    /// The DER certificates of those keys.
    pub certificates: Vec<Vec<u8>>,
}

impl MetadataDocument {
    /// Reads a document leniently. Fails only on what makes it unusable as a whole; unusable key
    /// entries fail too, naming the entry.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(MetadataError::TooLarge { len: bytes.len(), limit: MAX_METADATA_BYTES });
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| MetadataError::Json(e.to_string()))?;
        let Value::Object(obj) = value else { return Err(MetadataError::NotAnObject) };
        let mut doc = Self {
            id: text(&obj, "id"),
            version: text(&obj, "version"),
            name: text(&obj, "name"),
            realm: text(&obj, "realm"),
            service_name: text(&obj, "serviceName"),
            issuer: text(&obj, "issuer"),
            ..Self::default()
        };
        if let Some(Value::Array(list)) = get(&obj, "allowedAudiences") {
            doc.allowed_audiences = list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        }
        if let Some(Value::Array(list)) = get(&obj, "endpoints") {
            doc.endpoints = list
                .iter()
                .filter_map(Value::as_object)
                .map(|e| Endpoint {
                    location: text(e, "location").unwrap_or_default(),
                    protocol: text(e, "protocol").unwrap_or_default(),
                    usage: text(e, "usage").unwrap_or_default(),
                })
                .collect();
        }
        if let Some(Value::Array(list)) = get(&obj, "keys") {
            for (i, entry) in list.iter().enumerate() {
                if let Some(key) = read_key(entry).map_err(|reason| MetadataError::BadKey { index: i + 1, reason })? {
                    doc.keys.push(key);
                }
            }
        }
        Ok(doc)
    }

    /// The issuing principal: `issuer`, or else `serviceName@realm`.
    pub fn issuer_principal(&self) -> Result<Principal, MetadataError> {
        match (&self.issuer, &self.service_name, &self.realm) {
            (Some(iss), _, _) => Principal::parse(iss).map_err(|_| MetadataError::InvalidIssuer(iss.clone())),
            (None, Some(app), Some(realm)) if !app.is_empty() && !realm.is_empty() => Ok(Principal::new(app, realm)),
            _ => Err(MetadataError::MissingIssuer),
        }
    }

    /// Checks what a partner registration needs: an issuer, signing keys that parse, and at least one
    /// that has not expired at `now`. Expired keys are dropped.
    pub fn check(&self, now: UnixTime) -> Result<CheckedMetadata, MetadataError> {
        let issuer = self.issuer_principal()?;
        let signing: Vec<&MetadataKey> = self.keys.iter().filter(|k| k.usage == "signing").collect();
        if signing.is_empty() {
            return Err(MetadataError::NoKeys);
        }
        let mut keys = Vec::new();
        let mut certificates = Vec::new();
        let mut latest = UnixTime::MIN;
        for (i, k) in signing.iter().enumerate() {
            let key = VerifyingKey::from_certificate(&k.certificate)
                .map_err(|e: KeyError| MetadataError::BadKey { index: i + 1, reason: e.to_string() })?;
            latest = latest.max(key.not_after());
            if key.not_after() > now {
                certificates.push(k.certificate.clone());
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(MetadataError::AllKeysExpired { latest });
        }
        Ok(CheckedMetadata { issuer, name: self.name.clone(), keys, certificates })
    }

    /// The location of the first endpoint with protocol `OAuth2` and a usage other than `metadata`
    /// (an authorization server's token endpoint).
    pub fn token_endpoint(&self) -> Option<&str> {
        self.endpoints
            .iter()
            .find(|e| e.protocol.eq_ignore_ascii_case(PROTOCOL_OAUTH2) && !e.usage.eq_ignore_ascii_case("metadata"))
            .map(|e| e.location.as_str())
    }

    /// The canonical JSON: Exchange's superset form, keys with both `keyinfo.x5t` and `keyvalue`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Doc<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a str>,
            version: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            name: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            realm: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            service_name: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            issuer: Option<&'a str>,
            allowed_audiences: &'a [String],
            keys: Vec<Key<'a>>,
            endpoints: &'a [Endpoint],
        }
        #[derive(Serialize)]
        struct Key<'a> {
            usage: &'a str,
            keyinfo: KeyInfo<'a>,
            keyvalue: KeyValue,
        }
        #[derive(Serialize)]
        struct KeyInfo<'a> {
            x5t: &'a str,
        }
        #[derive(Serialize)]
        struct KeyValue {
            #[serde(rename = "type")]
            kind: &'static str,
            value: String,
        }
        let doc = Doc {
            id: self.id.as_deref(),
            version: self.version.as_deref().unwrap_or("1.0"),
            name: self.name.as_deref(),
            realm: self.realm.as_deref(),
            service_name: self.service_name.as_deref(),
            issuer: self.issuer.as_deref(),
            allowed_audiences: &self.allowed_audiences,
            keys: self
                .keys
                .iter()
                .map(|k| Key {
                    usage: "signing",
                    keyinfo: KeyInfo { x5t: &k.x5t },
                    keyvalue: KeyValue { kind: "x509Certificate", value: STANDARD.encode(&k.certificate) },
                })
                .collect(),
            endpoints: &self.endpoints,
        };
        serde_json::to_string(&doc).unwrap_or_default()
    }
}

impl MetadataKey {
    /// A signing key entry for a DER certificate.
    pub fn signing(certificate: Vec<u8>) -> Self {
        Self { usage: "signing".into(), x5t: thumbprint::x5t(&certificate), certificate }
    }
}

/// Case-insensitive member lookup.
fn get<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

fn text(obj: &Map<String, Value>, name: &str) -> Option<String> {
    get(obj, name).and_then(Value::as_str).map(str::to_owned)
}

/// Reads one key entry; `Ok(None)` for entries that are not X.509 certificates (ignored).
fn read_key(entry: &Value) -> Result<Option<MetadataKey>, String> {
    let obj = entry.as_object().ok_or("not an object")?;
    let usage = text(obj, "usage").unwrap_or_else(|| "signing".into()).to_ascii_lowercase();
    let value = get(obj, "keyValue").and_then(Value::as_object).ok_or("no keyvalue")?;
    let kind = text(value, "type").unwrap_or_default();
    if !kind.eq_ignore_ascii_case("x509Certificate") {
        return Ok(None);
    }
    let b64: String = text(value, "value").ok_or("keyvalue has no value")?.split_whitespace().collect();
    let certificate = LENIENT_STANDARD.decode(&b64).map_err(|_| "keyvalue.value is not base64".to_owned())?;
    let computed = thumbprint::x5t(&certificate);
    let x5t = match get(obj, "keyInfo").and_then(Value::as_object).and_then(|i| text(i, "x5t")) {
        Some(given) if thumbprint::normalize_x5t(&given) != computed => {
            return Err(format!("keyinfo.x5t `{given}` is not the thumbprint of the certificate ({computed})"));
        }
        _ => computed,
    };
    Ok(Some(MetadataKey { usage, x5t, certificate }))
}
