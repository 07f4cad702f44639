//! `hollow produce`: the movies dataset (JSONL written by `hollow demo --export`) published
//! through `schemas/movies.capnp` compiled at run time, checked with the data commands against
//! counts computed from the files themselves; CSV, incremental, watch, precompiled schemas, and
//! bad input that must publish nothing. Runs the real binary; needs the `capnp` compiler (CI
//! installs it).

mod common;
use common::{hollow, json_of, ok, query_of};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const MOVIES_CAPNP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/movies.capnp");

fn produce(store: &Path, input: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["produce", "--schema", MOVIES_CAPNP, "--input"];
    let input = input.to_str().expect("utf-8 path");
    args.push(input);
    args.extend_from_slice(extra);
    hollow(&args, store)
}

fn announced(store: &Path) -> u64 {
    json_of(&hollow(&["inspect", "--json"], store))["announcement"]["version"]
        .as_u64()
        .expect("version")
}

/// Asserts a failed run: exit code 2, stderr containing every `needle`, nothing published.
fn refused(o: &Output, store: &Path, version: u64, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
    }
    assert_eq!(announced(store), version, "nothing may be published");
}

fn generate(dir: &Path, movies: u32, cycles: u32) -> Vec<PathBuf> {
    let out = Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args([
            "demo",
            "--movies",
            &movies.to_string(),
            "--cycles",
            &cycles.to_string(),
            "--export",
        ])
        .arg(dir)
        .output()
        .expect("hollow demo --export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (0..cycles)
        .map(|c| dir.join(format!("cycle-{c:04}.jsonl")))
        .collect()
}

/// Records of a JSONL file: type → id → the record without its "type".
fn records(path: &Path) -> BTreeMap<String, BTreeMap<u64, Value>> {
    let mut out: BTreeMap<String, BTreeMap<u64, Value>> = BTreeMap::new();
    for line in std::fs::read_to_string(path).expect("read").lines() {
        let mut v: Value = serde_json::from_str(line).expect("json line");
        let t = v["type"].as_str().expect("type").to_string();
        v.as_object_mut().expect("object").remove("type");
        let id = v["id"].as_u64().expect("id");
        out.entry(t).or_default().insert(id, v);
    }
    out
}

#[test]
fn three_cycles_of_the_movies_dataset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = generate(&dir.path().join("in"), 300, 3);
    let store = dir.path().join("store");
    for (i, f) in files.iter().enumerate() {
        let report = json_of(&produce(&store, f, &["--json"]));
        assert_eq!(report["version"], i as u64 + 1);
        assert_eq!(report["published"], true);
        // The same words as diff (added / changed / removed), and what the store holds: on a
        // local store the blobs as written, raw.
        let movie = &report["types"][0];
        for word in ["added", "changed", "removed"] {
            assert!(movie[word].is_u64(), "{report}");
        }
        let raw: u64 = ["snapshot_bytes", "delta_bytes", "reverse_delta_bytes"]
            .iter()
            .filter_map(|k| report[k].as_u64())
            .sum();
        assert_eq!(report["stored_bytes"], raw, "{report}");
    }
    let inspect = json_of(&hollow(&["inspect", "--json"], &store));
    assert_eq!(inspect["announcement"]["version"], 3);
    assert_eq!(inspect["announcement"]["dataset"], "movies");
    let first = records(&files[0]);
    let last = records(&files[2]);
    let count = |t: &str| last[t].len() as u64;
    for t in inspect["types"].as_array().expect("types") {
        let name = t["name"].as_str().expect("name");
        assert_eq!(t["records"], count(name), "{name}");
    }

    // A record reads back as the file has it (Float32 rating compared as f32).
    let (id, expected) = last["Movie"].iter().next().expect("a movie");
    let got = json_of(&hollow(
        &["get", "Movie", &id.to_string(), "--json"],
        &store,
    ));
    for field in [
        "id",
        "title",
        "year",
        "runtimeMin",
        "genres",
        "castIds",
        "countryCode",
    ] {
        assert_eq!(got[field], expected[field], "{field}");
    }
    #[allow(clippy::cast_possible_truncation)]
    let rating = |v: &Value| v.as_f64().expect("rating") as f32;
    assert_eq!(rating(&got["rating"]), rating(&expected["rating"]));

    // diff 1 3 equals the differences of the files, by id and content.
    let diff = json_of(&hollow(&["diff", "1", "3", "--json", "--stat"], &store));
    assert_eq!(diff["via"], "deltas");
    for t in diff["types"].as_array().expect("types") {
        let name = t["type"].as_str().expect("type");
        let (a, b) = (&first[name], &last[name]);
        let added = b.keys().filter(|k| !a.contains_key(k)).count();
        let removed = a.keys().filter(|k| !b.contains_key(k)).count();
        let changed = b
            .iter()
            .filter(|(k, v)| a.get(k).is_some_and(|old| old != *v))
            .count();
        assert_eq!(t["added"], added, "{name} added");
        assert_eq!(t["removed"], removed, "{name} removed");
        assert_eq!(t["changed"], changed, "{name} changed");
        if name == "Movie" {
            assert!(
                added > 0 && removed > 0 && changed > 0,
                "the dataset changes movies"
            );
        }
    }

    // history of an updated movie and of a removed one.
    let middle = records(&files[1]);
    let updated = last["Movie"]
        .iter()
        .find(|(k, v)| first["Movie"].get(k).is_some_and(|old| old != *v))
        .map(|(k, _)| *k)
        .expect("an updated movie");
    let h = ok(&hollow(&["history", "Movie", &updated.to_string()], &store));
    assert!(h.starts_with("version 1: added"), "{h}");
    assert!(h.contains(": changed") && h.contains("title"), "{h}");
    let removed = first["Movie"]
        .keys()
        .find(|k| !last["Movie"].contains_key(k))
        .expect("a removed movie");
    let gone_in = if middle["Movie"].contains_key(removed) {
        3
    } else {
        2
    };
    let h = ok(&hollow(&["history", "Movie", &removed.to_string()], &store));
    assert!(h.contains(&format!("version {gone_in}: removed")), "{h}");

    // query through the genres index and the cast index: counts equal the file's.
    for (condition, field, value) in [
        ("genres=Drama", "genres", json!("Drama")),
        ("castIds=3", "castIds", json!(3)),
    ] {
        let (_, q) = query_of(&hollow(&["query", "Movie", condition, "--json"], &store));
        assert_eq!(q["uses_index"], true, "{q}");
        let want = last["Movie"]
            .values()
            .filter(|m| m[field].as_array().is_some_and(|l| l.contains(&value)))
            .count();
        assert!(want > 0, "{condition}");
        assert_eq!(q["matches"], want, "{condition}");
    }
    let (_, q) = query_of(&hollow(
        &["query", "Movie", "countryCode=NG", "--json"],
        &store,
    ));
    assert_eq!(q["plan"], "scan (no index on these fields)");
    let want = last["Movie"]
        .values()
        .filter(|m| m["countryCode"] == "NG")
        .count();
    assert_eq!(q["matches"], want);

    // pin and unpin: readers see the pinned version until it is lifted.
    ok(&hollow(&["pin", "1"], &store));
    let pinned = json_of(&hollow(
        &["get", "Movie", &id.to_string(), "--json"],
        &store,
    ));
    let at_one = &first["Movie"].get(id);
    assert_eq!(
        at_one.map(|m| m["title"].clone()),
        Some(pinned["title"].clone()).filter(|_| at_one.is_some())
    );
    ok(&hollow(&["unpin"], &store));
    assert_eq!(
        json_of(&hollow(
            &["get", "Movie", &id.to_string(), "--json"],
            &store
        ))["title"],
        expected["title"]
    );

    // The same file again changes nothing and publishes nothing.
    let again = json_of(&produce(&store, &files[2], &["--json"]));
    assert_eq!(again["published"], false);
    assert_eq!(announced(&store), 3);

    bad_input(dir.path(), &store, &files[2]);
    incremental(dir.path(), &store);
}

