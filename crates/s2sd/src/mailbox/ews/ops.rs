//! The operations: each takes a typed request and the session (who, which mailbox, what grant),
//! reads and writes through the mailbox store, and renders its response messages — one per
//! requested folder or item, `ResponseClass="Error"` with the EWS code where Exchange gives one.
//! Each request writes at most once per kind of change, in one store transaction, and only what
//! passed every check.

use std::collections::HashMap;
use std::sync::Arc;

use super::request::{
    BaseShape, Comparison, ContainmentMode, CreateItem, DeleteItem, DeleteType, FieldPath, FieldUpdate, FindItem,
    FolderRef, GetFolder, GetItem, ItemFields, ItemRef, MailboxAddress, NewItem, Restriction, Shape, Traversal,
    UpdateItem,
};
use super::writer::{M_NS, T_NS, Xml};
use crate::mailbox::{self, AccessError, Grant, MailboxError, Session, folder};
use crate::store::StoreError;
use crate::store::mailbox::{
    Address, Entry, FolderRecord, ItemKind, ItemMove, ItemOrder, ItemRecord, MailboxStore, UserRecord,
};

/// A per-folder or per-item failure: an EWS response code and its message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EwsError {
    pub code: &'static str,
    pub text: String,
}

/// A failure of the whole request (a store failure): answered with a SOAP fault.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OpFailed(#[from] pub StoreError);

/// What one operation needs.
pub struct Ctx<'a> {
    pub store: &'a Arc<dyn MailboxStore>,
    pub session: &'a Session,
    pub now: i64,
}

/// What the caller wants to do in a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    /// GetFolder: see the folder itself.
    Look,
    /// FindItem/GetItem/UpdateItem/DeleteItem.
    Read,
    /// CreateItem into it.
    Write,
}

/// A resolved folder with its mailbox and that mailbox's folders.
struct Located {
    mailbox: UserRecord,
    folder: FolderRecord,
    all: Vec<FolderRecord>,
}

impl EwsError {
    fn new(code: &'static str, text: impl Into<String>) -> Self {
        Self { code, text: text.into() }
    }
}

impl From<AccessError> for EwsError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::ImpersonateUserDenied(t) => Self::new("ErrorImpersonateUserDenied", t),
            AccessError::AccessDenied(t) => Self::new("ErrorAccessDenied", t),
            AccessError::NonExistentMailbox(t) => Self::new("ErrorNonExistentMailbox", t),
        }
    }
}

impl Ctx<'_> {
    /// The mailbox user `id`, if the session may open its mailbox, with the grant.
    async fn mailbox_by_id(&self, id: &str) -> Result<Result<(UserRecord, Grant), EwsError>, OpFailed> {
        if id == self.session.mailbox.id {
            return Ok(Ok((self.session.mailbox.clone(), self.session.grant)));
        }
        let Some(user) = self.store.user(id).await? else {
            return Ok(Err(EwsError::new("ErrorNonExistentMailbox", "The mailbox no longer exists.")));
        };
        Ok(self.session.grant_for(&user).map(|g| (user, g)).map_err(EwsError::from))
    }

    /// Resolves a folder reference and checks the session may do `intent` there.
    async fn locate(&self, r: &FolderRef, intent: Intent) -> Result<Result<Located, EwsError>, OpFailed> {
        let (mailbox, grant, folder, all) = match r {
            FolderRef::Distinguished { id, mailbox } => {
                let (user, grant) = match mailbox {
                    None => (self.session.mailbox.clone(), self.session.grant),
                    Some(address) => {
                        let user = match mailbox::find_by_address(self.store, address).await {
                            Ok(u) => u,
                            Err(MailboxError::Store(e)) => return Err(e.into()),
                            Err(_) => {
                                return Ok(Err(EwsError::new(
                                    "ErrorNonExistentMailbox",
                                    format!("No mailbox with such guid or smtp address: {address}."),
                                )));
                            }
                        };
                        match self.session.grant_for(&user) {
                            Ok(g) => (user, g),
                            Err(e) => return Ok(Err(e.into())),
                        }
                    }
                };
                let all = self.store.folders(&user.id).await?;
                let wanted = id.to_ascii_lowercase();
                let Some(folder) = all.iter().find(|f| f.distinguished.as_deref() == Some(wanted.as_str())).cloned()
                else {
                    return Ok(Err(EwsError::new(
                        "ErrorFolderNotFound",
                        format!("The specified folder could not be found in the store: there is no `{id}` folder."),
                    )));
                };
                (user, grant, folder, all)
            }
            FolderRef::Id { id, .. } => {
                let Some(folder) = self.store.folder(id).await? else {
                    return Ok(Err(EwsError::new(
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                    )));
                };
                let (user, grant) = match self.mailbox_by_id(&folder.user_id).await? {
                    Ok(x) => x,
                    Err(e) => return Ok(Err(e)),
                };
                let all = self.store.folders(&user.id).await?;
                (user, grant, folder, all)
            }
        };
        if grant == Grant::ArchiveWrite {
            let archive = mailbox::is_archive_folder(&folder, &all);
            let allowed = archive && matches!(intent, Intent::Look | Intent::Write);
            if !allowed {
                return Ok(Err(EwsError::new(
                    "ErrorAccessDenied",
                    format!(
                        "Access is denied. The ArchiveApplication role allows writing to the archive folders of {} only.",
                        mailbox.smtp
                    ),
                )));
            }
        }
        Ok(Ok(Located { mailbox, folder, all }))
    }

    /// Loads an item the session may read (Full grant on its mailbox).
    async fn readable_item(&self, r: &ItemRef) -> Result<Result<(ItemRecord, UserRecord), EwsError>, OpFailed> {
        let Some(item) = self.store.item(&r.id).await? else {
            return Ok(Err(not_found()));
        };
        match self.mailbox_by_id(&item.user_id).await? {
            Ok((user, Grant::Full)) => Ok(Ok((item, user))),
            Ok((user, Grant::ArchiveWrite)) => Ok(Err(EwsError::new(
                "ErrorAccessDenied",
                format!("Access is denied. The ArchiveApplication role does not allow reading items of {}.", user.smtp),
            ))),
            Err(e) => Ok(Err(e)),
        }
    }
}

