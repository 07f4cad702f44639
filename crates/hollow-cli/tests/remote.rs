//! The CLI on a remote store and as a long-running consumer: the blob cache across runs
//! (`--cache`, the default cache under `$XDG_CACHE_HOME`), `inspect` sizes from the listing,
//! `hollow ls`, `--store-opt`, and `hollow follow` (its refresh log lines, its trimmed cache,
//! exit 0 on SIGTERM). Runs the real binary. The S3 parts use the server
//! `HOLLOW_CONFORMANCE_URL` names (`.ci/run` starts one) and are skipped without it, except
//! under CI.

mod common;
use common::{json_of, ok, stderr};

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const MOVIES_CAPNP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/movies.capnp");

fn hollow(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hollow"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run hollow")
}

/// JSONL cycles of the movies dataset (`hollow demo --export`).
fn export(dir: &Path, movies: u32, cycles: u32) -> Vec<PathBuf> {
    let out = hollow(
        &[
            "demo",
            "--movies",
            &movies.to_string(),
            "--cycles",
            &cycles.to_string(),
            "--export",
            dir.to_str().expect("utf-8"),
        ],
        &[],
    );
    ok(&out);
    (0..cycles)
        .map(|c| dir.join(format!("cycle-{c:04}.jsonl")))
        .collect()
}

fn produce(store: &str, input: &Path) {
    ok(&hollow(
        &[
            "produce",
            "--schema",
            MOVIES_CAPNP,
            "--input",
            input.to_str().expect("utf-8"),
            "--store",
            store,
        ],
        &[],
    ));
}

/// JSON Lines output, one value per line.
fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    ok(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Blob downloads a run logged (`-v`: the store's debug line per blob GET).
fn downloads(o: &Output) -> usize {
    stderr(o).matches("downloading blob").count()
}

fn first_movie_id(store: &str) -> String {
    let out = ok(&hollow(
        &[
            "scan",
            "Movie",
            "--limit",
            "1",
            "--store",
            store,
            "--no-cache",
        ],
        &[],
    ));
    let v: serde_json::Value =
        serde_json::from_str(out.lines().next().expect("a line")).expect("json");
    v["id"].to_string()
}

#[test]
fn get_downloads_each_blob_once_across_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = export(&dir.path().join("in"), 200, 2);
    let store = dir.path().join("store");
    let store = store.to_str().expect("utf-8");
    for input in &inputs {
        produce(store, input);
    }
    let cache = dir.path().join("cache");
    let id = first_movie_id(store);
    let get = || {
        hollow(
            &[
                "get",
                "Movie",
                &id,
                "--store",
                store,
                "--cache",
                cache.to_str().expect("utf-8"),
                "-v",
            ],
            &[],
        )
    };
    let first = get();
    assert!(ok(&first).contains(&id));
    assert!(downloads(&first) >= 1, "{}", stderr(&first));
    let second = get();
    assert_eq!(ok(&second), ok(&first));
    assert_eq!(downloads(&second), 0, "{}", stderr(&second));
    // The cache holds the blobs decoded, read-only.
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .expect("cache")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".blob"))
        .collect();
    assert!(!cached.is_empty());
    for e in cached {
        assert!(
            std::fs::read(e.path())
                .expect("read")
                .starts_with(&hollow::format::MAGIC)
        );
        assert!(e.metadata().expect("meta").permissions().readonly());
    }
    // --no-cache downloads again, and --cache with --no-cache is a usage error.
    let again = hollow(
        &["get", "Movie", &id, "--store", store, "--no-cache", "-v"],
        &[],
    );
    assert!(downloads(&again) >= 1);
    let both = hollow(
        &[
            "get",
            "Movie",
            &id,
            "--store",
            store,
            "--no-cache",
            "--cache",
            "/tmp/x",
        ],
        &[],
    );
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn ls_lists_the_datasets_under_a_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = export(&dir.path().join("in"), 200, 2);
    let root = dir.path().join("root");
    produce(root.join("a").to_str().expect("utf-8"), &inputs[0]);
    produce(root.join("b/c").to_str().expect("utf-8"), &inputs[0]);
    produce(root.join("b/c").to_str().expect("utf-8"), &inputs[1]);
    let root_s = root.to_str().expect("utf-8");
    let rows = json_lines(&hollow(&["ls", root_s, "--json"], &[]));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["prefix"], "a");
    assert_eq!(rows[0]["version"], 1);
    assert_eq!(rows[1]["prefix"], "b/c");
    assert_eq!(rows[1]["version"], 2);
    assert_eq!(rows[1]["url"], format!("{root_s}/b/c"));
    let text = ok(&hollow(&["ls", root_s], &[]));
    assert!(text.contains("b/c  movies  version 2"), "{text}");
    let by_url = json_lines(&hollow(&["ls", &format!("file://{root_s}"), "--json"], &[]));
    assert_eq!(by_url.len(), 2);
    let nope = dir.path().join("nope");
    let missing = hollow(&["ls", nope.to_str().expect("utf-8")], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(!nope.exists(), "ls creates nothing");
}

