//! CreateItem: saves messages (`SaveOnly`: this server sends no mail) and contacts into the named
//! folder, or each kind's default folder (drafts, contacts). Every item is checked first; the
//! valid ones are stored in one write.

use std::collections::HashMap;

use super::access::{Intent, Located};
use super::item_record::{self, Placement};
use super::{Ctx, OpFailed, elements, response};
use crate::mailbox::ews::fault::{EwsError, ResponseCode};
use crate::mailbox::ews::request::{CreateItem, FolderRef, NewItem};
use crate::mailbox::folder;
use crate::store::mailbox::ItemRecord;

const OP: &str = "CreateItem";

pub async fn run(ctx: &Ctx<'_>, req: &CreateItem) -> Result<String, OpFailed> {
    // The explicit target folder, resolved once for all items.
    let explicit = match &req.saved_folder {
        Some(r) => Some(ctx.locate(r, Intent::Write).await?),
        None => None,
    };
    let mut outcomes: Vec<Result<ItemRecord, EwsError>> = Vec::with_capacity(req.items.len());
    let mut defaults: HashMap<&'static str, Result<Located, EwsError>> = HashMap::new();
    for new in &req.items {
        let default_folder = match new {
            NewItem::Message(_) => folder::DRAFTS,
            NewItem::Contact(_) => folder::CONTACTS,
            NewItem::Unsupported(name) => {
                outcomes.push(Err(EwsError::new(
                    ResponseCode::InvalidItemForOperation,
                    format!("Items of type {name} are not supported by this server; it stores messages and contacts."),
                )));
                continue;
            }
        };
        if let NewItem::Message(_) = new
            && let Err(e) = check_disposition(req.disposition.as_deref())
        {
            outcomes.push(Err(e));
            continue;
        }
        let target = match &explicit {
            Some(Ok(l)) => l,
            Some(Err(e)) => {
                outcomes.push(Err(e.clone()));
                continue;
            }
            None => {
                if !defaults.contains_key(default_folder) {
                    let r = FolderRef::Distinguished { id: default_folder.to_owned(), mailbox: None };
                    let located = ctx.locate(&r, Intent::Write).await?;
                    defaults.insert(default_folder, located);
                }
                match defaults.get(default_folder) {
                    Some(Ok(l)) => l,
                    Some(Err(e)) => {
                        outcomes.push(Err(e.clone()));
                        continue;
                    }
                    None => continue,
                }
            }
        };
        let at = Placement { owner: &target.mailbox, folder: &target.folder, now: ctx.now };
        outcomes.push(match new {
            NewItem::Message(fields) => item_record::new_message(fields, &at),
            NewItem::Contact(fields) => item_record::new_contact(fields, &at),
            NewItem::Unsupported(_) => continue,
        });
    }
    let valid: Vec<ItemRecord> = outcomes.iter().filter_map(|o| o.as_ref().ok().cloned()).collect();
    ctx.store.insert_items(&valid).await?;
    let mut x = response::start(OP);
    for outcome in &outcomes {
        match outcome {
            Ok(item) => {
                response::success(OP, &mut x);
                x.open("m:Items", &[]);
                elements::render_item_id(&mut x, item);
                x.close("m:Items");
                x.close("m:CreateItemResponseMessage");
            }
            Err(e) => response::error(OP, &mut x, e, Some("m:Items")),
        }
    }
    Ok(response::end(OP, x))
}

/// Messages are saved, never sent.
fn check_disposition(disposition: Option<&str>) -> Result<(), EwsError> {
    match disposition {
        Some("SaveOnly") => Ok(()),
        None => Err(EwsError::new(
            ResponseCode::MessageDispositionRequired,
            "MessageDisposition is required for messages (this server saves them: SaveOnly).",
        )),
        Some(other) => Err(EwsError::new(
            ResponseCode::InvalidOperation,
            format!(
                "MessageDisposition {other} would send mail, which this server does not do; save the message with SaveOnly."
            ),
        )),
    }
}
