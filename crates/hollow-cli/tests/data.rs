//! `hollow inspect`, `get`, `scan`, `checksum`, `pin`, `unpin` on a dataset the demo published,
//! running the real binary.

mod common;
use common::{hollow, ok as stdout, query_of};

use std::process::Command;

#[test]
fn data_commands_read_what_the_demo_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args([
            "demo",
            "--movies",
            "1000",
            "--cycles",
            "3",
            "--upserts",
            "5",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .expect("demo");
    assert!(demo.status.success());

    let inspect: serde_json::Value =
        serde_json::from_str(&stdout(&hollow(&["inspect", "--json"], dir.path()))).expect("json");
    assert_eq!(inspect["announcement"]["version"], 4);
    assert_eq!(inspect["pin"], serde_json::Value::Null);
    assert_eq!(
        inspect["blobs"].as_array().expect("blobs").len(),
        1 + 3 + 3,
        "a snapshot, three deltas, three reverse deltas"
    );
    assert_eq!(inspect["types"][0]["name"], "Movie");
    let movie = &inspect["types"][0];
    assert!(
        movie["fields"]
            .as_array()
            .expect("fields")
            .contains(&serde_json::json!({"name": "genres", "type": "List(Text)"}))
    );
    let indexes = movie["indexes"].as_array().expect("indexes");
    assert_eq!(indexes.len(), 2);
    assert_eq!(indexes[0]["name"], "genres");
    assert_eq!(indexes[0]["kind"], "hash");
    assert!(indexes[0]["bytes"].as_u64().expect("bytes") > 0);

    let key = inspect["blobs"][0]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let blob: serde_json::Value = serde_json::from_str(&stdout(&hollow(
        &["inspect", "blob", &key, "--json"],
        dir.path(),
    )))
    .expect("json");
    assert_eq!(blob["kind"], "snapshot");
    assert_eq!(blob["verified"], true);

    // The incremental cycle (version 4) renamed the first movies; version 1 has the original.
    let now = stdout(&hollow(&["get", "Movie", "100000", "--json"], dir.path()));
    assert!(now.contains("director's cut"), "{now}");
    let then = stdout(&hollow(
        &["get", "Movie", "100000", "--version", "1", "--json"],
        dir.path(),
    ));
    let then: serde_json::Value = serde_json::from_str(then.trim()).expect("json");
    assert_eq!(then["title"], "The Paper River 0");

    let d: serde_json::Value = serde_json::from_str(&stdout(&hollow(
        &["diff", "3", "4", "--type", "Movie", "--json"],
        dir.path(),
    )))
    .expect("json");
    assert_eq!(
        d["types"][0]["changed"], 5,
        "the incremental cycle renamed five movies"
    );
    assert_eq!(d["via"], "deltas");
    let records = d["records"].as_array().expect("records");
    assert_eq!(records.len(), 5);
    assert_eq!(records[0]["change"], "changed");
    assert_eq!(records[0]["fields"][0]["field"], "title");
    let h = stdout(&hollow(&["history", "Movie", "100000"], dir.path()));
    assert!(h.starts_with("version 1: added"), "{h}");
    assert!(h.contains("version 4: changed"), "{h}");

    // query: through the genres index, the primary key, or a scan; the plan says which, and
    // every answer agrees with a scan of all movies.
    let all: Vec<serde_json::Value> = stdout(&hollow(
        &["scan", "Movie", "--limit", "1000000"],
        dir.path(),
    ))
    .lines()
    .map(|l| serde_json::from_str(l).expect("json"))
    .collect();
    let q = |conditions: &[&str]| -> serde_json::Value {
        let mut args = vec!["query", "Movie"];
        args.extend_from_slice(conditions);
        args.push("--json");
        let (records, mut summary) = query_of(&hollow(&args, dir.path()));
        summary["records"] = serde_json::Value::from(records);
        summary
    };
    let drama = q(&["genres=Drama"]);
    assert_eq!(drama["plan"], "hash index genres");
    assert_eq!(drama["uses_index"], true);
    let want = all
        .iter()
        .filter(|m| {
            m["genres"]
                .as_array()
                .is_some_and(|g| g.iter().any(|x| x == "Drama"))
        })
        .count();
    assert!(want > 0);
    assert_eq!(drama["matches"], want);
    assert_eq!(drama["records"].as_array().map(Vec::len), Some(want));
    let by_id = q(&["id=100000"]);
    assert_eq!(by_id["plan"], "primary-key index");
    assert_eq!(by_id["matches"], 1);
    let year = all[0]["year"].clone();
    let by_year = q(&[&format!("year={year}")]);
    assert_eq!(by_year["uses_index"], false);
    assert_eq!(
        by_year["matches"],
        all.iter().filter(|m| m["year"] == year).count()
    );
    let bad = hollow(&["query", "Movie", "genres"], dir.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("FIELD=VALUE"));
    let unknown = hollow(&["query", "Movie", "nope=1"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nope"));

    // filter: a snapshot with the movies only, readable on its own.
    let only = dir.path().join("movies-only.blob");
    let f: serde_json::Value = serde_json::from_str(&stdout(&hollow(
        &[
            "filter",
            "--types",
            "Movie",
            "--out",
            only.to_str().expect("utf-8"),
            "--json",
        ],
        dir.path(),
    )))
    .expect("json");
    assert_eq!(f["types"], serde_json::json!(["Movie"]));
    let filtered = hollow::ReadState::open(&only).expect("open");
    assert_eq!(filtered.types().len(), 1);
    assert_eq!(filtered.types()[0].record_count as usize, all.len());
    let unknown_type = hollow(&["filter", "--types", "Nope", "--out", "x"], dir.path());
    assert_eq!(unknown_type.status.code(), Some(2));

    let scan = stdout(&hollow(&["scan", "Actor", "--limit", "3"], dir.path()));
    assert_eq!(scan.lines().count(), 3);
    assert!(
        scan.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );

    let sums: serde_json::Value =
        serde_json::from_str(&stdout(&hollow(&["checksum", "2", "--json"], dir.path())))
            .expect("json");
    assert_eq!(sums["version"], 2);

    assert!(stdout(&hollow(&["pin", "2"], dir.path())).contains("pinned to version 2"));
    let pinned: serde_json::Value =
        serde_json::from_str(&stdout(&hollow(&["inspect", "--json"], dir.path()))).expect("json");
    assert_eq!(pinned["pin"]["version"], 2);
    // A pinned dataset reads at the pin.
    let at_pin: serde_json::Value = serde_json::from_str(
        stdout(&hollow(&["get", "Movie", "100000", "--json"], dir.path())).trim(),
    )
    .expect("json");
    assert_eq!(at_pin["title"], "The Paper River 0");
    stdout(&hollow(&["unpin"], dir.path()));

    let valid = stdout(&hollow(&["validate"], dir.path()));
    assert!(valid.trim_end().ends_with("7 blobs, 0 failed"), "{valid}");
    // A missing key is an error (exit 1) that names the type and key.
    let missing = hollow(&["get", "Movie", "7"], dir.path());
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no Movie with key 7"));
    // An empty store says what to do.
    let empty = tempfile::tempdir().expect("tempdir");
    let nothing = hollow(&["inspect"], empty.path());
    assert_eq!(nothing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("nothing has been announced"));
    // A flipped byte in a delta is found and named.
    let delta = inspect["blobs"][1]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let path = dir.path().join(&delta);
    let mut bytes = std::fs::read(&path).expect("read");
    let at = bytes.len() - 3;
    bytes[at] ^= 1;
    std::fs::remove_file(&path).expect("remove");
    std::fs::write(&path, bytes).expect("write");
    let invalid = hollow(&["validate", "--json"], dir.path());
    assert_eq!(invalid.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&invalid.stdout).expect("json");
    // The blob fails its checksum, and the announced chain breaks there.
    assert_eq!(report["failed"], 2);
    let bad: Vec<&serde_json::Value> = report["blobs"]
        .as_array()
        .expect("blobs")
        .iter()
        .filter(|b| b["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["key"], delta.as_str());
    assert!(report["chain_error"].is_string(), "{report}");
}