fn not_found() -> EwsError {
    EwsError::new("ErrorItemNotFound", "The specified object was not found in the store.")
}

// ---------------------------------------------------------------------------------------------
// Operations

pub async fn get_folder(ctx: &Ctx<'_>, req: &GetFolder) -> Result<String, OpFailed> {
    let mut x = response_start("GetFolder");
    for r in &req.folders {
        match ctx.locate(r, Intent::Look).await? {
            Ok(located) => {
                let counts = ctx.store.folder_counts(&located.folder.id).await?;
                let children =
                    located.all.iter().filter(|f| f.parent_id.as_deref() == Some(&located.folder.id)).count();
                success("GetFolder", &mut x);
                x.open("m:Folders", &[]);
                render_folder(&mut x, &located.folder, &req.shape, counts.total, counts.unread, children);
                x.close("m:Folders");
                x.close("m:GetFolderResponseMessage");
            }
            Err(e) => error_message("GetFolder", &mut x, &e, Some("m:Folders")),
        }
    }
    Ok(response_end("GetFolder", x))
}

pub async fn find_item(ctx: &Ctx<'_>, req: &FindItem) -> Result<String, OpFailed> {
    let mut x = response_start("FindItem");
    for r in &req.folders {
        let located = match ctx.locate(r, Intent::Read).await? {
            Ok(l) => l,
            Err(e) => {
                error_message("FindItem", &mut x, &e, None);
                continue;
            }
        };
        if let Some(restriction) = &req.restriction
            && let Err(e) = check_restriction(restriction)
        {
            error_message("FindItem", &mut x, &e, None);
            continue;
        }
        if let Some((field, _)) = req.sort.iter().find(|(f, _)| !sortable(f)) {
            error_message(
                "FindItem",
                &mut x,
                &EwsError::new("ErrorUnsupportedPathForSortGroup", format!("Sorting by {field} is not supported.")),
                None,
            );
            continue;
        }
        let (items, total, offset) = match req.traversal {
            Traversal::Associated | Traversal::SoftDeleted => (Vec::new(), 0, 0),
            Traversal::Shallow => page(ctx, &located.folder, req).await?,
        };
        let shown = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let next = offset + shown;
        let includes_last = next >= total;
        success("FindItem", &mut x);
        let (next_text, total_text) = (next.to_string(), total.to_string());
        x.open(
            "m:RootFolder",
            &[
                ("IndexedPagingOffset", &next_text),
                ("TotalItemsInView", &total_text),
                ("IncludesLastItemInRange", if includes_last { "true" } else { "false" }),
            ],
        );
        x.open("t:Items", &[]);
        for item in &items {
            render_item(&mut x, item, &located.folder, &req.shape, false);
        }
        x.close("t:Items");
        x.close("m:RootFolder");
        x.close("m:FindItemResponseMessage");
    }
    Ok(response_end("FindItem", x))
}

