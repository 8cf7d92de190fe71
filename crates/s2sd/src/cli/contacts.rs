//! `s2sd contacts list|add|remove`: the user's contacts in their mailbox on the Exchange partner
//! (the unified contact store), read and written over EWS acting for the user.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Subcommand;

use super::archive::explained;
use super::{Printer, now};
use crate::connectivity::{self, Contact};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List the user's contacts.
    List {
        /// The user: sip:user@domain.
        #[arg(long)]
        sip_uri: String,
        /// The EWS URL (default: from the Exchange partner).
        #[arg(long)]
        target: Option<String>,
    },
    /// Add a contact.
    Add {
        /// The user: sip:user@domain.
        #[arg(long)]
        sip_uri: String,
        /// The contact's display name.
        #[arg(long)]
        display_name: String,
        /// Given name.
        #[arg(long)]
        given_name: Option<String>,
        /// Surname.
        #[arg(long)]
        surname: Option<String>,
        /// E-mail address (repeatable, up to 3).
        #[arg(long = "email")]
        emails: Vec<String>,
        /// SIP address of the contact (repeatable, up to 3).
        #[arg(long = "contact-sip")]
        sips: Vec<String>,
        /// Phone number (repeatable: business, mobile, home).
        #[arg(long = "phone")]
        phones: Vec<String>,
        /// The EWS URL (default: from the Exchange partner).
        #[arg(long)]
        target: Option<String>,
    },
    /// Remove contacts by display name or address.
    Remove {
        /// The user: sip:user@domain.
        #[arg(long)]
        sip_uri: String,
        /// The contact's display name, e-mail or SIP address.
        #[arg(long)]
        contact: String,
        /// The EWS URL (default: from the Exchange partner).
        #[arg(long)]
        target: Option<String>,
    },
}

pub async fn run(cmd: Cmd, store: &Arc<dyn Store>, out: &Printer) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::List { sip_uri, target } => {
            let session = connectivity::open(store.as_ref(), &sip_uri, target.as_deref(), None, now())
                .await
                .map_err(explained)?;
            let contacts = session.client.find_contacts().await.map_err(|e| explained(e.into()))?;
            let mut text = format!("{} contact(s) of {sip_uri}:", contacts.len());
            for c in &contacts {
                text.push_str(&format!(
                    "\n  {:<28} {:<34} {:<34} {}",
                    c.display_name,
                    c.email_addresses.join(", "),
                    c.im_addresses.join(", "),
                    c.phone_numbers.join(", ")
                ));
            }
            out.emit(text, serde_json::to_value(&contacts)?);
        }
        Cmd::Add { sip_uri, display_name, given_name, surname, emails, sips, phones, target } => {
            if display_name.trim().is_empty() {
                bail!("--display-name must not be empty");
            }
            let im_addresses = sips
                .into_iter()
                .map(|s| if s.to_ascii_lowercase().starts_with("sip:") { s } else { format!("sip:{s}") })
                .collect();
            let contact = Contact {
                id: None,
                display_name,
                given_name,
                surname,
                email_addresses: emails,
                im_addresses,
                phone_numbers: phones,
            };
            let session = connectivity::open(store.as_ref(), &sip_uri, target.as_deref(), None, now())
                .await
                .map_err(explained)?;
            let id = session.client.create_contact(&contact).await.map_err(|e| explained(e.into()))?;
            out.emit(
                format!("Contact {} added to {sip_uri}'s contacts.", contact.display_name),
                serde_json::json!({"added": contact.display_name, "item_id": id}),
            );
        }
        Cmd::Remove { sip_uri, contact, target } => {
            let session = connectivity::open(store.as_ref(), &sip_uri, target.as_deref(), None, now())
                .await
                .map_err(explained)?;
            let wanted = contact.to_ascii_lowercase();
            let bare = wanted.trim_start_matches("sip:").to_owned();
            let matches: Vec<Contact> = session
                .client
                .find_contacts()
                .await
                .map_err(|e| explained(e.into()))?
                .into_iter()
                .filter(|c| {
                    c.display_name.to_ascii_lowercase() == wanted
                        || c.email_addresses.iter().any(|e| e.to_ascii_lowercase() == bare)
                        || c.im_addresses.iter().any(|s| s.to_ascii_lowercase().trim_start_matches("sip:") == bare)
                })
                .collect();
            if matches.is_empty() {
                bail!("{sip_uri} has no contact matching {contact} (s2sd contacts list --sip-uri {sip_uri})");
            }
            for c in &matches {
                if let Some(id) = &c.id {
                    session.client.delete_item(id, false).await.map_err(|e| explained(e.into()))?;
                }
            }
            out.emit(
                format!("Removed {} contact(s) matching {contact} (moved to Deleted Items).", matches.len()),
                serde_json::json!({"removed": matches.len()}),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
