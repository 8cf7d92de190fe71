//! Metadata documents: lenient parse, the registration checks, and our writer's output read back.
//!
//! Shared by the fuzz target `metadata` and the seed replay test of the crate (`tests/it/fuzz_seeds.rs`),
//! which runs every file of `seeds/metadata/` through it on stable Rust.

use s2s::metadata::MetadataDocument;

const NOW: i64 = 1_800_000_000;

/// One input, as the fuzzer gives it (and as the seed replay test does).
pub fn run(data: &[u8]) {
    if let Ok(doc) = MetadataDocument::parse(data) {
        let _ = doc.check(NOW);
        let _ = doc.token_endpoint();
        let again = MetadataDocument::parse(doc.to_json().as_bytes()).expect("our own document parses");
        assert_eq!(again.keys, doc.keys);
    }
}