/// One page of a folder's items for FindItem: items, total in view, offset of the first.
async fn page(ctx: &Ctx<'_>, folder: &FolderRecord, req: &FindItem) -> Result<(Vec<ItemRecord>, u64, u64), OpFailed> {
    let received_sort = match req.sort.first() {
        None => Some(ItemOrder::ReceivedDescending),
        Some((f, asc)) if req.sort.len() == 1 && f == "item:DateTimeReceived" => {
            Some(if *asc { ItemOrder::ReceivedAscending } else { ItemOrder::ReceivedDescending })
        }
        _ => None,
    };
    let paging = req.paging;
    let max = paging.and_then(|p| p.max).unwrap_or(u64::MAX);
    let requested_offset = paging.map_or(0, |p| p.offset);
    let from_end = paging.is_some_and(|p| p.from_end);
    match (received_sort, &req.restriction, from_end) {
        (Some(order), None, false) => {
            // The common case: let the store page.
            let page = ctx.store.items_page(&folder.id, order, requested_offset, max).await?;
            Ok((page.items, page.total, requested_offset))
        }
        _ => {
            let order = received_sort.unwrap_or(ItemOrder::ReceivedDescending);
            let mut all = ctx.store.items_page(&folder.id, order, 0, u64::MAX).await?.items;
            if let Some(r) = &req.restriction {
                all.retain(|item| matches_restriction(item, r));
            }
            if received_sort.is_none() {
                sort_items(&mut all, &req.sort);
            }
            let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
            let start = if from_end {
                total.saturating_sub(requested_offset).saturating_sub(max.min(total))
            } else {
                requested_offset.min(total)
            };
            let end =
                if from_end { total.saturating_sub(requested_offset) } else { start.saturating_add(max).min(total) };
            let (s, e) = (usize::try_from(start).unwrap_or(usize::MAX), usize::try_from(end).unwrap_or(usize::MAX));
            let items = all.get(s..e.max(s)).map(<[ItemRecord]>::to_vec).unwrap_or_default();
            Ok((items, total, start))
        }
    }
}

pub async fn get_item(ctx: &Ctx<'_>, req: &GetItem) -> Result<String, OpFailed> {
    let mut x = response_start("GetItem");
    for r in &req.items {
        match ctx.readable_item(r).await? {
            Ok((item, _)) => {
                let parent = ctx.store.folder(&item.folder_id).await?;
                success("GetItem", &mut x);
                x.open("m:Items", &[]);
                if let Some(parent) = parent {
                    render_item(&mut x, &item, &parent, &req.shape, true);
                }
                x.close("m:Items");
                x.close("m:GetItemResponseMessage");
            }
            Err(e) => error_message("GetItem", &mut x, &e, Some("m:Items")),
        }
    }
    Ok(response_end("GetItem", x))
}

pub async fn create_item(ctx: &Ctx<'_>, req: &CreateItem) -> Result<String, OpFailed> {
    // The explicit target folder, resolved once for all items.
    let explicit = match &req.saved_folder {
        Some(r) => Some(ctx.locate(r, Intent::Write).await?),
        None => None,
    };
    let mut outcomes: Vec<Result<ItemRecord, EwsError>> = Vec::with_capacity(req.items.len());
    let mut defaults: HashMap<&'static str, Result<Located, EwsError>> = HashMap::new();
    for new in &req.items {
        let (kind, fields) = match new {
            NewItem::Message(f) => (ItemKind::Message, f),
            NewItem::Contact(f) => (ItemKind::Contact, f),
            NewItem::Unsupported(name) => {
                outcomes.push(Err(EwsError::new(
                    "ErrorInvalidItemForOperation",
                    format!("Items of type {name} are not supported by this server; it stores messages and contacts."),
                )));
                continue;
            }
        };
        if kind == ItemKind::Message {
            match req.disposition.as_deref() {
                Some("SaveOnly") => {}
                None => {
                    outcomes.push(Err(EwsError::new(
                        "ErrorMessageDispositionRequired",
                        "MessageDisposition is required for messages (this server saves them: SaveOnly).",
                    )));
                    continue;
                }
                Some(other) => {
                    outcomes.push(Err(EwsError::new(
                        "ErrorInvalidOperation",
                        format!(
                            "MessageDisposition {other} would send mail, which this server does not do; save the message with SaveOnly."
                        ),
                    )));
                    continue;
                }
            }
        }
        let target = match &explicit {
            Some(Ok(l)) => l,
            Some(Err(e)) => {
                outcomes.push(Err(e.clone()));
                continue;
            }
            None => {
                let name = if kind == ItemKind::Contact { folder::CONTACTS } else { folder::DRAFTS };
                if !defaults.contains_key(name) {
                    let r = FolderRef::Distinguished { id: name.to_owned(), mailbox: None };
                    let located = ctx.locate(&r, Intent::Write).await?;
                    defaults.insert(name, located);
                }
                match defaults.get(name) {
                    Some(Ok(l)) => l,
                    Some(Err(e)) => {
                        outcomes.push(Err(e.clone()));
                        continue;
                    }
                    None => continue,
                }
            }
        };
        outcomes.push(new_item(kind, fields, &target.mailbox, &target.folder, ctx.now));
    }
    let valid: Vec<ItemRecord> = outcomes.iter().filter_map(|o| o.as_ref().ok().cloned()).collect();
    ctx.store.insert_items(&valid).await?;
    let mut x = response_start("CreateItem");
    for outcome in &outcomes {
        match outcome {
            Ok(item) => {
                success("CreateItem", &mut x);
                x.open("m:Items", &[]);
                let tag = item_tag(item.kind);
                x.open(tag, &[]);
                x.empty("t:ItemId", &[("Id", &item.id), ("ChangeKey", &item.change_key)]);
                x.close(tag);
                x.close("m:Items");
                x.close("m:CreateItemResponseMessage");
            }
            Err(e) => error_message("CreateItem", &mut x, e, Some("m:Items")),
        }
    }
    Ok(response_end("CreateItem", x))
}

