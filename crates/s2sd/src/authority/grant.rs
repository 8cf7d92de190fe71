//! The token endpoint's decision, pure: a [`TokenRequest`], the authority's configuration
//! [`Snapshot`] and the time decide whether a [`Grant`] is made — which client (by its secret or a
//! signed assertion), for which resource (a service principal with a matching SPN) — or which
//! [`OAuthError`] refuses it.
//!
//! It does no I/O, reads no clock, knows nothing of HTTP, signs nothing and reuses nothing: the
//! handler (`endpoint.rs`) reads the request, takes the time, signs or reuses a token for the
//! grant and answers. The one memory it touches is the replay memory it is handed
//! ([`SeenAssertions`]), where an assertion is spent once its signature, audience and dates hold,
//! before the resource is looked at. It never logs.
//!
//! Refusals never repeat a value of the request unless it is a word of a fixed vocabulary (a grant
//! type OAuth defines) or passed a strict check (a client id that is a GUID, a realm that is a
//! GUID or a DNS name, a resource that parsed as `<GUID>/<host>@<realm>`): a client that puts its
//! secret in the wrong field, or a line break in a value to forge a log line, finds neither
//! repeated in the answer nor in the log (see `error.rs`).

use std::sync::Arc;

use s2s::clock::UnixTime;
use s2s::principal::{ACS, Principal};
use s2s::token::{Assertion, AssertionError};

use super::error::{ErrorCode, OAuthError, is_dns_name, is_realm, malformed, missing};
use super::request::TokenRequest;
use super::{ASSERTION_SKEW, ServicePrincipal, Snapshot, Spn, Tenant};

/// The grant type of the legacy (pre-RFC 7523) JWT bearer assertion Exchange and Lync send.
pub const GRANT_JWT_BEARER_LEGACY: &str = "http://oauth.net/grant_type/jwt/1.0/bearer";
/// `client_credentials`.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// RFC 7523's `client_assertion_type`.
pub const CLIENT_ASSERTION_TYPE_JWT: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Grant types OAuth defines that this endpoint does not support: named back when refused.
const OTHER_GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "password",
    "refresh_token",
    "implicit",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:saml2-bearer",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:uma-ticket",
];
/// Client assertion types OAuth defines that this endpoint does not support: named back when refused.
const OTHER_ASSERTION_TYPES: &[&str] = &["urn:ietf:params:oauth:client-assertion-type:saml2-bearer"];

/// What a granted request gets a token for.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The authenticated client.
    pub client: Arc<ServicePrincipal>,
    /// The resource as the client named it (answered back as it is).
    pub resource: String,
    /// The token's audience: `<app id>/<host>@<realm>`, normalised.
    pub audience: Principal,
    /// For an assertion: what the store must record before the grant is answered.
    pub spend: Option<Spend>,
}

/// What the request was made to: for assertion audiences and messages.
#[derive(Debug, Clone)]
pub struct Target {
    /// `scheme://host[:port]/path` as the client saw it.
    pub url: String,
    /// With the query, when there was one.
    pub url_with_query: Option<String>,
    /// The request's `host[:port]`.
    pub authority: String,
}

/// An assertion this node has not seen, to be spent in the store (every node's memory, across
/// restarts) before the grant is answered: the handler does that I/O, this module does none.
#[derive(Debug, Clone)]
pub struct Spend {
    /// Names the tenant, the client and the assertion (its jti, or its digest without one).
    pub key: String,
    /// When the assertion can no longer be accepted: its expiry plus the allowed skew.
    pub until: UnixTime,
    /// `app@realm`, for the refusal.
    client: String,
    /// The refusal's error code (as for every other failure of this assertion).
    failure: ErrorCode,
}

impl Spend {
    /// The refusal of an assertion the store says was spent before (by any node).
    pub fn replayed(&self) -> OAuthError {
        replayed(self.failure, &self.client)
    }
}

/// The refusal of an assertion presented before.
fn replayed(failure: ErrorCode, client: &str) -> OAuthError {
    OAuthError::new(
        failure,
        50013,
        format!(
            "this assertion of {client} was presented before: assertions are single-use, sign a new one for each request (with a fresh jti)"
        ),
    )
}

