//! Folders and items as EWS elements: `t:Folder`/`t:ContactsFolder` and `t:Message`/`t:Contact`,
//! with what the shape asks for (a bare `IdOnly` gives the id alone), in the order Exchange
//! writes them.

use crate::mailbox::ews::request::{BaseShape, Shape};
use crate::mailbox::ews::writer::Xml;
use crate::store::mailbox::{Address, Entry, FolderRecord, ItemKind, ItemRecord};

/// Writes a folder with its item counts and number of child folders.
pub fn render_folder(x: &mut Xml, f: &FolderRecord, shape: &Shape, total: u64, unread: u64, children: usize) {
    let tag = if f.folder_class.starts_with("IPF.Contact") { "t:ContactsFolder" } else { "t:Folder" };
    x.open(tag, &[]);
    x.empty("t:FolderId", &[("Id", &f.id), ("ChangeKey", &f.change_key)]);
    if shape.base != BaseShape::IdOnly || !shape.additional.is_empty() {
        if let Some(parent) = &f.parent_id {
            x.empty("t:ParentFolderId", &[("Id", parent), ("ChangeKey", &f.change_key)]);
        }
        if !f.folder_class.is_empty() {
            x.leaf("t:FolderClass", &f.folder_class);
        }
        x.leaf("t:DisplayName", &f.display_name);
        x.leaf("t:TotalCount", &total.to_string());
        x.leaf("t:ChildFolderCount", &children.to_string());
        if let Some(d) = &f.distinguished {
            x.leaf("t:DistinguishedFolderId", d);
        }
        if tag == "t:Folder" {
            x.leaf("t:UnreadCount", &unread.to_string());
        }
    }
    x.close(tag);
}

pub fn item_tag(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Message => "t:Message",
        ItemKind::Contact => "t:Contact",
    }
}

/// Renders an item: only its id for a bare IdOnly shape, else every field we keep (the body only
/// when `with_body`: FindItem never returns bodies, as in Exchange).
pub fn render_item(x: &mut Xml, item: &ItemRecord, parent: &FolderRecord, shape: &Shape, with_body: bool) {
    let tag = item_tag(item.kind);
    x.open(tag, &[]);
    x.empty("t:ItemId", &[("Id", &item.id), ("ChangeKey", &item.change_key)]);
    if shape.base == BaseShape::IdOnly && shape.additional.is_empty() {
        x.close(tag);
        return;
    }
    x.empty("t:ParentFolderId", &[("Id", &parent.id), ("ChangeKey", &parent.change_key)]);
    x.leaf("t:ItemClass", item.item_class.as_str());
    if let Some(s) = &item.subject {
        x.leaf("t:Subject", s);
    }
    x.leaf("t:Sensitivity", "Normal");
    if with_body && let Some(b) = &item.body {
        x.leaf_with("t:Body", &[("BodyType", item.body_type.as_str())], b);
    }
    if let Some(t) = item.received_at {
        x.leaf("t:DateTimeReceived", &rfc3339(t));
    }
    let size = item.subject.as_ref().map_or(0, String::len) + item.body.as_ref().map_or(0, String::len);
    x.leaf("t:Size", &size.to_string());
    x.leaf("t:Importance", "Normal");
    x.leaf("t:IsSubmitted", "false");
    x.leaf("t:IsDraft", if item.kind == ItemKind::Message && item.sender.is_none() { "true" } else { "false" });
    if let Some(t) = item.sent_at {
        x.leaf("t:DateTimeSent", &rfc3339(t));
    }
    x.leaf("t:DateTimeCreated", &rfc3339(item.created_at));
    if item.kind == ItemKind::Message {
        x.leaf("t:DisplayCc", &display_list(&item.cc));
        x.leaf("t:DisplayTo", &display_list(&item.to));
    }
    x.leaf("t:HasAttachments", "false");
    x.leaf("t:LastModifiedTime", &rfc3339(item.modified_at));
    match item.kind {
        ItemKind::Message => {
            if let Some(s) = &item.sender {
                render_single(x, "t:Sender", s);
            }
            for (name, list) in
                [("t:ToRecipients", &item.to), ("t:CcRecipients", &item.cc), ("t:BccRecipients", &item.bcc)]
            {
                if !list.is_empty() {
                    x.open(name, &[]);
                    for a in list {
                        render_mailbox(x, a);
                    }
                    x.close(name);
                }
            }
            if let Some(s) = &item.sender {
                render_single(x, "t:From", s);
            }
            x.leaf("t:IsRead", if item.is_read { "true" } else { "false" });
        }
        ItemKind::Contact => {
            if let Some(d) = &item.display_name {
                x.leaf("t:FileAs", d);
                x.leaf("t:DisplayName", d);
            }
            if let Some(g) = &item.given_name {
                x.leaf("t:GivenName", g);
            }
            if let Some(c) = &item.company_name {
                x.leaf("t:CompanyName", c);
            }
            render_entries(x, "t:EmailAddresses", &item.email_addresses);
            render_entries(x, "t:PhoneNumbers", &item.phone_numbers);
            render_entries(x, "t:ImAddresses", &item.im_addresses);
            if let Some(j) = &item.job_title {
                x.leaf("t:JobTitle", j);
            }
            if let Some(s) = &item.surname {
                x.leaf("t:Surname", s);
            }
        }
    }
    x.close(tag);
}

fn render_single(x: &mut Xml, name: &str, a: &Address) {
    x.open(name, &[]);
    render_mailbox(x, a);
    x.close(name);
}

fn render_mailbox(x: &mut Xml, a: &Address) {
    x.open("t:Mailbox", &[]);
    x.leaf("t:Name", a.name.as_deref().unwrap_or(&a.email));
    x.leaf("t:EmailAddress", &a.email);
    x.leaf("t:RoutingType", "SMTP");
    x.leaf("t:MailboxType", "Mailbox");
    x.close("t:Mailbox");
}

fn render_entries(x: &mut Xml, name: &str, entries: &[Entry]) {
    if entries.is_empty() {
        return;
    }
    x.open(name, &[]);
    for e in entries {
        x.leaf_with("t:Entry", &[("Key", &e.key)], &e.value);
    }
    x.close(name);
}

fn display_list(list: &[Address]) -> String {
    list.iter().map(|a| a.name.clone().unwrap_or_else(|| a.email.clone())).collect::<Vec<_>>().join("; ")
}

/// Unix seconds as `2024-01-02T03:04:05Z`.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| String::from("1970-01-01T00:00:00Z"))
}

/// An item element carrying only its id (what CreateItem and UpdateItem answer).
pub fn render_item_id(x: &mut Xml, item: &ItemRecord) {
    let tag = item_tag(item.kind);
    x.open(tag, &[]);
    x.empty("t:ItemId", &[("Id", &item.id), ("ChangeKey", &item.change_key)]);
    x.close(tag);
}