/// A new item from request fields, or the per-item error.
fn new_item(
    kind: ItemKind,
    f: &ItemFields,
    owner: &UserRecord,
    folder: &FolderRecord,
    now: i64,
) -> Result<ItemRecord, EwsError> {
    let mut item = ItemRecord {
        id: mailbox::new_id(),
        change_key: mailbox::new_change_key(),
        user_id: owner.id.clone(),
        folder_id: folder.id.clone(),
        kind,
        item_class: match kind {
            ItemKind::Message => "IPM.Note".into(),
            ItemKind::Contact => "IPM.Contact".into(),
        },
        subject: None,
        body: None,
        body_type: "Text".into(),
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
        created_at: now,
        modified_at: now,
        sent_at: None,
        received_at: Some(now),
    };
    if let Some(class) = f.item_class.as_deref().filter(|c| !c.is_empty()) {
        let expected = if kind == ItemKind::Contact { "IPM.Contact" } else { "IPM." };
        if !class.starts_with(expected) || class.len() > 255 {
            return Err(EwsError::new(
                "ErrorObjectTypeChanged",
                format!("ItemClass {class} does not fit a {} item.", item_tag(kind).trim_start_matches("t:")),
            ));
        }
        item.item_class = class.to_owned();
    }
    apply_fields(&mut item, f, None)?;
    if kind == ItemKind::Message {
        item.sent_at = Some(now);
        if item.subject.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(EwsError::new("ErrorRequiredPropertyMissing", "The required property Subject is missing."));
        }
    } else {
        item.received_at = Some(now);
        if item.display_name.is_none() {
            item.display_name = contact_display_name(&item, f.file_as.as_deref());
        }
        if item.display_name.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(EwsError::new(
                "ErrorRequiredPropertyMissing",
                "The required property DisplayName is missing (give DisplayName, GivenName, Surname or FileAs).",
            ));
        }
    }
    Ok(item)
}

fn contact_display_name(item: &ItemRecord, file_as: Option<&str>) -> Option<String> {
    let names: Vec<&str> =
        [item.given_name.as_deref(), item.surname.as_deref()].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    if names.is_empty() { file_as.filter(|s| !s.trim().is_empty()).map(str::to_owned) } else { Some(names.join(" ")) }
}

