//! Names of principals: application ids, realms and the `<app-id>[/<host>]@<realm>` form used in
//! `aud`, `iss` and `nameid`, plus the well-known application ids of the products.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Azure ACS, the authorization server.
pub const ACS: &str = "00000001-0000-0000-c000-000000000000";
/// Azure AD / evoSTS issuer id.
pub const EVOSTS: &str = "00000001-0001-0000-c000-000000000000";
/// Exchange (on-premises and Online).
pub const EXCHANGE: &str = "00000002-0000-0ff1-ce00-000000000000";
/// SharePoint.
pub const SHAREPOINT: &str = "00000003-0000-0ff1-ce00-000000000000";
/// Lync / Skype for Business.
pub const LYNC: &str = "00000004-0000-0ff1-ce00-000000000000";

/// Why a principal name could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrincipalError {
    /// No `@` separating the realm.
    #[error("`{0}` has no `@<realm>` part")]
    MissingRealm(String),
    /// The part before `@` (or `/`) is empty.
    #[error("`{0}` has an empty application id")]
    EmptyAppId(String),
    /// The realm after `@` is empty.
    #[error("`{0}` has an empty realm")]
    EmptyRealm(String),
    /// The host after `/` is empty.
    #[error("`{0}` has an empty host after `/`")]
    EmptyHost(String),
    /// The service name is neither a known product nor a GUID.
    #[error("`{0}` is not a service name: use exchange, sharepoint, lync, skype or an application id GUID")]
    UnknownServiceName(String),
    /// A value that must be a GUID is not one.
    #[error("`{0}` is not a GUID (expected 8-4-4-4-12 hex digits)")]
    NotAGuid(String),
}

/// A parsed `<app-id>[/<host>]@<realm>`. Ids and realms are compared case-insensitively and kept
/// in lower case; the host keeps its port when it has one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    /// The application id (usually a GUID).
    pub app_id: String,
    /// The host authority (`host[:port]`) for audiences; absent for issuers and name ids.
    pub host: Option<String>,
    /// The realm; `*` means any realm.
    pub realm: String,
}

impl Principal {
    /// A principal without a host: `<app-id>@<realm>`.
    pub fn new(app_id: &str, realm: &str) -> Self {
        Self { app_id: app_id.to_ascii_lowercase(), host: None, realm: realm.to_ascii_lowercase() }
    }

    /// An audience: `<app-id>/<host>@<realm>`.
    pub fn audience(app_id: &str, host: &str, realm: &str) -> Self {
        Self {
            app_id: app_id.to_ascii_lowercase(),
            host: Some(host.to_ascii_lowercase()),
            realm: realm.to_ascii_lowercase(),
        }
    }

    /// Parses `<app-id>[/<host>]@<realm>`: the realm follows the **last** `@`, the host the **first** `/`.
    pub fn parse(s: &str) -> Result<Self, PrincipalError> {
        let (left, realm) = s.rsplit_once('@').ok_or_else(|| PrincipalError::MissingRealm(s.to_owned()))?;
        if realm.is_empty() {
            return Err(PrincipalError::EmptyRealm(s.to_owned()));
        }
        let (app_id, host) = match left.split_once('/') {
            Some((_, "")) => return Err(PrincipalError::EmptyHost(s.to_owned())),
            Some((app, host)) => (app, Some(host.to_ascii_lowercase())),
            None => (left, None),
        };
        if app_id.is_empty() {
            return Err(PrincipalError::EmptyAppId(s.to_owned()));
        }
        Ok(Self { app_id: app_id.to_ascii_lowercase(), host, realm: realm.to_ascii_lowercase() })
    }

    /// True when the realm is `*` (any realm).
    pub fn any_realm(&self) -> bool {
        self.realm == "*"
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{}/{}@{}", self.app_id, host, self.realm),
            None => write!(f, "{}@{}", self.app_id, self.realm),
        }
    }
}