#[test]
fn store_options_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    let bad = hollow(
        &["inspect", "--store", store, "--store-opt", "hollow_nope=1"],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("hollow_nope"), "{}", stderr(&bad));
    let usage = hollow(
        &["inspect", "--store", store, "--store-opt", "novalue"],
        &[],
    );
    assert_eq!(usage.status.code(), Some(2));
}

/// The S3 server `HOLLOW_CONFORMANCE_URL` names; None (skipped) without one, except under CI.
fn s3_base() -> Option<String> {
    match std::env::var("HOLLOW_CONFORMANCE_URL") {
        Ok(url) => Some(url.trim_end_matches('/').to_string()),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set HOLLOW_CONFORMANCE_URL"
            );
            eprintln!("HOLLOW_CONFORMANCE_URL is not set: skipped");
            None
        }
    }
}

#[test]
fn s3_cache_inspect_and_ls() {
    let Some(base) = s3_base() else { return };
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = export(&dir.path().join("in"), 300, 2);
    let prefix = format!("{base}/cli-{run}");
    let url = format!("{prefix}/movies");
    for input in &inputs {
        produce(&url, input);
    }
    let xdg = dir.path().join("xdg");
    let env = [("XDG_CACHE_HOME", xdg.as_path())];
    let id = first_movie_id(&url);
    let get = || hollow(&["get", "Movie", &id, "--store", &url, "-v"], &env);
    let first = get();
    assert!(downloads(&first) >= 1, "{}", stderr(&first));
    let second = get();
    assert_eq!(ok(&second), ok(&first));
    assert_eq!(downloads(&second), 0, "{}", stderr(&second));
    // The default cache: one directory under $XDG_CACHE_HOME/hollow for this URL.
    let caches: Vec<_> = std::fs::read_dir(xdg.join("hollow"))
        .expect("cache root")
        .flatten()
        .collect();
    assert_eq!(caches.len(), 1);
    let cached: u64 = std::fs::read_dir(caches[0].path())
        .expect("cache")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".blob"))
        .map(|e| e.metadata().expect("meta").len())
        .sum();
    // inspect lists sizes as stored (compressed) without downloading a blob for them.
    let inspect = hollow(&["inspect", "--store", &url, "--json", "-v"], &env);
    let value = json_of(&inspect);
    let blobs = value["blobs"].as_array().expect("blobs");
    assert_eq!(blobs.len(), 1 + 1 + 1, "snapshot, delta, reverse delta");
    let snapshot = blobs
        .iter()
        .find(|b| {
            b["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("snapshots/"))
        })
        .expect("a snapshot");
    assert!(snapshot["bytes"].as_u64().expect("bytes") < cached);
    assert_eq!(downloads(&inspect), 0, "{}", stderr(&inspect));
    let listed = json_lines(&hollow(&["ls", &prefix, "--json"], &env));
    assert_eq!(listed[0]["prefix"], "movies");
    assert_eq!(listed[0]["version"], 2);
}

/// Lines of a child's stderr, as they come.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing every needle (a generous bound, not a synchronisation).
fn wait_for(rx: &mpsc::Receiver<String>, needles: &[&str], seen: &mut Vec<String>) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|e| {
                panic!("no line with {needles:?} ({e}); saw:\n{}", seen.join("\n"))
            });
        seen.push(line.clone());
        if needles.iter().all(|n| line.contains(n)) {
            return line;
        }
    }
}