/// Copies the fields present in `f` into `item`; with `only`, just that field (for SetItemField).
fn apply_fields(item: &mut ItemRecord, f: &ItemFields, only: Option<&FieldPath>) -> Result<(), EwsError> {
    let want = |uri: &str| match only {
        None => true,
        Some(FieldPath::Field(u)) => u == uri,
        Some(FieldPath::Indexed { uri: u, .. }) => u == uri,
        Some(FieldPath::Extended) => false,
    };
    if want("item:Subject")
        && let Some(s) = &f.subject
    {
        item.subject = Some(s.clone());
    }
    if want("item:Body")
        && let Some((kind, text)) = &f.body
    {
        item.body_type = if kind.eq_ignore_ascii_case("HTML") { "HTML".into() } else { "Text".into() };
        item.body = Some(text.clone());
    }
    if want("message:IsRead")
        && let Some(r) = f.is_read
    {
        item.is_read = r;
    }
    if item.kind == ItemKind::Message {
        if want("message:From")
            && let Some(m) = &f.from
        {
            item.sender = Some(address_of(m)?);
        }
        if want("message:Sender")
            && let Some(m) = &f.sender
        {
            item.sender = Some(address_of(m)?);
        }
        for (uri, list, target) in [
            ("message:ToRecipients", &f.to, &mut item.to),
            ("message:CcRecipients", &f.cc, &mut item.cc),
            ("message:BccRecipients", &f.bcc, &mut item.bcc),
        ] {
            if want(uri)
                && let Some(list) = list
            {
                *target = list.iter().map(address_of).collect::<Result<_, _>>()?;
            }
        }
    }
    if item.kind == ItemKind::Contact {
        for (uri, value, target) in [
            ("contacts:GivenName", &f.given_name, &mut item.given_name),
            ("contacts:Surname", &f.surname, &mut item.surname),
            ("contacts:DisplayName", &f.display_name, &mut item.display_name),
            ("contacts:CompanyName", &f.company_name, &mut item.company_name),
            ("contacts:JobTitle", &f.job_title, &mut item.job_title),
        ] {
            if want(uri)
                && let Some(v) = value
            {
                *target = Some(v.trim().to_owned()).filter(|s| !s.is_empty());
            }
        }
        for (uri, value, target) in [
            ("contacts:EmailAddress", &f.email_addresses, &mut item.email_addresses),
            ("contacts:ImAddress", &f.im_addresses, &mut item.im_addresses),
            ("contacts:PhoneNumber", &f.phone_numbers, &mut item.phone_numbers),
        ] {
            if (want(uri) || want(&format!("{uri}es")) || want(&format!("{uri}s")))
                && let Some(entries) = value
            {
                let entries = entries
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| Entry { key: k.clone(), value: v.clone() })
                    .collect::<Vec<_>>();
                match only {
                    // An indexed set replaces that one entry; a whole set replaces the list.
                    Some(FieldPath::Indexed { index, .. }) => {
                        target.retain(|e| &e.key != index);
                        target.extend(entries.into_iter().filter(|e| &e.key == index));
                    }
                    _ => *target = entries,
                }
            }
        }
    }
    Ok(())
}

fn address_of(m: &MailboxAddress) -> Result<Address, EwsError> {
    let email = m.email.as_deref().map(str::trim).filter(|e| e.contains('@')).ok_or_else(|| {
        EwsError::new(
            "ErrorInvalidRecipients",
            format!("A recipient ({}) has no valid e-mail address.", m.name.as_deref().unwrap_or("unnamed")),
        )
    })?;
    Ok(Address { name: m.name.clone(), email: email.to_owned() })
}

