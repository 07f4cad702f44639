//! Hostile and careless input to `hollow produce` and the read commands: records nested as
//! deep as readers go, truncated exports, racing producers, files still being written,
//! duplicate members, odd store URLs. Runs the real binary; needs the `capnp` compiler.

mod common;
use common::{hollow, json_of, ok, query_of, stderr};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn announced(store: &Path) -> Option<u64> {
    let o = hollow(&["inspect", "--json"], store);
    if !o.status.success() {
        return None;
    }
    json_of(&o)["announcement"]["version"].as_u64()
}

/// Asserts a failed run: exit code 2, stderr containing every `needle`, the announced version
/// unchanged.
fn refused(o: &Output, store: &Path, version: Option<u64>, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    assert_eq!(announced(store), version, "nothing may be published");
}

/// Writes `text` to `dir/name` and returns the path.
fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

const NODE_CAPNP: &str = "@0xd1a3c0b2e4f50617;
struct Node {
  id @0 :UInt64;
  child @1 :Node;
  kids @2 :List(Node);
  label @3 :Text;
}
";

fn produce_nodes(dir: &Path, store: &Path, input: &Path, extra: &[&str]) -> Output {
    let schema = file(dir, "node.capnp", NODE_CAPNP);
    let mut args = vec![
        "produce",
        "--schema",
        s(&schema),
        "--type",
        "Node",
        "--primary-key",
        "Node=id",
        "--input",
        s(input),
    ];
    args.extend_from_slice(extra);
    hollow(&args, store)
}

/// A chain of `depth` `child` structs under a record with id `id`.
fn chain(id: u64, depth: u32, inner: Value) -> Value {
    let mut v = inner;
    for _ in 0..depth {
        v = json!({"child": v});
    }
    v["id"] = json!(id);
    v
}

#[test]
fn records_nested_as_deep_as_readers_go_are_published_and_deeper_ones_refused_with_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let mut kids = json!({"label": "x"});
    for _ in 0..30 {
        kids = json!({"kids": [kids]});
    }
    kids["id"] = json!(3);
    let deepest = [
        chain(1, 62, json!({"id": 9})),
        chain(2, 61, json!({"label": "deep"})),
        kids.clone(),
    ];
    let text: String = deepest.iter().map(|v| format!("{v}\n")).collect();
    // Version 1 without them, version 2 adds them (so they travel in a delta and a snapshot).
    let small = file(dir.path(), "small.jsonl", "{\"id\":4}\n");
    ok(&produce_nodes(dir.path(), &store, &small, &[]));
    let input = file(dir.path(), "deep.jsonl", &format!("{text}{{\"id\":4}}\n"));
    ok(&produce_nodes(dir.path(), &store, &input, &[]));
    // Readers take it: get, scan (version 2 through the delta, and its snapshot), and a later
    // producer restoring it.
    for version in ["1", "2"] {
        let got = json_of(&hollow(
            &["get", "Node", "4", "--json", "--version", version],
            &store,
        ));
        assert_eq!(got["id"], 4);
    }
    let got = json_of(&hollow(&["get", "Node", "1", "--json"], &store));
    assert_eq!(got["id"], 1);
    ok(&hollow(&["scan", "Node", "--json"], &store));
    let more = file(
        dir.path(),
        "more.jsonl",
        &format!("{text}{{\"id\":4}}\n{{\"id\":6}}\n"),
    );
    ok(&produce_nodes(dir.path(), &store, &more, &[]));
    assert_eq!(announced(&store), Some(3));
    let history = json_of(&hollow(&["history", "Node", "2", "--json"], &store));
    assert_eq!(history[0]["version"], 2, "{history}");

    // One level deeper is refused when read, with its file:line, and nothing is published.
    for (n, deeper) in [
        chain(5, 63, json!({"id": 9})),
        chain(5, 62, json!({"label": "deep"})),
        json!({"id": 5, "kids": [kids]}),
        chain(5, 64, json!({})),
        chain(5, 100, json!({})),
    ]
    .into_iter()
    .enumerate()
    {
        let bad = file(
            dir.path(),
            &format!("deeper{n}.jsonl"),
            &format!("{text}{deeper}\n"),
        );
        let o = produce_nodes(dir.path(), &store, &bad, &[]);
        refused(
            &o,
            &store,
            Some(3),
            &[
                &format!("deeper{n}.jsonl:4"),
                "nests too deeply",
                "at most 62 levels",
            ],
        );
    }
    ok(&produce_nodes(dir.path(), &store, &more, &[]));
}

