//! FindItem: a page of each folder's items, filtered and sorted as asked (the store pages the
//! common case, newest first with no restriction, itself). Bodies are never returned here.

use super::access::Intent;
use super::{Ctx, OpFailed, elements, query, response};
use crate::mailbox::ews::request::{FieldUri, FindItem, PropertyPath, Traversal};
use crate::store::mailbox::{FolderRecord, ItemOrder, ItemRecord};

const OP: &str = "FindItem";

pub async fn run(ctx: &Ctx<'_>, req: &FindItem) -> Result<String, OpFailed> {
    let mut x = response::start(OP);
    for r in &req.folders {
        let located = match ctx.locate(r, Intent::Read).await? {
            Ok(l) => l,
            Err(e) => {
                response::error(OP, &mut x, &e, None);
                continue;
            }
        };
        let checked = match &req.restriction {
            Some(restriction) => query::check_restriction(restriction),
            None => Ok(()),
        };
        if let Err(e) = checked.and_then(|()| query::check_sort(&req.sort)) {
            response::error(OP, &mut x, &e, None);
            continue;
        }
        let (items, total, offset) = match req.traversal {
            Traversal::Associated | Traversal::SoftDeleted => (Vec::new(), 0, 0),
            Traversal::Shallow => page(ctx, &located.folder, req).await?,
        };
        let shown = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let next = offset + shown;
        let includes_last = next >= total;
        response::success(OP, &mut x);
        let (next_text, total_text) = (next.to_string(), total.to_string());
        x.open(
            "m:RootFolder",
            &[
                ("IndexedPagingOffset", &next_text),
                ("TotalItemsInView", &total_text),
                ("IncludesLastItemInRange", if includes_last { "true" } else { "false" }),
            ],
        );
        x.open("t:Items", &[]);
        for item in &items {
            elements::render_item(&mut x, item, &located.folder, &req.shape, false);
        }
        x.close("t:Items");
        x.close("m:RootFolder");
        x.close("m:FindItemResponseMessage");
    }
    Ok(response::end(OP, x))
}

/// One page of a folder's items: items, total in view, offset of the first.
async fn page(ctx: &Ctx<'_>, folder: &FolderRecord, req: &FindItem) -> Result<(Vec<ItemRecord>, u64, u64), OpFailed> {
    let received_sort = match req.sort.as_slice() {
        [] => Some(ItemOrder::ReceivedDescending),
        [key] if key.path == PropertyPath::Field(FieldUri::DateTimeReceived) => {
            Some(if key.ascending { ItemOrder::ReceivedAscending } else { ItemOrder::ReceivedDescending })
        }
        _ => None,
    };
    let paging = req.paging;
    let max = paging.and_then(|p| p.max).unwrap_or(u64::MAX);
    let requested_offset = paging.map_or(0, |p| p.offset);
    let from_end = paging.is_some_and(|p| p.from_end);
    match (received_sort, &req.restriction, from_end) {
        (Some(order), None, false) => {
            // The common case: let the store page.
            let page = ctx.store.items_page(&folder.id, order, requested_offset, max).await?;
            Ok((page.items, page.total, requested_offset))
        }
        _ => {
            let order = received_sort.unwrap_or(ItemOrder::ReceivedDescending);
            let mut all = ctx.store.items_page(&folder.id, order, 0, u64::MAX).await?.items;
            if let Some(r) = &req.restriction {
                all.retain(|item| query::matches_restriction(item, r));
            }
            if received_sort.is_none() {
                query::sort_items(&mut all, &req.sort);
            }
            let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
            let start = if from_end {
                total.saturating_sub(requested_offset).saturating_sub(max.min(total))
            } else {
                requested_offset.min(total)
            };
            let end =
                if from_end { total.saturating_sub(requested_offset) } else { start.saturating_add(max).min(total) };
            let (s, e) = (usize::try_from(start).unwrap_or(usize::MAX), usize::try_from(end).unwrap_or(usize::MAX));
            let items = all.get(s..e.max(s)).map(<[ItemRecord]>::to_vec).unwrap_or_default();
            Ok((items, total, start))
        }
    }
}
