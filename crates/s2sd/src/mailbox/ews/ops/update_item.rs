//! UpdateItem: applies each change's field updates to an item the session may read, refusing a
//! stale change key under `NeverOverwrite`; the changed items are written in one store call that
//! re-checks each change key, so a concurrent change is answered as a conflict.

use super::item_record;
use super::{Ctx, OpFailed, elements, response};
use crate::mailbox;
use crate::mailbox::ews::fault::{EwsError, ResponseCode};
use crate::mailbox::ews::request::{FieldUpdate, UpdateItem};
use crate::store::mailbox::ItemRecord;

const OP: &str = "UpdateItem";

pub async fn run(ctx: &Ctx<'_>, req: &UpdateItem) -> Result<String, OpFailed> {
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
                ResponseCode::IrresolvableConflict,
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            )));
            continue;
        }
        let expected = item.change_key.clone();
        let applied = change.updates.iter().try_for_each(|update| match update {
            FieldUpdate::Set { path, value } => item_record::set_field(&mut item, path, value.as_ref()),
            FieldUpdate::Append { path, value } => item_record::append_field(&mut item, path, value.as_ref()),
            FieldUpdate::Delete { path } => {
                item_record::delete_field(&mut item, path);
                Ok(())
            }
        });
        if let Err(e) = applied {
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
    let mut x = response::start(OP);
    for outcome in &outcomes {
        match outcome {
            Ok((item, _)) if done.next().unwrap_or(false) => {
                response::success(OP, &mut x);
                x.open("m:Items", &[]);
                elements::render_item_id(&mut x, item);
                x.close("m:Items");
                x.open("m:ConflictResults", &[]);
                x.leaf("t:Count", "0");
                x.close("m:ConflictResults");
                x.close("m:UpdateItemResponseMessage");
            }
            Ok(_) => response::error(
                OP,
                &mut x,
                &EwsError::new(
                    ResponseCode::IrresolvableConflict,
                    "The item was changed or deleted by another request meanwhile; read it again and retry.",
                ),
                Some("m:Items"),
            ),
            Err(e) => response::error(OP, &mut x, e, Some("m:Items")),
        }
    }
    Ok(response::end(OP, x))
}