/// Every kind of bad input fails with exit code 1, names the place, and publishes nothing.
fn bad_input(dir: &Path, store: &Path, good: &Path) {
    let v = announced(store);
    let lines: Vec<String> = std::fs::read_to_string(good)
        .expect("read")
        .lines()
        .map(str::to_string)
        .collect();
    let with = |name: &str, bad_line: &str| {
        let path = dir.join(name);
        let mut text = lines[..1].join("\n");
        text.push('\n');
        text.push_str(bad_line);
        text.push('\n');
        text.push_str(&lines[1..].join("\n"));
        std::fs::write(&path, text).expect("write");
        path
    };
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (
            with("malformed.jsonl", r#"{"type":"Movie","id":1,"#),
            vec!["malformed.jsonl:2", "malformed JSON"],
        ),
        (
            with("nokey.jsonl", r#"{"type":"Movie","title":"Keyless"}"#),
            vec!["nokey.jsonl:2", "Movie", "primary-key field id"],
        ),
        (
            with(
                "nullkey.jsonl",
                r#"{"type":"Movie","id":null,"title":"Null"}"#,
            ),
            vec!["nullkey.jsonl:2", "primary-key field id"],
        ),
        (
            with("range.jsonl", r#"{"type":"Movie","id":1,"year":70000}"#),
            vec![
                "range.jsonl:2",
                "field year",
                "70000",
                "out of range for UInt16",
            ],
        ),
        (
            with("negative.jsonl", r#"{"type":"Movie","id":-4}"#),
            vec![
                "negative.jsonl:2",
                "field id",
                "-4",
                "out of range for UInt64",
            ],
        ),
        (
            with("unknown.jsonl", r#"{"type":"Movie","id":1,"titel":"x"}"#),
            vec!["unknown.jsonl:2", "titel", "\"x\"", "unknown field"],
        ),
        (
            with(
                "wrongtype.jsonl",
                r#"{"type":"Movie","id":1,"genres":"Drama"}"#,
            ),
            vec![
                "wrongtype.jsonl:2",
                "field genres",
                "\"Drama\"",
                "expected an array",
            ],
        ),
        (
            with(
                "element.jsonl",
                r#"{"type":"Movie","id":1,"castIds":[1,"two"]}"#,
            ),
            vec!["element.jsonl:2", "castIds[1]", "\"two\""],
        ),
        (
            with("type.jsonl", r#"{"type":"Film","id":1}"#),
            vec!["type.jsonl:2", "type Film is not a type of this dataset"],
        ),
        (
            with("notype.jsonl", r#"{"id":1}"#),
            vec!["notype.jsonl:2", "no \"type\" member"],
        ),
        (
            with("delete.jsonl", r#"{"type":"Movie","$delete":{"id":1}}"#),
            vec!["delete.jsonl:2", "--incremental"],
        ),
        (
            with("duplicate.jsonl", &lines[lines.len() - 1]),
            vec!["duplicate primary key", "Movie"],
        ),
    ];
    for (path, needles) in cases {
        refused(&produce(store, &path, &[]), store, v, &needles);
    }
    // A duplicate names the line of the second record.
    let dup = produce(store, &dir.join("duplicate.jsonl"), &[]);
    let n = lines.len() + 1;
    assert!(String::from_utf8_lossy(&dup.stderr).contains(&format!("duplicate.jsonl:{n}")));

    // A schema that cannot continue the dataset: the library's IncompatibleSchema error.
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas).expect("mkdir");
    let retyped = std::fs::read_to_string(MOVIES_CAPNP)
        .expect("schema")
        .replace("year @2 :UInt16;", "year @2 :Text;")
        .replace("import \"hollow.capnp\"", "import \"/hollow.capnp\"");
    let retyped_path = schemas.join("movies.capnp");
    std::fs::write(&retyped_path, retyped).expect("write");
    let o = hollow(
        &[
            "produce",
            "--schema",
            retyped_path.to_str().expect("utf-8"),
            "--input",
            good.to_str().expect("utf-8"),
        ],
        store,
    );
    refused(
        &o,
        store,
        v,
        &["incompatible schema change in Movie", "year"],
    );

    // Usage errors exit with 2.
    let usage = hollow(&["produce", "--schema", MOVIES_CAPNP], store);
    assert_eq!(usage.status.code(), Some(2));
    // A schema that does not compile says so.
    let broken = schemas.join("broken.capnp");
    std::fs::write(&broken, "@0xb1c4a3f5e2d90818;\nstruct X { a @0 :Nope; }\n").expect("write");
    let o = hollow(
        &[
            "produce",
            "--schema",
            broken.to_str().expect("utf-8"),
            "--input",
            good.to_str().expect("utf-8"),
        ],
        store,
    );
    refused(&o, store, v, &["capnp could not compile", "Nope"]);
}

/// `--incremental`: upserts and `$delete` lines.
fn incremental(dir: &Path, store: &Path) {
    let v = announced(store);
    let path = dir.join("changes.jsonl");
    std::fs::write(
        &path,
        "{\"type\":\"Movie\",\"id\":1,\"title\":\"Brand new\",\"year\":2024}\n\
         {\"type\":\"Actor\",\"$delete\":{\"id\":1}}\n\
         {\"type\":\"Movie\",\"$delete\":{\"id\":424242}}\n",
    )
    .expect("write");
    let report = json_of(&produce(store, &path, &["--incremental", "--json"]));
    assert_eq!(report["version"], v + 1);
    assert_eq!(report["records"], 1);
    assert_eq!(report["deletes"], 2);
    let got = json_of(&hollow(&["get", "Movie", "1", "--json"], store));
    assert_eq!(got["title"], "Brand new");
    assert_eq!(hollow(&["get", "Actor", "1"], store).status.code(), Some(1));
    // A bad key in a delete publishes nothing.
    std::fs::write(&path, "{\"type\":\"Movie\",\"$delete\":{\"movieId\":1}}\n").expect("write");
    refused(
        &produce(store, &path, &["--incremental"]),
        store,
        v + 1,
        &["changes.jsonl:1", "movieId"],
    );
}

const BOOKS: &str = r#"@0xc3d1a4f5e2d90817;
using Hollow = import "hollow.capnp";
enum Format { paperback @0; hardcover @1; }
struct Details { isbn @0 :Text; pages @1 :UInt32; }
struct Book $Hollow.primaryKey("id") {
  id @0 :UInt32;
  title @1 :Text;
  format @2 :Format;
  price @3 :Float64;
  tags @4 :List(Text);
  details @5 :Details;
  inPrint @6 :Bool;
}
"#;

#[test]
fn csv_with_a_schema_that_imports_hollow_capnp_from_elsewhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No hollow.capnp beside books.capnp: the bundled one is used.
    let schema = dir.path().join("books.capnp");
    std::fs::write(&schema, BOOKS).expect("write");
    let schema = schema.to_str().expect("utf-8");
    let store = dir.path().join("store");
    let csv = dir.path().join("books.csv");
    std::fs::write(
        &csv,
        "id,title,format,price,tags,details.isbn,details.pages,inPrint\n\
         1,Dune,paperback,9.5,\"[\"\"sf\"\",\"\"classic\"\"]\",978-0441013593,412,true\n\
         2,\"Comma, Inc.\",hardcover,,,,,false\n",
    )
    .expect("write");
    let out = ok(&hollow(
        &[
            "produce",
            "--schema",
            schema,
            "--type",
            "Book",
            "--input",
            csv.to_str().expect("utf-8"),
        ],
        &store,
    ));
    assert!(out.contains("→ version 1"), "{out}");
    assert!(out.contains("+2 added"), "{out}");
    let dune = json_of(&hollow(&["get", "Book", "1", "--json"], &store));
    assert_eq!(
        dune,
        json!({"id": 1, "title": "Dune", "format": "paperback", "price": 9.5, "tags": ["sf", "classic"],
               "details": {"isbn": "978-0441013593", "pages": 412}, "inPrint": true})
    );
    let two = json_of(&hollow(&["get", "Book", "2", "--json"], &store));
    assert_eq!(two["title"], "Comma, Inc.");
    assert_eq!(two["details"], Value::Null);
    assert_eq!(two["price"], 0.0);

    // A bad cell names the line, the column, the field and the value; nothing is published.
    std::fs::write(&csv, "id,title,details.pages\n3,Ok,10\n4,Bad,-1\n").expect("write");
    let o = hollow(
        &[
            "produce",
            "--schema",
            schema,
            "--type",
            "Book",
            "--input",
            csv.to_str().expect("utf-8"),
        ],
        &store,
    );
    refused(
        &o,
        &store,
        1,
        &[
            "books.csv:3",
            "column 3 (details.pages)",
            "-1",
            "out of range for UInt32",
        ],
    );
    std::fs::write(&csv, "id,title,colour\n3,Ok,red\n").expect("write");
    let o = hollow(
        &[
            "produce",
            "--schema",
            schema,
            "--type",
            "Book",
            "--input",
            csv.to_str().expect("utf-8"),
        ],
        &store,
    );
    refused(
        &o,
        &store,
        1,
        &[
            "books.csv:2",
            "column 3 (colour)",
            "Book has no field colour",
        ],
    );
    std::fs::write(&csv, "id,format\n3,ebook\n").expect("write");
    let o = hollow(
        &[
            "produce",
            "--schema",
            schema,
            "--type",
            "Book",
            "--input",
            csv.to_str().expect("utf-8"),
        ],
        &store,
    );
    refused(
        &o,
        &store,
        1,
        &[
            "books.csv:2",
            "column 2 (format)",
            "\"ebook\"",
            "not an enumerant of Format",
        ],
    );
}

#[test]
fn watch_a_directory_with_a_precompiled_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let incoming = dir.path().join("incoming");
    generate(&incoming, 100, 3);
    let bin = dir.path().join("movies.bin");
    let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");
    let compiled = Command::new("capnp")
        .args([
            "compile",
            "-o-",
            &format!("--src-prefix={schemas}"),
            "-I",
            schemas,
            MOVIES_CAPNP,
        ])
        .output()
        .expect("capnp");
    assert!(compiled.status.success());
    std::fs::write(&bin, compiled.stdout).expect("write");
    let store = dir.path().join("store");
    let o = hollow(
        &[
            "produce",
            "--schema",
            bin.to_str().expect("utf-8"),
            "--watch",
            incoming.to_str().expect("utf-8"),
            "--max-cycles",
            "3",
            "--poll-ms",
            "50",
            "--dataset",
            "films",
            "--json",
        ],
        &store,
    );
    let reports: Vec<Value> = ok(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(reports.len(), 3);
    assert!(
        reports[0]["file"]
            .as_str()
            .expect("file")
            .ends_with("cycle-0000.jsonl")
    );
    assert_eq!(reports[2]["version"], 3);
    let inspect = json_of(&hollow(&["inspect", "--json"], &store));
    assert_eq!(inspect["announcement"]["dataset"], "films");
    assert_eq!(inspect["announcement"]["version"], 3);
    // A restarted watcher skips the files it produced (DIR/.hollow-produced) and takes the
    // next new one: nothing old is published again.
    let produced = std::fs::read_to_string(incoming.join(".hollow-produced")).expect("journal");
    assert_eq!(produced.lines().count(), 3, "{produced}");
    let newer = generate(&dir.path().join("more"), 100, 4);
    std::fs::copy(&newer[3], incoming.join("cycle-0003.jsonl")).expect("copy");
    let again = hollow(
        &[
            "produce",
            "--schema",
            bin.to_str().expect("utf-8"),
            "--watch",
            incoming.to_str().expect("utf-8"),
            "--max-cycles",
            "1",
            "--poll-ms",
            "50",
            "--json",
        ],
        &store,
    );
    let report: Value = serde_json::from_str(ok(&again).trim()).expect("json");
    assert!(
        report["file"]
            .as_str()
            .expect("file")
            .ends_with("cycle-0003.jsonl"),
        "{report}"
    );
    assert_eq!(report["version"], 4);
}

/// Without `capnp` on PATH a `.capnp` schema is compiled by the embedded compiler; asking for
/// the system one (`HOLLOW_CAPNP=system`) then says what to install.
#[test]
fn without_capnp_the_embedded_compiler_is_used_and_the_system_one_says_what_to_install() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"type\":\"Movie\",\"id\":1}\n").expect("write");
    let run = |compiler: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hollow"));
        command
            .args(["produce", "--schema", MOVIES_CAPNP, "--input"])
            .arg(&input)
            .arg("--store")
            .arg(dir.path().join("store"))
            .env("PATH", dir.path())
            .env_remove("HOLLOW_CAPNP");
        if let Some(c) = compiler {
            command.env("HOLLOW_CAPNP", c);
        }
        command.output().expect("run hollow")
    };
    let system = run(Some("system"));
    assert_eq!(system.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&system.stderr);
    for needle in [
        "apt install capnproto",
        "brew install capnp",
        "capnp compile -o-",
    ] {
        assert!(stderr.contains(needle), "{stderr}");
    }
    let embedded = run(None);
    assert_eq!(
        embedded.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&embedded.stderr)
    );
}

#[test]
fn primary_key_given_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = dir.path().join("notes.capnp");
    std::fs::write(
        &schema,
        "@0xc3d1a4f5e2d90818;\nstruct Note { code @0 :Text; body @1 :Text; }\n",
    )
    .expect("write");
    let schema = schema.to_str().expect("utf-8");
    let input = dir.path().join("notes.jsonl");
    std::fs::write(
        &input,
        "{\"code\":\"a\",\"body\":\"one\"}\n{\"code\":\"b\",\"body\":\"two\"}\n",
    )
    .expect("write");
    let input = input.to_str().expect("utf-8");
    let store = dir.path().join("store");
    let args = [
        "produce", "--schema", schema, "--type", "Note", "--input", input,
    ];
    ok(&hollow(
        &[&args[..], &["--primary-key", "Note=code"]].concat(),
        &store,
    ));
    let b = json_of(&hollow(&["get", "Note", "b", "--json"], &store));
    assert_eq!(b["body"], "two");
    // A key naming no field is refused; a malformed flag is a usage error.
    let o = hollow(
        &[&args[..], &["--primary-key", "Note=nope"]].concat(),
        &store,
    );
    refused(&o, &store, 1, &["--primary-key Note=nope"]);
    let o = hollow(&[&args[..], &["--primary-key", "Note"]].concat(), &store);
    assert_eq!(o.status.code(), Some(2));
}

