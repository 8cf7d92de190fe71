//! The Exchange role's mailboxes: users (primary SMTP, SIP, UPN, optional SID, display name),
//! their well-known folders, their items, and the decision of who may open which mailbox.
//!
//! Who the caller is comes from the validator ([`s2s::validate::Validated`]); this module turns
//! it into a mailbox principal: an act-as token's user claims resolve to exactly one mailbox user
//! (protocol reference §3.3 step 10: by SID when `nii` is Active Directory and the partner accepts
//! SID information, else by SMTP/SIP/UPN; none is 6001, several 6002), and an app-only token acts
//! as its partner's linked account with that account's role assignments (`UserApplication`: any
//! mailbox; `ArchiveApplication`: the archive folders of any mailbox). It owns ids and change keys
//! (random, opaque base64) and the folder layout. It never parses SOAP (that is `ews`) and never
//! writes SQL (that is `crate::store`).

pub mod ews;
#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use s2s::token::UserClaims;
use s2s::validate::{TokenKind, Validated};

use crate::store::StoreError;
use crate::store::mailbox::{FolderRecord, MailboxStore, UserLookup, UserRecord};

/// `nii` of a Windows SID issued by Active Directory.
pub const NII_ACTIVE_DIRECTORY: &str = "urn:office:idp:activedirectory";

/// The distinguished folder ids every mailbox has.
pub mod folder {
    pub const ROOT: &str = "root";
    pub const MSG_FOLDER_ROOT: &str = "msgfolderroot";
    pub const INBOX: &str = "inbox";
    pub const DRAFTS: &str = "drafts";
    pub const SENT_ITEMS: &str = "sentitems";
    pub const DELETED_ITEMS: &str = "deleteditems";
    pub const CONVERSATION_HISTORY: &str = "conversationhistory";
    pub const CONTACTS: &str = "contacts";
    pub const RECOVERABLE_ITEMS_ROOT: &str = "recoverableitemsroot";
    pub const RECOVERABLE_ITEMS_DELETIONS: &str = "recoverableitemsdeletions";
    pub const ARCHIVE_ROOT: &str = "archiveroot";
    pub const ARCHIVE_MSG_FOLDER_ROOT: &str = "archivemsgfolderroot";
}

/// One well-known folder: distinguished id, parent's distinguished id, display name, class.
#[derive(Debug, Clone, Copy)]
pub struct FolderSpec {
    pub distinguished: &'static str,
    pub parent: Option<&'static str>,
    pub display_name: &'static str,
    pub folder_class: &'static str,
}

/// The folders created with every mailbox, parents first.
pub const FOLDERS: &[FolderSpec] = &[
    spec(folder::ROOT, None, "Root", ""),
    spec(folder::MSG_FOLDER_ROOT, Some(folder::ROOT), "Top of Information Store", "IPF.Note"),
    spec(folder::INBOX, Some(folder::MSG_FOLDER_ROOT), "Inbox", "IPF.Note"),
    spec(folder::DRAFTS, Some(folder::MSG_FOLDER_ROOT), "Drafts", "IPF.Note"),
    spec(folder::SENT_ITEMS, Some(folder::MSG_FOLDER_ROOT), "Sent Items", "IPF.Note"),
    spec(folder::DELETED_ITEMS, Some(folder::MSG_FOLDER_ROOT), "Deleted Items", "IPF.Note"),
    spec(folder::CONVERSATION_HISTORY, Some(folder::MSG_FOLDER_ROOT), "Conversation History", "IPF.Note"),
    spec(folder::CONTACTS, Some(folder::MSG_FOLDER_ROOT), "Contacts", "IPF.Contact"),
    spec(folder::RECOVERABLE_ITEMS_ROOT, Some(folder::ROOT), "Recoverable Items", ""),
    spec(folder::RECOVERABLE_ITEMS_DELETIONS, Some(folder::RECOVERABLE_ITEMS_ROOT), "Deletions", ""),
    spec(folder::ARCHIVE_ROOT, None, "Archive Root", ""),
    spec(folder::ARCHIVE_MSG_FOLDER_ROOT, Some(folder::ARCHIVE_ROOT), "Archive", "IPF.Note"),
];

const fn spec(
    distinguished: &'static str,
    parent: Option<&'static str>,
    display_name: &'static str,
    folder_class: &'static str,
) -> FolderSpec {
    FolderSpec { distinguished, parent, display_name, folder_class }
}