pub async fn update_item(ctx: &Ctx<'_>, req: &UpdateItem) -> Result<String, OpFailed> {
    let mut outcomes: Vec<Result<(ItemRecord, String), EwsError>> = Vec::with_capacity(req.changes.len());
    for change in &req.changes {
        let (mut item, _) = match ctx.readable_item(&change.item).await? {
            Ok(x) => x,
            Err(e) => {
                outcomes.push(Err(e));
                continue;
            }
        };
        if req.conflict_resolution == "NeverOverwrite"
            && change.item.change_key.as_deref().is_some_and(|ck| ck != item.change_key)
        {
            outcomes.push(Err(EwsError::new(
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            )));
            continue;
        }
        let expected = item.change_key.clone();
        let mut failed = None;
        for update in &change.updates {
            let result = match update {
                FieldUpdate::Set { path, value } => apply_fields(&mut item, value, Some(path)),
                FieldUpdate::Append { path, value } => append_field(&mut item, value, path),
                FieldUpdate::Delete { path } => {
                    delete_field(&mut item, path);
                    Ok(())
                }
            };
            if let Err(e) = result {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            outcomes.push(Err(e));
            continue;
        }
        item.change_key = mailbox::new_change_key();
        item.modified_at = ctx.now;
        outcomes.push(Ok((item, expected)));
    }
    let writes: Vec<(ItemRecord, String)> = outcomes.iter().filter_map(|o| o.as_ref().ok().cloned()).collect();
    let written = ctx.store.update_items(&writes).await?;
    let mut done = written.into_iter();
    let mut x = response_start("UpdateItem");
    for outcome in &outcomes {
        match outcome {
            Ok((item, _)) if done.next().unwrap_or(false) => {
                success("UpdateItem", &mut x);
                x.open("m:Items", &[]);
                let tag = item_tag(item.kind);
                x.open(tag, &[]);
                x.empty("t:ItemId", &[("Id", &item.id), ("ChangeKey", &item.change_key)]);
                x.close(tag);
                x.close("m:Items");
                x.open("m:ConflictResults", &[]);
                x.leaf("t:Count", "0");
                x.close("m:ConflictResults");
                x.close("m:UpdateItemResponseMessage");
            }
            Ok(_) => error_message(
                "UpdateItem",
                &mut x,
                &EwsError::new(
                    "ErrorIrresolvableConflict",
                    "The item was changed or deleted by another request meanwhile; read it again and retry.",
                ),
                Some("m:Items"),
            ),
            Err(e) => error_message("UpdateItem", &mut x, e, Some("m:Items")),
        }
    }
    Ok(response_end("UpdateItem", x))
}

fn append_field(item: &mut ItemRecord, value: &ItemFields, path: &FieldPath) -> Result<(), EwsError> {
    let FieldPath::Field(uri) = path else { return apply_fields(item, value, Some(path)) };
    match uri.as_str() {
        "message:ToRecipients" | "message:CcRecipients" | "message:BccRecipients" if item.kind == ItemKind::Message => {
            let (list, target) = match uri.as_str() {
                "message:ToRecipients" => (&value.to, &mut item.to),
                "message:CcRecipients" => (&value.cc, &mut item.cc),
                _ => (&value.bcc, &mut item.bcc),
            };
            for m in list.iter().flatten() {
                target.push(address_of(m)?);
            }
            Ok(())
        }
        "item:Body" => {
            if let Some((_, text)) = &value.body {
                item.body.get_or_insert_with(String::new).push_str(text);
            }
            Ok(())
        }
        _ => apply_fields(item, value, Some(path)),
    }
}

fn delete_field(item: &mut ItemRecord, path: &FieldPath) {
    match path {
        FieldPath::Field(uri) => match uri.as_str() {
            "item:Subject" => item.subject = None,
            "item:Body" => item.body = None,
            "message:From" | "message:Sender" => item.sender = None,
            "message:ToRecipients" => item.to.clear(),
            "message:CcRecipients" => item.cc.clear(),
            "message:BccRecipients" => item.bcc.clear(),
            "contacts:GivenName" => item.given_name = None,
            "contacts:Surname" => item.surname = None,
            "contacts:DisplayName" => item.display_name = None,
            "contacts:CompanyName" => item.company_name = None,
            "contacts:JobTitle" => item.job_title = None,
            "contacts:EmailAddresses" => item.email_addresses.clear(),
            "contacts:ImAddresses" => item.im_addresses.clear(),
            "contacts:PhoneNumbers" => item.phone_numbers.clear(),
            _ => {}
        },
        FieldPath::Indexed { uri, index } => match uri.as_str() {
            "contacts:EmailAddress" => item.email_addresses.retain(|e| &e.key != index),
            "contacts:ImAddress" => item.im_addresses.retain(|e| &e.key != index),
            "contacts:PhoneNumber" => item.phone_numbers.retain(|e| &e.key != index),
            _ => {}
        },
        FieldPath::Extended => {}
    }
}

pub async fn delete_item(ctx: &Ctx<'_>, req: &DeleteItem) -> Result<String, OpFailed> {
    enum Plan {
        Delete(String),
        Move(ItemMove),
    }
    let mut outcomes: Vec<Result<Plan, EwsError>> = Vec::with_capacity(req.items.len());
    let mut folders_of: HashMap<String, Vec<FolderRecord>> = HashMap::new();
    for r in &req.items {
        let (item, owner) = match ctx.readable_item(r).await? {
            Ok(x) => x,
            Err(e) => {
                outcomes.push(Err(e));
                continue;
            }
        };
        if !folders_of.contains_key(&owner.id) {
            folders_of.insert(owner.id.clone(), ctx.store.folders(&owner.id).await?);
        }
        let folders = folders_of.get(&owner.id).map(Vec::as_slice).unwrap_or_default();
        let find = |name: &str| folders.iter().find(|f| f.distinguished.as_deref() == Some(name));
        let current = folders.iter().find(|f| f.id == item.folder_id).and_then(|f| f.distinguished.as_deref());
        let destination = match req.delete_type {
            DeleteType::HardDelete => None,
            DeleteType::SoftDelete => find(folder::RECOVERABLE_ITEMS_DELETIONS),
            DeleteType::MoveToDeletedItems if current == Some(folder::DELETED_ITEMS) => {
                find(folder::RECOVERABLE_ITEMS_DELETIONS)
            }
            DeleteType::MoveToDeletedItems => find(folder::DELETED_ITEMS),
        };
        let plan = match destination {
            // Deleting from the dumpster itself is final.
            Some(d) if current != Some(folder::RECOVERABLE_ITEMS_DELETIONS) => Plan::Move(ItemMove {
                id: item.id.clone(),
                folder_id: d.id.clone(),
                change_key: mailbox::new_change_key(),
                modified_at: ctx.now,
            }),
            _ => Plan::Delete(item.id.clone()),
        };
        outcomes.push(Ok(plan));
    }
    let deletes: Vec<String> =
        outcomes.iter().filter_map(|o| if let Ok(Plan::Delete(id)) = o { Some(id.clone()) } else { None }).collect();
    let moves: Vec<ItemMove> =
        outcomes.iter().filter_map(|o| if let Ok(Plan::Move(m)) = o { Some(m.clone()) } else { None }).collect();
    let mut deleted = if deletes.is_empty() { Vec::new() } else { ctx.store.delete_items(&deletes).await? }.into_iter();
    let mut moved = if moves.is_empty() { Vec::new() } else { ctx.store.move_items(&moves).await? }.into_iter();
    let mut x = response_start("DeleteItem");
    for outcome in &outcomes {
        let done = match outcome {
            Ok(Plan::Delete(_)) => deleted.next().unwrap_or(false),
            Ok(Plan::Move(_)) => moved.next().unwrap_or(false),
            Err(e) => {
                error_message("DeleteItem", &mut x, e, None);
                continue;
            }
        };
        if done {
            success("DeleteItem", &mut x);
            x.close("m:DeleteItemResponseMessage");
        } else {
            error_message("DeleteItem", &mut x, &not_found(), None);
        }
    }
    Ok(response_end("DeleteItem", x))
}

// ---------------------------------------------------------------------------------------------
// Restrictions and sorting

/// The value of a field we can filter or sort on.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Time(i64),
    Bool(bool),
}

