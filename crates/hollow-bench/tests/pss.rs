//! Many consumer processes on one host share one copy of the blob bytes (the page cache): the
//! `hollow-pss` binary starts 8 consumer processes on one version and reads their PSS from
//! `/proc`. Shared (mapped) consumers' blob mappings sum to one copy; private-memory consumers
//! hold one copy each (so the measurement can tell the two apart).
#![cfg(target_os = "linux")]

use std::process::Command;

fn report(extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hollow-pss"))
        .args(["--movies", "20000", "--processes", "8", "--json"])
        .args(extra)
        .output()
        .expect("run hollow-pss");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().expect("a byte count")
}

fn sum(report: &serde_json::Value, field: &str) -> u64 {
    report["each"]
        .as_array()
        .expect("each")
        .iter()
        .map(|m| u(&m[field]))
        .sum()
}

#[test]
fn eight_mapped_consumers_hold_one_copy_of_the_blobs() {
    let shared = report(&[]);
    assert_eq!(shared["each"].as_array().expect("each").len(), 8);
    let blob_bytes = u(&shared["blob_bytes"]);
    let one_copy = u(&shared["one"]["blob_rss"]);
    // A consumer that read every record has (most of) the blob resident.
    assert!(
        one_copy * 2 >= blob_bytes,
        "one consumer maps {one_copy} of {blob_bytes} blob bytes"
    );
    let together = sum(&shared, "blob_pss");
    assert!(
        together * 10 <= one_copy * 12,
        "8 consumers hold {together} blob bytes, one copy is {one_copy}"
    );
}

#[test]
fn eight_private_consumers_hold_eight_copies() {
    let private = report(&["--private"]);
    let blob_bytes = u(&private["blob_bytes"]);
    assert_eq!(
        sum(&private, "blob_pss"),
        0,
        "nothing mapped from the store"
    );
    let anon = sum(&private, "pss_anon");
    assert!(
        anon * 10 >= blob_bytes * 8 * 9,
        "8 private copies of {blob_bytes} bytes, {anon} anonymous bytes in all"
    );
}