/// A management role that gives a linked account rights over mailboxes (a typed column of the
/// store); admins type it in any case (see its `FromStr`).
pub use crate::store::mailbox::Role;

/// What went wrong in the mailbox domain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailboxError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An address that is not `local@domain`.
    #[error("`{0}` is not an address (expected local@domain)")]
    InvalidAddress(String),
    /// A SID that is not `S-1-…`.
    #[error("`{0}` is not a Windows SID (expected S-1-5-21-…)")]
    InvalidSid(String),
    /// A role name we do not know.
    #[error("unknown role `{0}`: expected UserApplication or ArchiveApplication")]
    UnknownRole(String),
    /// No mailbox user has this address.
    #[error("no mailbox user has the address {0} (see s2sd mailbox user list)")]
    NoSuchUser(String),
    /// Several mailbox users match an address.
    #[error("the address {0} matches several mailbox users; use the primary SMTP address")]
    AmbiguousUser(String),
}

/// Why a token's caller has no mailbox identity: answered with 401 and `x-ms-diagnostics`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// 6001: no mailbox user matches the token's user claims.
    #[error("{0}")]
    NoUserFoundWithGivenClaims(String),
    /// 6002: more than one mailbox user matches.
    #[error("{0}")]
    MoreThan1UserFoundWithGivenClaims(String),
    /// An app-only token from a partner without a linked account.
    #[error("{0}")]
    NoLinkedAccount(String),
    /// The partner's linked account is not a mailbox user.
    #[error("{0}")]
    LinkedAccountNotFound(String),
}

/// Why a caller may not open a mailbox (or a folder of it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// Impersonating (or opening as an application) another user's mailbox without the role for it.
    #[error("{0}")]
    ImpersonateUserDenied(String),
    /// The mailbox or folder is not the caller's to open.
    #[error("{0}")]
    AccessDenied(String),
    /// No mailbox user has the address.
    #[error("{0}")]
    NonExistentMailbox(String),
}

/// Who is calling, as far as mailboxes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An act-as token: a partner acting for this user, with the user's own rights.
    User { partner: String, user: UserRecord },
    /// An app-only token: a partner acting as its linked account, with that account's roles.
    Application { partner: String, linked: UserRecord, roles: Vec<Role> },
}

/// What a caller may do in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Everything: it is the caller's own mailbox, or the caller holds `UserApplication`.
    Full,
    /// Only look up and write into the archive folders (`ArchiveApplication`).
    ArchiveWrite,
}

/// A request's mailbox context: the principal and the mailbox it works in by default (its own,
/// or the one it impersonates).
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// The default mailbox of the request.
    pub mailbox: UserRecord,
    /// What the principal may do there.
    pub grant: Grant,
}

impl FromStr for Role {
    type Err = MailboxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("UserApplication") {
            Ok(Self::UserApplication)
        } else if s.eq_ignore_ascii_case("ArchiveApplication") {
            Ok(Self::ArchiveApplication)
        } else {
            Err(MailboxError::UnknownRole(s.to_owned()))
        }
    }
}

impl IdentityError {
    /// The Exchange error number for `x-ms-diagnostics`.
    pub fn code(&self) -> u32 {
        match self {
            Self::NoUserFoundWithGivenClaims(_) | Self::LinkedAccountNotFound(_) => 6001,
            Self::MoreThan1UserFoundWithGivenClaims(_) => 6002,
            Self::NoLinkedAccount(_) => 2015,
        }
    }

    /// The Exchange error name.
    pub fn exchange_name(&self) -> &'static str {
        match self {
            Self::NoUserFoundWithGivenClaims(_) | Self::LinkedAccountNotFound(_) => "NoUserFoundWithGivenClaims",
            Self::MoreThan1UserFoundWithGivenClaims(_) => "MoreThan1UserFoundWithGivenClaims",
            Self::NoLinkedAccount(_) => "TokenProfileNotApplicable",
        }
    }

    /// Stable snake-case reason (log field, metrics label).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoUserFoundWithGivenClaims(_) => "no_user_found",
            Self::MoreThan1UserFoundWithGivenClaims(_) => "more_than_one_user_found",
            Self::NoLinkedAccount(_) => "no_linked_account",
            Self::LinkedAccountNotFound(_) => "linked_account_not_found",
        }
    }

    /// The `error_category` of `x-ms-diagnostics`.
    pub fn category(&self) -> &'static str {
        match self {
            Self::NoUserFoundWithGivenClaims(_) | Self::MoreThan1UserFoundWithGivenClaims(_) => "invalid_user",
            Self::NoLinkedAccount(_) | Self::LinkedAccountNotFound(_) => "invalid_token",
        }
    }
}

