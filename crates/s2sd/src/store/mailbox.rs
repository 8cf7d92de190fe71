//! The mailbox store: mailbox users, their folders and items, and the management role
//! assignments that give a partner's linked account its rights — behind one [`MailboxStore`] trait.
//!
//! Mailbox data is data, not configuration: no write here bumps the configuration version, and
//! a running server reads it per request rather than from a published snapshot. Every write is
//! still one transaction (a request's items are wholly stored or not at all). Like [`super::Store`],
//! it never reads the clock, never invents ids and never decides who may see what: the caller
//! passes times and ids in, and `crate::mailbox` makes the decisions. A [`MailboxDump`] carries
//! all of it from one store to another, whatever their backends.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::StoreError;

/// A mailbox user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct UserRecord {
    /// Lower-case GUID.
    pub id: String,
    /// Primary SMTP address; unique, compared case-insensitively (as are the next three).
    pub smtp: String,
    /// SIP address without the `sip:` prefix.
    pub sip: String,
    /// User principal name.
    pub upn: String,
    /// Windows SID (`s-1-5-21-…`, lower-case), when known.
    pub sid: Option<String>,
    pub display_name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// One folder of a user's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct FolderRecord {
    /// Opaque EWS folder id.
    pub id: String,
    pub user_id: String,
    /// `None` for a root.
    pub parent_id: Option<String>,
    /// EWS distinguished folder id (`inbox`, `conversationhistory`, …), unique per user.
    pub distinguished: Option<String>,
    pub display_name: String,
    /// `IPF.Note`, `IPF.Contact`, … (empty for roots).
    pub folder_class: String,
    pub change_key: String,
    /// Order within the user's folder list.
    pub position: i64,
}

/// Messages or contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Message,
    Contact,
}

/// An item's class: `IPM.Note`, `IPM.Contact` or another `IPM.` class (a subclass such as
/// `IPM.Note.Microsoft.Conversation`), kept as written. Stored (and serialised) as its text; a
/// stored text that is not an `IPM.` class of at most 255 bytes is a corrupt value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ItemClass {
    /// `IPM.Note`: a message.
    Note,
    /// `IPM.Contact`: a contact.
    Contact,
    /// Any other `IPM.` class; [`ItemClass::parse`] never puts `IPM.Note` or `IPM.Contact` here.
    Other(String),
}

/// The format of an item's body. Stored (and serialised) as `Text` or `HTML`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BodyType {
    #[default]
    Text,
    #[serde(rename = "HTML")]
    Html,
}

/// A management role that gives a linked account rights over mailboxes. Stored (and serialised)
/// as `UserApplication` or `ArchiveApplication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Act on any mailbox (through impersonation or by naming it).
    UserApplication,
    /// Write items into the archive folders of any mailbox.
    ArchiveApplication,
}

/// A named e-mail address (sender, recipient).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

/// A keyed entry of a contact (`EmailAddress1`, `BusinessPhone`, `ImAddress1`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub value: String,
}

/// A stored item: a message or a contact. Contact fields are empty for messages and the
/// message fields (sender, recipients) for contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// Opaque EWS item id.
    pub id: String,
    /// Changes with every write of the item.
    pub change_key: String,
    pub user_id: String,
    pub folder_id: String,
    pub kind: ItemKind,
    pub item_class: ItemClass,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub body_type: BodyType,
    pub sender: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub is_read: bool,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub display_name: Option<String>,
    pub company_name: Option<String>,
    pub job_title: Option<String>,
    pub email_addresses: Vec<Entry>,
    /// Instant-messaging (SIP) addresses.
    pub im_addresses: Vec<Entry>,
    pub phone_numbers: Vec<Entry>,
    /// Unix seconds.
    pub created_at: i64,
    pub modified_at: i64,
    pub sent_at: Option<i64>,
    pub received_at: Option<i64>,
}

/// A role assignment: `role` granted to the mailbox user `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignmentRecord {
    pub role: Role,
    pub user_id: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Every mailbox user with its folders, items and role assignments, read in one consistent state:
/// a portable copy of a store's mailbox data, from one backend to another
/// ([`MailboxStore::mailbox_dump`], [`MailboxStore::import_mailbox`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxDump {
    /// Ordered as [`MailboxStore::users`] orders them.
    pub users: Vec<UserRecord>,
    /// Ordered by user id, then position (then id).
    pub folders: Vec<FolderRecord>,
    /// Ordered by user id, then `created_at`, then id.
    pub items: Vec<ItemRecord>,
    /// Ordered as [`MailboxStore::role_assignments`] orders them.
    pub role_assignments: Vec<RoleAssignmentRecord>,
}

/// Which users to find: any given value matches its own column, case-insensitively; a user
/// matching several values is returned once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserLookup {
    pub smtp: Option<String>,
    pub sip: Option<String>,
    pub upn: Option<String>,
    pub sid: Option<String>,
}

/// How a page of a folder's items is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOrder {
    /// Newest received first (Exchange's default view); ties by id.
    ReceivedDescending,
    /// Oldest received first.
    ReceivedAscending,
}

/// A page of a folder's items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPage {
    pub items: Vec<ItemRecord>,
    /// Items in the folder (all pages).
    pub total: u64,
}

/// Moves an item to another folder with a new change key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemMove {
    pub id: String,
    pub folder_id: String,
    pub change_key: String,
    pub modified_at: i64,
}

/// Item and unread counts of one folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderCounts {
    pub total: u64,
    pub unread: u64,
}

/// The mailbox store. Used as `Arc<dyn MailboxStore>`; each write is one transaction.
#[async_trait::async_trait]
pub trait MailboxStore: Send + Sync + 'static {
    /// The store's URL, for messages; never includes a password.
    fn mailbox_url(&self) -> String;

    /// All users, ordered by SMTP address (case-insensitively).
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Users matching any value of `lookup` (see [`UserLookup`]), ordered by SMTP address.
    async fn find_users(&self, lookup: &UserLookup) -> Result<Vec<UserRecord>, StoreError>;

    /// Stores a user with its folders (parents before children), in one transaction.
    /// [`StoreError::Duplicate`] when the id, SMTP, SIP, UPN or SID is taken.
    async fn insert_user(&self, user: &UserRecord, folders: &[FolderRecord]) -> Result<(), StoreError>;

    /// Removes a user with its folders, items and role assignments. false when absent.
    async fn remove_user(&self, id: &str) -> Result<bool, StoreError>;

    /// A user's folders, in `position` order.
    async fn folders(&self, user_id: &str) -> Result<Vec<FolderRecord>, StoreError>;

    async fn folder(&self, id: &str) -> Result<Option<FolderRecord>, StoreError>;

    /// Item and unread counts of a folder (zero for an unknown folder).
    async fn folder_counts(&self, folder_id: &str) -> Result<FolderCounts, StoreError>;

    /// One page of a folder's items: skip `offset`, at most `limit`.
    async fn items_page(
        &self,
        folder_id: &str,
        order: ItemOrder,
        offset: u64,
        limit: u64,
    ) -> Result<ItemPage, StoreError>;

    /// Every item of a user, ordered by folder position, then newest received first.
    async fn user_items(&self, user_id: &str) -> Result<Vec<ItemRecord>, StoreError>;

    async fn item(&self, id: &str) -> Result<Option<ItemRecord>, StoreError>;

    /// Stores new items, all or none. [`StoreError::Duplicate`] on an id clash.
    async fn insert_items(&self, items: &[ItemRecord]) -> Result<(), StoreError>;

    /// Replaces each item whose stored change key is the paired expected one, in one
    /// transaction; per item, false when it is absent or its change key differs (that item is
    /// left alone, the others are written).
    async fn update_items(&self, updates: &[(ItemRecord, String)]) -> Result<Vec<bool>, StoreError>;

    /// Moves items, in one transaction; false per item that is absent.
    async fn move_items(&self, moves: &[ItemMove]) -> Result<Vec<bool>, StoreError>;

    /// Deletes items, in one transaction; false per item that is absent.
    async fn delete_items(&self, ids: &[String]) -> Result<Vec<bool>, StoreError>;

    /// All role assignments, ordered by role, then user id.
    async fn role_assignments(&self) -> Result<Vec<RoleAssignmentRecord>, StoreError>;

    /// The roles assigned to one user, sorted.
    async fn roles_of(&self, user_id: &str) -> Result<Vec<Role>, StoreError>;

    /// [`StoreError::Duplicate`] when the user has the role already.
    async fn insert_role_assignment(&self, record: &RoleAssignmentRecord) -> Result<(), StoreError>;

    /// false when the user did not have the role.
    async fn remove_role_assignment(&self, role: Role, user_id: &str) -> Result<bool, StoreError>;

    /// All mailbox data, read in one transaction (one consistent state), ordered as
    /// [`MailboxDump`] says.
    async fn mailbox_dump(&self) -> Result<MailboxDump, StoreError>;

    /// Loads `dump` in one transaction: users, then folders (parents before children, whatever
    /// their order in the dump), items and role assignments. [`StoreError::NotEmpty`] when the store
    /// holds any mailbox user, unless `replace`, which deletes all mailbox data first. Nothing is
    /// written when any record fails ([`StoreError::Duplicate`], a folder or user that does not
    /// exist, …).
    async fn import_mailbox(&self, dump: &MailboxDump, replace: bool) -> Result<(), StoreError>;
}

