//! EWS requests, typed: the SOAP header blocks we honour (`ExchangeImpersonation`,
//! `RequestServerVersion`) and the operations we serve, read from the element tree `soap` built.
//! A request that does not fit the EWS schema where we rely on it is a [`RequestError`] (a SOAP
//! fault); elements we do not model are ignored, as Exchange ignores what it does not need.
//! Per-item checks (required fields, ids that exist) belong to the operations, not here. Field
//! URIs are parsed here, once ([`field_uri`]); restrictions ([`restriction`]) and item values
//! ([`item`]) have their own modules.

pub mod field_uri;
pub mod item;
pub mod restriction;

pub use self::field_uri::{FieldUri, PropertyPath, UnknownFieldUri};
pub use self::item::{ContactFields, FieldValue, ItemFields, MailboxAddress, MessageFields, NewItem};
pub use self::restriction::{Comparison, ContainmentMode, Restriction};

use super::soap::{Element, Envelope};
use super::writer::{M_NS, T_NS};

/// The operations we serve.
pub const SUPPORTED: &[&str] = &["GetFolder", "FindItem", "GetItem", "CreateItem", "UpdateItem", "DeleteItem"];

/// A request that cannot be served as written (answered with an `ErrorSchemaValidation` fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// One EWS request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `ExchangeImpersonation/ConnectingSID`.
    pub impersonation: Option<UserId>,
    /// `RequestServerVersion/@Version`.
    pub server_version: Option<String>,
    pub operation: Operation,
}

/// Who `ExchangeImpersonation` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserId {
    PrimarySmtpAddress(String),
    SmtpAddress(String),
    PrincipalName(String),
    Sid(String),
}

/// An operation and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    GetFolder(GetFolder),
    FindItem(FindItem),
    GetItem(GetItem),
    CreateItem(CreateItem),
    UpdateItem(UpdateItem),
    DeleteItem(DeleteItem),
    /// Any other element in the body: its local name.
    Unsupported(String),
}

/// A folder named by distinguished id (with an optional mailbox) or by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderRef {
    Distinguished { id: String, mailbox: Option<String> },
    Id { id: String, change_key: Option<String> },
}

/// An item id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRef {
    pub id: String,
    pub change_key: Option<String>,
}

/// `BaseShape`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseShape {
    IdOnly,
    Default,
    AllProperties,
}

/// `ItemShape`/`FolderShape`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub base: BaseShape,
    /// The paths of `AdditionalProperties`.
    pub additional: Vec<PropertyPath>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetFolder {
    pub shape: Shape,
    pub folders: Vec<FolderRef>,
}

/// `FindItem/@Traversal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traversal {
    Shallow,
    SoftDeleted,
    Associated,
}

/// `IndexedPageItemView`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub max: Option<u64>,
    pub offset: u64,
    pub from_end: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FindItem {
    pub shape: Shape,
    pub traversal: Traversal,
    pub paging: Option<Paging>,
    pub restriction: Option<Restriction>,
    /// `SortOrder/FieldOrder`s.
    pub sort: Vec<SortKey>,
    pub folders: Vec<FolderRef>,
}

/// One `SortOrder/FieldOrder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub path: PropertyPath,
    pub ascending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetItem {
    pub shape: Shape,
    pub items: Vec<ItemRef>,
}

/// `CreateItem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateItem {
    /// `SaveOnly`, `SendOnly`, `SendAndSaveCopy`.
    pub disposition: Option<String>,
    pub saved_folder: Option<FolderRef>,
    pub items: Vec<NewItem>,
}

/// `UpdateItem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateItem {
    /// `AlwaysOverwrite` (default in our reading: `AutoResolve`), `AutoResolve`, `NeverOverwrite`.
    pub conflict_resolution: String,
    pub changes: Vec<ItemChange>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemChange {
    pub item: ItemRef,
    pub updates: Vec<FieldUpdate>,
}

/// One `SetItemField`, `AppendToItemField` or `DeleteItemField`: the path, and for a set or an
/// append the value its item element carries for that path (`None`: nothing to write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldUpdate {
    Set { path: PropertyPath, value: Option<FieldValue> },
    Append { path: PropertyPath, value: Option<FieldValue> },
    Delete { path: PropertyPath },
}

/// `DeleteItem/@DeleteType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteType {
    HardDelete,
    SoftDelete,
    MoveToDeletedItems,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteItem {
    pub delete_type: DeleteType,
    pub items: Vec<ItemRef>,
}