impl Principal {
    /// The principal's own mailbox (the user, or the linked account).
    pub fn own_mailbox(&self) -> &UserRecord {
        match self {
            Self::User { user, .. } => user,
            Self::Application { linked, .. } => linked,
        }
    }

    /// The partner application calling.
    pub fn partner(&self) -> &str {
        match self {
            Self::User { partner, .. } | Self::Application { partner, .. } => partner,
        }
    }

    /// What this principal may do in `mailbox`; `impersonating` says whether it asked to run as
    /// that mailbox's user (ExchangeImpersonation) rather than just to open it.
    pub fn grant_for(&self, mailbox: &UserRecord, impersonating: bool) -> Result<Grant, AccessError> {
        if mailbox.id == self.own_mailbox().id {
            return Ok(Grant::Full);
        }
        match self {
            Self::User { user, .. } => {
                if impersonating {
                    Err(AccessError::ImpersonateUserDenied(format!(
                        "The account {} does not have permission to impersonate the requested user {}.",
                        user.smtp, mailbox.smtp
                    )))
                } else {
                    Err(AccessError::AccessDenied(format!(
                        "Access is denied. {} may open only its own mailbox, not {}.",
                        user.smtp, mailbox.smtp
                    )))
                }
            }
            Self::Application { partner, linked, roles } => {
                if roles.contains(&Role::UserApplication) {
                    Ok(Grant::Full)
                } else if roles.contains(&Role::ArchiveApplication) {
                    Ok(Grant::ArchiveWrite)
                } else {
                    Err(AccessError::ImpersonateUserDenied(format!(
                        "The account {} (linked account of partner application {partner}) does not have permission to \
                         impersonate the requested user {}: assign it the UserApplication role \
                         (s2sd role-assignment new --role UserApplication --user {}).",
                        linked.smtp, mailbox.smtp, linked.smtp
                    )))
                }
            }
        }
    }
}

impl Session {
    /// The session for `principal`, working in `impersonated`'s mailbox if given (the
    /// ExchangeImpersonation header), else in X-AnchorMailbox's for an application, else in its own.
    pub fn open(
        principal: Principal,
        impersonated: Option<UserRecord>,
        anchor: Option<UserRecord>,
    ) -> Result<Self, AccessError> {
        let (mailbox, impersonating) = match (impersonated, anchor, &principal) {
            (Some(target), _, _) => (target, true),
            // An application's anchor mailbox names the mailbox it works in; a user's anchor is
            // routing only (the user works in its own mailbox).
            (None, Some(anchor), Principal::Application { .. }) => (anchor, false),
            _ => (principal.own_mailbox().clone(), false),
        };
        let grant = principal.grant_for(&mailbox, impersonating)?;
        Ok(Self { principal, mailbox, grant })
    }

    /// What the session may do in `mailbox` (the default one, or one named in the request).
    pub fn grant_for(&self, mailbox: &UserRecord) -> Result<Grant, AccessError> {
        if mailbox.id == self.mailbox.id {
            return Ok(self.grant);
        }
        self.principal.grant_for(mailbox, false).map_err(|e| match e {
            AccessError::ImpersonateUserDenied(text) => AccessError::AccessDenied(text),
            other => other,
        })
    }
}

/// Resolves the caller of a validated token to a mailbox principal.
pub async fn principal_of(store: &Arc<dyn MailboxStore>, caller: &Validated) -> Result<Principal, PrincipalError> {
    match caller.kind {
        TokenKind::ActAs => {
            let claims = caller.user.clone().unwrap_or_default();
            let user = resolve_act_as(store, &claims, caller.accept_security_identifier_information).await?;
            Ok(Principal::User { partner: caller.partner.clone(), user })
        }
        TokenKind::AppOnly => {
            let Some(linked) = caller.linked_account.as_deref().filter(|l| !l.trim().is_empty()) else {
                return Err(IdentityError::NoLinkedAccount(format!(
                    "partner application {} has no linked account, so its app-only tokens carry no mailbox rights \
                     (s2sd partner-application set {} --linked-account ADDRESS)",
                    caller.partner, caller.partner
                ))
                .into());
            };
            let linked_user = match find_by_address(store, linked).await {
                Ok(u) => u,
                Err(MailboxError::Store(e)) => return Err(e.into()),
                Err(_) => {
                    return Err(IdentityError::LinkedAccountNotFound(format!(
                        "the linked account {linked} of partner application {} is not a mailbox user \
                         (s2sd mailbox user new --smtp {linked})",
                        caller.partner
                    ))
                    .into());
                }
            };
            let roles = store.roles_of(&linked_user.id).await?;
            Ok(Principal::Application { partner: caller.partner.clone(), linked: linked_user, roles })
        }
    }
}

