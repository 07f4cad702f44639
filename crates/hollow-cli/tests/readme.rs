//! The README's command-line examples run as written, with the built binary: every line of
//! its ```sh blocks that calls `hollow` (or `cargo run --release -p hollow-cli --`) runs in a
//! scratch directory holding the repository's `schemas/`, in order, and must succeed. The
//! only rewrites: `demo` publishes 2,000 movies (the README's default of 100k is the same
//! command, slower in a debug build), and `/tmp/` is the scratch directory. Lines that need a
//! file of the reader's own (books.capnp, changes.jsonl) or run until Ctrl-C (--watch) are
//! skipped, and the test says which.

use std::path::Path;
use std::process::Command;

/// Lines needing the reader's own files or services (their S3 bucket, NATS server), or that run
/// until stopped.
const SKIP: [&str; 11] = [
    "books.capnp",
    "changes.jsonl",
    "--watch",
    "cargo test",
    "s3://bucket",
    "gs://",
    "az://",
    "export AWS_",
    "nats://",
    "hollow follow",
    "hollow serve",
];

/// The README's shell lines that run `hollow`, without comments.
fn commands(readme: &str) -> Vec<(usize, String)> {
    let mut in_sh = false;
    let mut out = Vec::new();
    for (n, line) in readme.lines().enumerate() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            in_sh = fence == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let command = line.split(" #").next().unwrap_or_default().trim();
        if command.is_empty() || command.starts_with('#') {
            continue;
        }
        out.push((n + 1, command.to_string()));
    }
    out
}

fn link_schemas(dir: &Path) {
    let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");
    std::fs::create_dir(dir.join("schemas")).expect("mkdir");
    for entry in std::fs::read_dir(schemas).expect("schemas") {
        let entry = entry.expect("entry");
        if !entry.path().is_file() {
            continue;
        }
        std::fs::copy(entry.path(), dir.join("schemas").join(entry.file_name())).expect("copy");
    }
}

#[test]
fn the_readme_command_lines_run_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let dir = tempfile::tempdir().expect("tempdir");
    link_schemas(dir.path());
    let scratch = format!("{}/", dir.path().display());
    let (mut ran, mut skipped) = (Vec::new(), Vec::new());
    for (line, command) in commands(&readme) {
        if SKIP.iter().any(|s| command.contains(s)) {
            skipped.push(line);
            continue;
        }
        let args = if let Some(rest) = command.strip_prefix("cargo run --release -p hollow-cli --")
        {
            rest.to_string()
        } else if let Some(rest) = command.strip_prefix("hollow ") {
            rest.to_string()
        } else if command.starts_with("cargo install") {
            // Installing is what `cargo build` of this test already did.
            skipped.push(line);
            continue;
        } else {
            panic!("README.md line {line}: {command:?} is not a hollow command this test knows");
        };
        let mut args: Vec<String> = args
            .split_whitespace()
            .map(|a| a.replace("/tmp/", &scratch))
            .collect();
        if args.first().map(String::as_str) == Some("demo") && !args.iter().any(|a| a == "--movies")
        {
            args.extend(["--movies".to_string(), "2000".to_string()]);
        }
        let o = Command::new(env!("CARGO_BIN_EXE_hollow"))
            .args(&args)
            .current_dir(dir.path())
            .env_remove("HOLLOW_STORE")
            .output()
            .expect("run hollow");
        assert!(
            o.status.success(),
            "README.md line {line}: `hollow {}` failed ({:?}):\n{}",
            args.join(" "),
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        ran.push(line);
    }
    assert!(ran.len() >= 10, "ran README lines {ran:?}");
    // The remote-store block (an S3 bucket and a NATS server of the reader's) is most of these;
    // the S3 path itself runs against a real server in tests/remote.rs.
    assert!(skipped.len() <= 14, "skipped README lines {skipped:?}");
}
