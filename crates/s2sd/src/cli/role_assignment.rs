//! `s2sd role-assignment new|list|remove --role … --user …` (New-/Get-/Remove-ManagementRoleAssignment):
//! the roles that give a partner's linked account rights over mailboxes — `UserApplication`
//! (act on any mailbox through impersonation) and `ArchiveApplication` (write the archive folders).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Subcommand;

use super::mailbox::find;
use super::{Printer, now, rfc3339};
use crate::mailbox::Role;
use crate::store::StoreError;
use crate::store::mailbox::{MailboxStore, RoleAssignmentRecord};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Assign a role to a mailbox user (typically a partner application's linked account).
    New {
        /// UserApplication or ArchiveApplication.
        #[arg(long)]
        role: Role,
        /// The user: SMTP, SIP or UPN address, or SID.
        #[arg(long)]
        user: String,
    },
    /// List role assignments.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Remove a role assignment.
    Remove {
        /// UserApplication or ArchiveApplication.
        #[arg(long)]
        role: Role,
        /// The user: SMTP, SIP or UPN address, or SID.
        #[arg(long)]
        user: String,
    },
}

pub async fn run(cmd: Cmd, store: &Arc<dyn MailboxStore>, out: &Printer) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::New { role, user } => {
            let u = find(store, &user).await?;
            let record = RoleAssignmentRecord { role, user_id: u.id.clone(), created_at: now() };
            match store.insert_role_assignment(&record).await {
                Ok(()) => {}
                Err(StoreError::Duplicate { .. }) => bail!("{} has the {role} role already", u.smtp),
                Err(e) => return Err(e.into()),
            }
            out.emit(
                format!("Role {role} assigned to {}.", u.smtp),
                serde_json::json!({"role": role, "user": u.smtp, "created_at": rfc3339(record.created_at)}),
            );
        }
        Cmd::List { user } => {
            let only = match user {
                Some(u) => Some(find(store, &u).await?),
                None => None,
            };
            let users = store.users().await?;
            let rows: Vec<(Role, String, i64)> = store
                .role_assignments()
                .await?
                .into_iter()
                .filter(|r| only.as_ref().is_none_or(|u| u.id == r.user_id))
                .map(|r| {
                    let smtp = users.iter().find(|u| u.id == r.user_id).map(|u| u.smtp.clone()).unwrap_or(r.user_id);
                    (r.role, smtp, r.created_at)
                })
                .collect();
            let mut text = format!("{:<20} {:<36} {}", "ROLE", "USER", "ASSIGNED");
            for (role, smtp, at) in &rows {
                text.push_str(&format!("\n{role:<20} {smtp:<36} {}", rfc3339(*at)));
            }
            if rows.is_empty() {
                text = "No role assignments (s2sd role-assignment new --role UserApplication --user ADDRESS).".into();
            }
            let json = rows
                .iter()
                .map(|(role, smtp, at)| serde_json::json!({"role": role, "user": smtp, "created_at": rfc3339(*at)}))
                .collect();
            out.emit(text, serde_json::Value::Array(json));
        }
        Cmd::Remove { role, user } => {
            let u = find(store, &user).await?;
            if !store.remove_role_assignment(role, &u.id).await? {
                bail!("{} does not have the {role} role (see s2sd role-assignment list)", u.smtp);
            }
            out.emit(
                format!("Role {role} removed from {}.", u.smtp),
                serde_json::json!({"removed": {"role": role, "user": u.smtp}}),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