#[test]
fn follow_logs_each_refresh_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = export(&dir.path().join("in"), 200, 2);
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).expect("mkdir");
    let store_s = store.to_str().expect("utf-8");
    let cache = dir.path().join("cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args([
            "follow",
            "--store",
            store_s,
            "--poll-interval",
            "100ms",
            "--cache",
        ])
        .arg(&cache)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn follow");
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    wait_for(&rx, &["following"], &mut seen);
    wait_for(&rx, &["waiting for an announcement"], &mut seen);
    produce(store_s, &inputs[0]);
    let first = wait_for(&rx, &["refreshed", "version=1"], &mut seen);
    assert!(first.contains("duration_ms="), "{first}");
    assert!(first.contains("bytes_fetched="), "{first}");
    assert!(first.contains("plan=snapshot"), "{first}");
    assert!(!first.contains("bytes_fetched=0 "), "{first}");
    produce(store_s, &inputs[1]);
    let second = wait_for(&rx, &["refreshed", "version=2"], &mut seen);
    assert!(second.contains("plan=delta"), "{second}");
    // The cache holds what version 2 is built from: the snapshot and the delta, no more.
    let mut cached: Vec<String> = std::fs::read_dir(&cache)
        .expect("cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".blob"))
        .collect();
    cached.sort();
    assert_eq!(cached.len(), 2, "{cached:?}");
    assert!(cached[0].starts_with("deltas_") && cached[1].starts_with("snapshots_"));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    wait_for(&rx, &["stopping", "SIGTERM"], &mut seen);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{}", seen.join("\n"));
}

#[test]
fn gc_reports_then_deletes_what_no_kept_version_needs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let store_s = store.to_str().expect("utf-8");
    ok(&hollow(
        &[
            "demo",
            "--movies",
            "500",
            "--cycles",
            "4",
            "--snapshot-every",
            "2",
            "--dir",
            store_s,
        ],
        &[],
    ));
    // A failed cycle's blob: off the announced chain.
    let orphan = store.join("snapshots/00000000000000000099-0000000000000099.blob");
    std::fs::write(&orphan, b"orphan").expect("write");
    let count = || {
        std::fs::read_dir(store.join("snapshots"))
            .expect("dir")
            .count()
            + std::fs::read_dir(store.join("deltas"))
                .expect("dir")
                .count()
            + std::fs::read_dir(store.join("reverse-deltas"))
                .expect("dir")
                .count()
    };
    let before = count();
    let gc = |extra: &[&str]| {
        let mut args = vec![
            "gc",
            "--store",
            store_s,
            "--keep-versions",
            "1",
            "--min-age",
            "0",
            "--json",
        ];
        args.extend_from_slice(extra);
        json_of(&hollow(&args, &[]))
    };
    let dry = gc(&["--dry-run"]);
    assert_eq!(dry["deleted"], false);
    let unneeded = dry["unneeded"].as_array().expect("unneeded");
    assert!(
        unneeded
            .iter()
            .any(|b| b["reason"] == "off the announced chain"),
        "{dry}"
    );
    assert!(
        unneeded.iter().any(|b| b["reason"] == "before retention"),
        "{dry}"
    );
    assert_eq!(count(), before, "a dry run deletes nothing");
    // The default grace period keeps everything just written.
    let young = json_of(&hollow(
        &["gc", "--store", store_s, "--keep-versions", "1", "--json"],
        &[],
    ));
    assert!(
        young["unneeded"]
            .as_array()
            .expect("unneeded")
            .iter()
            .all(|b| b["too_young"] == true)
    );
    assert_eq!(count(), before);
    // --keep-snapshots 1: from the newest snapshot on; --keep-since: everything (just written).
    let newest_snapshot = std::fs::read_dir(store.join("snapshots"))
        .expect("dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.split('-').next()?.parse::<u64>().ok()
        })
        .filter(|v| *v != 99)
        .max()
        .expect("a snapshot");
    let by_snapshots = json_of(&hollow(
        &[
            "gc",
            "--store",
            store_s,
            "--keep-snapshots",
            "1",
            "--min-age",
            "0",
            "--dry-run",
            "--json",
        ],
        &[],
    ));
    assert_eq!(
        by_snapshots["oldest_retained"], newest_snapshot,
        "{by_snapshots}"
    );
    assert_eq!(by_snapshots["kept_from_snapshot"], newest_snapshot);
    let since = json_of(&hollow(
        &[
            "gc",
            "--store",
            store_s,
            "--keep-since",
            "1h",
            "--min-age",
            "0",
            "--dry-run",
            "--json",
        ],
        &[],
    ));
    assert_eq!(since["oldest_retained"], 1, "{since}");
    assert_eq!(count(), before, "dry runs delete nothing");
    let done = gc(&[]);
    assert_eq!(done["deleted"], true);
    assert_eq!(count(), before - unneeded.len());
    assert!(!orphan.exists());
    // The announced version still reads, and validates.
    let head = done["head"].as_u64().expect("head").to_string();
    ok(&hollow(&["checksum", &head, "--store", store_s], &[]));
    ok(&hollow(&["validate", "--store", store_s], &[]));
}