/// Where assertions are remembered so that each is accepted once.
pub trait SeenAssertions {
    /// Records the assertion `key` (valid until `expires_at`); true when it was seen before and
    /// has not expired at `now`.
    fn replayed(&self, key: &str, expires_at: UnixTime, now: UnixTime) -> bool;
}

/// How the client authenticates.
enum ClientAuth<'a> {
    Secret {
        client_id: &'a str,
        secret: &'a str,
    },
    /// A signed assertion: RFC 7523 `client_assertion` (failures are `invalid_client`) or the legacy
    /// bearer assertion, which is the grant itself (failures are `invalid_grant`).
    Assertion {
        client_id: Option<&'a str>,
        assertion: &'a str,
        failure: ErrorCode,
    },
}

/// Decides `req` to `tenant` (of `snapshot`) at `now`: authenticates the client, then checks the
/// resource. `target` (what the request was made to) is built only for assertions, whose audience
/// it is; assertions are spent in `seen`.
pub fn decide(
    snapshot: &Snapshot,
    tenant: &Tenant,
    req: &TokenRequest,
    target: &dyn Fn() -> Target,
    now: UnixTime,
    seen: &dyn SeenAssertions,
) -> Result<Grant, OAuthError> {
    let (client, spend) = match client_auth(req)? {
        ClientAuth::Secret { client_id, secret } => {
            let app = client_app_id(client_id, tenant)?;
            let principal = client_principal(tenant, &app)?;
            check_secret(snapshot, &principal, secret, &tenant.realm, now)?;
            (principal, None)
        }
        ClientAuth::Assertion { client_id, assertion, failure } => {
            let (principal, spend) = check_assertion(seen, tenant, client_id, assertion, &target(), now, failure)?;
            (principal, Some(spend))
        }
    };
    let (resource, audience) = resource(req, tenant)?;
    Ok(Grant { client, resource, audience, spend })
}

fn client_auth(req: &TokenRequest) -> Result<ClientAuth<'_>, OAuthError> {
    let grant = req.grant_type.as_deref().ok_or_else(|| {
        missing(format!(
            "the request has no grant_type: use {GRANT_CLIENT_CREDENTIALS} (client secret or client_assertion) or {GRANT_JWT_BEARER_LEGACY} (assertion)"
        ))
    })?;
    if grant.eq_ignore_ascii_case(GRANT_CLIENT_CREDENTIALS) {
        return match (&req.client_assertion, &req.client_secret) {
            (Some(_), Some(_)) => {
                Err(malformed("the request carries both client_secret and client_assertion: use one"))
            }
            (Some(assertion), None) => {
                let kind = req.client_assertion_type.as_deref().unwrap_or_default();
                if !kind.eq_ignore_ascii_case(CLIENT_ASSERTION_TYPE_JWT) {
                    let it = match kind {
                        "" => "it is missing".to_owned(),
                        k if OTHER_ASSERTION_TYPES.iter().any(|t| t.eq_ignore_ascii_case(k)) => format!("it is `{k}`"),
                        _ => "it is not a type this server knows".to_owned(),
                    };
                    return Err(malformed(format!("client_assertion_type must be {CLIENT_ASSERTION_TYPE_JWT} ({it})")));
                }
                Ok(ClientAuth::Assertion {
                    client_id: req.client_id.as_deref(),
                    assertion,
                    failure: ErrorCode::InvalidClient,
                })
            }
            (None, Some(secret)) => {
                let client_id = req
                    .client_id
                    .as_deref()
                    .ok_or_else(|| missing("the request has a client_secret but no client_id"))?;
                Ok(ClientAuth::Secret { client_id, secret })
            }
            (None, None) => Err(OAuthError::new(
                ErrorCode::InvalidClient,
                7000216,
                "the request carries no client credential: send client_secret (s2sd service-principal credential add --type symmetric) or client_assertion with client_assertion_type (--type asymmetric)",
            )),
        };
    }
    if grant.eq_ignore_ascii_case(GRANT_JWT_BEARER_LEGACY) {
        if req.client_secret.is_some() || req.client_assertion.is_some() {
            return Err(malformed(format!(
                "grant_type {GRANT_JWT_BEARER_LEGACY} authenticates by its assertion; drop client_secret / client_assertion"
            )));
        }
        let assertion = req
            .assertion
            .as_deref()
            .ok_or_else(|| missing(format!("grant_type {GRANT_JWT_BEARER_LEGACY} needs an assertion")))?;
        return Ok(ClientAuth::Assertion {
            client_id: req.client_id.as_deref(),
            assertion,
            failure: ErrorCode::InvalidGrant,
        });
    }
    let which = match OTHER_GRANT_TYPES.iter().find(|t| t.eq_ignore_ascii_case(grant)) {
        Some(known) => format!("grant_type `{known}` is not supported here"),
        None => "the grant_type is not one this server supports".to_owned(),
    };
    Err(OAuthError::new(
        ErrorCode::UnsupportedGrantType,
        70003,
        format!(
            "{which}: use {GRANT_CLIENT_CREDENTIALS} or {GRANT_JWT_BEARER_LEGACY} (and separate the form's fields with &)"
        ),
    ))
}

