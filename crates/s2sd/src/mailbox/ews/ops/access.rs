//! Which folders and items a session may reach: folder references resolved to a folder of a
//! mailbox the session may open, checked against what it wants to do there (the
//! `ArchiveApplication` grant writes archive folders only), and items loaded only when the
//! session may read them. Refusals come back as [`EwsError`]s through the one mapping from
//! [`AccessError`]; store failures as [`OpFailed`].

use super::{Ctx, OpFailed};
use crate::mailbox::ews::fault::{EwsError, ResponseCode};
use crate::mailbox::ews::request::{FolderRef, ItemRef};
use crate::mailbox::{self, AccessError, Grant, MailboxError};
use crate::store::mailbox::{FolderRecord, ItemRecord, UserRecord};

/// What the caller wants to do in a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// GetFolder: see the folder itself.
    Look,
    /// FindItem/GetItem/UpdateItem/DeleteItem.
    Read,
    /// CreateItem into it.
    Write,
}

/// A resolved folder with its mailbox and that mailbox's folders.
pub struct Located {
    pub mailbox: UserRecord,
    pub folder: FolderRecord,
    pub all: Vec<FolderRecord>,
}

impl Ctx<'_> {
    /// The mailbox user `id`, if the session may open its mailbox, with the grant.
    async fn mailbox_by_id(&self, id: &str) -> Result<Result<(UserRecord, Grant), EwsError>, OpFailed> {
        if id == self.session.mailbox.id {
            return Ok(Ok((self.session.mailbox.clone(), self.session.grant)));
        }
        let Some(user) = self.store.user(id).await? else {
            return Ok(Err(AccessError::NonExistentMailbox("The mailbox no longer exists.".into()).into()));
        };
        Ok(self.session.grant_for(&user).map(|g| (user, g)).map_err(EwsError::from))
    }

    /// Resolves a folder reference and checks the session may do `intent` there.
    pub async fn locate(&self, r: &FolderRef, intent: Intent) -> Result<Result<Located, EwsError>, OpFailed> {
        let (mailbox, grant, folder, all) = match r {
            FolderRef::Distinguished { id, mailbox } => {
                let (user, grant) = match mailbox {
                    None => (self.session.mailbox.clone(), self.session.grant),
                    Some(address) => {
                        let user = match mailbox::find_by_address(self.store, address).await {
                            Ok(u) => u,
                            Err(MailboxError::Store(e)) => return Err(e.into()),
                            Err(_) => {
                                return Ok(Err(AccessError::NonExistentMailbox(format!(
                                    "No mailbox with such guid or smtp address: {address}."
                                ))
                                .into()));
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
                        ResponseCode::FolderNotFound,
                        format!("The specified folder could not be found in the store: there is no `{id}` folder."),
                    )));
                };
                (user, grant, folder, all)
            }
            FolderRef::Id { id, .. } => {
                let Some(folder) = self.store.folder(id).await? else {
                    return Ok(Err(EwsError::new(
                        ResponseCode::FolderNotFound,
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
                return Ok(Err(AccessError::AccessDenied(format!(
                    "Access is denied. The ArchiveApplication role allows writing to the archive folders of {} only.",
                    mailbox.smtp
                ))
                .into()));
            }
        }
        Ok(Ok(Located { mailbox, folder, all }))
    }

    /// Loads an item the session may read (Full grant on its mailbox).
    pub async fn readable_item(&self, r: &ItemRef) -> Result<Result<(ItemRecord, UserRecord), EwsError>, OpFailed> {
        let Some(item) = self.store.item(&r.id).await? else {
            return Ok(Err(EwsError::item_not_found()));
        };
        match self.mailbox_by_id(&item.user_id).await? {
            Ok((user, Grant::Full)) => Ok(Ok((item, user))),
            Ok((user, Grant::ArchiveWrite)) => Ok(Err(AccessError::AccessDenied(format!(
                "Access is denied. The ArchiveApplication role does not allow reading items of {}.",
                user.smtp
            ))
            .into())),
            Err(e) => Ok(Err(e)),
        }
    }
}