const BOOKS_CAPNP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/books.capnp");

/// `hollow query --json` for `conditions` on Book: (plan, isbns found).
fn query_books(store: &Path, conditions: &[&str]) -> (String, Vec<String>) {
    let mut args = vec!["query", "Book"];
    args.extend_from_slice(conditions);
    args.push("--json");
    let (records, q) = query_of(&hollow(&args, store));
    let isbns = records
        .iter()
        .map(|r| r["isbn"].as_str().expect("isbn").to_string())
        .collect();
    (q["plan"].as_str().expect("plan").to_string(), isbns)
}

/// A schema unlike movies (enums, a group, a union, a list of structs, Data, a unique composite
/// index and hash indexes through a list of structs and a group): every index answers through
/// the CLI after a full cycle and after an incremental one, and the unique index refuses a
/// duplicate.
#[test]
fn a_books_dataset_with_every_kind_of_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let v1 = dir.path().join("v1.jsonl");
    std::fs::write(
        &v1,
        [
            r#"{"isbn":"111","title":"Dune","edition":1,"format":"hardcover","authors":[{"name":"Frank Herbert","born":1920}],"tags":["scifi","classic"],"price":9.99,"cover":"AAEC","publisher":{"name":"Chilton","country":"US"},"status":{"inPrint":null}}"#,
            r#"{"isbn":"222","title":"Dune","edition":2,"format":"paperback","authors":[{"name":"Frank Herbert","born":1920}],"tags":["scifi"],"price":-0.0,"publisher":{"name":"Ace","country":"US"},"status":{"outOfPrint":1999}}"#,
            r#"{"isbn":"333","title":"Good Omens","edition":1,"format":"ebook","authors":[{"name":"Terry Pratchett","born":1948},{"name":"Neil Gaiman","born":1960}],"tags":[],"price":5,"publisher":{"name":"Gollancz","country":"UK"}}"#,
        ]
        .join("\n"),
    )
    .expect("write");
    let produce_books = |input: &Path, extra: &[&str]| {
        let mut args = vec![
            "produce",
            "--schema",
            BOOKS_CAPNP,
            "--type",
            "Book",
            "--input",
            input.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        hollow(&args, &store)
    };
    ok(&produce_books(&v1, &[]));
    let cases: [(&[&str], &str, &[&str]); 9] = [
        (
            &["cover:=null"],
            "scan (no index on these fields)",
            &["222", "333"],
        ),
        (
            &["publisher.country:=\"US\""],
            "hash index publisher.country",
            &["111", "222"],
        ),
        (&["format=ebook"], "hash index format", &["333"]),
        (&["format=0"], "hash index format", &["111"]),
        (
            &["authors.name=Frank Herbert"],
            "hash index authors.name",
            &["111", "222"],
        ),
        (&["tags=scifi"], "hash index tags", &["111", "222"]),
        (
            &["title=Dune", "edition=2"],
            "unique index title,edition",
            &["222"],
        ),
        (
            &["publisher.country=UK"],
            "hash index publisher.country",
            &["333"],
        ),
        (&["price=0"], "scan (no index on these fields)", &["222"]),
    ];
    for (conditions, plan, isbns) in cases {
        let (got_plan, got) = query_books(&store, conditions);
        assert_eq!(got_plan, plan, "{conditions:?}");
        assert_eq!(got, isbns, "{conditions:?}");
    }
    // The unique index refuses a second ("Dune", 1); nothing is published.
    let dup = dir.path().join("dup.jsonl");
    std::fs::write(
        &dup,
        "{\"isbn\":\"111\",\"title\":\"Dune\",\"edition\":1}\n{\"isbn\":\"444\",\"title\":\"Dune\",\"edition\":1}\n",
    )
    .expect("write");
    refused(
        &produce_books(&dup, &[]),
        &store,
        1,
        &[
            "unique index title,edition",
            "Book",
            "(\"Dune\", 1)",
            "the Book records at ",
            "dup.jsonl:1 and ",
            "dup.jsonl:2",
        ],
    );
    // Incremental: delete one, add one; the indexes follow the delta.
    let inc = dir.path().join("inc.jsonl");
    std::fs::write(
        &inc,
        "{\"$delete\":{\"isbn\":\"222\"}}\n{\"isbn\":\"555\",\"title\":\"Emma\",\"edition\":1,\"format\":\"ebook\",\"tags\":[\"classic\"],\"authors\":[{\"name\":\"Jane Austen\"}]}\n",
    )
    .expect("write");
    ok(&produce_books(&inc, &["--incremental"]));
    assert_eq!(announced(&store), 2);
    assert_eq!(query_books(&store, &["format=ebook"]).1, ["333", "555"]);
    assert_eq!(query_books(&store, &["tags=scifi"]).1, ["111"]);
    assert_eq!(query_books(&store, &["tags=classic"]).1, ["111", "555"]);
    assert_eq!(
        query_books(&store, &["authors.name=Jane Austen"]).1,
        ["555"]
    );
    assert!(
        query_books(&store, &["title=Dune", "edition=2"])
            .1
            .is_empty()
    );
}

