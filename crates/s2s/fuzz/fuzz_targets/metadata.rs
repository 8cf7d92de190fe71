#![no_main]
//! Metadata documents: lenient parse, the registration checks, and our writer's output read back.

use libfuzzer_sys::fuzz_target;
use s2s::metadata::MetadataDocument;

const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = MetadataDocument::parse(data) {
        let _ = doc.check(NOW);
        let _ = doc.token_endpoint();
        let again = MetadataDocument::parse(doc.to_json().as_bytes()).expect("our own document parses");
        assert_eq!(again.keys, doc.keys);
    }
});
