//! GetItem: each item the session may read, with its body.

use super::{Ctx, OpFailed, elements, response};
use crate::mailbox::ews::request::GetItem;

const OP: &str = "GetItem";

pub async fn run(ctx: &Ctx<'_>, req: &GetItem) -> Result<String, OpFailed> {
    let mut x = response::start(OP);
    for r in &req.items {
        match ctx.readable_item(r).await? {
            Ok((item, _)) => {
                let parent = ctx.store.folder(&item.folder_id).await?;
                response::success(OP, &mut x);
                x.open("m:Items", &[]);
                if let Some(parent) = parent {
                    elements::render_item(&mut x, &item, &parent, &req.shape, true);
                }
                x.close("m:Items");
                x.close("m:GetItemResponseMessage");
            }
            Err(e) => response::error(OP, &mut x, &e, Some("m:Items")),
        }
    }
    Ok(response::end(OP, x))
}
