//! The s2sd integration tests: one binary driving the real `s2sd` executable — the admin CLI
//! against a fresh SQLite store per test (assert_cmd), and `s2sd serve` processes on 127.0.0.1
//! (ephemeral ports, killed on drop) probed with curl.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_races;
mod authority;
mod certificate;
mod connectivity;
mod constant_time;
mod docs;
mod fuzz_seeds;
mod hybrid;
mod inspect;
mod mailbox;
mod metadata_fetch;
mod multi_node;
mod oauth_config;
mod partner_application;
mod postgres;
mod postgres_authority;
mod postgres_mailbox;
mod rollover;
mod rotated_store_key;
mod secret_removal;
mod secrets_not_logged;
mod serve;
mod store_kill;
mod support;
mod two_node;
