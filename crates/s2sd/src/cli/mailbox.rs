//! `s2sd mailbox user new|list|show|remove` and `s2sd mailbox item list`: the Exchange role's
//! mailbox users (New-Mailbox / Get-Mailbox) and a look at what landed in their folders.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use super::{Printer, now, rfc3339};
use crate::mailbox;
use crate::store::StoreError;
use crate::store::mailbox::{FolderRecord, ItemKind, ItemRecord, MailboxStore, Role, UserRecord};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Mailbox users.
    #[command(subcommand)]
    User(UserCmd),
    /// Items in mailboxes.
    #[command(subcommand)]
    Item(ItemCmd),
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a mailbox user with its folders (root, inbox, conversation history, contacts, deleted items, archive, …).
    New {
        /// Primary SMTP address.
        #[arg(long)]
        smtp: String,
        /// SIP address (with or without `sip:`; default: the SMTP address).
        #[arg(long)]
        sip: Option<String>,
        /// User principal name (default: the SMTP address).
        #[arg(long)]
        upn: Option<String>,
        /// Windows SID (S-1-5-21-…), matched against `nameid` when a partner accepts SID information.
        #[arg(long)]
        sid: Option<String>,
        /// Display name (default: the local part of the SMTP address).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List mailbox users.
    List,
    /// Show one mailbox user: addresses, folders with item counts, role assignments.
    Show {
        /// SMTP, SIP or UPN address, or SID.
        user: String,
    },
    /// Remove a mailbox user with all its folders, items and role assignments.
    Remove {
        /// SMTP, SIP or UPN address, or SID.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ItemCmd {
    /// List the items of a user's mailbox (newest first within each folder).
    List {
        /// SMTP, SIP or UPN address, or SID.
        #[arg(long)]
        user: String,
        /// Only this folder: a distinguished id (inbox, conversationhistory, contacts, …) or a display name.
        #[arg(long)]
        folder: Option<String>,
    },
}

pub async fn run(cmd: Cmd, store: &Arc<dyn MailboxStore>, out: &Printer) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::User(UserCmd::New { smtp, sip, upn, sid, display_name }) => {
            let (user, folders) = mailbox::new_user(
                &smtp,
                sip.as_deref(),
                upn.as_deref(),
                sid.as_deref(),
                display_name.as_deref(),
                now(),
            )?;
            match store.insert_user(&user, &folders).await {
                Ok(()) => {}
                Err(StoreError::Duplicate { .. }) => {
                    bail!(
                        "a mailbox user with SMTP {}, SIP {}, UPN {}{} exists already (see s2sd mailbox user list)",
                        user.smtp,
                        user.sip,
                        user.upn,
                        user.sid.as_deref().map(|s| format!(" or SID {s}")).unwrap_or_default()
                    )
                }
                Err(e) => return Err(e.into()),
            }
            let text = format!(
                "Mailbox user {} created with {} folders.\n{}",
                user.smtp,
                folders.len(),
                describe(&user, &folders, &[], &[])
            );
            out.emit(text, user_json(&user, Some(&folders), &[], &[]));
        }
        Cmd::User(UserCmd::List) => {
            let users = store.users().await?;
            let mut text = format!("{:<32} {:<32} {:<32} {:<24} {}", "SMTP", "SIP", "UPN", "DISPLAY NAME", "SID");
            for u in &users {
                text.push_str(&format!(
                    "\n{:<32} {:<32} {:<32} {:<24} {}",
                    u.smtp,
                    u.sip,
                    u.upn,
                    u.display_name,
                    u.sid.as_deref().unwrap_or("-")
                ));
            }
            if users.is_empty() {
                text = "No mailbox users (s2sd mailbox user new --smtp ADDRESS).".into();
            }
            out.emit(text, serde_json::Value::Array(users.iter().map(|u| user_json(u, None, &[], &[])).collect()));
        }
        Cmd::User(UserCmd::Show { user }) => {
            let u = find(store, &user).await?;
            let folders = store.folders(&u.id).await?;
            let mut counts = Vec::with_capacity(folders.len());
            for f in &folders {
                counts.push(store.folder_counts(&f.id).await?.total);
            }
            let roles = store.roles_of(&u.id).await?;
            out.emit(describe(&u, &folders, &counts, &roles), user_json(&u, Some(&folders), &counts, &roles));
        }
        Cmd::User(UserCmd::Remove { user }) => {
            let u = find(store, &user).await?;
            if !store.remove_user(&u.id).await? {
                bail!("mailbox user {} was removed meanwhile", u.smtp);
            }
            out.emit(
                format!("Mailbox user {} removed with its folders, items and role assignments.", u.smtp),
                serde_json::json!({"removed": u.smtp}),
            );
        }
        Cmd::Item(ItemCmd::List { user, folder }) => {
            let u = find(store, &user).await?;
            let folders = store.folders(&u.id).await?;
            let only = match &folder {
                Some(name) => Some(
                    folders
                        .iter()
                        .find(|f| {
                            f.distinguished.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(name))
                                || f.display_name.eq_ignore_ascii_case(name)
                        })
                        .with_context(|| {
                            format!(
                                "{} has no folder {name}; folders: {}",
                                u.smtp,
                                folders
                                    .iter()
                                    .filter_map(|f| f.distinguished.as_deref())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        })?
                        .id
                        .clone(),
                ),
                None => None,
            };
            let items: Vec<ItemRecord> = store
                .user_items(&u.id)
                .await?
                .into_iter()
                .filter(|i| only.as_deref().is_none_or(|f| i.folder_id == f))
                .collect();
            let folder_name = |id: &str| {
                folders
                    .iter()
                    .find(|f| f.id == id)
                    .map(|f| f.distinguished.clone().unwrap_or_else(|| f.display_name.clone()))
                    .unwrap_or_default()
            };
            let mut text = format!(
                "{:<22} {:<8} {:<40} {:<28} {:<21} {}",
                "FOLDER", "KIND", "SUBJECT / NAME", "FROM", "CREATED", "ID"
            );
            for i in &items {
                text.push_str(&format!(
                    "\n{:<22} {:<8} {:<40} {:<28} {:<21} {}",
                    folder_name(&i.folder_id),
                    kind_name(i.kind),
                    clip(title(i), 40),
                    clip(i.sender.as_ref().map(|s| s.email.as_str()).unwrap_or("-"), 28),
                    rfc3339(i.created_at),
                    i.id
                ));
            }
            if items.is_empty() {
                text = format!(
                    "No items in {}{}.",
                    u.smtp,
                    folder.as_deref().map(|f| format!(" folder {f}")).unwrap_or_default()
                );
            }
            let json = items
                .iter()
                .map(|i| {
                    let mut v = serde_json::to_value(i).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("folder".into(), folder_name(&i.folder_id).into());
                    }
                    v
                })
                .collect();
            out.emit(text, serde_json::Value::Array(json));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The mailbox user with this address (or SID), or a one-line reason.
pub async fn find(store: &Arc<dyn MailboxStore>, address: &str) -> anyhow::Result<UserRecord> {
    Ok(mailbox::find_by_address(store, address).await?)
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Message => "message",
        ItemKind::Contact => "contact",
    }
}

