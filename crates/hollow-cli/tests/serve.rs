//! `hollow serve` run as a process on a movies store the demo published (several cycles) and
//! on a books store (enums, a group, a union, lists of structs, Data): its JSON API against
//! the CLI's `--json` output, bad input (400/404, never 500), path traversal and oversized
//! requests, `/metrics` parsed as Prometheus text and changing as refreshes happen, server-sent
//! events, `/readyz`, and `produce --watch --metrics-bind`.

mod common;
#[path = "common/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::path::Path;

use common::{hollow, ok};
use serde_json::Value;
use server::{Events, Server, demo, get, get_json, raw_status};

/// `hollow ARGS --json` output lines, parsed.
fn cli_lines(args: &[&str], store: &Path) -> Vec<Value> {
    ok(&hollow(args, store))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_as_the_cli_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("movies");
    demo(&store, 1000, 3);
    let server = Server::start(&store, &[]);

    // Home: the dataset, every version (newest first), the types.
    let home = get_json(&server.at("/api")).await;
    assert_eq!(home["dataset"], "movies");
    assert_eq!(home["version"], 4);
    assert_eq!(home["live"], 4);
    let versions: Vec<u64> = home["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(versions, [4, 3, 2, 1]);
    assert_eq!(home["versions"][3]["blobs"][0]["kind"], "snapshot");
    let changes = &home["versions"][0]["changes"];
    assert_eq!(changes[0]["type"], "Movie");
    assert_eq!(changes[0]["upserted"], 5, "the demo's incremental cycle");
    let inspect = json_of_cli(&["inspect", "--json"], &store);
    assert_eq!(home["types"], inspect["types"], "the CLI's type entries");

    // A type: schema and cursor-paged records, as `scan` prints them.
    let first = get_json(&server.at("/api/types/Movie?limit=7")).await;
    assert_eq!(first["type"]["name"], "Movie");
    let records = first["records"].as_array().expect("records");
    assert_eq!(records.len(), 7);
    let scan = cli_lines(&["scan", "Movie", "--limit", "14", "--json"], &store);
    assert_eq!(records[..], scan[..7]);
    let after = first["next"].as_u64().expect("a next page");
    let second = get_json(&server.at(&format!("/api/types/Movie?limit=7&after={after}"))).await;
    assert_eq!(
        second["records"].as_array().expect("records")[..],
        scan[7..14]
    );

    // A record by key: exactly `hollow get --json`.
    let id = scan[3]["id"].as_u64().expect("id").to_string();
    let (status, _, body) = get(&server.at(&format!("/api/types/Movie/record?key={id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        body.trim(),
        ok(&hollow(&["get", "Movie", &id, "--json"], &store)).trim()
    );

    // Query by an indexed field: the index answers, and the count is `hollow query`'s.
    let q = get_json(&server.at("/api/types/Movie?where=genres%3DDrama&limit=500")).await;
    let cli = hollow(&["query", "Movie", "genres=Drama", "--json"], &store);
    let (cli_records, cli_summary) = common::query_of(&cli);
    assert_eq!(q["query"]["plan"], cli_summary["plan"]);
    assert_eq!(q["query"]["uses_index"], true);
    assert_eq!(q["query"]["scanned"], false);
    assert_eq!(q["query"]["matches"], cli_summary["matches"]);
    assert_eq!(
        q["records"].as_array().expect("records")[..],
        cli_records[..]
    );
    // A field without an index: the page says it scanned.
    let title = scan[0]["title"].as_str().expect("title");
    let url = format!(
        "/api/types/Movie?where={}",
        url_encode(&format!("title={title}"))
    );
    let s = get_json(&server.at(&url)).await;
    assert_eq!(s["query"]["scanned"], true);
    assert_eq!(s["records"][0]["title"], title);

    // Facets: the top genres, each count what a query through the index finds.
    let facets = get_json(&server.at("/api/types/Movie/facets?index=genres&limit=5")).await;
    let values = facets[0]["values"].as_array().expect("values");
    assert_eq!(values.len(), 5);
    assert_eq!(facets[0]["scanned"], false);
    let mut previous = u64::MAX;
    for v in values {
        let genre = v["values"][0].as_str().expect("genre");
        let count = v["count"].as_u64().expect("count");
        assert!(count <= previous, "most first");
        previous = count;
        let (_, summary) = common::query_of(&hollow(
            &["query", "Movie", &format!("genres={genre}"), "--json"],
            &store,
        ));
        assert_eq!(summary["matches"].as_u64(), Some(count), "{genre}");
    }

    // A diff: `hollow diff --json --all`, paged.
    let cli_diff = json_of_cli(&["diff", "1", "4", "--json", "--all"], &store);
    let api_diff = get_json(&server.at("/api/diff?from=1&to=4&limit=500")).await;
    for field in ["from", "to", "via", "types", "total", "shown", "records"] {
        assert_eq!(api_diff[field], cli_diff[field], "{field}");
    }
    assert_eq!(api_diff["via"], "deltas");
    let page = get_json(&server.at("/api/diff?from=1&to=4&limit=10&after=10")).await;
    assert_eq!(
        page["records"].as_array().expect("records")[..],
        cli_diff["records"].as_array().expect("records")[10..20]
    );
    assert_eq!(page["next"], 20);

    // History of a changed record: `hollow history --json`.
    let changed = cli_diff["records"]
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["change"] == "changed" && r["type"] == "Movie")
        .expect("a changed movie");
    let key = changed["key"][0].as_str().expect("key");
    let history = get_json(&server.at(&format!("/api/types/Movie/history?key={key}"))).await;
    assert_eq!(
        history,
        json_of_cli(&["history", "Movie", key, "--json"], &store)
    );

    // A URL naming a version shows that version, pinned states included.
    let v2 = get_json(&server.at("/api?version=2")).await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["live"], 4);
    let at2 = get_json(&server.at("/api/types/Movie?version=2&limit=3")).await;
    assert_eq!(at2["version"], 2);
    let cli2 = cli_lines(
        &["scan", "Movie", "--limit", "3", "--version", "2", "--json"],
        &store,
    );
    assert_eq!(at2["records"].as_array().expect("records")[..], cli2[..]);

    // Pages render the same data as HTML.
    let (status, ty, html) =
        get(&server.at(&format!("/types/Movie/record?key={id}&version=4"))).await;
    assert_eq!(status, 200);
    assert!(ty.starts_with("text/html"), "{ty}");
    assert!(html.contains(&format!("Movie <code>{id}</code>")), "{html}");
    assert!(html.contains("History of this record"));
}

fn json_of_cli(args: &[&str], store: &Path) -> Value {
    serde_json::from_str(ok(&hollow(args, store)).trim()).expect("one JSON document")
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_400_or_404_never_a_500() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("movies");
    demo(&store, 200, 1);
    let server = Server::start(&store, &[]);
    let cases: &[(&str, u16)] = &[
        ("/types/Nope", 404),
        ("/types/Movie/record?key=99999999", 404),
        ("/types/Movie/record?key=abc", 400),
        ("/types/Movie/record", 400),
        ("/types/Movie/record?key=1&key=2", 400),
        ("/types/Movie/history?key=99999999", 200),
        ("/types/Movie?version=99", 404),
        ("/types/Movie?version=x", 400),
        ("/types/Movie?limit=0", 400),
        ("/types/Movie?after=-1", 400),
        ("/types/Movie?where=nofield", 400),
        ("/types/Movie?where=nosuchfield%3D1", 400),
        ("/types/Movie?where=year%3Dnotanumber", 400),
        ("/diff?from=1", 400),
        ("/diff?from=1&to=77", 404),
        ("/diff?from=1&to=2&type=Nope", 404),
        ("/nope", 404),
        ("/assets/nope.css", 404),
    ];
    for (path, status) in cases {
        let (got, ty, body) = get(&server.at(path)).await;
        assert_eq!(got, *status, "{path}: {body}");
        assert!(ty.starts_with("text/html"), "{path}: {ty}");
        assert!(!body.contains("panicked"), "{path}");
        // The JSON twin: the same status with {"error":{"status","message"}}.
        let api = format!("/api{path}");
        let (got, ty, body) = get(&server.at(&api)).await;
        let want = if *path == "/types/Movie/history?key=99999999" {
            404
        } else {
            *status
        };
        assert_eq!(got, want, "{api}: {body}");
        if got != 200 {
            assert!(ty.starts_with("application/json"), "{api}: {ty}");
            let e: Value = serde_json::from_str(&body).expect("a JSON error");
            assert_eq!(e["error"]["status"], want);
            assert!(!e["error"]["message"].as_str().expect("message").is_empty());
        }
    }
    // Path traversal reaches no file; a long URI and a body are refused; writes are refused.
    for line in [
        "GET /assets/../../../../etc/passwd HTTP/1.1",
        "GET /assets/..%2f..%2f..%2fCargo.toml HTTP/1.1",
        "GET /../../etc/passwd HTTP/1.1",
    ] {
        let status = raw_status(server.address(), line);
        assert!(matches!(status, 400 | 404), "{line}: {status}");
    }
    let long = format!("/types/Movie?where=title%3D{}", "x".repeat(10_000));
    assert_eq!(get(&server.at(&long)).await.0, 414);
    let post = reqwest::Client::new()
        .post(server.at("/api"))
        .body(vec![b'x'; 1 << 20])
        .send()
        .await
        .expect("POST");
    assert!(
        matches!(post.status().as_u16(), 405 | 413),
        "{}",
        post.status()
    );
}

/// `name{labels} value` samples of a Prometheus text exposition, by metric name.
fn samples(text: &str) -> BTreeMap<String, Vec<prometheus_parse::Sample>> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let mut out: BTreeMap<String, Vec<prometheus_parse::Sample>> = BTreeMap::new();
    for s in scrape.samples {
        out.entry(s.metric.clone()).or_default().push(s);
    }
    out
}

