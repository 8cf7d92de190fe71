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

pub mod request;
pub mod soap;
pub mod writer;

mod ops;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use s2s::middleware::{Caller, unresolved_caller_response};

use self::request::{Operation, Request, UserId};
use self::soap::SoapError;
use crate::mailbox::{self, AccessError, MailboxError, PrincipalError, Session};
use crate::server::AppState;

/// The paths EWS is served at (IIS matches them case-insensitively; these are the spellings clients use).
pub const PATHS: [&str; 4] = ["/EWS/Exchange.asmx", "/ews/exchange.asmx", "/EWS/exchange.asmx", "/ews/Exchange.asmx"];

/// A SOAP fault: its EWS code, text, and the operation it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: &'static str,
    pub text: String,
    pub operation: Option<String>,
}

impl Fault {
    fn new(code: &'static str, text: impl Into<String>) -> Self {
        Self { code, text: text.into(), operation: None }
    }

    fn about(mut self, operation: &str) -> Self {
        self.operation = Some(operation.to_owned());
        self
    }

    /// The HTTP answer: 500 with the fault envelope, as Exchange sends faults.
    pub fn into_response(self) -> Response {
        xml_response(StatusCode::INTERNAL_SERVER_ERROR, writer::fault(self.code, &self.text, self.operation.as_deref()))
    }
}

impl From<SoapError> for Fault {
    fn from(e: SoapError) -> Self {
        match e {
            SoapError::TooLarge { .. } => Fault::new("ErrorMessageSizeExceeded", e.to_string()),
            SoapError::VersionMismatch(_) => Fault::new("VersionMismatch", e.to_string()),
            other => Fault::new("ErrorSchemaValidation", format!("The request failed schema validation: {other}")),
        }
    }
}

/// The handler (behind `S2sLayer`: `Caller` answers the challenge when there is no token).
pub async fn handle(State(state): State<AppState>, Caller(caller): Caller, headers: HeaderMap, body: Body) -> Response {
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
    let result = match &request.operation {
        Operation::GetFolder(r) => ops::get_folder(&ctx, r).await,
        Operation::FindItem(r) => ops::find_item(&ctx, r).await,
        Operation::GetItem(r) => ops::get_item(&ctx, r).await,
        Operation::CreateItem(r) => ops::create_item(&ctx, r).await,
        Operation::UpdateItem(r) => ops::update_item(&ctx, r).await,
        Operation::DeleteItem(r) => ops::delete_item(&ctx, r).await,
        Operation::Unsupported(_) => return unsupported(&op).into_response(),
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
        Fault::new("ErrorSchemaValidation", format!("The request failed schema validation: {e}"))
            .about(&envelope.body.name)
    })?;
    if let Operation::Unsupported(name) = &request.operation {
        return Err(unsupported(name));
    }
    Ok(request)
}

fn unsupported(name: &str) -> Fault {
    Fault::new(
        "ErrorInvalidOperation",
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
            "ErrorMessageSizeExceeded",
            format!("the request body is {size} bytes, more than the {limit} bytes accepted"),
        ));
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b.to_vec()),
        Err(_) => Err(Fault::new(
            "ErrorMessageSizeExceeded",
            format!("the request body is more than the {limit} bytes accepted (or could not be read)"),
        )),
    }
}

/// The mailbox the request works in: the impersonated user's, the anchor mailbox (for an
/// application), or the caller's own. `Err(Ok(fault))` for a refusal, `Err(Err(_))` for a store failure.
async fn open_session(
    store: &std::sync::Arc<dyn crate::store::mailbox::MailboxStore>,
    principal: mailbox::Principal,
    request: &Request,
    headers: &HeaderMap,
) -> Result<Session, Result<Fault, crate::store::StoreError>> {
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
                    return Err(Ok(Fault::new(
                        "ErrorNonExistentMailbox",
                        format!(
                            "The impersonation principal name is invalid: no mailbox user has the address {}.",
                            text.trim_start_matches("smtp:").trim_start_matches("upn:")
                        ),
                    )));
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
                        return Err(Ok(Fault::new(
                            "ErrorNonExistentMailbox",
                            format!("No mailbox with such guid or smtp address: {a} (X-AnchorMailbox)."),
                        )));
                    }
                },
                _ => None,
            }
        }
        _ => None,
    };
    Session::open(principal, impersonated, anchor).map_err(|e| {
        Ok(match e {
            AccessError::ImpersonateUserDenied(t) => Fault::new("ErrorImpersonateUserDenied", t),
            AccessError::AccessDenied(t) => Fault::new("ErrorAccessDenied", t),
            AccessError::NonExistentMailbox(t) => Fault::new("ErrorNonExistentMailbox", t),
        })
    })
}

fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "EWS request failed in the mailbox store");
    Fault::new("ErrorInternalServerError", "An internal server error occurred. The operation failed.").into_response()
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests;
