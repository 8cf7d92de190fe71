#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Integration tests of the `s2s` crate, in one test binary: protocol conformance vectors, a
//! differential oracle (jsonwebtoken), property tests, the axum middleware in-process, and
//! metadata refresh against a real HTTP server.

mod auth_server;
mod common;
mod conformance;
mod fuzz_seeds;
mod middleware;
mod oracle;
mod props;
mod refresh;
mod refresh_scale;
