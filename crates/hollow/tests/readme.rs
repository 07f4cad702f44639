//! The README's Rust snippets must compile and run: every line of every ```rust block of
//! README.md is a line of the crate front page's doctests (`src/lib.rs`), which `cargo test`
//! runs.

use std::collections::HashSet;

#[test]
fn every_readme_rust_line_is_in_a_crate_doctest() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))
        .expect("lib.rs");
    let doc_lines: HashSet<&str> = lib
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .map(|l| l.trim_start_matches(' ').trim_start_matches("# ").trim())
        .collect();
    let mut in_rust = false;
    let mut checked = 0;
    for (n, line) in readme.lines().enumerate() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            in_rust = fence == "```rust";
            continue;
        }
        if in_rust && !line.trim().is_empty() {
            assert!(
                doc_lines.contains(line.trim()),
                "README.md line {}: {:?} is not in a doctest of crates/hollow/src/lib.rs",
                n + 1,
                line.trim()
            );
            checked += 1;
        }
    }
    assert!(
        checked > 10,
        "the README has Rust snippets ({checked} lines checked)"
    );
}