impl Operation {
    /// The operation's name (`GetFolder`, …).
    pub fn name(&self) -> &str {
        match self {
            Self::GetFolder(_) => "GetFolder",
            Self::FindItem(_) => "FindItem",
            Self::GetItem(_) => "GetItem",
            Self::CreateItem(_) => "CreateItem",
            Self::UpdateItem(_) => "UpdateItem",
            Self::DeleteItem(_) => "DeleteItem",
            Self::Unsupported(name) => name,
        }
    }
}

/// Reads a request from a parsed envelope.
pub fn read(envelope: &Envelope) -> Result<Request, RequestError> {
    let mut impersonation = None;
    let mut server_version = None;
    for block in &envelope.header {
        if block.is(T_NS, "ExchangeImpersonation") {
            let sid =
                block.child(T_NS, "ConnectingSID").ok_or_else(|| bad("ExchangeImpersonation has no ConnectingSID"))?;
            impersonation = Some(user_id(sid)?);
        } else if block.is(T_NS, "RequestServerVersion") {
            server_version = block.attr("Version").map(str::to_owned);
        }
    }
    let body = &envelope.body;
    let operation = if body.ns != M_NS || !SUPPORTED.contains(&body.name.as_str()) {
        Operation::Unsupported(body.name.clone())
    } else {
        match body.name.as_str() {
            "GetFolder" => Operation::GetFolder(get_folder(body)?),
            "FindItem" => Operation::FindItem(find_item(body)?),
            "GetItem" => Operation::GetItem(get_item(body)?),
            "CreateItem" => Operation::CreateItem(create_item(body)?),
            "UpdateItem" => Operation::UpdateItem(update_item(body)?),
            "DeleteItem" => Operation::DeleteItem(delete_item(body)?),
            other => Operation::Unsupported(other.to_owned()),
        }
    };
    Ok(Request { impersonation, server_version, operation })
}

fn bad(text: impl Into<String>) -> RequestError {
    RequestError(text.into())
}

fn user_id(sid: &Element) -> Result<UserId, RequestError> {
    for child in &sid.children {
        if child.ns != T_NS {
            continue;
        }
        let v = child.trimmed().to_owned();
        if v.is_empty() {
            continue;
        }
        match child.name.as_str() {
            "PrimarySmtpAddress" => return Ok(UserId::PrimarySmtpAddress(v)),
            "SmtpAddress" => return Ok(UserId::SmtpAddress(v)),
            "PrincipalName" => return Ok(UserId::PrincipalName(v)),
            "SID" => return Ok(UserId::Sid(v)),
            _ => {}
        }
    }
    Err(bad("ConnectingSID names no PrimarySmtpAddress, SmtpAddress, PrincipalName or SID"))
}

fn shape(op: &Element, name: &str) -> Result<Shape, RequestError> {
    let el = op.child(M_NS, name).ok_or_else(|| bad(format!("{} has no {name}", op.name)))?;
    let base = match el.child_text(T_NS, "BaseShape") {
        Some("IdOnly") => BaseShape::IdOnly,
        Some("Default") => BaseShape::Default,
        Some("AllProperties") => BaseShape::AllProperties,
        Some(other) => return Err(bad(format!("BaseShape `{other}` is not IdOnly, Default or AllProperties"))),
        None => return Err(bad(format!("{name} has no BaseShape"))),
    };
    let additional = el
        .child(T_NS, "AdditionalProperties")
        .map(|a| a.children.iter().filter_map(PropertyPath::of_element).collect())
        .unwrap_or_default();
    Ok(Shape { base, additional })
}

fn folder_refs(container: &Element) -> Result<Vec<FolderRef>, RequestError> {
    let mut out = Vec::new();
    for child in &container.children {
        if child.ns != T_NS {
            continue;
        }
        out.push(folder_ref(child)?);
    }
    Ok(out)
}

fn folder_ref(el: &Element) -> Result<FolderRef, RequestError> {
    let id = || el.attr("Id").map(str::to_owned).filter(|s| !s.is_empty());
    match el.name.as_str() {
        "DistinguishedFolderId" => {
            let id = id().ok_or_else(|| bad("DistinguishedFolderId has no Id"))?;
            let mailbox = el
                .child(T_NS, "Mailbox")
                .and_then(|m| m.child_text(T_NS, "EmailAddress"))
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            Ok(FolderRef::Distinguished { id, mailbox })
        }
        "FolderId" => Ok(FolderRef::Id {
            id: id().ok_or_else(|| bad("FolderId has no Id"))?,
            change_key: el.attr("ChangeKey").map(str::to_owned),
        }),
        other => Err(bad(format!("`{other}` is not a FolderId or DistinguishedFolderId"))),
    }
}

