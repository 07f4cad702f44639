//! The CLI's conventions (issue 19), running the real binary and asserting on stdout, stderr
//! and exit codes: writes need a named store, negative keys, nested structs that are not
//! dataset types, records in schema order with shortest floats, one JSON model, grep-like exit
//! codes.

mod common;
use common::{hollow, hollow_in, json_of, ok, stderr, stdout};

use std::path::{Path, PathBuf};

const ORDERS_CAPNP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/orders.capnp");

/// A store with version 1 of the orders dataset: customers -1, 0 and 7 (with addresses) and
/// two keyless orders.
fn orders(dir: &Path) -> (PathBuf, std::process::Output) {
    let store = dir.join("orders");
    let input = dir.join("orders.jsonl");
    std::fs::write(
        &input,
        [
            r#"{"type":"Customer","id":-1,"name":"Nobody","rating":8.56,"address":{"street":"1 Main St","city":"Lyon"}}"#,
            r#"{"type":"Customer","id":0,"name":"Zero","rating":0.1,"previous":[{"city":"Oslo"}]}"#,
            r#"{"type":"Customer","id":7,"name":"Seven","rating":-2.5}"#,
            r#"{"type":"Order","customerId":7,"total":12.5}"#,
            r#"{"type":"Order","customerId":-1,"total":3.25}"#,
        ]
        .join("\n"),
    )
    .expect("write");
    let produced = hollow(
        &[
            "produce",
            "--schema",
            ORDERS_CAPNP,
            "--input",
            input.to_str().expect("utf-8"),
        ],
        &store,
    );
    (store, produced)
}

#[test]
fn writes_need_a_named_store_and_reads_say_which_they_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("c.jsonl");
    std::fs::write(&input, r#"{"type":"Customer","id":1,"name":"A"}"#).expect("write");
    let args = [
        "produce",
        "--schema",
        ORDERS_CAPNP,
        "--input",
        input.to_str().expect("utf-8"),
    ];
    // No --store, no HOLLOW_STORE: refused before anything is compiled or created.
    let refused = hollow_in(&args, dir.path(), &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert_eq!(stdout(&refused), "");
    assert!(stderr(&refused).contains("--store"), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("HOLLOW_STORE"));
    assert!(
        !dir.path().join("hollow-data").exists(),
        "the demo store was created"
    );
    for write in [&["pin", "1"][..], &["unpin"][..]] {
        let o = hollow_in(write, dir.path(), &[]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("writes to a store"), "{}", stderr(&o));
    }

    // HOLLOW_STORE names it.
    let store = dir.path().join("from-env");
    let env = [("HOLLOW_STORE", store.to_str().expect("utf-8"))];
    let produced = hollow_in(&args, dir.path(), &env);
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert!(store.is_dir());
    let got = hollow_in(&["get", "Customer", "1", "--json"], dir.path(), &env);
    assert_eq!(got.status.code(), Some(0), "{}", stderr(&got));
    assert!(!stderr(&got).contains("demo store"), "{}", stderr(&got));

    // A read with no store names the demo store it tried on stderr.
    let read = hollow_in(&["inspect"], dir.path(), &[]);
    assert_ne!(read.status.code(), Some(0));
    assert!(
        stderr(&read).contains("reading the demo store hollow-data/demo"),
        "{}",
        stderr(&read)
    );
    assert_eq!(stdout(&read), "");
}

#[test]
fn negative_keys_and_a_later_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, produced) = orders(dir.path());
    ok(&produced);
    // `hollow` appends `--store STORE` after the key: both are parsed.
    let got = hollow(&["get", "Customer", "-1", "--json"], &store);
    let line = ok(&got);
    let record: serde_json::Value = serde_json::from_str(line.trim()).expect("json");
    assert_eq!(record["name"], "Nobody");
    let two = ok(&hollow(&["get", "Customer", "-1", "7", "--json"], &store));
    assert_eq!(two.lines().count(), 2, "{two}");
    let history = ok(&hollow(&["history", "Customer", "-1"], &store));
    assert!(history.contains("version 1: added"), "{history}");
    // An added record prints its members in schema order (the key first), as `get` does.
    let text_order: Vec<usize> = ["\"id\"", "\"name\"", "\"rating\"", "\"address\""]
        .iter()
        .map(|k| {
            history
                .find(k)
                .unwrap_or_else(|| panic!("{k} in {history}"))
        })
        .collect();
    assert!(text_order.is_sorted(), "schema order: {history}");
    let json = ok(&hollow(&["history", "Customer", "-1", "--json"], &store));
    let added = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .find_map(|e| e.get("added").cloned())
        .or_else(|| {
            let doc: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
            doc.as_array()?.iter().find_map(|e| e.get("added").cloned())
        })
        .expect("an added entry");
    let keys: Vec<&str> = added
        .as_object()
        .expect("a record")
        .keys()
        .map(String::as_str)
        .take(4)
        .collect();
    assert_eq!(keys, ["id", "name", "rating", "address"], "{json}");
}