fn value_of(
    samples: &BTreeMap<String, Vec<prometheus_parse::Sample>>,
    name: &str,
    label: Option<(&str, &str)>,
) -> f64 {
    value_with(samples, name, label.as_slice())
}

/// The value of the sample of `name` that has every one of `labels`.
fn value_with(
    samples: &BTreeMap<String, Vec<prometheus_parse::Sample>>,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let list = samples
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", samples.keys()));
    let s = list
        .iter()
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no {name} {labels:?}"));
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        prometheus_parse::Value::Histogram(ref h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
        _ => panic!("{name}: unexpected value"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_events_and_readiness_follow_new_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("movies");
    demo(&store, 300, 1);
    let server = Server::start(&store, &[]);
    let mut events = Events::open(&server).await;
    assert_eq!(
        events.next_version().await,
        2,
        "the version served now comes first"
    );
    let (status, _, ready) = get(&server.at("/readyz")).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(get(&server.at("/healthz")).await.0, 200);

    let (status, ty, text) = get(&server.at("/metrics")).await;
    assert_eq!(status, 200);
    assert!(ty.contains("text") || ty.contains("openmetrics"), "{ty}");
    let before = samples(&text);
    assert_eq!(value_of(&before, "hollow_consumer_version", None), 2.0);
    assert_eq!(
        value_of(&before, "hollow_consumer_versions_behind", None),
        0.0
    );
    let refreshes = value_of(
        &before,
        "hollow_consumer_refreshes_total",
        Some(("result", "succeeded")),
    );
    assert!(refreshes >= 1.0);
    let actors = get_json(&server.at("/api")).await["types"][1]["records"]
        .as_f64()
        .expect("records");
    assert_eq!(
        value_of(&before, "hollow_consumer_records", Some(("type", "Actor"))),
        actors
    );
    assert!(
        before.contains_key("hollow_consumer_refresh_duration_seconds_count")
            || before.contains_key("hollow_consumer_refresh_duration_seconds")
    );

    // A new version: the open event stream says so, and the metrics moved.
    demo(&store, 300, 1);
    let announced = json_of_cli(&["inspect", "--json"], &store)["announcement"]["version"]
        .as_u64()
        .expect("version");
    assert!(announced > 2);
    while events.next_version().await != announced {}
    let after = samples(&get(&server.at("/metrics")).await.2);
    assert_eq!(
        value_of(&after, "hollow_consumer_version", None),
        announced as f64
    );
    assert!(
        value_of(
            &after,
            "hollow_consumer_refreshes_total",
            Some(("result", "succeeded"))
        ) > refreshes
    );
    assert_eq!(
        value_of(&after, "hollow_consumer_announced_version", None),
        announced as f64
    );
    let home = get_json(&server.at("/api")).await;
    assert_eq!(home["live"], announced);
    assert!(home["versions"][0]["seen_at"].is_string());
}

/// A library schema unlike movies: enums, a group, a union, a list of structs, Data, a
/// composite primary key (with negative values), keys of one type held by another.
const LIBRARY_CAPNP: &str = r#"@0xc1e2a3b4c5d6e7f0;
using Hollow = import "hollow.capnp";

enum Format { hardcover @0; paperback @1; ebook @2; }

struct Chapter { title @0 :Text; pages @1 :UInt16; }

struct Author $Hollow.primaryKey("id") { id @0 :Int64; name @1 :Text; }

struct Book $Hollow.primaryKey("isbn") $Hollow.hashIndex("format; authorIds; tags") {
  isbn @0 :Text;
  title @1 :Text;
  format @2 :Format;
  authorIds @3 :List(Int64);
  chapters @4 :List(Chapter);
  cover @5 :Data;
  tags @6 :List(Text);
  publisher :group { name @7 :Text; country @8 :Text; }
  status :union { inPrint @9 :Void; outOfPrint @10 :UInt16; }
}

struct Shelf $Hollow.primaryKey("room, position") { room @0 :Text; position @1 :Int32; isbns @2 :List(Text); }
"#;

const LIBRARY_V1: &[&str] = &[
    r#"{"type":"Author","id":1,"name":"Ursula K. Le Guin"}"#,
    r#"{"type":"Author","id":-2,"name":"Anonymous"}"#,
    r#"{"type":"Book","isbn":"111","title":"The Dispossessed","format":"paperback","authorIds":[1],"chapters":[{"title":"One","pages":30},{"title":"Two","pages":28}],"cover":"AAEC/w==","tags":["scifi","classic"],"publisher":{"name":"Harper","country":"US"},"status":{"inPrint":null}}"#,
    r#"{"type":"Book","isbn":"222","title":"Beowulf","format":"hardcover","authorIds":[-2],"chapters":[],"tags":["epic"],"status":{"outOfPrint":1999}}"#,
    r#"{"type":"Book","isbn":"333","title":"Earthsea","format":"ebook","authorIds":[1,-2],"tags":["fantasy","classic"]}"#,
    r#"{"type":"Shelf","room":"A","position":-1,"isbns":["111","333"]}"#,
    r#"{"type":"Shelf","room":"A","position":2,"isbns":["222"]}"#,
];

#[tokio::test(flavor = "multi_thread")]
async fn a_library_schema_with_unions_lists_data_enums_and_composite_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("library");
    let schema = dir.path().join("library.capnp");
    std::fs::write(&schema, LIBRARY_CAPNP).expect("write");
    let produce = |lines: &[&str], name: &str| {
        let input = dir.path().join(name);
        std::fs::write(&input, lines.join("\n")).expect("write");
        ok(&hollow(
            &[
                "produce",
                "--schema",
                schema.to_str().expect("utf-8"),
                "--input",
                input.to_str().expect("utf-8"),
            ],
            &store,
        ));
    };
    produce(LIBRARY_V1, "v1.jsonl");
    let mut v2: Vec<String> = LIBRARY_V1.iter().map(|l| (*l).to_string()).collect();
    v2[2] = v2[2].replace("\"paperback\"", "\"ebook\"");
    v2.remove(3);
    v2.push(r#"{"type":"Book","isbn":"444","title":"Lavinia","format":"hardcover","authorIds":[1],"status":{"outOfPrint":2012}}"#.to_string());
    let v2: Vec<&str> = v2.iter().map(String::as_str).collect();
    produce(&v2, "v2.jsonl");
    let server = Server::start(&store, &[]);

    let home = get_json(&server.at("/api")).await;
    let types: Vec<&str> = home["types"]
        .as_array()
        .expect("types")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        types,
        ["Author", "Book", "Shelf"],
        "Chapter is a value, not a type"
    );

    // Records exactly as `hollow get --json` prints them: union, Data, enum, list of structs.
    for (t, key) in [
        ("Book", &["111"][..]),
        ("Book", &["444"]),
        ("Author", &["-2"]),
        ("Shelf", &["A", "-1"]),
    ] {
        let query: Vec<String> = key.iter().map(|k| format!("key={k}")).collect();
        let (status, _, body) =
            get(&server.at(&format!("/api/types/{t}/record?{}", query.join("&")))).await;
        assert_eq!(status, 200, "{t} {key:?}: {body}");
        let mut args = vec!["get", t];
        args.extend_from_slice(key);
        args.push("--json");
        assert_eq!(
            body.trim(),
            ok(&hollow(&args, &store)).trim(),
            "{t} {key:?}"
        );
    }
    let book: Value = get_json(&server.at("/api/types/Book/record?key=111")).await;
    assert_eq!(book["format"], "ebook");
    assert_eq!(book["cover"], "AAEC/w==");
    assert_eq!(book["chapters"][1]["pages"], 28);
    assert_eq!(book["status"], serde_json::json!({"inPrint": null}));

    // Facets of an enum and of a list of integers; a query through each index.
    let facets = get_json(&server.at("/api/types/Book/facets")).await;
    let by_index: BTreeMap<&str, &Value> = facets
        .as_array()
        .expect("facets")
        .iter()
        .map(|f| (f["index"].as_str().expect("index"), &f["values"]))
        .collect();
    assert_eq!(
        by_index["format"],
        &serde_json::json!([{"values": ["ebook"], "count": 2}, {"values": ["hardcover"], "count": 1}])
    );
    assert_eq!(
        by_index["authorIds"][0],
        serde_json::json!({"values": ["1"], "count": 3})
    );
    assert_eq!(
        by_index["tags"][0],
        serde_json::json!({"values": ["classic"], "count": 2})
    );
    let q = get_json(&server.at("/api/types/Book?where=format%3Debook")).await;
    assert_eq!(q["query"]["plan"], "hash index format");
    assert_eq!(q["query"]["matches"], 2);

    // Diff and history, as the CLI prints them.
    let api = get_json(&server.at("/api/diff?from=1&to=2")).await;
    let cli = json_of_cli(&["diff", "1", "2", "--json"], &store);
    for field in ["types", "total", "records"] {
        assert_eq!(api[field], cli[field], "{field}");
    }
    let history = get_json(&server.at("/api/types/Book/history?key=111")).await;
    assert_eq!(
        history,
        json_of_cli(&["history", "Book", "111", "--json"], &store)
    );

    // The pages: a key of another type links to its record, Data toggles, nested structs and
    // the union render; the author's page links back to the books that name it.
    let (_, _, html) = get(&server.at("/types/Book/record?key=111&version=2")).await;
    assert!(
        html.contains("href=\"/types/Author/record?version=2&amp;key=1\""),
        "{html}"
    );
    assert!(html.contains("data-base64=\"AAEC/w==\""), "{html}");
    assert!(html.contains("<dt>pages</dt>"), "{html}");
    assert!(html.contains("<dt>inPrint</dt>"), "{html}");
    let (_, _, shelf) = get(&server.at("/types/Shelf/record?key=A&key=-1&version=2")).await;
    assert!(
        shelf.contains("href=\"/types/Book/record?version=2&amp;key=333\""),
        "{shelf}"
    );
    let (_, _, author) = get(&server.at("/types/Author/record?key=1&version=2")).await;
    assert!(author.contains("3 Book with authorIds = 1"), "{author}");
    let (_, _, type_page) = get(&server.at("/types/Book?version=2")).await;
    assert!(type_page.contains("hardcover"), "{type_page}");
}

/// `produce --watch --metrics-bind`: the producer's metrics count each cycle as the watcher
/// reports it.
#[tokio::test(flavor = "multi_thread")]
async fn a_watching_producer_exposes_its_metrics() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("export");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args(["demo", "--movies", "200", "--cycles", "2", "--export"])
        .arg(&export)
        .output()
        .expect("demo --export");
    assert!(o.status.success());
    let incoming = dir.path().join("incoming");
    std::fs::create_dir(&incoming).expect("mkdir");
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/movies.capnp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args(["produce", "--schema", schema, "--watch"])
        .arg(&incoming)
        .args([
            "--poll-ms",
            "50",
            "--json",
            "--metrics-bind",
            "127.0.0.1:0",
            "--store",
        ])
        .arg(dir.path().join("store"))
        .env_remove("HOLLOW_STORE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("produce --watch");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().expect("stderr");
    let stdout = child.stdout.take().expect("stdout");
    let _child = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line.strip_prefix("metrics on ") {
                let _ = tx.send(url.trim().to_string());
            }
            eprintln!("[produce] {line}");
        }
    });
    let metrics_url = rx.recv().expect("the producer said where its metrics are");
    let mut reports = std::io::BufReader::new(stdout).lines();
    let mut next_report = move || -> Value {
        let line = reports.next().expect("a report").expect("read");
        serde_json::from_str(&line).expect("a JSON report")
    };
    let scrape = |url: String| async move { samples(&get(&url).await.2) };

    let before = scrape(metrics_url.clone()).await;
    assert!(
        !before.contains_key("hollow_producer_cycles_total")
            || value_of(
                &before,
                "hollow_producer_cycles_total",
                Some(("result", "published"))
            ) == 0.0
    );
    std::fs::copy(
        export.join("cycle-0000.jsonl"),
        incoming.join("cycle-0000.jsonl"),
    )
    .expect("copy");
    let report = tokio::task::spawn_blocking(move || (next_report(), next_report))
        .await
        .expect("join");
    let (first, next_report) = report;
    assert_eq!(first["version"], 1);
    let m = scrape(metrics_url.clone()).await;
    assert_eq!(
        value_of(
            &m,
            "hollow_producer_cycles_total",
            Some(("result", "published"))
        ),
        1.0
    );
    assert_eq!(value_of(&m, "hollow_producer_version", None), 1.0);
    for t in first["types"].as_array().expect("types") {
        let name = t["type"].as_str().expect("type");
        assert_eq!(
            value_with(
                &m,
                "hollow_producer_records_total",
                &[("type", name), ("change", "added")]
            ),
            t["added"].as_f64().expect("added"),
            "{name}"
        );
    }
    assert!(
        value_of(
            &m,
            "hollow_producer_blob_bytes_total",
            Some(("kind", "snapshot"))
        ) > 0.0
    );

    std::fs::copy(
        export.join("cycle-0001.jsonl"),
        incoming.join("cycle-0001.jsonl"),
    )
    .expect("copy");
    let second = tokio::task::spawn_blocking(next_report)
        .await
        .expect("join");
    assert_eq!(second["version"], 2);
    let m = scrape(metrics_url).await;
    assert_eq!(
        value_of(
            &m,
            "hollow_producer_cycles_total",
            Some(("result", "published"))
        ),
        2.0
    );
    assert!(
        value_with(
            &m,
            "hollow_producer_records_total",
            &[("type", "Movie"), ("change", "changed")]
        ) > 0.0
    );
    assert!(
        value_of(
            &m,
            "hollow_producer_blob_bytes_total",
            Some(("kind", "delta"))
        ) > 0.0
    );
}

/// Before anything is announced the explorer is up but not ready, and says so; the first
/// version arrives through the event stream and is served.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_store_is_unavailable_until_a_version_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("movies");
    std::fs::create_dir(&store).expect("mkdir");
    let server = Server::start(&store, &[]);
    assert_eq!(get(&server.at("/healthz")).await.0, 200);
    assert_eq!(get(&server.at("/readyz")).await.0, 503);
    let (status, _, body) = get(&server.at("/api")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no version is served yet"), "{body}");
    assert_eq!(get(&server.at("/types/Movie")).await.0, 503);
    let mut events = Events::open(&server).await;
    demo(&store, 100, 1);
    // Version 1 may be served on the way to 2.
    while events.next_version().await != 2 {}
    assert_eq!(get_json(&server.at("/api")).await["version"], 2);
    assert_eq!(get(&server.at("/readyz")).await.0, 200);
}