/// `<id>@<realm>` or bare `<id>` → the lower-case app id, a GUID (every service principal's is); the
/// realm, if any, must be the tenant's. Values are shown only once they are a GUID / a realm.
fn client_app_id(client_id: &str, tenant: &Tenant) -> Result<String, OAuthError> {
    let t = &tenant.realm;
    let (app, realm) = match client_id.rsplit_once('@') {
        Some((app, realm)) => (app, Some(realm)),
        None => (client_id, None),
    };
    let app = app.trim().to_ascii_lowercase();
    if app.is_empty() {
        return Err(missing("client_id names no application id"));
    }
    if !s2s::principal::is_guid(&app) {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            700016,
            format!(
                "the client id is not an application id: send <application id GUID> or <application id>@{t} (s2sd service-principal list --tenant {t})"
            ),
        ));
    }
    if let Some(realm) = realm
        && !realm.eq_ignore_ascii_case(t)
    {
        let text = if is_realm(realm) {
            format!(
                "client {app}@{realm} belongs to realm {realm}, but this is the token endpoint of tenant {t}: send it to /{realm}/tokens/OAuth/2, or use client_id {app}@{t}"
            )
        } else {
            format!(
                "the client id names another realm than this tenant's ({t}): use client_id {app}@{t}, or the token endpoint of the client's tenant"
            )
        };
        return Err(OAuthError::new(ErrorCode::InvalidClient, 700016, text));
    }
    Ok(app)
}

fn client_principal(tenant: &Tenant, app: &str) -> Result<Arc<ServicePrincipal>, OAuthError> {
    let realm = &tenant.realm;
    let principal = tenant.principals.get(app).cloned().ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidClient,
            700016,
            format!(
                "unknown client {app}@{realm}: tenant {realm} has no service principal with this app id (s2sd service-principal new --tenant {realm} --app-id {app} --display-name NAME)"
            ),
        )
    })?;
    if !principal.enabled {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            7000112,
            format!(
                "service principal {app}@{realm} ({}) is disabled (s2sd service-principal set --tenant {realm} --app-id {app} --enabled true)",
                principal.display_name
            ),
        ));
    }
    Ok(principal)
}

fn check_secret(
    snapshot: &Snapshot,
    principal: &ServicePrincipal,
    secret: &str,
    realm: &str,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let app = &principal.app_id;
    // Only refusals name the command; a granted request does not format it.
    let add = || format!("s2sd service-principal credential add --tenant {realm} --app-id {app} --type symmetric");
    if principal.secrets.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            7000215,
            format!("service principal {app}@{realm} has no client secret ({})", add()),
        ));
    }
    let credential = snapshot.matching_secret(principal, secret).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidClient,
            7000215,
            format!(
                "invalid client secret for {app}@{realm}: it matches none of its {} secret(s); secrets are shown only once, so add a new one if it is lost ({})",
                principal.secrets.len(),
                add()
            ),
        )
    })?;
    credential_dates(
        "client secret",
        &credential.id,
        credential.start_at,
        credential.end_at,
        app,
        realm,
        now,
        &add,
        ErrorCode::InvalidClient,
    )
}