fn item_refs(container: &Element) -> Result<Vec<ItemRef>, RequestError> {
    let mut out = Vec::new();
    for child in &container.children {
        if child.ns != T_NS {
            continue;
        }
        if child.name != "ItemId" {
            return Err(bad(format!("`{}` item ids are not supported; send ItemId", child.name)));
        }
        out.push(item_ref(child)?);
    }
    Ok(out)
}

fn item_ref(el: &Element) -> Result<ItemRef, RequestError> {
    Ok(ItemRef {
        id: el.attr("Id").filter(|s| !s.is_empty()).ok_or_else(|| bad("ItemId has no Id"))?.to_owned(),
        change_key: el.attr("ChangeKey").map(str::to_owned),
    })
}

fn get_folder(op: &Element) -> Result<GetFolder, RequestError> {
    let shape = shape(op, "FolderShape")?;
    let ids = op.child(M_NS, "FolderIds").ok_or_else(|| bad("GetFolder has no FolderIds"))?;
    let folders = folder_refs(ids)?;
    if folders.is_empty() {
        return Err(bad("GetFolder names no folder"));
    }
    Ok(GetFolder { shape, folders })
}

fn find_item(op: &Element) -> Result<FindItem, RequestError> {
    let traversal = match op.attr("Traversal") {
        Some("Shallow") => Traversal::Shallow,
        Some("SoftDeleted") => Traversal::SoftDeleted,
        Some("Associated") => Traversal::Associated,
        Some(other) => {
            return Err(bad(format!("FindItem Traversal `{other}` is not Shallow, SoftDeleted or Associated")));
        }
        None => return Err(bad("FindItem has no Traversal")),
    };
    let shape = shape(op, "ItemShape")?;
    let paging = match op.child(M_NS, "IndexedPageItemView") {
        Some(view) => Some(Paging {
            max: view.attr("MaxEntriesReturned").map(|v| number(v, "MaxEntriesReturned")).transpose()?,
            offset: number(view.attr("Offset").unwrap_or("0"), "Offset")?,
            from_end: match view.attr("BasePoint") {
                Some("Beginning") | None => false,
                Some("End") => true,
                Some(other) => return Err(bad(format!("BasePoint `{other}` is not Beginning or End"))),
            },
        }),
        None => {
            if let Some(other) = op.children.iter().find(|c| {
                c.ns == M_NS && matches!(c.name.as_str(), "FractionalPageItemView" | "CalendarView" | "ContactsView")
            }) {
                return Err(bad(format!("{} is not supported; page with IndexedPageItemView", other.name)));
            }
            None
        }
    };
    if op.child(M_NS, "GroupBy").is_some() || op.child(M_NS, "DistinguishedGroupBy").is_some() {
        return Err(bad("grouped FindItem is not supported"));
    }
    let restriction = match op.child(M_NS, "Restriction") {
        Some(r) => {
            let inner = r.children.iter().find(|c| c.ns == T_NS).ok_or_else(|| bad("Restriction is empty"))?;
            Some(restriction::read(inner)?)
        }
        None => None,
    };
    let mut sort = Vec::new();
    if let Some(order) = op.child(M_NS, "SortOrder") {
        for f in order.children_named(T_NS, "FieldOrder") {
            let path =
                f.children.iter().find_map(PropertyPath::of_element).ok_or_else(|| bad("FieldOrder names no field"))?;
            let ascending = !matches!(f.attr("Order"), Some("Descending"));
            sort.push(SortKey { path, ascending });
        }
    }
    let ids = op.child(M_NS, "ParentFolderIds").ok_or_else(|| bad("FindItem has no ParentFolderIds"))?;
    let folders = folder_refs(ids)?;
    if folders.is_empty() {
        return Err(bad("FindItem names no folder"));
    }
    Ok(FindItem { shape, traversal, paging, restriction, sort, folders })
}

fn number(text: &str, what: &str) -> Result<u64, RequestError> {
    text.trim().parse().map_err(|_| bad(format!("{what} `{text}` is not a non-negative integer")))
}

fn get_item(op: &Element) -> Result<GetItem, RequestError> {
    let shape = shape(op, "ItemShape")?;
    let ids = op.child(M_NS, "ItemIds").ok_or_else(|| bad("GetItem has no ItemIds"))?;
    let items = item_refs(ids)?;
    if items.is_empty() {
        return Err(bad("GetItem names no item"));
    }
    Ok(GetItem { shape, items })
}

