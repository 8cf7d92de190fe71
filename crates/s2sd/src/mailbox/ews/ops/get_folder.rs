//! GetFolder: each folder the session may look at, with its counts, as the shape asks.

use super::access::Intent;
use super::{Ctx, OpFailed, elements, response};
use crate::mailbox::ews::request::GetFolder;

const OP: &str = "GetFolder";

pub async fn run(ctx: &Ctx<'_>, req: &GetFolder) -> Result<String, OpFailed> {
    let mut x = response::start(OP);
    for r in &req.folders {
        match ctx.locate(r, Intent::Look).await? {
            Ok(located) => {
                let counts = ctx.store.folder_counts(&located.folder.id).await?;
                let children =
                    located.all.iter().filter(|f| f.parent_id.as_deref() == Some(&located.folder.id)).count();
                response::success(OP, &mut x);
                x.open("m:Folders", &[]);
                elements::render_folder(&mut x, &located.folder, &req.shape, counts.total, counts.unread, children);
                x.close("m:Folders");
                x.close("m:GetFolderResponseMessage");
            }
            Err(e) => response::error(OP, &mut x, &e, Some("m:Folders")),
        }
    }
    Ok(response::end(OP, x))
}
