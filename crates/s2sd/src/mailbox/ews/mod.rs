//! `POST /EWS/Exchange.asmx`: the EWS subset real clients need (GetFolder, FindItem, GetItem,
//! CreateItem, UpdateItem, DeleteItem) over SOAP 1.1, behind the S2S validator.
//!
//! Order of checks, as Exchange answers them: the caller's identity (401 with the Bearer
//! challenge and `x-ms-diagnostics` 6001/6002 when an act-as user or a linked account does not
//! resolve), then the body (size limit before parsing, no DTD), the envelope and the operation
//! (SOAP faults: `ErrorSchemaValidation`, `ErrorInvalidOperation` naming an unsupported
//! operation), then impersonation (`ErrorImpersonateUserDenied`, `ErrorNonExistentMailbox`
//! faults), then the operation with one response message per folder or item. Every answer
//! carries the `ServerVersionInfo` header. Request bodies are logged at debug level; tokens never.
//!
//! The role owns its state: [`EwsState`] is what the handler needs (the mailbox store, the trust
//! snapshot for challenges, the validator, the clock); the server composing the roles hands it
//! over with axum's `FromRef`.

pub mod fault;
pub mod request;
pub mod soap;
pub mod writer;

mod ops;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use s2s::clock::SharedClock;
use s2s::middleware::{Caller, S2sAuth, S2sLayer, unresolved_caller_response};
use s2s::partner::TrustStore;

pub use self::fault::{EwsError, Fault, ResponseCode};
use self::request::{Operation, Request, UserId};
use crate::mailbox::{self, AccessError, MailboxError, PrincipalError, Session};
use crate::store::StoreError;
use crate::store::mailbox::MailboxStore;

/// The paths EWS is served at (IIS matches them case-insensitively; these are the spellings clients use).
pub const PATHS: [&str; 4] = ["/EWS/Exchange.asmx", "/ews/exchange.asmx", "/EWS/exchange.asmx", "/ews/Exchange.asmx"];

/// What the EWS handler needs.
#[derive(Clone)]
pub struct EwsState {
    /// Mailbox users, folders, items and role assignments.
    pub mailbox: Arc<dyn MailboxStore>,
    /// Who we are and whom we trust (the challenge of a 401).
    pub trust: Arc<TrustStore>,
    /// Validates inbound tokens (the layer in front of the handler).
    pub auth: S2sAuth,
    /// Time.
    pub clock: SharedClock,
}

