//! Item records from request values: a new message or contact from CreateItem's typed fields
//! (checked: item class, recipients, the required subject or display name), and UpdateItem's
//! set, append and delete of one field of a stored item. Message fields apply to messages and
//! contact fields to contacts only; the common ones (subject, body, read flag) to both.

use crate::mailbox::ews::fault::{EwsError, ResponseCode};
use crate::mailbox::ews::request::{
    ContactFields, FieldUri, FieldValue, ItemFields, MailboxAddress, MessageFields, PropertyPath,
};
use crate::mailbox::{self};
use crate::store::mailbox::{Address, BodyType, Entry, FolderRecord, ItemClass, ItemKind, ItemRecord, UserRecord};

/// Where a new item goes, and when.
pub struct Placement<'a> {
    pub owner: &'a UserRecord,
    pub folder: &'a FolderRecord,
    pub now: i64,
}

/// A new message, or the per-item error.
pub fn new_message(f: &MessageFields, at: &Placement<'_>) -> Result<ItemRecord, EwsError> {
    let mut item = blank(ItemKind::Message, at);
    apply_common(&mut item, &f.item)?;
    if let Some(m) = &f.from {
        item.sender = Some(address_of(m)?);
    }
    if let Some(m) = &f.sender {
        item.sender = Some(address_of(m)?);
    }
    for (list, target) in [(&f.to, &mut item.to), (&f.cc, &mut item.cc), (&f.bcc, &mut item.bcc)] {
        if let Some(list) = list {
            *target = list.iter().map(address_of).collect::<Result<_, _>>()?;
        }
    }
    item.sent_at = Some(at.now);
    if item.subject.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Err(EwsError::new(ResponseCode::RequiredPropertyMissing, "The required property Subject is missing."));
    }
    Ok(item)
}

/// A new contact, or the per-item error.
pub fn new_contact(f: &ContactFields, at: &Placement<'_>) -> Result<ItemRecord, EwsError> {
    let mut item = blank(ItemKind::Contact, at);
    apply_common(&mut item, &f.item)?;
    for (value, target) in [
        (&f.given_name, &mut item.given_name),
        (&f.surname, &mut item.surname),
        (&f.display_name, &mut item.display_name),
        (&f.company_name, &mut item.company_name),
        (&f.job_title, &mut item.job_title),
    ] {
        if let Some(v) = value {
            *target = trimmed(v);
        }
    }
    for (value, target) in [
        (&f.email_addresses, &mut item.email_addresses),
        (&f.im_addresses, &mut item.im_addresses),
        (&f.phone_numbers, &mut item.phone_numbers),
    ] {
        if let Some(entries) = value {
            *target = entries_of(entries);
        }
    }
    if item.display_name.is_none() {
        item.display_name = contact_display_name(&item, f.file_as.as_deref());
    }
    if item.display_name.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Err(EwsError::new(
            ResponseCode::RequiredPropertyMissing,
            "The required property DisplayName is missing (give DisplayName, GivenName, Surname or FileAs).",
        ));
    }
    Ok(item)
}

fn blank(kind: ItemKind, at: &Placement<'_>) -> ItemRecord {
    ItemRecord {
        id: mailbox::new_id(),
        change_key: mailbox::new_change_key(),
        user_id: at.owner.id.clone(),
        folder_id: at.folder.id.clone(),
        kind,
        item_class: ItemClass::of(kind),
        subject: None,
        body: None,
        body_type: BodyType::Text,
        sender: None,
        to: Vec::new(),
        cc: Vec::new(),
        bcc: Vec::new(),
        is_read: true,
        given_name: None,
        surname: None,
        display_name: None,
        company_name: None,
        job_title: None,
        email_addresses: Vec::new(),
        im_addresses: Vec::new(),
        phone_numbers: Vec::new(),
        created_at: at.now,
        modified_at: at.now,
        sent_at: None,
        received_at: Some(at.now),
    }
}