/// A failure to resolve the principal: an identity problem (401) or a store failure (500).
#[derive(Debug, thiserror::Error)]
pub enum PrincipalError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Exchange's `OAuthActAsUser`: the one mailbox user an act-as token names.
pub async fn resolve_act_as(
    store: &Arc<dyn MailboxStore>,
    claims: &UserClaims,
    accept_sid: bool,
) -> Result<UserRecord, PrincipalError> {
    let norm = |v: &Option<String>| v.as_deref().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty());
    let nii_is_ad = claims.nii.as_deref().is_some_and(|n| n.trim().eq_ignore_ascii_case(NII_ACTIVE_DIRECTORY));
    let (lookup, described) = if nii_is_ad && accept_sid && claims.nameid.is_some() {
        let sid = norm(&claims.nameid);
        let text = format!("SID {}", sid.as_deref().unwrap_or(""));
        (UserLookup { sid, ..UserLookup::default() }, text)
    } else {
        let lookup = UserLookup {
            smtp: norm(&claims.smtp),
            sip: norm(&claims.sip).map(|s| s.strip_prefix("sip:").map(str::to_owned).unwrap_or(s)),
            upn: norm(&claims.upn),
            sid: None,
        };
        let mut parts = Vec::new();
        for (name, value) in [("smtp", &lookup.smtp), ("sip", &lookup.sip), ("upn", &lookup.upn)] {
            if let Some(v) = value {
                parts.push(format!("{name} {v}"));
            }
        }
        if parts.is_empty() {
            let why = if nii_is_ad && claims.nameid.is_some() {
                " (the token names the user only by SID, and this partner does not accept SID information: \
                 s2sd partner-application set NAME --accept-security-identifier-information)"
            } else {
                ""
            };
            return Err(IdentityError::NoUserFoundWithGivenClaims(format!(
                "the token carries no smtp, sip or upn claim to find the user by{why}"
            ))
            .into());
        }
        (lookup, parts.join(", "))
    };
    let mut found = store.find_users(&lookup).await?;
    match found.len() {
        0 => Err(IdentityError::NoUserFoundWithGivenClaims(format!("no mailbox user has {described}")).into()),
        1 => Ok(found.remove(0)),
        n => Err(IdentityError::MoreThan1UserFoundWithGivenClaims(format!(
            "{n} mailbox users match {described}: {}",
            found.iter().map(|u| u.smtp.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .into()),
    }
}

/// The mailbox user with this address: `smtp:`/`sip:`/`upn:` prefixed or bare (matched against
/// all three), or a SID (`S-1-…`).
pub async fn find_by_address(store: &Arc<dyn MailboxStore>, address: &str) -> Result<UserRecord, MailboxError> {
    let text = address.trim();
    let lower = text.to_ascii_lowercase();
    let lookup = if lower.starts_with("s-1-") {
        UserLookup { sid: Some(lower), ..UserLookup::default() }
    } else if let Some(v) = lower.strip_prefix("smtp:") {
        UserLookup { smtp: Some(v.to_owned()), ..UserLookup::default() }
    } else if let Some(v) = lower.strip_prefix("sip:") {
        UserLookup { sip: Some(v.to_owned()), ..UserLookup::default() }
    } else if let Some(v) = lower.strip_prefix("upn:") {
        UserLookup { upn: Some(v.to_owned()), ..UserLookup::default() }
    } else {
        UserLookup { smtp: Some(lower.clone()), sip: Some(lower.clone()), upn: Some(lower), sid: None }
    };
    let mut found = store.find_users(&lookup).await?;
    match found.len() {
        0 => Err(MailboxError::NoSuchUser(text.to_owned())),
        1 => Ok(found.remove(0)),
        _ => {
            // Prefer the user whose primary SMTP address it is.
            match found.iter().position(|u| lookup.smtp.as_deref().is_some_and(|s| u.smtp.eq_ignore_ascii_case(s))) {
                Some(i) => Ok(found.remove(i)),
                None => Err(MailboxError::AmbiguousUser(text.to_owned())),
            }
        }
    }
}

/// A new user's records: the user and its well-known folders, with fresh ids. Addresses are
/// checked and lower-cased; SIP and UPN default to the SMTP address, the display name to its
/// local part.
pub fn new_user(
    smtp: &str,
    sip: Option<&str>,
    upn: Option<&str>,
    sid: Option<&str>,
    display_name: Option<&str>,
    now: i64,
) -> Result<(UserRecord, Vec<FolderRecord>), MailboxError> {
    let smtp = address(smtp.trim().strip_prefix("smtp:").unwrap_or(smtp.trim()))?;
    let sip = match sip {
        Some(s) => {
            let s = s.trim();
            let s = if s.len() > 4 && s[..4].eq_ignore_ascii_case("sip:") { &s[4..] } else { s };
            address(s)?
        }
        None => smtp.clone(),
    };
    let upn = match upn {
        Some(u) => address(u)?,
        None => smtp.clone(),
    };
    let sid = sid.map(normalize_sid).transpose()?;
    let display_name = display_name
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| smtp.split('@').next().unwrap_or_default().to_owned());
    let user = UserRecord { id: new_guid(), smtp, sip, upn, sid, display_name, created_at: now };
    let mut folders: Vec<FolderRecord> = Vec::with_capacity(FOLDERS.len());
    for (position, spec) in FOLDERS.iter().enumerate() {
        let parent_id = spec
            .parent
            .and_then(|p| folders.iter().find(|f| f.distinguished.as_deref() == Some(p)).map(|f| f.id.clone()));
        folders.push(FolderRecord {
            id: new_id(),
            user_id: user.id.clone(),
            parent_id,
            distinguished: Some(spec.distinguished.to_owned()),
            display_name: spec.display_name.to_owned(),
            folder_class: spec.folder_class.to_owned(),
            change_key: new_change_key(),
            position: i64::try_from(position).unwrap_or(i64::MAX),
        });
    }
    Ok((user, folders))
}

/// True for the archive folders (what `ArchiveApplication` may write).
pub fn is_archive_folder(folder: &FolderRecord, all: &[FolderRecord]) -> bool {
    let mut current = Some(folder);
    let mut hops = 0;
    while let Some(f) = current {
        if f.distinguished.as_deref() == Some(folder::ARCHIVE_ROOT) {
            return true;
        }
        hops += 1;
        if hops > all.len() {
            return false;
        }
        current = f.parent_id.as_deref().and_then(|p| all.iter().find(|x| x.id == p));
    }
    false
}

/// A fresh opaque EWS id: 32 random bytes, standard base64 (as Exchange's ids are).
pub fn new_id() -> String {
    base64::engine::general_purpose::STANDARD.encode(random_bytes::<32>())
}

/// A fresh change key: 16 random bytes, standard base64.
pub fn new_change_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(random_bytes::<16>())
}

/// A fresh lower-case GUID (version 4).
pub fn new_guid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut out = [0u8; N];
    // The system RNG does not fail on supported platforms; if it ever did, ids would still be
    // unique by the store's constraints (a clash is reported, never overwritten).
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut out);
    out
}

/// Checks and lower-cases `local@domain`.
pub fn address(text: &str) -> Result<String, MailboxError> {
    let value = text.trim().to_ascii_lowercase();
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') =>
        {
            Ok(value)
        }
        _ => Err(MailboxError::InvalidAddress(text.trim().to_owned())),
    }
}

/// Checks and lower-cases a SID (`S-1-<authority>-<sub>…`).
pub fn normalize_sid(text: &str) -> Result<String, MailboxError> {
    let value = text.trim().to_ascii_lowercase();
    let mut parts = value.split('-');
    let ok = parts.next() == Some("s") && parts.next() == Some("1") && {
        let rest: Vec<&str> = parts.collect();
        rest.len() >= 2 && rest.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    if ok { Ok(value) } else { Err(MailboxError::InvalidSid(text.trim().to_owned())) }
}
