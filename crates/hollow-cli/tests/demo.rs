//! The `hollow` binary, run for real on a temporary directory.

use std::process::Command;

fn hollow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hollow"))
}

#[test]
fn demo_publishes_cycles_that_read_back_and_continues_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |cycles: &str| {
        let out = hollow()
            .args([
                "demo",
                "--movies",
                "2000",
                "--cycles",
                cycles,
                "--snapshot-every",
                "2",
                "--dir",
            ])
            .arg(dir.path())
            .output()
            .expect("run hollow demo");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "demo failed: {}\n{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let stdout = run("3");
    assert!(
        stdout.contains("hollow demo: 2000 movies + 500 actors"),
        "{stdout}"
    );
    assert!(stdout.contains("cycle 0: version 1 in"), "{stdout}");
    assert!(stdout.contains("cycle 2: version 3 in"), "{stdout}");
    assert!(stdout.contains("delta"), "{stdout}");
    assert!(stdout.contains("10000 primary-key lookups:"), "{stdout}");
    // The demo checks its index answers against scans and fails otherwise.
    assert!(
        stdout.contains("Drama movies in") && stdout.contains("(a scan agrees)"),
        "{stdout}"
    );
    assert!(stdout.contains("diff 1 → 4: Movie +"), "{stdout}");
    assert!(
        stdout.contains("incremental: 1000 movies upserted, version 4"),
        "{stdout}"
    );
    // The consumer follows the deltas to the newest version, where the incremental cycle
    // renamed the first movies.
    assert!(stdout.contains("refresh to version 2 in"), "{stdout}");
    assert!(stdout.contains("the consumer serves version 4"), "{stdout}");
    assert!(
        stdout.contains("movie 100000: \"The Paper River 0 (director's cut 3)\""),
        "{stdout}"
    );

    // A second run restores the producer and continues the chain.
    let stdout = run("1");
    assert!(
        stdout.contains("restored the producer at version 4"),
        "{stdout}"
    );
    assert!(stdout.contains("cycle 4: version 5 in"), "{stdout}");

    // What it published reads back through the library.
    let store = hollow::BlobStore::local(dir.path()).expect("store");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (announcement, _) = runtime
        .block_on(store.announcement())
        .expect("read")
        .expect("announced");
    assert_eq!(announcement.version, 6);
    let snapshot = announcement.latest_snapshot.expect("snapshot");
    let state =
        hollow::ReadState::open(dir.path().join(snapshot.relative())).expect("the snapshot opens");
    let counts: Vec<(String, u32)> = state
        .types()
        .into_iter()
        .map(|t| (t.name, t.record_count))
        .collect();
    assert_eq!(counts[1], ("Actor".to_string(), 500));
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
        Some(2),
        "a file where a directory is needed"
    );
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: creating "));
}

#[test]
fn demo_json_is_one_document_with_every_figure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = hollow()
        .args([
            "demo", "--movies", "1000", "--cycles", "3", "--json", "--dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run hollow demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one compact document: {stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let cycles = report["cycles"].as_array().expect("cycles");
    assert_eq!(cycles.len(), 3);
    assert_eq!(cycles[0]["version"], 1);
    assert!(cycles[0]["snapshot_bytes"].as_u64().expect("bytes") > 0);
    assert_eq!(report["incremental"]["version"], 4);
    assert_eq!(report["announced_version"], 4);
    assert_eq!(report["served_version"], 4);
    assert_eq!(
        report["consumer"]["refreshes"].as_array().map(Vec::len),
        Some(3),
        "versions 2, 3 and 4 after the first"
    );
    let types: Vec<&str> = report["types"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(types, ["Movie", "Actor"]);
    assert_eq!(report["lookups"]["count"], 10_000);
    assert_eq!(report["diff"]["from"], 1);
    // --export --json: the files written.
    let export = dir.path().join("export");
    let out = hollow()
        .args([
            "demo", "--movies", "100", "--cycles", "2", "--json", "--export",
        ])
        .arg(&export)
        .output()
        .expect("run hollow demo --export");
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["files"].as_array().map(Vec::len), Some(2));
}