fn title(i: &ItemRecord) -> &str {
    match i.kind {
        ItemKind::Message => i.subject.as_deref().unwrap_or("(no subject)"),
        ItemKind::Contact => i.display_name.as_deref().unwrap_or("(no name)"),
    }
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn describe(u: &UserRecord, folders: &[FolderRecord], counts: &[u64], roles: &[Role]) -> String {
    let mut text = format!(
        "PrimarySmtpAddress:  {}\nSipAddress:          {}\nUserPrincipalName:   {}\nDisplayName:         {}\nSid:                 {}\nCreated:             {}",
        u.smtp,
        u.sip,
        u.upn,
        u.display_name,
        u.sid.as_deref().unwrap_or("(none)"),
        rfc3339(u.created_at)
    );
    if !roles.is_empty() {
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        text.push_str(&format!("\nRoles:               {}", roles.join(", ")));
    }
    for (i, f) in folders.iter().enumerate() {
        let count = counts.get(i).map(|c| format!(" — {c} items")).unwrap_or_default();
        text.push_str(&format!(
            "\nFolder:              {} ({}){count}",
            f.display_name,
            f.distinguished.as_deref().unwrap_or("-")
        ));
    }
    text
}

fn user_json(u: &UserRecord, folders: Option<&[FolderRecord]>, counts: &[u64], roles: &[Role]) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": u.id,
        "smtp": u.smtp,
        "sip": u.sip,
        "upn": u.upn,
        "sid": u.sid,
        "display_name": u.display_name,
        "created_at": rfc3339(u.created_at),
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(folders) = folders {
            let list: Vec<serde_json::Value> = folders
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    serde_json::json!({
                        "id": f.id,
                        "distinguished": f.distinguished,
                        "display_name": f.display_name,
                        "folder_class": f.folder_class,
                        "items": counts.get(i),
                    })
                })
                .collect();
            o.insert("folders".into(), list.into());
        }
        if !roles.is_empty() {
            o.insert("roles".into(), roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().into());
        }
    }
    v
}