/// Checks a credential's start and end dates.
#[allow(clippy::too_many_arguments)]
fn credential_dates(
    what: &str,
    id: &str,
    start: UnixTime,
    end: UnixTime,
    app: &str,
    realm: &str,
    now: UnixTime,
    add: &dyn Fn() -> String,
    error: ErrorCode,
) -> Result<(), OAuthError> {
    if now < start {
        return Err(OAuthError::new(
            error,
            7000222,
            format!(
                "the {what} {id} of {app}@{realm} is not yet valid: it starts at {} (see s2sd service-principal credential list --tenant {realm} --app-id {app})",
                crate::timestamp::rfc3339(start)
            ),
        ));
    }
    if now > end {
        return Err(OAuthError::new(
            error,
            7000222,
            format!(
                "the {what} {id} of {app}@{realm} expired at {} ({}; then s2sd service-principal credential remove --tenant {realm} --app-id {app} --id {id})",
                crate::timestamp::rfc3339(end),
                add()
            ),
        ));
    }
    Ok(())
}

/// Verifies a client assertion (or a legacy grant assertion): its client, signature, audience,
/// lifetime, credential dates and that this node has not seen it before; returns the principal and
/// the assertion to spend in the store. Failures are `error`.
fn check_assertion(
    seen: &dyn SeenAssertions,
    tenant: &Tenant,
    client_id: Option<&str>,
    token: &str,
    target: &Target,
    now: UnixTime,
    error: ErrorCode,
) -> Result<(Arc<ServicePrincipal>, Spend), OAuthError> {
    let realm = &tenant.realm;
    let fail = |number: u32, text: String| OAuthError::new(error, number, text);
    let assertion =
        Assertion::decode(token).map_err(|e| fail(50027, format!("the assertion is unusable: {}", described(&e))))?;
    let claimed = assertion
        .claims
        .iss
        .clone()
        .or_else(|| assertion.claims.sub.clone())
        .ok_or_else(|| fail(50027, "the assertion has no iss (the client, <app id>@<realm>)".into()))?;
    let app = client_app_id(&claimed, tenant)?;
    if let Some(id) = client_id {
        let given = client_app_id(id, tenant)?;
        if given != app {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                700021,
                format!("client_id {given} differs from the assertion's issuer {app}"),
            ));
        }
    }
    let principal = client_principal(tenant, &app)?;
    // Only refusals name the command, as in check_secret.
    let add = || {
        format!(
            "s2sd service-principal credential add --tenant {realm} --app-id {app} --type asymmetric --usage verify --certificate FILE"
        )
    };
    let keys = principal.assertion_keys();
    if keys.is_empty() {
        return Err(fail(
            700027,
            format!("service principal {app}@{realm} has no certificate to verify assertions with ({})", add()),
        ));
    }
    let (host, _) = s2s::principal::split_authority(&target.authority);
    let mut audiences = vec![target.url.clone()];
    audiences.extend(target.url_with_query.clone());
    audiences.push(format!("{ACS}/{host}@{realm}"));
    if host != target.authority {
        audiences.push(format!("{ACS}/{}@{realm}", target.authority));
    }
    let verified =
        assertion.verify(&format!("{app}@{realm}"), &keys, &audiences, now, ASSERTION_SKEW).map_err(|e| {
            let number = match e {
                AssertionError::Expired(_) | AssertionError::NotYetValid(_) | AssertionError::MissingExpiry => 700024,
                AssertionError::LifetimeTooLong { .. } | AssertionError::WrongAudience { .. } => 50013,
                _ => 700027,
            };
            let fix = match &e {
                AssertionError::UnknownCertificate { .. } => format!(" ({})", add()),
                AssertionError::LifetimeTooLong { .. } => {
                    " (sign assertions that expire within minutes: Exchange uses 10 min)".to_owned()
                }
                AssertionError::WrongAudience { .. } => format!(" (set aud to {})", target.url),
                _ => String::new(),
            };
            fail(number, format!("{}{fix}", described(&e)))
        })?;
    if let Some(c) = principal.certificate(&verified.x5t) {
        credential_dates("certificate", &c.id, c.start_at, c.end_at, &app, realm, now, &add, error)?;
    }
    let replay_key = format!("{realm}|{app}|{}", verified.replay_key);
    let client = format!("{app}@{realm}");
    if seen.replayed(&replay_key, verified.expires_at, now) {
        return Err(replayed(error, &client));
    }
    let until = verified.expires_at.saturating_add(ASSERTION_SKEW);
    Ok((principal, Spend { key: replay_key, until, client, failure: error }))
}

