//! Records which library source the benchmark was built from, for the report: the commit and
//! whether `crates/hollow` or `crates/hollow-movies` had uncommitted changes at build time.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    for path in [
        "src",
        "../hollow/src",
        "../hollow/Cargo.toml",
        "../hollow-movies/src",
        "../../.git/HEAD",
        "../../.git/index",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    let source = match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let changes = git(&[
                "status",
                "--porcelain",
                "--",
                "../hollow",
                "../hollow-movies",
            ])
            .unwrap_or_default();
            let state = if changes.is_empty() {
                "library clean"
            } else {
                "library with uncommitted changes"
            };
            format!("{commit}, {state}")
        }
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=HOLLOW_BENCH_SOURCE={source}");
}