/// The item class (checked against the kind), subject, body and read flag.
fn apply_common(item: &mut ItemRecord, f: &ItemFields) -> Result<(), EwsError> {
    if let Some(class) = f.item_class.as_deref().filter(|c| !c.is_empty()) {
        let (expected, kind) = match item.kind {
            ItemKind::Contact => ("IPM.Contact", "Contact"),
            ItemKind::Message => ("IPM.", "Message"),
        };
        let Some(parsed) = ItemClass::parse(class).filter(|_| class.starts_with(expected)) else {
            return Err(EwsError::new(
                ResponseCode::ObjectTypeChanged,
                format!("ItemClass {class} does not fit a {kind} item."),
            ));
        };
        item.item_class = parsed;
    }
    if let Some(s) = &f.subject {
        item.subject = Some(s.clone());
    }
    if let Some((kind, text)) = &f.body {
        set_body(item, kind, text);
    }
    if let Some(r) = f.is_read {
        item.is_read = r;
    }
    Ok(())
}

fn contact_display_name(item: &ItemRecord, file_as: Option<&str>) -> Option<String> {
    let names: Vec<&str> =
        [item.given_name.as_deref(), item.surname.as_deref()].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    if names.is_empty() { file_as.filter(|s| !s.trim().is_empty()).map(str::to_owned) } else { Some(names.join(" ")) }
}

