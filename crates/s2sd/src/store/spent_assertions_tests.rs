#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Spent client assertions, remembered in the store for every node: two handles on one database
//! (as two nodes, or one node before and after a restart) race to spend the same assertion and
//! exactly one wins; the memory lapses at its date and is purged; none of it is configuration.

use std::sync::Arc;

use super::authority::AuthorityStore;
use super::tests::{PgSchema, no_database};
use super::{OpenOptions, open_authority_with, open_with};

const NOW: i64 = 1_800_000_000;

async fn spent_once_across_handles(url: &str, options: &OpenOptions) {
    let config = open_with(url, options).await.unwrap();
    let nodes: Vec<Arc<dyn AuthorityStore>> =
        vec![open_authority_with(url, options).await.unwrap(), open_authority_with(url, options).await.unwrap()];
    let version = config.version().await.unwrap();
    // Eight concurrent spends of one assertion from the two handles: one wins.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let node = Arc::clone(&nodes[i % 2]);
            tokio::spawn(async move { node.spend_assertion("k1", NOW + 600, NOW).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for r in racers {
        wins += usize::from(r.await.unwrap());
    }
    assert_eq!(wins, 1, "exactly one spend of one assertion succeeds");
    // Another assertion is independent; a restarted node (a new handle) still remembers.
    assert!(nodes[1].spend_assertion("k2", NOW + 600, NOW).await.unwrap());
    let restarted = open_authority_with(url, options).await.unwrap();
    assert!(!restarted.spend_assertion("k1", NOW + 600, NOW + 599).await.unwrap());
    // Once its memory has lapsed (the assertion could no longer be accepted), the key is free.
    assert!(restarted.spend_assertion("k1", NOW + 2_000, NOW + 601).await.unwrap());
    assert!(!nodes[0].spend_assertion("k1", NOW + 2_000, NOW + 1_000).await.unwrap());
    // Purging forgets what lapsed, and only that.
    assert_eq!(nodes[0].purge_spent_assertions(NOW + 601).await.unwrap(), 1, "k2 lapsed");
    assert!(!nodes[0].spend_assertion("k1", NOW + 2_000, NOW + 1_000).await.unwrap(), "k1 kept");
    assert_eq!(nodes[0].purge_spent_assertions(NOW + 5_000).await.unwrap(), 1);
    // Spending is not configuration: running nodes do not reload for it.
    assert_eq!(config.version().await.unwrap(), version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_spends_each_assertion_once_across_handles() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    spent_once_across_handles(&url, &OpenOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
async fn postgres_spends_each_assertion_once_across_handles() {
    let Some(schema) = PgSchema::new().await else { no_database() };
    spent_once_across_handles(schema.url(), &schema.options()).await;
}
