//! DeleteItem: hard deletes remove the item; soft deletes move it to the recoverable items
//! (the dumpster); moving to Deleted Items moves it there, or to the dumpster from Deleted Items.
//! Deleting from the dumpster is final. Deletes and moves are each one store write.

use std::collections::HashMap;

use super::{Ctx, OpFailed, response};
use crate::mailbox::ews::fault::EwsError;
use crate::mailbox::ews::request::{DeleteItem, DeleteType};
use crate::mailbox::{self, folder};
use crate::store::mailbox::{FolderRecord, ItemMove};

const OP: &str = "DeleteItem";

pub async fn run(ctx: &Ctx<'_>, req: &DeleteItem) -> Result<String, OpFailed> {
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
    let mut x = response::start(OP);
    for outcome in &outcomes {
        let done = match outcome {
            Ok(Plan::Delete(_)) => deleted.next().unwrap_or(false),
            Ok(Plan::Move(_)) => moved.next().unwrap_or(false),
            Err(e) => {
                response::error(OP, &mut x, e, None);
                continue;
            }
        };
        if done {
            response::success(OP, &mut x);
            x.close("m:DeleteItemResponseMessage");
        } else {
            response::error(OP, &mut x, &EwsError::item_not_found(), None);
        }
    }
    Ok(response::end(OP, x))
}