const MOVIES_CAPNP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/movies.capnp");

fn produce(store: &Path, input: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["produce", "--schema", MOVIES_CAPNP, "--input", s(input)];
    args.extend_from_slice(extra);
    hollow(&args, store)
}

/// `hollow demo --export`: the movies JSONL of `cycles` cycles in `dir`.
fn generate(dir: &Path, movies: u32, cycles: u32) -> Vec<PathBuf> {
    let out = Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args(["demo", "--movies", &movies.to_string()])
        .args(["--cycles", &cycles.to_string(), "--export"])
        .arg(dir)
        .output()
        .expect("hollow demo --export");
    assert!(out.status.success(), "{}", stderr(&out));
    (0..cycles)
        .map(|c| dir.join(format!("cycle-{c:04}.jsonl")))
        .collect()
}

#[test]
fn an_empty_or_truncated_full_cycle_does_not_wipe_the_dataset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = generate(&dir.path().join("in"), 200, 1);
    let store = dir.path().join("store");

    // A new dataset from an empty input is refused too.
    let empty = file(dir.path(), "empty.jsonl", "");
    let o = produce(&store, &empty, &[]);
    refused(
        &o,
        &store,
        None,
        &["empty.jsonl holds no records", "--allow-mass-delete"],
    );

    ok(&produce(&store, &files[0], &[]));
    let csv_header = file(dir.path(), "header.csv", "type,id,title,year\n");
    let blank = file(dir.path(), "blank.jsonl", "\n   \n\t\n");
    for (input, name) in [
        (&empty, "empty.jsonl"),
        (&blank, "blank.jsonl"),
        (&csv_header, "header.csv"),
    ] {
        let o = produce(&store, input, &[]);
        refused(
            &o,
            &store,
            Some(1),
            &[&format!("{name} holds no records"), "--allow-mass-delete"],
        );
    }

    // A truncated export: the first 60 of 200 movies (and the actors).
    let text = std::fs::read_to_string(&files[0]).expect("read");
    let mut movies = 0;
    let truncated: String = text
        .lines()
        .filter(|l| {
            !l.contains(r#""type":"Movie""#) || {
                movies += 1;
                movies <= 60
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let truncated = file(dir.path(), "truncated.jsonl", &truncated);
    let o = produce(&store, &truncated, &[]);
    refused(
        &o,
        &store,
        Some(1),
        &[
            "remove 140 of 200 Movie records (70.0%)",
            "--max-removed-ratio 0.5",
            "--allow-mass-delete",
        ],
    );
    let err = stderr(&o);
    assert_eq!(
        err.matches("remove 140 of 200").count(),
        1,
        "said once: {err}"
    );
    // The guards are configurable and can be overridden.
    let o = produce(
        &store,
        &truncated,
        &["--min-records", "1000", "--max-removed-ratio", "0.9"],
    );
    refused(&o, &store, Some(1), &["fewer than --min-records 1000"]);
    ok(&produce(
        &store,
        &truncated,
        &["--max-removed-ratio", "0.8"],
    ));
    assert_eq!(announced(&store), Some(2));
    ok(&produce(&store, &empty, &["--allow-mass-delete"]));
    assert_eq!(announced(&store), Some(3));
    let o = produce(&store, &empty, &["--max-removed-ratio", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A running `hollow produce --watch`, its output lines arriving on channels.
struct Watcher {
    child: std::process::Child,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
    seen_err: Vec<String>,
}

fn lines_of(r: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Watcher {
    fn start(store: &Path, dir: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hollow"))
            .args([
                "produce",
                "--schema",
                MOVIES_CAPNP,
                "--watch",
                s(dir),
                "--json",
            ])
            .args(extra)
            .arg("--store")
            .arg(store)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the watcher");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        Self {
            child,
            stdout,
            stderr,
            seen_err: Vec::new(),
        }
    }

    /// The next report line (bounded wait).
    fn report(&mut self) -> Value {
        let line = self
            .stdout
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("no report ({e}); stderr so far: {:?}", self.seen_err));
        serde_json::from_str(&line).expect("json report")
    }

    /// Waits (bounded) for a stderr line containing `needle`.
    fn stderr_line(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("no {needle:?} on stderr ({e}): {:?}", self.seen_err));
            self.seen_err.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("wait");
        while let Ok(l) = self.stderr.recv_timeout(std::time::Duration::from_secs(10)) {
            self.seen_err.push(l);
        }
        (status.code(), self.seen_err.join("\n"))
    }
}

/// Puts a file into a watched directory the way the contract asks: written under a dotfile
/// name, then renamed into place.
fn drop_in(dir: &Path, name: &str, from: &Path) {
    let tmp = dir.join(format!(".{name}.writing"));
    std::fs::copy(from, &tmp).expect("copy");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

#[test]
fn a_watcher_that_loses_a_race_restores_the_newer_version_and_sets_failed_files_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = generate(&dir.path().join("src"), 100, 4);
    let store = dir.path().join("store");
    ok(&produce(&store, &files[0], &[]));
    let incoming = dir.path().join("in");
    std::fs::create_dir(&incoming).expect("mkdir");
    // Names the watcher must leave alone.
    for name in [
        ".hidden.jsonl",
        "x.jsonl.tmp",
        "y.jsonl.partial",
        "z.csv.tmp",
    ] {
        file(&incoming, name, "not json\n");
    }
    let mut watcher = Watcher::start(&store, &incoming, &["--poll-ms", "20", "--max-cycles", "3"]);
    drop_in(&incoming, "a.jsonl", &files[1]);
    assert_eq!(watcher.report()["version"], 2);
    // Another producer announces version 3 behind the watcher's back.
    ok(&produce(&store, &files[2], &[]));
    drop_in(&incoming, "b.jsonl", &files[3]);
    let report = watcher.report();
    assert_eq!(report["version"], 4, "{report}");
    assert!(report["file"].as_str().expect("file").ends_with("b.jsonl"));
    watcher.stderr_line("restoring it and producing the file again");
    // A bad file is set aside with its error, not journaled, and the watcher keeps going.
    file(&incoming, "c.jsonl", "{\"type\":\"Movie\",\"id\":\n");
    let (code, err) = watcher.wait();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("1 of 3 file(s) failed"), "{err}");
    assert!(err.contains("c.jsonl:1: malformed JSON"), "{err}");
    let failed = incoming.join(".hollow-failed");
    assert!(failed.join("c.jsonl").is_file() && !incoming.join("c.jsonl").exists());
    let note = std::fs::read_to_string(failed.join("c.jsonl.error")).expect("note");
    assert!(note.contains("malformed JSON"), "{note}");
    let journal = std::fs::read_to_string(incoming.join(".hollow-produced")).expect("journal");
    assert_eq!(journal.lines().collect::<Vec<_>>(), ["a.jsonl", "b.jsonl"]);
    assert_eq!(announced(&store), Some(4));
    for name in [
        ".hidden.jsonl",
        "x.jsonl.tmp",
        "y.jsonl.partial",
        "z.csv.tmp",
    ] {
        assert!(incoming.join(name).is_file(), "{name} must be left alone");
    }
    // The version the watcher published reads back as b.jsonl has it.
    let movies = std::fs::read_to_string(&files[3])
        .expect("read")
        .lines()
        .filter(|l| l.contains(r#""type":"Movie""#))
        .count();
    let inspect = json_of(&hollow(&["inspect", "--json"], &store));
    let movie_type = inspect["types"]
        .as_array()
        .expect("types")
        .iter()
        .find(|t| t["name"] == "Movie")
        .cloned()
        .expect("Movie");
    assert_eq!(movie_type["records"], movies);
}

#[test]
fn a_watcher_waits_for_a_file_that_is_still_being_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = generate(&dir.path().join("src"), 200, 1);
    let store = dir.path().join("store");
    let incoming = dir.path().join("in");
    std::fs::create_dir(&incoming).expect("mkdir");
    let text = std::fs::read_to_string(&files[0]).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let half: String = lines[..lines.len() / 2]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    let rest: String = lines[lines.len() / 2..]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    // A writer that does not follow the contract: writes in place, in two parts.
    let growing = incoming.join("g.jsonl");
    std::fs::write(&growing, &half).expect("write");
    let mut watcher = Watcher::start(
        &store,
        &incoming,
        &["--poll-ms", "1000", "--max-cycles", "1"],
    );
    watcher.stderr_line(&format!(
        "waiting until it stops changing ({} bytes)",
        half.len()
    ));
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&growing)
            .expect("open");
        f.write_all(rest.as_bytes()).expect("append");
    }
    let report = watcher.report();
    assert_eq!(
        report["records"],
        lines.len(),
        "the whole file, not a prefix: {report}"
    );
    let (code, err) = watcher.wait();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn input_errors_name_their_place_and_say_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cases: [(&str, &str, &[&str]); 8] = [
        (
            "dupmember.jsonl",
            "{\"type\":\"Movie\",\"id\":1}\n{\"type\":\"Movie\",\"id\":2,\"title\":\"a\",\"id\":3}\n",
            &["dupmember.jsonl:2", "duplicate member \"id\""],
        ),
        (
            "dupnested.jsonl",
            "{\"type\":\"Movie\",\"id\":2,\"details\":{\"a\":1,\"a\":2}}\n",
            &["dupnested.jsonl:1", "duplicate member \"a\""],
        ),
        (
            "dupheader.csv",
            "id,title,id\n1,a,2\n",
            &[
                "dupheader.csv:1",
                "names column \"id\" twice (columns 1 and 3)",
            ],
        ),
        (
            "big.jsonl",
            "{\"type\":\"Movie\",\"id\":18446744073709551616}\n",
            &["big.jsonl:1", "field id", "out of range for UInt64"],
        ),
        (
            "multiline.csv",
            "id,title,year\n1,\"multi\nline\ntitle\",1999\n2,ok,soon\n",
            &["multiline.csv:5: column 3 (year)", "\"soon\""],
        ),
        (
            "short.csv",
            "id,title,year\n1,a,1999\n2,b\n3,c,2000\n",
            &["short.csv:3: reading CSV", "2 fields"],
        ),
        (
            "dupkey.jsonl",
            "{\"type\":\"Movie\",\"id\":1}\n{\"type\":\"Movie\",\"id\":2}\n{\"type\":\"Movie\",\"id\":1}\n",
            &[
                "dupkey.jsonl:3",
                "(the first is at ",
                "dupkey.jsonl:1)",
                "duplicate primary key 1",
            ],
        ),
        (
            "dupkey.csv",
            "id,title\n1,a\n2,b\n1,c\n",
            &["dupkey.csv:4", "dupkey.csv:2)", "duplicate primary key 1"],
        ),
    ];
    for (name, text, needles) in cases {
        let input = file(d, name, text);
        let store = d.join(format!("store-{name}"));
        let o = produce(&store, &input, &["--type", "Movie"]);
        refused(&o, &store, None, needles);
        // Said once, not repeated by the layers above.
        let err = stderr(&o);
        assert_eq!(err.matches(needles[0]).count(), 1, "{err}");
    }
    // A UTF-8 byte-order mark before the first line is not content.
    let bom = file(
        d,
        "bom.jsonl",
        "\u{feff}{\"type\":\"Movie\",\"id\":1}\n{\"type\":\"Movie\",\"id\":2}\n",
    );
    let store = d.join("store-bom");
    ok(&produce(&store, &bom, &[]));
    let got = json_of(&hollow(&["get", "Movie", "1", "--json"], &store));
    assert_eq!(got["id"], 1);
}

/// Runs hollow in `cwd` with `--store STORE` given as text.
fn hollow_in(cwd: &Path, args: &[&str], store: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hollow"))
        .current_dir(cwd)
        .args(args)
        .args(["--store", store])
        .output()
        .expect("run hollow")
}

#[test]
fn store_locations_are_parsed_not_taken_literally_and_reads_create_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let input = file(
        d,
        "in.jsonl",
        "{\"type\":\"Movie\",\"id\":1,\"title\":\"One\"}\n",
    );
    let cwd = d.join("cwd");
    std::fs::create_dir(&cwd).expect("mkdir");
    let target = d.join("target-store");
    let produce_args = ["produce", "--schema", MOVIES_CAPNP, "--input", s(&input)];
    for url in [
        format!("file:{}", s(&target)),
        format!("file://{}", s(&target)),
    ] {
        let url = url.as_str();
        let o = hollow_in(&cwd, &produce_args, url);
        ok(&o);
        assert_eq!(announced(&target), Some(1), "{url}");
        let got = json_of(&hollow_in(&cwd, &["get", "Movie", "1", "--json"], url));
        assert_eq!(got["title"], "One");
    }
    let stray: Vec<_> = std::fs::read_dir(&cwd).expect("read").collect();
    assert!(
        stray.is_empty(),
        "nothing may be created in the working directory: {stray:?}"
    );

    // memory:// would be lost at exit: refused.
    let o = hollow_in(&cwd, &produce_args, "memory://");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("in-memory store"), "{}", stderr(&o));

    // Read commands on a mistyped path say so and create nothing.
    let typo = d.join("no-such").join("store");
    for args in [
        &["get", "Movie", "1"][..],
        &["scan", "Movie"],
        &["inspect"],
        &["history", "Movie", "1"],
        &["validate"],
    ] {
        let o = hollow(args, &typo);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains(&format!("no dataset at {}", typo.display())),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(
            !d.join("no-such").exists(),
            "{args:?} created the directory"
        );
    }
}

