//! How failures reach the wire: the EWS response codes we answer with, a per-folder or per-item
//! failure ([`EwsError`], a `ResponseClass="Error"` message) and a whole-request failure
//! ([`Fault`], a SOAP fault). The mailbox domain's access refusals become EWS answers here and
//! nowhere else: `impl From<AccessError> for EwsError`, and a fault carries the same code.

use axum::response::Response;

use super::soap::SoapError;
use crate::mailbox::AccessError;

/// The EWS response codes this server answers with (`m:ResponseCode`, or a fault's code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    ImpersonateUserDenied,
    AccessDenied,
    NonExistentMailbox,
    FolderNotFound,
    ItemNotFound,
    UnsupportedPathForQuery,
    UnsupportedPathForSortGroup,
    InvalidItemForOperation,
    MessageDispositionRequired,
    InvalidOperation,
    ObjectTypeChanged,
    RequiredPropertyMissing,
    InvalidRecipients,
    IrresolvableConflict,
    MessageSizeExceeded,
    SchemaValidation,
    InternalServerError,
    /// SOAP's own fault for an envelope of another SOAP version.
    VersionMismatch,
}

impl ResponseCode {
    /// Every code, for tests and documentation.
    pub const ALL: [Self; 18] = [
        Self::ImpersonateUserDenied,
        Self::AccessDenied,
        Self::NonExistentMailbox,
        Self::FolderNotFound,
        Self::ItemNotFound,
        Self::UnsupportedPathForQuery,
        Self::UnsupportedPathForSortGroup,
        Self::InvalidItemForOperation,
        Self::MessageDispositionRequired,
        Self::InvalidOperation,
        Self::ObjectTypeChanged,
        Self::RequiredPropertyMissing,
        Self::InvalidRecipients,
        Self::IrresolvableConflict,
        Self::MessageSizeExceeded,
        Self::SchemaValidation,
        Self::InternalServerError,
        Self::VersionMismatch,
    ];

    /// The code as EWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImpersonateUserDenied => "ErrorImpersonateUserDenied",
            Self::AccessDenied => "ErrorAccessDenied",
            Self::NonExistentMailbox => "ErrorNonExistentMailbox",
            Self::FolderNotFound => "ErrorFolderNotFound",
            Self::ItemNotFound => "ErrorItemNotFound",
            Self::UnsupportedPathForQuery => "ErrorUnsupportedPathForQuery",
            Self::UnsupportedPathForSortGroup => "ErrorUnsupportedPathForSortGroup",
            Self::InvalidItemForOperation => "ErrorInvalidItemForOperation",
            Self::MessageDispositionRequired => "ErrorMessageDispositionRequired",
            Self::InvalidOperation => "ErrorInvalidOperation",
            Self::ObjectTypeChanged => "ErrorObjectTypeChanged",
            Self::RequiredPropertyMissing => "ErrorRequiredPropertyMissing",
            Self::InvalidRecipients => "ErrorInvalidRecipients",
            Self::IrresolvableConflict => "ErrorIrresolvableConflict",
            Self::MessageSizeExceeded => "ErrorMessageSizeExceeded",
            Self::SchemaValidation => "ErrorSchemaValidation",
            Self::InternalServerError => "ErrorInternalServerError",
            Self::VersionMismatch => "VersionMismatch",
        }
    }
}

/// A per-folder or per-item failure: an EWS response code and its message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct EwsError {
    pub code: ResponseCode,
    pub text: String,
}

impl EwsError {
    pub fn new(code: ResponseCode, text: impl Into<String>) -> Self {
        Self { code, text: text.into() }
    }

    /// `ErrorItemNotFound` with Exchange's text.
    pub fn item_not_found() -> Self {
        Self::new(ResponseCode::ItemNotFound, "The specified object was not found in the store.")
    }
}

/// The one mapping from the mailbox domain's refusals to EWS codes.
impl From<AccessError> for EwsError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::ImpersonateUserDenied(t) => Self::new(ResponseCode::ImpersonateUserDenied, t),
            AccessError::AccessDenied(t) => Self::new(ResponseCode::AccessDenied, t),
            AccessError::NonExistentMailbox(t) => Self::new(ResponseCode::NonExistentMailbox, t),
        }
    }
}

/// A SOAP fault: its EWS code, text, and the operation it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: &'static str,
    pub text: String,
    pub operation: Option<String>,
}

impl Fault {
    pub fn new(code: ResponseCode, text: impl Into<String>) -> Self {
        Self { code: code.as_str(), text: text.into(), operation: None }
    }

    /// The same fault, naming the operation it concerns.
    pub fn about(mut self, operation: &str) -> Self {
        self.operation = Some(operation.to_owned());
        self
    }

    /// The HTTP answer: 500 with the fault envelope, as Exchange sends faults.
    pub fn into_response(self) -> Response {
        super::xml_response(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            super::writer::fault(self.code, &self.text, self.operation.as_deref()),
        )
    }
}

impl From<EwsError> for Fault {
    fn from(e: EwsError) -> Self {
        Self::new(e.code, e.text)
    }
}

impl From<AccessError> for Fault {
    fn from(e: AccessError) -> Self {
        EwsError::from(e).into()
    }
}

impl From<SoapError> for Fault {
    fn from(e: SoapError) -> Self {
        match e {
            SoapError::TooLarge { .. } => Self::new(ResponseCode::MessageSizeExceeded, e.to_string()),
            SoapError::VersionMismatch(_) => Self::new(ResponseCode::VersionMismatch, e.to_string()),
            other => {
                Self::new(ResponseCode::SchemaValidation, format!("The request failed schema validation: {other}"))
            }
        }
    }
}
