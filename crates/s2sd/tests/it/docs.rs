//! The documentation's links: every Markdown link in README.md, ARCHITECTURE.md and docs/*.md that
//! is not a URL must name a file of the repository (never one outside it, through `../`), and its
//! `#anchor`, when it has one, a heading of that file (GitHub's heading ids).

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The documents whose links are checked.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The lines of `text` outside fenced code blocks, with inline code spans blanked out (or, with
/// `keep_code`, only their backticks).
fn prose(text: &str, keep_code: bool) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            lines.push(String::new());
            continue;
        }
        if fenced {
            lines.push(String::new());
            continue;
        }
        let mut out = String::new();
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code || keep_code {
                out.push(c);
            }
        }
        lines.push(out);
    }
    lines
}

/// The targets of the inline links `[text](target "title")` of `line`.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let mut depth = 0usize;
        let end = after
            .char_indices()
            .find(|&(_, c)| match c {
                '(' => {
                    depth += 1;
                    false
                }
                ')' if depth == 0 => true,
                ')' => {
                    depth -= 1;
                    false
                }
                _ => false,
            })
            .map_or(after.len(), |(i, _)| i);
        let inside = after[..end].trim();
        let target = inside
            .strip_prefix('<')
            .and_then(|t| t.split('>').next())
            .unwrap_or_else(|| inside.split_whitespace().next().unwrap_or(""));
        targets.push(target.to_owned());
        rest = &after[end..];
    }
    targets
}

/// GitHub's id for a heading: lower case, punctuation dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The heading ids of a Markdown file (a repeated heading gets `-1`, `-2`, … as on GitHub).
fn anchors(text: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    for line in prose(text, true) {
        let Some(heading) = line.strip_prefix('#') else { continue };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let mut id = base.clone();
        let mut n = 0;
        while !ids.insert(id.clone()) {
            n += 1;
            id = format!("{base}-{n}");
        }
    }
    ids
}

/// `path` without `.` and `..` components (which may climb above the root: then it starts with `..`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_resolves_inside_the_repository() {
    let root = repository();
    let mut broken = Vec::new();
    let mut checked = 0;
    for document in documents(&root) {
        let text = std::fs::read_to_string(&document).unwrap();
        let relative_dir = document.parent().unwrap().strip_prefix(&root).unwrap().to_path_buf();
        let name = document.strip_prefix(&root).unwrap().display().to_string();
        for (number, line) in prose(&text, false).iter().enumerate() {
            for target in link_targets(line) {
                let at = format!("{name}:{}: ({target})", number + 1);
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (file, anchor) = target.split_once('#').map_or((target.as_str(), None), |(f, a)| (f, Some(a)));
                let linked = if file.is_empty() {
                    document.strip_prefix(&root).unwrap().to_path_buf()
                } else {
                    normalize(&relative_dir.join(file))
                };
                if file.is_empty() && anchor.is_none() {
                    broken.push(format!("{at}: empty link"));
                    continue;
                }
                if linked.starts_with("..") || linked.is_absolute() {
                    broken.push(format!("{at}: leaves the repository"));
                    continue;
                }
                let path = root.join(&linked);
                if !path.exists() {
                    broken.push(format!("{at}: no such file {}", linked.display()));
                    continue;
                }
                if let Some(anchor) = anchor {
                    let ids = if path.is_file() && path.extension().is_some_and(|ext| ext == "md") {
                        anchors(&std::fs::read_to_string(&path).unwrap())
                    } else {
                        HashSet::new()
                    };
                    if !ids.contains(anchor) {
                        broken.push(format!("{at}: no heading #{anchor} in {}", linked.display()));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 3, "only {checked} relative links found: is the link parser broken?");
}

#[test]
fn the_link_checker_reads_links_and_headings_as_github_does() {
    assert_eq!(
        link_targets(r#"See [a](docs/a.md), [b](<docs/b c.md>) and [c](x.md#part-two "Title")."#),
        ["docs/a.md", "docs/b c.md", "x.md#part-two"]
    );
    assert_eq!(slug("Stores: SQLite, PostgreSQL and the store key"), "stores-sqlite-postgresql-and-the-store-key");
    let ids = anchors("# Title\n```\n# not a heading\n```\n## `x5t` and the `kid`\n## Title\n#hashtag\n");
    assert_eq!(ids, HashSet::from(["title".into(), "x5t-and-the-kid".into(), "title-1".into()]));
    assert_eq!(normalize(Path::new("docs/../../shared/x.md")), Path::new("../shared/x.md"));
    assert!(prose("a `[x](y)` b", false).iter().all(|line| link_targets(line).is_empty()));
}
