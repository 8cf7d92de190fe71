//! Item values in requests, typed by kind: a new message or contact of `CreateItem` (each with
//! only the fields its kind has), and the one field value an `UpdateItem` change carries for the
//! path it names. Absent elements stay `None`; checks of what is required belong to the
//! operations.

use super::super::soap::Element;
use super::super::writer::T_NS;
use super::field_uri::FieldUri;

/// An item of `CreateItem/Items`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewItem {
    Message(MessageFields),
    Contact(ContactFields),
    /// Another item type (its element name).
    Unsupported(String),
}

/// The fields every item kind has, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemFields {
    pub item_class: Option<String>,
    pub subject: Option<String>,
    /// Body type (`Text`/`HTML`) and text.
    pub body: Option<(String, String)>,
    pub is_read: Option<bool>,
}

/// A `Message`, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFields {
    pub item: ItemFields,
    pub sender: Option<MailboxAddress>,
    pub from: Option<MailboxAddress>,
    pub to: Option<Vec<MailboxAddress>>,
    pub cc: Option<Vec<MailboxAddress>>,
    pub bcc: Option<Vec<MailboxAddress>>,
}

/// A `Contact`, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFields {
    pub item: ItemFields,
    pub file_as: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub company_name: Option<String>,
    pub job_title: Option<String>,
    /// `Entry` key and value.
    pub email_addresses: Option<Vec<(String, String)>>,
    pub im_addresses: Option<Vec<(String, String)>>,
    pub phone_numbers: Option<Vec<(String, String)>>,
}

/// A `Mailbox` element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxAddress {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// The value an item update carries for the field it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    /// Body type and text.
    Body(String, String),
    Flag(bool),
    Mailbox(MailboxAddress),
    Mailboxes(Vec<MailboxAddress>),
    /// `Entry` keys and values.
    Entries(Vec<(String, String)>),
}

impl NewItem {
    /// Reads an element of `CreateItem/Items`.
    pub fn read(el: &Element) -> Self {
        match el.name.as_str() {
            "Message" => Self::Message(MessageFields::read(el)),
            "Contact" => Self::Contact(ContactFields::read(el)),
            other => Self::Unsupported(other.to_owned()),
        }
    }
}

impl ItemFields {
    fn read(el: &Element) -> Self {
        let fields = Fields(el);
        Self {
            item_class: fields.text("ItemClass").map(|s| s.trim().to_owned()),
            subject: fields.text("Subject"),
            body: fields.body(),
            is_read: fields.flag("IsRead"),
        }
    }
}

impl MessageFields {
    pub fn read(el: &Element) -> Self {
        let fields = Fields(el);
        Self {
            item: ItemFields::read(el),
            sender: fields.mailbox("Sender"),
            from: fields.mailbox("From"),
            to: fields.mailboxes("ToRecipients"),
            cc: fields.mailboxes("CcRecipients"),
            bcc: fields.mailboxes("BccRecipients"),
        }
    }
}

impl ContactFields {
    pub fn read(el: &Element) -> Self {
        let fields = Fields(el);
        Self {
            item: ItemFields::read(el),
            file_as: fields.text("FileAs"),
            display_name: fields.text("DisplayName"),
            given_name: fields.text("GivenName"),
            surname: fields.text("Surname"),
            company_name: fields.text("CompanyName"),
            job_title: fields.text("JobTitle"),
            email_addresses: fields.entries("EmailAddresses"),
            im_addresses: fields.entries("ImAddresses"),
            phone_numbers: fields.entries("PhoneNumbers"),
        }
    }
}

impl FieldValue {
    /// The value of `field` in an update's item element (`Item`, `Message` or `Contact`):
    /// `None` when the element does not carry it, or the field is not one an update sets.
    pub fn read(field: FieldUri, el: &Element) -> Option<Self> {
        let fields = Fields(el);
        let text = |name: &str| fields.text(name).map(Self::Text);
        match field {
            FieldUri::Subject => text("Subject"),
            FieldUri::Body => fields.body().map(|(kind, text)| Self::Body(kind, text)),
            FieldUri::IsRead => fields.flag("IsRead").map(Self::Flag),
            FieldUri::From => fields.mailbox("From").map(Self::Mailbox),
            FieldUri::Sender => fields.mailbox("Sender").map(Self::Mailbox),
            FieldUri::ToRecipients => fields.mailboxes("ToRecipients").map(Self::Mailboxes),
            FieldUri::CcRecipients => fields.mailboxes("CcRecipients").map(Self::Mailboxes),
            FieldUri::BccRecipients => fields.mailboxes("BccRecipients").map(Self::Mailboxes),
            FieldUri::DisplayName => text("DisplayName"),
            FieldUri::GivenName => text("GivenName"),
            FieldUri::Surname => text("Surname"),
            FieldUri::CompanyName => text("CompanyName"),
            FieldUri::JobTitle => text("JobTitle"),
            FieldUri::EmailAddress | FieldUri::EmailAddresses => fields.entries("EmailAddresses").map(Self::Entries),
            FieldUri::ImAddress | FieldUri::ImAddresses => fields.entries("ImAddresses").map(Self::Entries),
            FieldUri::PhoneNumber | FieldUri::PhoneNumbers => fields.entries("PhoneNumbers").map(Self::Entries),
            FieldUri::ItemClass
            | FieldUri::DateTimeReceived
            | FieldUri::DateTimeCreated
            | FieldUri::DateTimeSent
            | FieldUri::LastModifiedTime => None,
        }
    }
}

/// Readers of an item element's children.
struct Fields<'a>(&'a Element);

impl Fields<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.0.child(T_NS, name).map(|c| c.text.clone())
    }

    fn body(&self) -> Option<(String, String)> {
        self.0.child(T_NS, "Body").map(|b| (b.attr("BodyType").unwrap_or("Text").to_owned(), b.text.clone()))
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.0.child_text(T_NS, name).map(|v| v == "true" || v == "1")
    }

    fn mailbox(&self, name: &str) -> Option<MailboxAddress> {
        self.0.child(T_NS, name).and_then(|c| c.child(T_NS, "Mailbox")).map(mailbox_address)
    }

    fn mailboxes(&self, name: &str) -> Option<Vec<MailboxAddress>> {
        self.0.child(T_NS, name).map(|c| c.children_named(T_NS, "Mailbox").map(mailbox_address).collect())
    }

    fn entries(&self, name: &str) -> Option<Vec<(String, String)>> {
        self.0.child(T_NS, name).map(|c| {
            c.children_named(T_NS, "Entry")
                .map(|e| (e.attr("Key").unwrap_or_default().to_owned(), e.trimmed().to_owned()))
                .collect()
        })
    }
}

fn mailbox_address(m: &Element) -> MailboxAddress {
    MailboxAddress {
        name: m.child_text(T_NS, "Name").filter(|s| !s.is_empty()).map(str::to_owned),
        email: m.child_text(T_NS, "EmailAddress").filter(|s| !s.is_empty()).map(str::to_owned),
    }
}
