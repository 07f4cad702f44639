//! The `hollow` binary, run for real on a temporary directory.

use std::process::Command;

fn hollow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hollow"))
}

#[test]
fn demo_writes_a_snapshot_that_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = hollow()
        .args(["demo", "--movies", "2000", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run hollow demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("hollow demo: 2000 movies + 500 actors (cycle 0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("10000 primary-key lookups: 10000 found"),
        "{stdout}"
    );
    assert!(
        stdout.contains("movie 100000: \"The Paper River 0\""),
        "{stdout}"
    );

    let blob = dir.path().join("snapshot-00000001.blob");
    let state = hollow::ReadState::open(&blob).expect("the demo's snapshot opens");
    let counts: Vec<(String, u32)> = state
        .types()
        .into_iter()
        .map(|t| (t.name, t.record_count))
        .collect();
    assert_eq!(
        counts,
        [("Movie".to_string(), 2000), ("Actor".to_string(), 500)]
    );
    assert!(
        !dir.path().join("snapshot-00000001.tmp").exists(),
        "no temporary file left behind"
    );
}

#[test]
fn usage_errors_exit_with_2_and_io_errors_with_1() {
    let out = hollow()
        .args(["demo", "--movies", "many"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'many'"));

    let file = tempfile::NamedTempFile::new().expect("temp file");
    let out = hollow()
        .args(["demo", "--movies", "10", "--dir"])
        .arg(file.path())
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a file where a directory is needed"
    );
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: creating "));
}