/// `--schema x.capnp` needs no system `capnp`: the embedded compiler (WebAssembly, feature
/// `embedded-capnp`, on by default) gives the same schema as the system one, and a schema
/// error is reported the same way. `HOLLOW_CAPNP` chooses; an unknown choice is a usage error.
#[test]
fn the_embedded_capnp_compiles_schemas_without_a_system_compiler() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = generate(&dir.path().join("in"), 50, 1);
    let run = |store: &Path, compiler: &str| {
        Command::new(env!("CARGO_BIN_EXE_hollow"))
            .args(["produce", "--schema", MOVIES_CAPNP, "--input"])
            .arg(&files[0])
            .arg("--store")
            .arg(store)
            .arg("--json")
            .env("HOLLOW_CAPNP", compiler)
            .output()
            .expect("run hollow")
    };
    let embedded = dir.path().join("embedded");
    let report = json_of(&run(&embedded, "embedded"));
    assert_eq!(report["published"], true, "{report}");
    // The same schema as the system compiler's: the same fingerprint in the announcement.
    if Command::new("capnp")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let system = dir.path().join("system");
        json_of(&run(&system, "system"));
        let fingerprint = |store: &Path| {
            json_of(&hollow(&["inspect", "--json"], store))["announcement"]["schema_fingerprint"]
                .clone()
        };
        assert_eq!(fingerprint(&embedded), fingerprint(&system));
    }
    // A schema error names the file and the problem.
    let broken = dir.path().join("broken.capnp");
    std::fs::write(
        &broken,
        "@0xb1a2c3d4e5f60718;\nstruct Movie { id @0 :NoSuchType; }\n",
    )
    .expect("write");
    let o = Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args(["produce", "--schema"])
        .arg(&broken)
        .arg("--input")
        .arg(&files[0])
        .arg("--store")
        .arg(dir.path().join("broken-store"))
        .env("HOLLOW_CAPNP", "embedded")
        .output()
        .expect("run hollow");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("broken.capnp") && stderr.contains("NoSuchType"),
        "{stderr}"
    );
    // An unknown compiler is refused.
    let o = run(&dir.path().join("other"), "gcc");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("HOLLOW_CAPNP"));
}
