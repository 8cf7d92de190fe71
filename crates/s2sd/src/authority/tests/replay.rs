//! Single use of client assertions across the nodes of one store and across restarts: two
//! authorities over one store (two nodes) and a third opened later (a restart) each refuse an
//! assertion another one accepted, for both assertion forms; a new assertion still passes.

use s2s::token::Algorithm;

use super::fixture::*;
use crate::store::tests::{PgSchema, no_database};
use crate::store::{OpenOptions, open_authority_with};

async fn spent_once_by_every_node(url: &str, options: &OpenOptions) {
    let node = || async { fixture_on(Some(open_authority_with(url, options).await.unwrap())) };
    let (a, b) = (node().await, node().await);
    let k = keys();
    let once = assertion(&k.client, Algorithm::Rs256, rfc7523_claims("across-nodes"));
    with_client_assertion(&a, &once).await.issued();
    with_client_assertion(&b, &once).await.refused("invalid_client", &["presented before", "single-use"]);
    let legacy = assertion(&k.client, Algorithm::Rs256, legacy_claims());
    with_legacy_assertion(&b, &legacy).await.issued();
    with_legacy_assertion(&a, &legacy).await.refused("invalid_grant", &["presented before"]);
    // The first node, restarted: its memory is gone, the store's is not.
    drop(a);
    let restarted = node().await;
    with_client_assertion(&restarted, &once).await.refused("invalid_client", &["presented before"]);
    with_legacy_assertion(&restarted, &legacy).await.refused("invalid_grant", &["presented before"]);
    let fresh = assertion(&k.client, Algorithm::Rs256, rfc7523_claims("after-restart"));
    with_client_assertion(&restarted, &fresh).await.issued();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertions_are_single_use_across_nodes_and_restarts_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    spent_once_by_every_node(&url, &OpenOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
async fn assertions_are_single_use_across_nodes_and_restarts_on_postgres() {
    let Some(schema) = PgSchema::new().await else { no_database() };
    spent_once_by_every_node(schema.url(), &schema.options()).await;
}