/// `produce --push` and `follow --push` over a real nats-server (started here on a free port):
/// a follower polling hourly still refreshes as soon as the producer announces.
#[test]
fn follow_refreshes_on_announcements_pushed_by_produce() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let broker = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut broker = match broker {
        Ok(b) => b,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install nats-server: {e}"
            );
            eprintln!("skipping: nats-server is not installed ({e})");
            return;
        }
    };
    // Ready when it says so on stderr (an event, not a retry loop).
    let ready = lines_of(&mut broker);
    let mut broker_log = Vec::new();
    wait_for(&ready, &["Server is ready"], &mut broker_log);
    let url = format!("nats://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = export(&dir.path().join("in"), 100, 3);
    let store = dir.path().join("store");
    let store_s = store.to_str().expect("utf-8");
    produce(store_s, &inputs[0]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hollow"))
        .args([
            "follow",
            "--store",
            store_s,
            "--poll-interval",
            "1h",
            "--push",
            &url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn follow");
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    wait_for(
        &rx,
        &[
            "refreshing on pushed announcements",
            "hollow.announced.movies",
        ],
        &mut seen,
    );
    wait_for(&rx, &["refreshed", "version=1"], &mut seen);
    for (v, input) in [(2, &inputs[1]), (3, &inputs[2])] {
        ok(&hollow(
            &[
                "produce",
                "--schema",
                MOVIES_CAPNP,
                "--input",
                input.to_str().expect("utf-8"),
                "--store",
                store_s,
                "--push",
                &url,
            ],
            &[],
        ));
        wait_for(&rx, &["refreshed", &format!("version={v}")], &mut seen);
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    let _ = broker.kill();
    let _ = broker.wait();
}

/// Many consumer processes on one store (S3 under CI; a local directory otherwise, as well):
/// four `hollow follow` processes — two sharing a cache directory — follow a producer process
/// through four versions; each logs every version, their caches hold decoded blobs, and each
/// exits 0 on SIGTERM. A `hollow get` in yet another process reads the last version.
#[test]
fn several_follower_processes_converge_on_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stores = vec![dir.path().join("local").to_string_lossy().into_owned()];
    if let Some(base) = s3_base() {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        stores.push(format!("{base}/followers-{run}/movies"));
    }
    let inputs = export(&dir.path().join("in"), 300, 4);
    for (s, url) in stores.iter().enumerate() {
        produce(url, &inputs[0]);
        let shared = dir.path().join(format!("shared-cache-{s}"));
        let mut followers = Vec::new();
        for f in 0..4 {
            let cache = if f < 2 {
                shared.clone()
            } else {
                dir.path().join(format!("cache-{s}-{f}"))
            };
            let mut child = Command::new(env!("CARGO_BIN_EXE_hollow"))
                .args([
                    "follow",
                    "--store",
                    url,
                    "--poll-interval",
                    "50ms",
                    "--cache",
                ])
                .arg(&cache)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn follow");
            let rx = lines_of(&mut child);
            followers.push((child, rx, Vec::new()));
        }
        for (_, rx, seen) in &mut followers {
            wait_for(rx, &["refreshed", "version=1"], seen);
        }
        for (v, input) in inputs.iter().enumerate().skip(1) {
            produce(url, input);
            let version = format!("version={}", v + 1);
            for (_, rx, seen) in &mut followers {
                wait_for(rx, &["refreshed", &version], seen);
            }
        }
        let id = first_movie_id(url);
        let got = ok(&hollow(
            &["get", "Movie", &id, "--store", url, "--json"],
            &[],
        ));
        assert!(got.contains(&format!("\"id\":{id}")), "{got}");
        for (mut child, rx, mut seen) in followers {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            wait_for(&rx, &["stopping", "SIGTERM"], &mut seen);
            let status = child.wait().expect("wait");
            assert_eq!(status.code(), Some(0), "{url}: {}", seen.join("\n"));
        }
    }
}