#[test]
fn a_data_key_is_looked_up_in_base64_as_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let store = d.join("store");
    let schema = file(
        d,
        "blobs.capnp",
        "@0xe3b7a1c2d4f50618;\nstruct Blob {\n  hash @0 :Data;\n  name @1 :Text;\n}\n",
    );
    let produce_blobs = |input: &Path| {
        hollow(
            &[
                "produce",
                "--schema",
                s(&schema),
                "--type",
                "Blob",
                "--primary-key",
                "Blob=hash",
                "--input",
                s(input),
                "--allow-mass-delete",
            ],
            &store,
        )
    };
    // 00 01 02 ff is not UTF-8: only base64 can name it on a command line.
    let v1 = file(
        d,
        "v1.jsonl",
        "{\"hash\":\"AAEC/w==\",\"name\":\"binary\"}\n{\"hash\":\"aGVsbG8=\",\"name\":\"hello\"}\n",
    );
    ok(&produce_blobs(&v1));
    let v2 = file(
        d,
        "v2.jsonl",
        "{\"hash\":\"aGVsbG8=\",\"name\":\"hello\"}\n",
    );
    ok(&produce_blobs(&v2));
    let scanned: Vec<Value> = ok(&hollow(
        &["scan", "Blob", "--json", "--version", "1"],
        &store,
    ))
    .lines()
    .map(|l| serde_json::from_str(l).expect("json"))
    .collect();
    let printed: Vec<&str> = scanned
        .iter()
        .map(|r| r["hash"].as_str().expect("hash"))
        .collect();
    assert!(printed.contains(&"AAEC/w=="), "{printed:?}");
    for key in printed {
        let got = json_of(&hollow(
            &["get", "Blob", key, "--json", "--version", "1"],
            &store,
        ));
        assert_eq!(got["hash"], key);
        let (_, q) = query_of(&hollow(
            &[
                "query",
                "Blob",
                &format!("hash={key}"),
                "--json",
                "--version",
                "1",
            ],
            &store,
        ));
        assert_eq!(q["matches"], 1, "{key}: {q}");
        assert_eq!(q["plan"], "primary-key index");
    }
    let history = json_of(&hollow(&["history", "Blob", "AAEC/w==", "--json"], &store));
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
    assert_eq!(history[1]["removed"], true, "{history}");
    // The raw text is not the key, and text that is not base64 says what is expected.
    let o = hollow(&["get", "Blob", "hello", "--version", "1"], &store);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected base64"), "{}", stderr(&o));
}