/// Turns a service name as admins type it (`exchange`, `sharepoint`, `lync`, `skype`, or a GUID)
/// into the application id, lower case.
pub fn service_app_id(name: &str) -> Result<String, PrincipalError> {
    match name.to_ascii_lowercase().as_str() {
        "exchange" => Ok(EXCHANGE.to_owned()),
        "sharepoint" => Ok(SHAREPOINT.to_owned()),
        "lync" | "skype" | "skypeforbusiness" => Ok(LYNC.to_owned()),
        other if is_guid(other) => Ok(other.to_owned()),
        _ => Err(PrincipalError::UnknownServiceName(name.to_owned())),
    }
}

/// The product name of a well-known application id, for messages.
pub fn product_name(app_id: &str) -> Option<&'static str> {
    match app_id.to_ascii_lowercase().as_str() {
        ACS => Some("Azure ACS"),
        EVOSTS => Some("Azure AD"),
        EXCHANGE => Some("Exchange"),
        SHAREPOINT => Some("SharePoint"),
        LYNC => Some("Skype for Business"),
        _ => None,
    }
}

/// Checks a GUID in its 8-4-4-4-12 form (any case) and returns it in lower case.
pub fn parse_guid(s: &str) -> Result<String, PrincipalError> {
    if is_guid(s) { Ok(s.to_ascii_lowercase()) } else { Err(PrincipalError::NotAGuid(s.to_owned())) }
}

/// True for the 8-4-4-4-12 hex form.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Splits `host[:port]` (or `[v6]:port`) into the host name and the optional port.
pub fn split_authority(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        return (host, after.strip_prefix(':'));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|c| c.is_ascii_digit()) => (host, Some(port)),
        _ => (authority, None),
    }
}

/// Compares an audience host with a request authority: host names case-insensitively, ports only
/// when both sides carry one (callers put hosts in `aud` with or without the port).
pub fn authority_matches(audience_host: &str, authority: &str) -> bool {
    let (a_host, a_port) = split_authority(audience_host);
    let (b_host, b_port) = split_authority(authority);
    a_host.eq_ignore_ascii_case(b_host)
        && match (a_port, b_port) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_audience_at_last_at_and_first_slash() {
        let p = Principal::parse("00000003-0000-0FF1-ce00-000000000000/sp.contoso.com:443/x@a@Realm.com").unwrap();
        assert_eq!(p.app_id, SHAREPOINT);
        assert_eq!(p.host.as_deref(), Some("sp.contoso.com:443/x@a"));
        assert_eq!(p.realm, "realm.com");
        assert_eq!(Principal::parse("a@*").unwrap().to_string(), "a@*");
    }

    #[test]
    fn rejects_bad_principals() {
        assert!(matches!(Principal::parse("abc"), Err(PrincipalError::MissingRealm(_))));
        assert!(matches!(Principal::parse("abc@"), Err(PrincipalError::EmptyRealm(_))));
        assert!(matches!(Principal::parse("@r"), Err(PrincipalError::EmptyAppId(_))));
        assert!(matches!(Principal::parse("/h@r"), Err(PrincipalError::EmptyAppId(_))));
        assert!(matches!(Principal::parse("a/@r"), Err(PrincipalError::EmptyHost(_))));
    }

    #[test]
    fn service_names() {
        assert_eq!(service_app_id("Exchange").unwrap(), EXCHANGE);
        assert_eq!(service_app_id("skype").unwrap(), LYNC);
        assert_eq!(
            service_app_id("C3AB8885-458F-4864-8804-1608145E2AC4").unwrap(),
            "c3ab8885-458f-4864-8804-1608145e2ac4"
        );
        assert!(service_app_id("exchnage").is_err());
    }

    #[test]
    fn authorities() {
        assert!(authority_matches("Host.example:8443", "host.example:8443"));
        assert!(authority_matches("host.example", "host.example:8443"));
        assert!(!authority_matches("host.example:1", "host.example:2"));
        assert!(!authority_matches("other.example", "host.example"));
        assert_eq!(split_authority("[::1]:80"), ("::1", Some("80")));
        assert_eq!(split_authority("127.0.0.1"), ("127.0.0.1", None));
    }
}