/// `SetItemField`: writes `value` into the field `path` names, if the item's kind has it (an
/// indexed contact entry replaces that one entry; a whole list replaces the list).
pub fn set_field(item: &mut ItemRecord, path: &PropertyPath, value: Option<&FieldValue>) -> Result<(), EwsError> {
    let (Some(field), Some(value)) = (path.field_uri(), value) else { return Ok(()) };
    let is_message = item.kind == ItemKind::Message;
    let is_contact = item.kind == ItemKind::Contact;
    match (field, value) {
        (FieldUri::Subject, FieldValue::Text(s)) => item.subject = Some(s.clone()),
        (FieldUri::Body, FieldValue::Body(kind, text)) => set_body(item, kind, text),
        (FieldUri::IsRead, FieldValue::Flag(r)) => item.is_read = *r,
        (FieldUri::From | FieldUri::Sender, FieldValue::Mailbox(m)) if is_message => {
            item.sender = Some(address_of(m)?);
        }
        (FieldUri::ToRecipients | FieldUri::CcRecipients | FieldUri::BccRecipients, FieldValue::Mailboxes(list))
            if is_message =>
        {
            if let Some(target) = recipients(item, field) {
                *target = list.iter().map(address_of).collect::<Result<_, _>>()?;
            }
        }
        (_, FieldValue::Text(v)) if is_contact => {
            if let Some(target) = contact_text(item, field) {
                *target = trimmed(v);
            }
        }
        (_, FieldValue::Entries(entries)) if is_contact => {
            let entries = entries_of(entries);
            if let Some(target) = contact_entries(item, field) {
                match path {
                    PropertyPath::Indexed { index, .. } => {
                        target.retain(|e| &e.key != index);
                        target.extend(entries.into_iter().filter(|e| &e.key == index));
                    }
                    _ => *target = entries,
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `AppendToItemField`: recipients are added to a message's list and text to the body; any
/// other field is set.
pub fn append_field(item: &mut ItemRecord, path: &PropertyPath, value: Option<&FieldValue>) -> Result<(), EwsError> {
    let PropertyPath::Field(field) = path else { return set_field(item, path, value) };
    match (field, value) {
        (FieldUri::ToRecipients | FieldUri::CcRecipients | FieldUri::BccRecipients, _)
            if item.kind == ItemKind::Message =>
        {
            let list = match value {
                Some(FieldValue::Mailboxes(list)) => list.as_slice(),
                _ => &[],
            };
            for m in list {
                let address = address_of(m)?;
                if let Some(target) = recipients(item, *field) {
                    target.push(address);
                }
            }
            Ok(())
        }
        (FieldUri::Body, _) => {
            if let Some(FieldValue::Body(_, text)) = value {
                item.body.get_or_insert_with(String::new).push_str(text);
            }
            Ok(())
        }
        _ => set_field(item, path, value),
    }
}

/// `DeleteItemField`: clears the field (an indexed path: that one contact entry).
pub fn delete_field(item: &mut ItemRecord, path: &PropertyPath) {
    match path {
        PropertyPath::Field(field) => match field {
            FieldUri::Subject => item.subject = None,
            FieldUri::Body => item.body = None,
            FieldUri::From | FieldUri::Sender => item.sender = None,
            FieldUri::ToRecipients => item.to.clear(),
            FieldUri::CcRecipients => item.cc.clear(),
            FieldUri::BccRecipients => item.bcc.clear(),
            FieldUri::GivenName => item.given_name = None,
            FieldUri::Surname => item.surname = None,
            FieldUri::DisplayName => item.display_name = None,
            FieldUri::CompanyName => item.company_name = None,
            FieldUri::JobTitle => item.job_title = None,
            FieldUri::EmailAddresses => item.email_addresses.clear(),
            FieldUri::ImAddresses => item.im_addresses.clear(),
            FieldUri::PhoneNumbers => item.phone_numbers.clear(),
            FieldUri::ItemClass
            | FieldUri::DateTimeReceived
            | FieldUri::DateTimeCreated
            | FieldUri::DateTimeSent
            | FieldUri::LastModifiedTime
            | FieldUri::IsRead
            | FieldUri::EmailAddress
            | FieldUri::ImAddress
            | FieldUri::PhoneNumber => {}
        },
        PropertyPath::Indexed { field, index } => {
            let target = match field {
                FieldUri::EmailAddress => &mut item.email_addresses,
                FieldUri::ImAddress => &mut item.im_addresses,
                FieldUri::PhoneNumber => &mut item.phone_numbers,
                _ => return,
            };
            target.retain(|e| &e.key != index);
        }
        PropertyPath::Extended | PropertyPath::Unknown { .. } => {}
    }
}

fn set_body(item: &mut ItemRecord, kind: &str, text: &str) {
    item.body_type = if kind.eq_ignore_ascii_case("HTML") { BodyType::Html } else { BodyType::Text };
    item.body = Some(text.to_owned());
}

fn recipients(item: &mut ItemRecord, field: FieldUri) -> Option<&mut Vec<Address>> {
    match field {
        FieldUri::ToRecipients => Some(&mut item.to),
        FieldUri::CcRecipients => Some(&mut item.cc),
        FieldUri::BccRecipients => Some(&mut item.bcc),
        _ => None,
    }
}

fn contact_text(item: &mut ItemRecord, field: FieldUri) -> Option<&mut Option<String>> {
    match field {
        FieldUri::GivenName => Some(&mut item.given_name),
        FieldUri::Surname => Some(&mut item.surname),
        FieldUri::DisplayName => Some(&mut item.display_name),
        FieldUri::CompanyName => Some(&mut item.company_name),
        FieldUri::JobTitle => Some(&mut item.job_title),
        _ => None,
    }
}

fn contact_entries(item: &mut ItemRecord, field: FieldUri) -> Option<&mut Vec<Entry>> {
    match field {
        FieldUri::EmailAddress | FieldUri::EmailAddresses => Some(&mut item.email_addresses),
        FieldUri::ImAddress | FieldUri::ImAddresses => Some(&mut item.im_addresses),
        FieldUri::PhoneNumber | FieldUri::PhoneNumbers => Some(&mut item.phone_numbers),
        _ => None,
    }
}

fn trimmed(v: &str) -> Option<String> {
    Some(v.trim().to_owned()).filter(|s| !s.is_empty())
}

fn entries_of(entries: &[(String, String)]) -> Vec<Entry> {
    entries.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| Entry { key: k.clone(), value: v.clone() }).collect()
}

fn address_of(m: &MailboxAddress) -> Result<Address, EwsError> {
    let email = m.email.as_deref().map(str::trim).filter(|e| e.contains('@')).ok_or_else(|| {
        EwsError::new(
            ResponseCode::InvalidRecipients,
            format!("A recipient ({}) has no valid e-mail address.", m.name.as_deref().unwrap_or("unnamed")),
        )
    })?;
    Ok(Address { name: m.name.clone(), email: email.to_owned() })
}