/// Movies `ids` as JSONL.
fn movies(ids: impl IntoIterator<Item = u64>) -> String {
    ids.into_iter()
        .map(|id| format!("{{\"type\":\"Movie\",\"id\":{id},\"title\":\"M{id}\"}}\n"))
        .collect()
}

/// A store with three versions: movie 1 removed at version 2, movie 11 added at version 3.
fn three_versions(d: &Path) -> PathBuf {
    let store = d.join("store");
    for (n, ids) in [
        (1..=10).collect::<Vec<_>>(),
        (2..=10).collect(),
        (2..=11).collect(),
    ]
    .into_iter()
    .enumerate()
    {
        let input = file(d, &format!("v{n}.jsonl"), &movies(ids));
        ok(&produce(&store, &input, &[]));
    }
    assert_eq!(announced(&store), Some(3));
    store
}

/// Overwrites every blob under `store/dir` with garbage of the same length.
fn corrupt_all(store: &Path, dir: &str) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(store.join(dir)).expect("read") {
        let path = entry.expect("entry").path();
        let len = std::fs::metadata(&path).expect("meta").len();
        std::fs::write(&path, vec![0x5a; usize::try_from(len).expect("small")]).expect("write");
        n += 1;
    }
    n
}

#[test]
fn history_fails_rather_than_answering_from_part_of_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let store = three_versions(d);
    let h = json_of(&hollow(&["history", "Movie", "1", "--json"], &store));
    assert_eq!(h.as_array().map(Vec::len), Some(2), "{h}");
    assert_eq!(h[0]["version"], 1, "{h}");
    assert_eq!(h[0]["added"]["title"], "M1", "{h}");
    assert_eq!(h[1], json!({"version": 2, "removed": true}), "{h}");

    // An unknown type, or a store with nothing announced, is an error, not "in no version".
    let o = hollow(&["history", "Nope", "1"], &store);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown type Nope"), "{}", stderr(&o));
    let empty = d.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let o = hollow(&["history", "Movie", "1"], &empty);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nothing has been announced"),
        "{}",
        stderr(&o)
    );

    // A version of the chain that cannot be loaded fails the history (it used to be skipped,
    // leaving movie 1 "present" from version 1 on).
    assert!(corrupt_all(&store, "deltas") > 0);
    let o = hollow(&["history", "Movie", "1"], &store);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(stderr(&o).contains("deltas/"), "{}", stderr(&o));
}