impl ItemClass {
    /// The longest class we keep.
    pub const MAX_LEN: usize = 255;

    /// The class named by `text` (exactly as written): `None` unless it starts with `IPM.` and
    /// has at most [`ItemClass::MAX_LEN`] bytes.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "IPM.Note" => Some(Self::Note),
            "IPM.Contact" => Some(Self::Contact),
            _ if text.starts_with("IPM.") && text.len() <= Self::MAX_LEN => Some(Self::Other(text.to_owned())),
            _ => None,
        }
    }

    /// The default class of an item of this kind.
    pub fn of(kind: ItemKind) -> Self {
        match kind {
            ItemKind::Message => Self::Note,
            ItemKind::Contact => Self::Contact,
        }
    }

    /// The text: stored, serialised and shown in EWS.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Note => "IPM.Note",
            Self::Contact => "IPM.Contact",
            Self::Other(text) => text,
        }
    }
}

impl fmt::Display for ItemClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl TryFrom<String> for ItemClass {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or_else(|| format!("`{text}` is not an item class (IPM.…)"))
    }
}

impl From<ItemClass> for String {
    fn from(class: ItemClass) -> Self {
        match class {
            ItemClass::Other(text) => text,
            known => known.as_str().to_owned(),
        }
    }
}

impl BodyType {
    /// The stored (and EWS) spelling: `Text` or `HTML`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "Text",
            Self::Html => "HTML",
        }
    }

    /// The body type stored as `text` (exactly `Text` or `HTML`).
    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "Text" => Some(Self::Text),
            "HTML" => Some(Self::Html),
            _ => None,
        }
    }
}

impl fmt::Display for BodyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Role {
    /// The name as admins type it, and as it is stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserApplication => "UserApplication",
            Self::ArchiveApplication => "ArchiveApplication",
        }
    }

    /// The role stored as `text` (exactly as [`Role::as_str`] spells it).
    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "UserApplication" => Some(Self::UserApplication),
            "ArchiveApplication" => Some(Self::ArchiveApplication),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// `folders` reordered so that every folder comes after its parent (roots first, then their
/// children, …), keeping the given order otherwise. Folders whose parent is not among them (or that
/// form a cycle) come last, in their given order: inserting them fails on the missing parent.
pub(super) fn parents_first(folders: &[FolderRecord]) -> Vec<&FolderRecord> {
    let mut placed: std::collections::HashSet<&str> = std::collections::HashSet::with_capacity(folders.len());
    let mut ordered = Vec::with_capacity(folders.len());
    let mut pending: Vec<&FolderRecord> = folders.iter().collect();
    loop {
        let before = pending.len();
        pending.retain(|folder| match folder.parent_id.as_deref() {
            Some(parent) if !placed.contains(parent) => true,
            _ => {
                placed.insert(folder.id.as_str());
                ordered.push(*folder);
                false
            }
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    ordered.extend(pending);
    ordered
}

/// What a store's mailbox data holds, for [`StoreError::NotEmpty`].
pub(super) fn mailbox_contents(users: i64) -> String {
    match users {
        1 => String::from("1 mailbox user"),
        n => format!("{n} mailbox users"),
    }
}
