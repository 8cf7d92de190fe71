//! The `soap` fuzz target's seed corpus, replayed as an ordinary test on stable Rust: every file of
//! `fuzz/seeds/soap/` goes through the very function the fuzz target calls (the fuzz crate's
//! `checks/soap.rs`, compiled here too), which must not panic. A crash the fuzzer finds is
//! committed as a seed, so it stays fixed.

use std::path::PathBuf;

#[path = "../../fuzz/checks/soap.rs"]
mod soap_check;

#[test]
fn soap_seeds_replay() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/soap");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 3, "{} holds only {} seeds", dir.display(), files.len());
    let mut panicked = Vec::new();
    let mut accepted = 0;
    for path in &files {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| soap_check::run(&data)).is_err() {
            panicked.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        accepted += usize::from(s2sd::mailbox::ews::parse(&data).is_ok());
    }
    assert!(panicked.is_empty(), "fuzz target `soap` panics on seeds {panicked:?}");
    assert!(accepted >= 3, "only {accepted} SOAP seeds parse as requests");
}