fn field_value(item: &ItemRecord, uri: &str) -> Option<Value> {
    let text = |s: &Option<String>| s.clone().map(Value::Text);
    match uri {
        "item:Subject" => text(&item.subject),
        "item:Body" => text(&item.body),
        "item:ItemClass" => Some(Value::Text(item.item_class.clone())),
        "item:DateTimeReceived" => item.received_at.map(Value::Time),
        "item:DateTimeCreated" => Some(Value::Time(item.created_at)),
        "item:DateTimeSent" => item.sent_at.map(Value::Time),
        "item:LastModifiedTime" => Some(Value::Time(item.modified_at)),
        "message:IsRead" => Some(Value::Bool(item.is_read)),
        "message:From" | "message:Sender" => item.sender.as_ref().map(|a| Value::Text(a.email.clone())),
        "contacts:DisplayName" => text(&item.display_name),
        "contacts:GivenName" => text(&item.given_name),
        "contacts:Surname" => text(&item.surname),
        "contacts:CompanyName" => text(&item.company_name),
        "contacts:JobTitle" => text(&item.job_title),
        _ => None,
    }
}

const FILTERABLE: &[&str] = &[
    "item:Subject",
    "item:Body",
    "item:ItemClass",
    "item:DateTimeReceived",
    "item:DateTimeCreated",
    "item:DateTimeSent",
    "item:LastModifiedTime",
    "message:IsRead",
    "message:From",
    "message:Sender",
    "contacts:DisplayName",
    "contacts:GivenName",
    "contacts:Surname",
    "contacts:CompanyName",
    "contacts:JobTitle",
];

fn sortable(uri: &str) -> bool {
    FILTERABLE.contains(&uri) && uri != "item:Body"
}

fn check_restriction(r: &Restriction) -> Result<(), EwsError> {
    let unsupported =
        |f: &str| EwsError::new("ErrorUnsupportedPathForQuery", format!("Filtering on {f} is not supported."));
    match r {
        Restriction::And(v) | Restriction::Or(v) => v.iter().try_for_each(check_restriction),
        Restriction::Not(inner) => check_restriction(inner),
        Restriction::Exists(f) | Restriction::Compare { field: f, .. } | Restriction::Contains { field: f, .. } => {
            if FILTERABLE.contains(&f.as_str()) {
                Ok(())
            } else {
                Err(unsupported(f))
            }
        }
    }
}

