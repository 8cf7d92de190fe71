#![no_main]
//! `WWW-Authenticate` parsing: any bytes, as UTF-8 (lossy) like a header value read with `to_str`.

use libfuzzer_sys::fuzz_target;
use s2s::challenge::{self, BearerChallenge};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(challenges) = challenge::parse(&text) {
        assert!(!challenges.is_empty());
        if let Some(bearer) = BearerChallenge::from_challenges(&challenges) {
            // What we write, we read back.
            let again = challenge::parse(&bearer.to_header_value()).expect("our own challenge parses");
            let _ = BearerChallenge::from_challenges(&again);
        }
    }
});