/// Copies the files of `from` into a new directory `to`.
fn copy_store(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).expect("inside");
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&entry, &dest).expect("copy");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The blob under `store/dir` whose name starts with `prefix`.
fn blob(store: &Path, dir: &str, prefix: &str) -> PathBuf {
    walk(&store.join(dir))
        .into_iter()
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no {dir}/{prefix}*"))
}

#[test]
fn validate_walks_the_announced_chain_as_a_consumer_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let good = three_versions(d);
    let o = hollow(&["validate"], &good);
    assert!(ok(&o).contains("announced chain: versions 1..=3 read  ok"));
    let v1 = "00000000000000000001-";
    let v2 = "00000000000000000002-";

    // A missing delta: every blob left is fine, but version 3 cannot be reached.
    let missing = d.join("missing");
    copy_store(&good, &missing);
    std::fs::remove_file(blob(&missing, "deltas", v2)).expect("rm");
    // Another dataset's snapshot under this dataset's key: checksums fine, states wrong.
    let other = d.join("other");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let foreign_store = three_versions(elsewhere.path());
    copy_store(&good, &other);
    std::fs::copy(
        blob(&foreign_store, "snapshots", v1),
        blob(&other, "snapshots", v1),
    )
    .expect("copy");
    // A garbage announcement.
    let garbage = d.join("garbage");
    copy_store(&good, &garbage);
    std::fs::write(garbage.join("announced.json"), "{\"version\": ").expect("write");
    // A pin naming a state the chain does not have.
    let pinned = d.join("pinned");
    copy_store(&good, &pinned);
    std::fs::write(
        pinned.join("pinned.json"),
        r#"{"version": 2, "tag": "0x0000000000000001"}"#,
    )
    .expect("write");

    for (store, needles) in [
        (&missing, &["loading version 3 of the announced chain"][..]),
        (&other, &["the header does not match the key", "FAILED"]),
        (&garbage, &["reading the announcement"]),
        (&pinned, &["the pinned version 2", "0x0000000000000001"]),
    ] {
        let o = hollow(&["validate"], store);
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
        assert_eq!(o.status.code(), Some(2), "{}: {text}", store.display());
        for n in needles {
            assert!(text.contains(n), "{}: lacks {n:?}: {text}", store.display());
        }
    }
}