fn matches_restriction(item: &ItemRecord, r: &Restriction) -> bool {
    match r {
        Restriction::And(v) => v.iter().all(|r| matches_restriction(item, r)),
        Restriction::Or(v) => v.iter().any(|r| matches_restriction(item, r)),
        Restriction::Not(inner) => !matches_restriction(item, inner),
        Restriction::Exists(f) => field_value(item, f).is_some(),
        Restriction::Compare { field, op, value } => {
            let Some(actual) = field_value(item, field) else { return *op == Comparison::NotEqual };
            let ordering = match &actual {
                Value::Text(t) => Some(t.to_lowercase().cmp(&value.to_lowercase())),
                Value::Time(t) => parse_time(value).map(|c| t.cmp(&c)),
                Value::Bool(b) => value.parse::<bool>().ok().map(|c| b.cmp(&c)),
            };
            let Some(ordering) = ordering else { return false };
            match op {
                Comparison::Equal => ordering.is_eq(),
                Comparison::NotEqual => ordering.is_ne(),
                Comparison::Greater => ordering.is_gt(),
                Comparison::GreaterOrEqual => ordering.is_ge(),
                Comparison::Less => ordering.is_lt(),
                Comparison::LessOrEqual => ordering.is_le(),
            }
        }
        Restriction::Contains { field, value, mode, ignore_case } => {
            let Some(Value::Text(actual)) = field_value(item, field) else { return false };
            let (a, v) =
                if *ignore_case { (actual.to_lowercase(), value.to_lowercase()) } else { (actual, value.clone()) };
            match mode {
                ContainmentMode::FullString => a == v,
                ContainmentMode::Prefixed => a.starts_with(&v),
                ContainmentMode::Substring | ContainmentMode::ExactPhrase => a.contains(&v),
                ContainmentMode::PrefixOnWords => a.split_whitespace().any(|w| w.starts_with(&v)),
            }
        }
    }
}

fn sort_items(items: &mut [ItemRecord], order: &[(String, bool)]) {
    items.sort_by(|a, b| {
        for (field, ascending) in order {
            let (va, vb) = (field_value(a, field), field_value(b, field));
            let ord = match (va, vb) {
                (Some(Value::Text(x)), Some(Value::Text(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
                (Some(Value::Time(x)), Some(Value::Time(y))) => x.cmp(&y),
                (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Greater,
                (None, Some(_)) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Equal,
            };
            let ord = if *ascending { ord } else { ord.reverse() };
            if ord.is_ne() {
                return ord;
            }
        }
        b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id))
    });
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn response_start(op: &str) -> Xml {
    let mut x = Xml::new();
    x.open(&format!("m:{op}Response"), &[("xmlns:m", M_NS), ("xmlns:t", T_NS)]);
    x.open("m:ResponseMessages", &[]);
    x
}

fn response_end(op: &str, mut x: Xml) -> String {
    x.close("m:ResponseMessages");
    x.close(&format!("m:{op}Response"));
    x.finish()
}

/// Opens a success message (the caller adds content and closes it).
fn success(op: &str, x: &mut Xml) {
    x.open(&format!("m:{op}ResponseMessage"), &[("ResponseClass", "Success")]);
    x.leaf("m:ResponseCode", "NoError");
}

/// A whole error message, with an empty container element if the operation has one.
fn error_message(op: &str, x: &mut Xml, e: &EwsError, container: Option<&str>) {
    let tag = format!("m:{op}ResponseMessage");
    x.open(&tag, &[("ResponseClass", "Error")]);
    x.leaf("m:MessageText", &e.text);
    x.leaf("m:ResponseCode", e.code);
    x.leaf("m:DescriptiveLinkKey", "0");
    if let Some(c) = container {
        x.empty(c, &[]);
    }
    x.close(&tag);
}

fn render_folder(x: &mut Xml, f: &FolderRecord, shape: &Shape, total: u64, unread: u64, children: usize) {
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

fn item_tag(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Message => "t:Message",
        ItemKind::Contact => "t:Contact",
    }
}

/// Renders an item: only its id for a bare IdOnly shape, else every field we keep (the body only
/// when `with_body`: FindItem never returns bodies, as in Exchange).
fn render_item(x: &mut Xml, item: &ItemRecord, parent: &FolderRecord, shape: &Shape, with_body: bool) {
    let tag = item_tag(item.kind);
    x.open(tag, &[]);
    x.empty("t:ItemId", &[("Id", &item.id), ("ChangeKey", &item.change_key)]);
    if shape.base == BaseShape::IdOnly && shape.additional.is_empty() {
        x.close(tag);
        return;
    }
    x.empty("t:ParentFolderId", &[("Id", &parent.id), ("ChangeKey", &parent.change_key)]);
    x.leaf("t:ItemClass", &item.item_class);
    if let Some(s) = &item.subject {
        x.leaf("t:Subject", s);
    }
    x.leaf("t:Sensitivity", "Normal");
    if with_body && let Some(b) = &item.body {
        x.leaf_with("t:Body", &[("BodyType", &item.body_type)], b);
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

fn parse_time(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}
