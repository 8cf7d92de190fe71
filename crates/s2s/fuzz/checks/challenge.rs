//! `WWW-Authenticate` parsing: any bytes, as UTF-8 (lossy) like a header value read with `to_str`.
//!
//! Shared by the fuzz target `challenge` and the seed replay test of the crate (`tests/it/fuzz_seeds.rs`),
//! which runs every file of `seeds/challenge/` through it on stable Rust.

use s2s::challenge::{self, BearerChallenge};

/// One input, as the fuzzer gives it (and as the seed replay test does).
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(challenges) = challenge::parse(&text) {
        assert!(!challenges.is_empty());
        if let Some(bearer) = BearerChallenge::from_challenges(&challenges) {
            // What we write, we read back.
            let again = challenge::parse(&bearer.to_header_value()).expect("our own challenge parses");
            let _ = BearerChallenge::from_challenges(&again);
        }
    }
}