#[test]
fn structs_used_only_as_field_types_are_not_dataset_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, produced) = orders(dir.path());
    ok(&produced);
    let err = stderr(&produced);
    assert!(!err.contains("Address"), "{err}");
    // The report names the blob sizes (snake_case members behind the text).
    let report = stdout(&produced);
    assert!(
        report.contains("  snapshot ") && report.contains("KiB") && report.contains(" stored)"),
        "{report}"
    );
    assert!(!report.contains("snapshot -"), "{report}");
    // The keyless Order is a type: its note is printed once.
    assert_eq!(err.matches("Order has no primary key").count(), 1, "{err}");
    let inspect = json_of(&hollow(&["inspect", "--json"], &store));
    let names: Vec<&str> = inspect["types"]
        .as_array()
        .expect("types")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Customer", "Order"]);
    let text = ok(&hollow(&["inspect"], &store));
    assert!(!text.contains("Address "), "{text}");
    let sums = ok(&hollow(&["checksum"], &store));
    assert!(!sums.contains("Address"), "{sums}");
}

#[test]
fn records_print_in_schema_order_with_shortest_floats_one_line_per_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, produced) = orders(dir.path());
    ok(&produced);
    // Found keys and missing ones line up with the keys asked: a line each.
    let o = hollow(&["get", "Customer", "-1", "99", "0", "--json"], &store);
    assert_eq!(o.status.code(), Some(1), "a key was not found");
    assert_eq!(
        stdout(&o),
        concat!(
            r#"{"id":-1,"name":"Nobody","rating":8.56,"address":{"street":"1 Main St","city":"Lyon"},"previous":null}"#,
            "\n",
            r#"{"key":["99"],"found":false}"#,
            "\n",
            r#"{"id":0,"name":"Zero","rating":0.1,"address":null,"previous":[{"street":null,"city":"Oslo"}]}"#,
            "\n",
        )
    );
    assert_eq!(
        stderr(&o).trim_end(),
        "no Customer with key 99 at version 1"
    );
    // The human form is the same record, indented.
    let pretty = ok(&hollow(&["get", "Customer", "7"], &store));
    assert!(
        pretty.starts_with("{\n  \"id\": 7,\n  \"name\": \"Seven\",\n  \"rating\": -2.5"),
        "{pretty}"
    );

    // scan streams JSONL and says how many it left out.
    let o = hollow(&["scan", "Customer", "--limit", "2"], &store);
    assert_eq!(ok(&o).lines().count(), 2);
    assert_eq!(
        stderr(&o).trim_end(),
        "2 of 3 Customer records shown (--limit N or --all for more)"
    );
    let o = hollow(&["scan", "Customer", "--all"], &store);
    assert_eq!(ok(&o).lines().count(), 3);
    assert_eq!(stderr(&o), "");

    // query streams JSONL; the summary is on stderr (a JSON document with --json).
    let o = hollow(&["query", "Customer", "name=Seven", "--json"], &store);
    assert_eq!(
        ok(&o),
        "{\"id\":7,\"name\":\"Seven\",\"rating\":-2.5,\"address\":null,\"previous\":null}\n"
    );
    let summary: serde_json::Value = serde_json::from_str(stderr(&o).trim_end()).expect("summary");
    assert_eq!(summary["matches"], 1);
    assert_eq!(summary["plan"], "scan (no index on these fields)");
    let none = hollow(&["query", "Customer", "name=Nobody Else"], &store);
    assert_eq!(none.status.code(), Some(1));
    assert_eq!(stdout(&none), "");
    assert!(
        stderr(&none).starts_with("0 Customer record(s) at version 1"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn standalone_blobs_are_read_with_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, produced) = orders(dir.path());
    ok(&produced);
    let blob = dir.path().join("customers.blob");
    let blob_arg = blob.to_str().expect("utf-8");
    ok(&hollow(
        &["filter", "--types", "Customer", "--out", blob_arg],
        &store,
    ));
    // No store is opened (nor the demo store named).
    let cwd = dir.path();
    let got = hollow_in(
        &["get", "Customer", "-1", "--file", blob_arg, "--json"],
        cwd,
        &[],
    );
    assert_eq!(got.status.code(), Some(0), "{}", stderr(&got));
    assert!(stdout(&got).starts_with(r#"{"id":-1,"name":"Nobody""#));
    assert_eq!(stderr(&got), "");
    let scan = hollow_in(&["scan", "Customer", "--file", blob_arg], cwd, &[]);
    assert_eq!(stdout(&scan).lines().count(), 3, "{}", stderr(&scan));
    let wrong = hollow_in(
        &["get", "Customer", "0", "--file", blob_arg, "--version", "9"],
        cwd,
        &[],
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("holds version 1, not version 9"));
    for args in [
        &["inspect", "blob", "--file", blob_arg, "--json"][..],
        &["inspect", "--file", blob_arg, "--json"][..],
    ] {
        let o = hollow_in(args, cwd, &[]);
        let report: serde_json::Value = serde_json::from_str(&ok(&o)).expect("json");
        assert_eq!(report["kind"], "snapshot");
        assert_eq!(report["types"], serde_json::json!(["Customer"]));
        assert_eq!(report["verified"], true);
        assert!(
            report["sections"]
                .as_array()
                .expect("sections")
                .iter()
                .any(|s| s["type"] == "Customer")
        );
    }
    let text = ok(&hollow_in(&["inspect", "--file", blob_arg], cwd, &[]));
    assert!(text.contains("types: Customer"), "{text}");
    // The golden blob carries a header tag.
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hollow/tests/golden/v1-movies-snapshot.blob"
    );
    let o = hollow_in(&["inspect", "--file", golden, "--json"], cwd, &[]);
    let report: serde_json::Value = serde_json::from_str(&ok(&o)).expect("json");
    assert_eq!(
        report["header_tags"],
        serde_json::json!({"source": "movies.py"})
    );
    assert_eq!(report["types"], serde_json::json!(["Movie", "Actor"]));
}

#[test]
fn inspect_says_when_and_which_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, produced) = orders(dir.path());
    ok(&produced);
    let report = json_of(&hollow(&["inspect", "--json"], &store));
    let published = report["announcement"]["published_at"]
        .as_str()
        .expect("time");
    assert!(
        published.starts_with("20") && published.ends_with('Z'),
        "{published}"
    );
    assert_eq!(report["types_version"], 1);
    assert!(
        report["published_note"]
            .as_str()
            .expect("note")
            .contains("blob headers")
    );
    let text = ok(&hollow(&["inspect"], &store));
    assert!(text.contains(&format!("published {published}")), "{text}");
    // Logs on a pipe carry no ANSI colours.
    let logged = hollow(&["-v", "inspect"], &store);
    assert!(stderr(&logged).contains("DEBUG"), "{}", stderr(&logged));
    assert!(!stderr(&logged).contains('\u{1b}'), "{}", stderr(&logged));
    assert!(text.contains("types at version 1:"), "{text}");
    // pin and unpin answer --json with one document.
    let pinned = json_of(&hollow(&["pin", "1", "--json"], &store));
    assert_eq!(pinned["pinned"]["version"], 1);
    let unpinned = json_of(&hollow(&["unpin", "--json"], &store));
    assert_eq!(unpinned, serde_json::json!({"pinned": null}));
    // history of a missing key: exit 1, the message on stderr, nothing on stdout.
    let o = hollow(&["history", "Customer", "12345"], &store);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o).trim_end(),
        "no Customer with key 12345 in any version"
    );
    // Usage errors exit 2.
    let o = hollow(&["get"], &store);
    assert_eq!(o.status.code(), Some(2));
    let o = hollow(&["get", "Nope", "1"], &store);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Nope"), "{}", stderr(&o));
    // Did you mean: types and fields.
    let o = hollow(&["get", "Custmer", "1"], &store);
    assert_eq!(
        stderr(&o).trim_end(),
        "error: unknown type Custmer (did you mean Customer? one of: Customer, Order)"
    );
    let o = hollow(&["query", "Customer", "nmae=x"], &store);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(
            "has no field nmae (did you mean name? one of: id, name, rating, address, previous)"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn completions_man_page_and_options_before_the_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bash = ok(&hollow_in(&["completions", "bash"], dir.path(), &[]));
    assert!(
        bash.contains("complete") && bash.contains("inspect"),
        "{bash}"
    );
    let zsh = ok(&hollow_in(&["completions", "zsh"], dir.path(), &[]));
    assert!(zsh.starts_with("#compdef hollow"), "{zsh}");
    let bad = hollow_in(&["completions", "cmd.exe"], dir.path(), &[]);
    assert_eq!(bad.status.code(), Some(2));
    let man = ok(&hollow_in(&["man"], dir.path(), &[]));
    assert!(man.contains(".TH hollow 1"), "{man}");
    assert!(man.contains("inspect"), "{man}");

    // `hollow --store X --json inspect` reads X as `hollow inspect --store X --json` does.
    let (store, produced) = orders(dir.path());
    ok(&produced);
    let store_s = store.to_str().expect("utf-8");
    let before = hollow_in(&["--store", store_s, "--json", "inspect"], dir.path(), &[]);
    let after = hollow_in(&["inspect", "--store", store_s, "--json"], dir.path(), &[]);
    assert_eq!(stdout(&before), ok(&after));
    let doc: serde_json::Value = serde_json::from_str(stdout(&before).trim()).expect("json");
    assert_eq!(doc["announcement"]["version"], 1, "{doc}");

    // The help lists commands by group.
    let help = ok(&hollow_in(&["--help"], dir.path(), &[]));
    for heading in ["Publish:", "Read:", "Admin:", "Shell:"] {
        assert!(help.contains(heading), "{help}");
    }
}
