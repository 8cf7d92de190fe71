//! Client secrets are compared in constant time. No black-box test can tell `==` from a
//! constant-time comparison (they agree on every answer, and a timing test on a shared 2-core
//! machine would only be noise), so this reads the source: the authority's one comparison of secret
//! material, `secret_tag_matches`, must be aws-lc's `constant_time::verify_slices_are_equal` and
//! nothing else; `matching_secret` must go through it; and no other code of the daemon may read a
//! stored hash (`.hash`) or compare a `secret_hash` with `==`, `!=` or `.eq(…)`. Replacing the call
//! with `tag == stored`, or comparing `s.hash` directly anywhere, fails this test.

use std::path::{Path, PathBuf};

fn source(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The body of `fn <name>` in `text`: from its opening brace to the matching closing one.
fn body<'a>(text: &'a str, name: &str) -> &'a str {
    let at = [format!("fn {name}("), format!("fn {name}<")]
        .iter()
        .find_map(|head| text.find(head.as_str()))
        .unwrap_or_else(|| panic!("no fn {name} in the authority"));
    let open = at + text[at..].find('{').unwrap();
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("fn {name} has no closing brace");
}

/// Every non-test `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            if name != "tests" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
            out.push(path);
        }
    }
}

/// The code of a line, without a trailing `//` comment.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap()
}

fn compares(line: &str) -> bool {
    let line = code(line);
    line.contains("==") || line.contains("!=") || line.contains(".eq(") || line.contains(".cmp(")
}

#[test]
fn client_secret_hashes_are_compared_in_constant_time_only() {
    let authority = source("src/authority/mod.rs");

    let compare = body(&authority, "secret_tag_matches");
    let statements: Vec<&str> = compare.lines().map(code).map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(
        statements,
        ["constant_time::verify_slices_are_equal(tag, stored).is_ok()"],
        "secret_tag_matches must be aws-lc's constant-time comparison and nothing else"
    );
    assert!(authority.contains("use aws_lc_rs::{constant_time,"), "constant_time is aws_lc_rs::constant_time");

    let matching = body(&authority, "matching_secret");
    assert!(matching.contains("secret_tag_matches("), "matching_secret must compare through secret_tag_matches");
    assert!(!matching.lines().any(compares), "matching_secret compares with an operator:\n{matching}");

    // No other read of a stored hash, and no operator comparison of one, anywhere in the daemon.
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut reads = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests at the bottom of a file (`#[cfg(test)] mod tests { … }`) are not the daemon.
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        for (n, line) in text.lines().enumerate() {
            let at = format!("{}:{}", file.display(), n + 1);
            let c = code(line);
            let reads_hash = c
                .match_indices(".hash")
                .any(|(i, _)| !c[i + ".hash".len()..].starts_with(|ch: char| ch.is_alphanumeric() || ch == '_'));
            if reads_hash {
                reads += 1;
                assert!(
                    c.contains("secret_tag_matches("),
                    "{at}: a stored hash is read outside secret_tag_matches: {line}"
                );
            }
            if c.contains("secret_hash") || reads_hash {
                assert!(!compares(line), "{at}: a secret hash compared with an operator: {line}");
            }
        }
    }
    assert_eq!(reads, 1, "exactly one read of a stored hash (in matching_secret)");
}
