//! Property paths: the `FieldURI`, `IndexedFieldURI` and `ExtendedFieldURI` elements a request
//! names fields with (in shapes, restrictions, sort orders and item updates), parsed once into
//! [`PropertyPath`]. The fields this server models are a [`FieldUri`]; any other URI is kept,
//! spelled as sent, as [`PropertyPath::Unknown`], so that the operation can answer it with its
//! EWS code (`ErrorUnsupportedPathForQuery`, `ErrorUnsupportedPathForSortGroup`) or ignore it
//! (shapes, updates of fields we do not store), as Exchange does.

use std::fmt;
use std::str::FromStr;

use super::super::soap::Element;

/// A field URI this server models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldUri {
    Subject,
    Body,
    ItemClass,
    DateTimeReceived,
    DateTimeCreated,
    DateTimeSent,
    LastModifiedTime,
    IsRead,
    From,
    Sender,
    ToRecipients,
    CcRecipients,
    BccRecipients,
    DisplayName,
    GivenName,
    Surname,
    CompanyName,
    JobTitle,
    /// Indexed: one entry of `EmailAddresses`.
    EmailAddress,
    EmailAddresses,
    /// Indexed: one entry of `ImAddresses`.
    ImAddress,
    ImAddresses,
    /// Indexed: one entry of `PhoneNumbers`.
    PhoneNumber,
    PhoneNumbers,
}

/// A field URI this server does not model (the URI as sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the field {0} is not supported")]
pub struct UnknownFieldUri(pub String);

/// A property path as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyPath {
    /// `FieldURI` naming a field we model.
    Field(FieldUri),
    /// `IndexedFieldURI` naming a field we model, with its `FieldIndex`.
    Indexed { field: FieldUri, index: String },
    /// `ExtendedFieldURI` (MAPI properties: never stored).
    Extended,
    /// `FieldURI`/`IndexedFieldURI` naming a field we do not model.
    Unknown { uri: UnknownFieldUri, index: Option<String> },
}

impl FieldUri {
    /// Every field URI we model.
    pub const ALL: [Self; 24] = [
        Self::Subject,
        Self::Body,
        Self::ItemClass,
        Self::DateTimeReceived,
        Self::DateTimeCreated,
        Self::DateTimeSent,
        Self::LastModifiedTime,
        Self::IsRead,
        Self::From,
        Self::Sender,
        Self::ToRecipients,
        Self::CcRecipients,
        Self::BccRecipients,
        Self::DisplayName,
        Self::GivenName,
        Self::Surname,
        Self::CompanyName,
        Self::JobTitle,
        Self::EmailAddress,
        Self::EmailAddresses,
        Self::ImAddress,
        Self::ImAddresses,
        Self::PhoneNumber,
        Self::PhoneNumbers,
    ];

    /// The URI as EWS spells it (`item:Subject`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subject => "item:Subject",
            Self::Body => "item:Body",
            Self::ItemClass => "item:ItemClass",
            Self::DateTimeReceived => "item:DateTimeReceived",
            Self::DateTimeCreated => "item:DateTimeCreated",
            Self::DateTimeSent => "item:DateTimeSent",
            Self::LastModifiedTime => "item:LastModifiedTime",
            Self::IsRead => "message:IsRead",
            Self::From => "message:From",
            Self::Sender => "message:Sender",
            Self::ToRecipients => "message:ToRecipients",
            Self::CcRecipients => "message:CcRecipients",
            Self::BccRecipients => "message:BccRecipients",
            Self::DisplayName => "contacts:DisplayName",
            Self::GivenName => "contacts:GivenName",
            Self::Surname => "contacts:Surname",
            Self::CompanyName => "contacts:CompanyName",
            Self::JobTitle => "contacts:JobTitle",
            Self::EmailAddress => "contacts:EmailAddress",
            Self::EmailAddresses => "contacts:EmailAddresses",
            Self::ImAddress => "contacts:ImAddress",
            Self::ImAddresses => "contacts:ImAddresses",
            Self::PhoneNumber => "contacts:PhoneNumber",
            Self::PhoneNumbers => "contacts:PhoneNumbers",
        }
    }

    /// Whether FindItem can filter on it.
    pub fn filterable(self) -> bool {
        matches!(
            self,
            Self::Subject
                | Self::Body
                | Self::ItemClass
                | Self::DateTimeReceived
                | Self::DateTimeCreated
                | Self::DateTimeSent
                | Self::LastModifiedTime
                | Self::IsRead
                | Self::From
                | Self::Sender
                | Self::DisplayName
                | Self::GivenName
                | Self::Surname
                | Self::CompanyName
                | Self::JobTitle
        )
    }

    /// Whether FindItem can sort by it (what it can filter on, bodies aside).
    pub fn sortable(self) -> bool {
        self.filterable() && self != Self::Body
    }
}

impl FromStr for FieldUri {
    type Err = UnknownFieldUri;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|f| f.as_str() == text).ok_or_else(|| UnknownFieldUri(text.to_owned()))
    }
}

impl fmt::Display for FieldUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PropertyPath {
    /// The path of a `FieldURI` attribute value.
    pub fn field(uri: &str) -> Self {
        match uri.parse() {
            Ok(field) => Self::Field(field),
            Err(uri) => Self::Unknown { uri, index: None },
        }
    }

    /// The path of an `IndexedFieldURI`.
    pub fn indexed(uri: &str, index: &str) -> Self {
        match uri.parse() {
            Ok(field) => Self::Indexed { field, index: index.to_owned() },
            Err(uri) => Self::Unknown { uri, index: Some(index.to_owned()) },
        }
    }

    /// The field we model that the path names (whole or indexed).
    pub fn field_uri(&self) -> Option<FieldUri> {
        match self {
            Self::Field(f) | Self::Indexed { field: f, .. } => Some(*f),
            Self::Extended | Self::Unknown { .. } => None,
        }
    }

    /// The `FieldIndex` of an indexed path.
    pub fn index(&self) -> Option<&str> {
        match self {
            Self::Indexed { index, .. } => Some(index),
            Self::Unknown { index, .. } => index.as_deref(),
            Self::Field(_) | Self::Extended => None,
        }
    }

    /// The path of a shape, restriction or sort element (`None` when `el` names no field; an
    /// index defaults to empty).
    pub fn of_element(el: &Element) -> Option<Self> {
        match el.name.as_str() {
            "FieldURI" => el.attr("FieldURI").map(Self::field),
            "IndexedFieldURI" => el.attr("FieldURI").map(|u| Self::indexed(u, el.attr("FieldIndex").unwrap_or(""))),
            "ExtendedFieldURI" => Some(Self::Extended),
            _ => None,
        }
    }
}

/// As the request spelt it: `uri`, `uri:index`, or `extended`.
impl fmt::Display for PropertyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(field) => f.write_str(field.as_str()),
            Self::Indexed { field, index } => write!(f, "{field}:{index}"),
            Self::Extended => f.write_str("extended"),
            Self::Unknown { uri, index: None } => f.write_str(&uri.0),
            Self::Unknown { uri, index: Some(index) } => write!(f, "{}:{index}", uri.0),
        }
    }
}