fn create_item(op: &Element) -> Result<CreateItem, RequestError> {
    let disposition = op.attr("MessageDisposition").map(str::to_owned);
    if let Some(d) = &disposition
        && !matches!(d.as_str(), "SaveOnly" | "SendOnly" | "SendAndSaveCopy")
    {
        return Err(bad(format!("MessageDisposition `{d}` is not SaveOnly, SendOnly or SendAndSaveCopy")));
    }
    let saved_folder = match op.child(M_NS, "SavedItemFolderId") {
        Some(s) => {
            let inner = s.children.iter().find(|c| c.ns == T_NS).ok_or_else(|| bad("SavedItemFolderId is empty"))?;
            Some(folder_ref(inner)?)
        }
        None => None,
    };
    let container = op.child(M_NS, "Items").ok_or_else(|| bad("CreateItem has no Items"))?;
    let items: Vec<NewItem> = container.children.iter().filter(|c| c.ns == T_NS).map(NewItem::read).collect();
    if items.is_empty() {
        return Err(bad("CreateItem has no items"));
    }
    Ok(CreateItem { disposition, saved_folder, items })
}

fn update_item(op: &Element) -> Result<UpdateItem, RequestError> {
    let conflict_resolution = op.attr("ConflictResolution").unwrap_or("AutoResolve").to_owned();
    if !matches!(conflict_resolution.as_str(), "NeverOverwrite" | "AutoResolve" | "AlwaysOverwrite") {
        return Err(bad(format!("ConflictResolution `{conflict_resolution}` is not supported")));
    }
    let container = op.child(M_NS, "ItemChanges").ok_or_else(|| bad("UpdateItem has no ItemChanges"))?;
    let mut changes = Vec::new();
    for change in container.children_named(T_NS, "ItemChange") {
        let id = change.child(T_NS, "ItemId").ok_or_else(|| bad("ItemChange has no ItemId"))?;
        let item = item_ref(id)?;
        let updates_el = change.child(T_NS, "Updates").ok_or_else(|| bad("ItemChange has no Updates"))?;
        let mut updates = Vec::new();
        for u in updates_el.children.iter().filter(|c| c.ns == T_NS) {
            let path = field_path(u)?;
            let field = path.field_uri();
            let value = || {
                u.children
                    .iter()
                    .find(|c| c.ns == T_NS && matches!(c.name.as_str(), "Item" | "Message" | "Contact"))
                    .map(|el| field.and_then(|field| FieldValue::read(field, el)))
                    .ok_or_else(|| bad(format!("{} carries no item value", u.name)))
            };
            updates.push(match u.name.as_str() {
                "SetItemField" => FieldUpdate::Set { path, value: value()? },
                "AppendToItemField" => FieldUpdate::Append { path, value: value()? },
                "DeleteItemField" => FieldUpdate::Delete { path },
                other => return Err(bad(format!("`{other}` is not an item update"))),
            });
        }
        changes.push(ItemChange { item, updates });
    }
    if changes.is_empty() {
        return Err(bad("UpdateItem has no ItemChange"));
    }
    Ok(UpdateItem { conflict_resolution, changes })
}

/// The path an item update names (an indexed one must carry its index).
fn field_path(u: &Element) -> Result<PropertyPath, RequestError> {
    for c in u.children.iter().filter(|c| c.ns == T_NS) {
        match c.name.as_str() {
            "FieldURI" => {
                return Ok(PropertyPath::field(c.attr("FieldURI").ok_or_else(|| bad("FieldURI has no value"))?));
            }
            "IndexedFieldURI" => {
                return Ok(PropertyPath::indexed(
                    c.attr("FieldURI").ok_or_else(|| bad("IndexedFieldURI has no FieldURI"))?,
                    c.attr("FieldIndex").ok_or_else(|| bad("IndexedFieldURI has no FieldIndex"))?,
                ));
            }
            "ExtendedFieldURI" => return Ok(PropertyPath::Extended),
            _ => {}
        }
    }
    Err(bad(format!("{} names no field", u.name)))
}

fn delete_item(op: &Element) -> Result<DeleteItem, RequestError> {
    let delete_type = match op.attr("DeleteType") {
        Some("HardDelete") => DeleteType::HardDelete,
        Some("SoftDelete") => DeleteType::SoftDelete,
        Some("MoveToDeletedItems") => DeleteType::MoveToDeletedItems,
        Some(other) => {
            return Err(bad(format!("DeleteType `{other}` is not HardDelete, SoftDelete or MoveToDeletedItems")));
        }
        None => return Err(bad("DeleteItem has no DeleteType")),
    };
    let ids = op.child(M_NS, "ItemIds").ok_or_else(|| bad("DeleteItem has no ItemIds"))?;
    let items = item_refs(ids)?;
    if items.is_empty() {
        return Err(bad("DeleteItem names no item"));
    }
    Ok(DeleteItem { delete_type, items })
}