/// The EWS routes, behind the validator, over any state the [`EwsState`] can be taken from.
/// EWS enforces its own body limit (answered with a SOAP fault), so no general limit goes in front.
pub fn router<S>(state: &EwsState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    EwsState: FromRef<S>,
{
    let mut ews = Router::new();
    for path in PATHS {
        ews = ews.route(path, post(handle));
    }
    ews.layer(S2sLayer::new(state.auth.clone()))
}

/// The handler (behind `S2sLayer`: `Caller` answers the challenge when there is no token).
pub async fn handle(State(state): State<EwsState>, Caller(caller): Caller, headers: HeaderMap, body: Body) -> Response {
    let store = &state.mailbox;
    let principal = match mailbox::principal_of(store, &caller).await {
        Ok(p) => p,
        Err(PrincipalError::Identity(e)) => {
            tracing::info!(partner = %caller.partner, reason = e.reason(), code = e.code(), detail = %e, "EWS caller refused");
            metrics::counter!("s2s_ews_refused_total", "reason" => e.reason()).increment(1);
            return unresolved_caller_response(&state.trust.load(), e.code(), &e.to_string(), e.category());
        }
        Err(PrincipalError::Store(e)) => return internal(&e),
    };
    let bytes = match read_body(&headers, body).await {
        Ok(b) => b,
        Err(fault) => return fault.into_response(),
    };
    tracing::debug!(partner = %caller.partner, body = %String::from_utf8_lossy(&bytes), "EWS request");
    let request = match parse(&bytes) {
        Ok(r) => r,
        Err(fault) => {
            tracing::info!(partner = %caller.partner, code = fault.code, detail = %fault.text, "EWS request refused");
            return fault.into_response();
        }
    };
    let op = request.operation.name().to_owned();
    let session = match open_session(store, principal, &request, &headers).await {
        Ok(s) => s,
        Err(Ok(fault)) => {
            tracing::info!(partner = %caller.partner, operation = %op, code = fault.code, detail = %fault.text, "EWS mailbox refused");
            return fault.about(&op).into_response();
        }
        Err(Err(e)) => return internal(&e),
    };
    let ctx = ops::Ctx { store, session: &session, now: state.clock.now() };
    let Some(result) = ops::run(&ctx, &request.operation).await else {
        return unsupported(&op).into_response();
    };
    match result {
        Ok(body) => {
            tracing::debug!(partner = %caller.partner, operation = %op, mailbox = %session.mailbox.smtp, "EWS request served");
            metrics::counter!("s2s_ews_requests_total", "operation" => op).increment(1);
            xml_response(StatusCode::OK, writer::envelope(&body))
        }
        Err(e) => internal(&e.0),
    }
}

/// Parses a request body into a typed request, or the fault for it (size, DTD, envelope, schema,
/// unsupported operation).
pub fn parse(body: &[u8]) -> Result<Request, Fault> {
    let envelope = soap::parse_envelope(body)?;
    let request = request::read(&envelope).map_err(|e| {
        Fault::new(ResponseCode::SchemaValidation, format!("The request failed schema validation: {e}"))
            .about(&envelope.body.name)
    })?;
    if let Operation::Unsupported(name) = &request.operation {
        return Err(unsupported(name));
    }
    Ok(request)
}

fn unsupported(name: &str) -> Fault {
    Fault::new(
        ResponseCode::InvalidOperation,
        format!(
            "The operation {name} is not supported by this server. Supported operations: {}.",
            request::SUPPORTED.join(", ")
        ),
    )
    .about(name)
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Fault> {
    let limit = soap::MAX_BODY_BYTES;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(size) = declared
        && size > u64::try_from(limit).unwrap_or(u64::MAX)
    {
        return Err(Fault::new(
            ResponseCode::MessageSizeExceeded,
            format!("the request body is {size} bytes, more than the {limit} bytes accepted"),
        ));
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b.to_vec()),
        Err(_) => Err(Fault::new(
            ResponseCode::MessageSizeExceeded,
            format!("the request body is more than the {limit} bytes accepted (or could not be read)"),
        )),
    }
}

/// The mailbox the request works in: the impersonated user's, the anchor mailbox (for an
/// application), or the caller's own. `Err(Ok(fault))` for a refusal, `Err(Err(_))` for a store failure.
async fn open_session(
    store: &Arc<dyn MailboxStore>,
    principal: mailbox::Principal,
    request: &Request,
    headers: &HeaderMap,
) -> Result<Session, Result<Fault, StoreError>> {
    let impersonated = match &request.impersonation {
        Some(id) => {
            let text = match id {
                UserId::PrimarySmtpAddress(a) | UserId::SmtpAddress(a) => format!("smtp:{a}"),
                UserId::PrincipalName(a) => format!("upn:{a}"),
                UserId::Sid(s) => s.clone(),
            };
            match mailbox::find_by_address(store, &text).await {
                Ok(u) => Some(u),
                Err(MailboxError::Store(e)) => return Err(Err(e)),
                Err(_) => {
                    return Err(Ok(AccessError::NonExistentMailbox(format!(
                        "The impersonation principal name is invalid: no mailbox user has the address {}.",
                        text.trim_start_matches("smtp:").trim_start_matches("upn:")
                    ))
                    .into()));
                }
            }
        }
        None => None,
    };
    let anchor = match (&impersonated, &principal) {
        (None, mailbox::Principal::Application { .. }) => {
            match headers.get("x-anchormailbox").and_then(|v| v.to_str().ok()).map(str::trim) {
                Some(a) if !a.is_empty() => match mailbox::find_by_address(store, a).await {
                    Ok(u) => Some(u),
                    Err(MailboxError::Store(e)) => return Err(Err(e)),
                    Err(_) => {
                        return Err(Ok(AccessError::NonExistentMailbox(format!(
                            "No mailbox with such guid or smtp address: {a} (X-AnchorMailbox)."
                        ))
                        .into()));
                    }
                },
                _ => None,
            }
        }
        _ => None,
    };
    Session::open(principal, impersonated, anchor).map_err(|e| Ok(e.into()))
}

fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "EWS request failed in the mailbox store");
    Fault::new(ResponseCode::InternalServerError, "An internal server error occurred. The operation failed.")
        .into_response()
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests;
