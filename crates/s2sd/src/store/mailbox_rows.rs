//! Mailbox rows as both backends read and write them: the same column names and Rust types on
//! SQLite and PostgreSQL (item lists are JSON text), so one `FromRow` per table and one set of
//! conversions serve both expansions of `mailbox_queries.rs`. Every text column with a closed set
//! of values becomes its enum here; a value outside it is [`StoreError::CorruptValue`] naming the
//! row, never a default.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{FromRow, Row};

use super::StoreError;
use super::mailbox::{Address, BodyType, ItemClass, ItemKind, ItemRecord, Role, RoleAssignmentRecord};

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

/// A `role_assignments` row as read (`role` still text).
#[derive(FromRow)]
pub(super) struct RoleAssignmentRow {
    role: String,
    user_id: String,
    created_at: i64,
}

pub(super) fn role_assignment_record<'r, R: Row>(row: &'r R) -> Result<RoleAssignmentRecord, StoreError>
where
    RoleAssignmentRow: FromRow<'r, R>,
{
    let row = RoleAssignmentRow::from_row(row)?;
    let role = role(row.role, &row.user_id)?;
    Ok(RoleAssignmentRecord { role, user_id: row.user_id, created_at: row.created_at })
}

/// A stored role of the user `user_id`.
pub(super) fn role(text: String, user_id: &str) -> Result<Role, StoreError> {
    Role::from_stored(&text).ok_or_else(|| corrupt("role_assignments", "role", "user", user_id, &text))
}

pub(super) fn item_record<'r, R: Row>(row: &'r R) -> Result<ItemRecord, StoreError>
where
    ItemRow: FromRow<'r, R>,
{
    let row = ItemRow::from_row(row)?;
    let id = row.id.as_str();
    let kind = match row.kind.as_str() {
        "message" => ItemKind::Message,
        "contact" => ItemKind::Contact,
        other => return Err(corrupt("mailbox_items", "kind", "item", id, other)),
    };
    let item_class = ItemClass::parse(&row.item_class)
        .ok_or_else(|| corrupt("mailbox_items", "item_class", "item", id, &row.item_class))?;
    let body_type = BodyType::from_stored(&row.body_type)
        .ok_or_else(|| corrupt("mailbox_items", "body_type", "item", id, &row.body_type))?;
    let sender = row.sender.as_deref().map(|s| from_json::<Address>(s, "sender", id)).transpose()?;
    let to = from_json(&row.to_recipients, "to_recipients", id)?;
    let cc = from_json(&row.cc_recipients, "cc_recipients", id)?;
    let bcc = from_json(&row.bcc_recipients, "bcc_recipients", id)?;
    let email_addresses = from_json(&row.email_addresses, "email_addresses", id)?;
    let im_addresses = from_json(&row.im_addresses, "im_addresses", id)?;
    let phone_numbers = from_json(&row.phone_numbers, "phone_numbers", id)?;
    Ok(ItemRecord {
        id: row.id,
        change_key: row.change_key,
        user_id: row.user_id,
        folder_id: row.folder_id,
        kind,
        item_class,
        subject: row.subject,
        body: row.body,
        body_type,
        sender,
        to,
        cc,
        bcc,
        is_read: row.is_read,
        given_name: row.given_name,
        surname: row.surname,
        display_name: row.display_name,
        company_name: row.company_name,
        job_title: row.job_title,
        email_addresses,
        im_addresses,
        phone_numbers,
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

/// A JSON column of the item `id`.
fn from_json<T: DeserializeOwned>(text: &str, column: &'static str, id: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::CorruptValue {
        table: "mailbox_items",
        column,
        detail: format!("item `{id}`: not the expected JSON ({e}): `{text}`"),
    })
}

/// An unknown `value` in `table.column` of the row of `what` `id` (an item, a user).
fn corrupt(table: &'static str, column: &'static str, what: &str, id: &str, value: &str) -> StoreError {
    StoreError::CorruptValue { table, column, detail: format!("{what} `{id}`: unknown value `{value}`") }
}