#[test]
fn logs_written_to_a_file_or_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = generate(&dir.path().join("in"), 50, 1);
    let store = dir.path().join("store");
    let mut args = vec!["-v", "produce", "--schema", MOVIES_CAPNP, "--input"];
    args.push(s(&files[0]));
    let o = hollow(&args, &store);
    ok(&o);
    let log = stderr(&o);
    assert!(log.contains("INFO"), "-v logs: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI escape codes when stderr is not a terminal: {log:?}"
    );
}

#[test]
fn limits_refuse_input_and_cycles_past_them_with_their_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let movie = |id: u64, cast: usize| {
        json!({"type": "Movie", "id": id, "title": format!("movie {id}"),
               "castIds": (0..cast as u64).collect::<Vec<_>>()})
        .to_string()
    };

    // A line past line-bytes (JSONL and CSV), refused with its number; at the cap it passes.
    let short = movie(1, 1);
    let long = movie(2, 40);
    let jsonl = file(dir.path(), "lines.jsonl", &format!("{short}\n{long}\n"));
    let cap = short.len().to_string();
    let o = produce(&store, &jsonl, &["--limit", &format!("line-bytes={cap}")]);
    refused(
        &o,
        &store,
        None,
        &[
            "lines.jsonl:2",
            &format!("longer than the line-bytes limit of {cap} bytes"),
        ],
    );
    let csv = file(
        dir.path(),
        "rows.csv",
        &format!("id,title\n1,short\n2,{}\n", "x".repeat(100)),
    );
    let o = produce(
        &store,
        &csv,
        &["--type", "Movie", "--limit", "line-bytes=50"],
    );
    refused(&o, &store, None, &["rows.csv:3", "line-bytes limit of 50"]);
    let fits = file(dir.path(), "fits.jsonl", &format!("{short}\n"));
    ok(&produce(
        &store,
        &fits,
        &["--limit", &format!("line-bytes={cap}")],
    ));
    assert_eq!(announced(&store), Some(1));

    // A list past list-len, refused with its line and field.
    let o = produce(&store, &jsonl, &["--limit", "list-len=39"]);
    refused(
        &o,
        &store,
        Some(1),
        &["lines.jsonl:2", "castIds", "the limit is 39"],
    );

    // A cycle past records-per-type is not published.
    let three = file(
        dir.path(),
        "three.jsonl",
        &[movie(1, 1), movie(2, 1), movie(3, 1)].join("\n"),
    );
    let o = produce(&store, &three, &["--limit", "records-per-type=2"]);
    refused(
        &o,
        &store,
        Some(1),
        &["ordinal capacity of type Movie is 3, over the records-per-type limit of 2"],
    );
    ok(&produce(&store, &three, &["--limit", "records-per-type=3"]));
    assert_eq!(announced(&store), Some(2));

    // Unknown names and malformed values are usage errors.
    for bad in ["records=5", "line-bytes", "line-bytes=1TB", "nesting=63"] {
        let o = produce(&store, &three, &["--limit", bad]);
        assert_eq!(o.status.code(), Some(2), "--limit {bad}: {}", stderr(&o));
    }
    let o = produce(&store, &three, &["--limit", "line-bytes=1MiB"]);
    ok(&o);
}

