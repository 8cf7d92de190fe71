//! The fuzz targets' seed corpora, replayed as ordinary tests on stable Rust: every file of
//! `fuzz/seeds/<target>/` goes through the very function the fuzz target calls (the fuzz crate's
//! `checks/<target>.rs`, compiled here too), which must not panic. A crash the fuzzer finds is
//! committed as a seed, so it stays fixed. The seeds are also checked to reach past the first
//! parser, and what we write is read back unchanged.

use std::path::PathBuf;

use s2s::challenge::{self, BearerChallenge};
use s2s::metadata::MetadataDocument;
use s2s::token::Compact;

#[path = "../../fuzz/checks/challenge.rs"]
mod challenge_check;
#[path = "../../fuzz/checks/metadata.rs"]
mod metadata_check;
#[path = "../../fuzz/checks/token.rs"]
mod token_check;

/// Every seed of `target`, by file name, in name order.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{} holds only {} seeds", dir.display(), files.len());
    files
        .into_iter()
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect()
}

/// Runs `check` on every seed of `target`; fails naming each seed that panicked.
fn replay(target: &str, check: fn(&[u8])) -> Vec<(String, Vec<u8>)> {
    let seeds = seeds(target);
    let panicked: Vec<&str> = seeds
        .iter()
        .filter(|(_, data)| std::panic::catch_unwind(|| check(data)).is_err())
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(panicked.is_empty(), "fuzz target `{target}` panics on seeds {panicked:?}");
    seeds
}

#[test]
fn token_seeds_replay() {
    let seeds = replay("token", token_check::run);
    let split = seeds.iter().filter(|(_, data)| Compact::split(std::str::from_utf8(data).unwrap()).is_ok()).count();
    assert!(split >= 5, "only {split} token seeds get past the compact split");
}

#[test]
fn metadata_seeds_replay() {
    let seeds = replay("metadata", metadata_check::run);
    let mut parsed = 0;
    for (name, data) in &seeds {
        let Ok(doc) = MetadataDocument::parse(data) else { continue };
        parsed += 1;
        // Our writer is a fixed point: what it writes reads back to the same document.
        let written = doc.to_json();
        let again = MetadataDocument::parse(written.as_bytes()).unwrap();
        assert_eq!(again.to_json(), written, "{name}: parse → write → parse is not stable");
    }
    assert!(parsed >= 3, "only {parsed} metadata seeds parse");
}

#[test]
fn challenge_seeds_replay() {
    let seeds = replay("challenge", challenge_check::run);
    let mut bearers = 0;
    for (name, data) in &seeds {
        let Ok(challenges) = challenge::parse(&String::from_utf8_lossy(data)) else { continue };
        let Some(bearer) = BearerChallenge::from_challenges(&challenges) else { continue };
        bearers += 1;
        let written = bearer.to_header_value();
        let again = BearerChallenge::from_challenges(&challenge::parse(&written).unwrap()).unwrap();
        assert_eq!(again.to_header_value(), written, "{name}: parse → write → parse is not stable");
    }
    assert!(bearers >= 4, "only {bearers} challenge seeds hold a Bearer challenge");
}
