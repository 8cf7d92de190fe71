//! Mailbox rows as both backends read and write them: the same column names and Rust types on
//! SQLite and PostgreSQL (item lists are JSON text), so one `FromRow` per table and one set of
//! conversions serve `sqlite_mailbox.rs` and `postgres_mailbox.rs`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{FromRow, Row};

use super::StoreError;
use super::mailbox::{Address, ItemKind, ItemRecord};

/// A `mailbox_items` row as read (`kind` and the JSON lists still text).
#[derive(FromRow)]
pub(super) struct ItemRow {
    id: String,
    change_key: String,
    user_id: String,
    folder_id: String,
    kind: String,
    item_class: String,
    subject: Option<String>,
    body: Option<String>,
    body_type: String,
    sender: Option<String>,
    to_recipients: String,
    cc_recipients: String,
    bcc_recipients: String,
    is_read: bool,
    given_name: Option<String>,
    surname: Option<String>,
    display_name: Option<String>,
    company_name: Option<String>,
    job_title: Option<String>,
    email_addresses: String,
    im_addresses: String,
    phone_numbers: String,
    created_at: i64,
    modified_at: i64,
    sent_at: Option<i64>,
    received_at: Option<i64>,
}

/// A user, folder or role-assignment row as its record (those read straight into their `FromRow`).
pub(super) fn record<'r, T: FromRow<'r, R>, R: Row>(row: &'r R) -> Result<T, StoreError> {
    Ok(T::from_row(row)?)
}

pub(super) fn item_record<'r, R: Row>(row: &'r R) -> Result<ItemRecord, StoreError>
where
    ItemRow: FromRow<'r, R>,
{
    let row = ItemRow::from_row(row)?;
    Ok(ItemRecord {
        id: row.id,
        change_key: row.change_key,
        user_id: row.user_id,
        folder_id: row.folder_id,
        kind: match row.kind.as_str() {
            "message" => ItemKind::Message,
            "contact" => ItemKind::Contact,
            other => {
                return Err(StoreError::CorruptValue {
                    table: "mailbox_items",
                    column: "kind",
                    detail: format!("unknown item kind `{other}`"),
                });
            }
        },
        item_class: row.item_class,
        subject: row.subject,
        body: row.body,
        body_type: row.body_type,
        sender: row.sender.as_deref().map(|s| from_json::<Address>(s, "sender")).transpose()?,
        to: from_json(&row.to_recipients, "to_recipients")?,
        cc: from_json(&row.cc_recipients, "cc_recipients")?,
        bcc: from_json(&row.bcc_recipients, "bcc_recipients")?,
        is_read: row.is_read,
        given_name: row.given_name,
        surname: row.surname,
        display_name: row.display_name,
        company_name: row.company_name,
        job_title: row.job_title,
        email_addresses: from_json(&row.email_addresses, "email_addresses")?,
        im_addresses: from_json(&row.im_addresses, "im_addresses")?,
        phone_numbers: from_json(&row.phone_numbers, "phone_numbers")?,
        created_at: row.created_at,
        modified_at: row.modified_at,
        sent_at: row.sent_at,
        received_at: row.received_at,
    })
}

/// How an item kind is stored.
pub(super) fn kind_text(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Message => "message",
        ItemKind::Contact => "contact",
    }
}

/// A list (or the sender) as stored JSON text.
pub(super) fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| String::from("null"))
}

fn from_json<T: DeserializeOwned>(text: &str, column: &'static str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::CorruptValue {
        table: "mailbox_items",
        column,
        detail: format!("not the expected JSON: {e}"),
    })
}