#[test]
fn inspect_marks_blobs_that_are_not_on_the_announced_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = generate(&dir.path().join("in"), 100, 2);
    let (store, other) = (dir.path().join("store"), dir.path().join("other"));
    ok(&produce(&store, &files[0], &[]));
    ok(&produce(&store, &files[1], &[]));
    // A version 1 of another lineage (another tag), as a failed or abandoned cycle leaves.
    ok(&produce(&other, &files[1], &[]));
    let stray = blob(&other, "snapshots", "00000000000000000001");
    let dest = store
        .join("snapshots")
        .join(stray.file_name().expect("name"));
    std::fs::copy(&stray, &dest).expect("copy");
    let report = json_of(&hollow(&["inspect", "--json"], &store));
    let blobs = report["blobs"].as_array().expect("blobs");
    let off: Vec<&str> = blobs
        .iter()
        .filter(|b| b["on_chain"] == false)
        .filter_map(|b| b["key"].as_str())
        .collect();
    assert_eq!(off.len(), 1, "{blobs:?}");
    assert!(dest.to_string_lossy().ends_with(off[0]), "{off:?}");
    assert_eq!(
        blobs.iter().filter(|b| b["on_chain"] == true).count(),
        3,
        "v1 snapshot, delta and reverse delta: {blobs:?}"
    );
    let text = ok(&hollow(&["inspect"], &store));
    assert_eq!(
        text.matches("not on the announced chain").count(),
        1,
        "{text}"
    );
}