/// An assertion refusal in words that repeat nothing the assertion says (its header's thumbprint and
/// alg, its aud, what the JSON parser quoted): our own facts and numbers only.
fn described(e: &AssertionError) -> String {
    use s2s::token::TokenError;
    match e {
        AssertionError::Malformed(TokenError::Json { part, .. }) => {
            format!("the assertion is malformed: its {part} is not the JSON of a JWT")
        }
        AssertionError::UnknownCertificate { client, .. } => format!(
            "no certificate registered for {client} matches the assertion's header (its x5t, x5t#S256 or kid, with its alg: RS256 or PS256)"
        ),
        AssertionError::WrongAudience { .. } => "the assertion's audience (aud) is not this token endpoint".to_owned(),
        other => other.to_string(),
    }
}

/// The resource as requested and as the audience: `resource`, else the `scope` (with any
/// `/.default` suffix removed); `<appId>/<host>[@<realm>]`, the realm the tenant's.
fn resource(req: &TokenRequest, tenant: &Tenant) -> Result<(String, Principal), OAuthError> {
    let realm = &tenant.realm;
    let from_scope = req.scope.as_deref().and_then(|s| {
        s.split_whitespace()
            .find(|s| !matches!(*s, "openid" | "profile" | "offline_access" | "email"))
            .map(|s| s.strip_suffix("/.default").unwrap_or(s).to_owned())
    });
    let requested = req.resource.clone().or_else(|| from_scope.clone()).ok_or_else(|| {
        missing(format!(
            "the request names no resource: send resource=<app id>/<host>@{realm} (or scope=<app id>/<host>@{realm}/.default)"
        ))
    })?;
    let audience = parse_resource(&requested, tenant)?;
    if req.resource.is_some()
        && let Some(scope) = &from_scope
        && let Ok(other) = parse_resource(scope, tenant)
        && other != audience
    {
        return Err(malformed(format!("resource {requested} and scope {scope} name different resources: send one")));
    }
    let app = &audience.app_id;
    let host = audience.host.clone().unwrap_or_default();
    let principal = tenant.principals.get(app).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidResource,
            500011,
            format!(
                "no service principal {app}@{realm} for resource {requested} (s2sd service-principal new --tenant {realm} --app-id {app} --display-name NAME --spn {app}/{host})"
            ),
        )
    })?;
    if !principal.enabled {
        return Err(OAuthError::new(
            ErrorCode::InvalidResource,
            500014,
            format!(
                "the resource's service principal {app}@{realm} ({}) is disabled (s2sd service-principal set --tenant {realm} --app-id {app} --enabled true)",
                principal.display_name
            ),
        ));
    }
    if principal.spn_for(&host).is_none() {
        let known: Vec<String> = principal.spns.iter().map(Spn::text).collect();
        return Err(OAuthError::new(
            ErrorCode::InvalidResource,
            500011,
            format!(
                "service principal {app}@{realm} has no service principal name for host {host} (it has {}): s2sd service-principal spn add --tenant {realm} --app-id {app} --spn {app}/{host}",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ),
        ));
    }
    Ok((requested, audience))
}

fn parse_resource(text: &str, tenant: &Tenant) -> Result<Principal, OAuthError> {
    let realm = &tenant.realm;
    // The value is the client's: it is never repeated here, and what passes is a GUID, a host name
    // and this tenant's realm, safe to name in later refusals.
    let invalid = |why: &str| {
        OAuthError::new(
            ErrorCode::InvalidResource,
            500011,
            format!("the resource (resource or scope) {why}: this authority issues for <app id>/<host>@{realm}"),
        )
    };
    if text.contains("://") {
        return Err(invalid("is a URL"));
    }
    let full = if text.contains('@') { text.to_owned() } else { format!("{text}@{realm}") };
    let p = Principal::parse(&full).map_err(|_| invalid("is not of the form <app id>/<host>@<realm>"))?;
    let Some(authority) = p.host.as_deref() else { return Err(invalid("names no host")) };
    if !s2s::principal::is_guid(&p.app_id) {
        return Err(invalid("names no application id (a GUID)"));
    }
    let (host, port) = s2s::principal::split_authority(authority);
    if !is_dns_name(host) || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid("names no host name"));
    }
    if !p.realm.eq_ignore_ascii_case(realm) {
        let which = if is_realm(&p.realm) { format!("is in realm {}", p.realm) } else { "is in another realm".into() };
        return Err(invalid(&format!("{which}, not in this tenant's")));
    }
    Ok(p)
}
