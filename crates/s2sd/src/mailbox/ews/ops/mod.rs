//! The operations, one module each: each takes a typed request and the session (who, which
//! mailbox, what grant), reads and writes through the mailbox store, and renders its response
//! messages — one per requested folder or item, `ResponseClass="Error"` with the EWS code where
//! Exchange gives one. Each request writes at most once per kind of change, in one store
//! transaction, and only what passed every check. Shared parts: [`access`] (which folders and
//! items the session reaches), [`item_record`] (items from request values), [`query`] (filters
//! and sorting), [`elements`] (folders and items as XML), [`response`] (the message frame).

mod access;
mod create_item;
mod delete_item;
mod elements;
mod find_item;
mod get_folder;
mod get_item;
mod item_record;
mod query;
mod response;
mod update_item;

use std::sync::Arc;

use super::request::Operation;
use crate::mailbox::Session;
use crate::store::StoreError;
use crate::store::mailbox::MailboxStore;

/// A failure of the whole request (a store failure): answered with a SOAP fault.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OpFailed(#[from] pub StoreError);

/// What one operation needs.
pub struct Ctx<'a> {
    pub store: &'a Arc<dyn MailboxStore>,
    pub session: &'a Session,
    pub now: i64,
}

/// Runs a served operation: the response body, or `None` for an operation we do not serve.
pub async fn run(ctx: &Ctx<'_>, operation: &Operation) -> Option<Result<String, OpFailed>> {
    Some(match operation {
        Operation::GetFolder(r) => get_folder::run(ctx, r).await,
        Operation::FindItem(r) => find_item::run(ctx, r).await,
        Operation::GetItem(r) => get_item::run(ctx, r).await,
        Operation::CreateItem(r) => create_item::run(ctx, r).await,
        Operation::UpdateItem(r) => update_item::run(ctx, r).await,
        Operation::DeleteItem(r) => delete_item::run(ctx, r).await,
        Operation::Unsupported(_) => return None,
    })
}
