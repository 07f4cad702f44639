//! Crash points: a real producer process is killed with SIGKILL at each store call of a
//! publish (before the call, and after it took effect), then a new process restores: restore
//! works, the announced chain is complete and reads exactly as before, and the producer
//! continues with the next cycle. The child is this test binary run again with
//! `HOLLOW_CRASH_CHILD` set (see `crash_child`).
//!
//! A kill inside the local announcement's own file operations (lock taken, temporary written,
//! renamed), which are not store calls, is armed by name (`hollow::testing::arm_crash_point`):
//! the store then holds either the old or the new announcement, never a broken one.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use hollow::testing::{Fault, local_store_with_faults};
use hollow::{BlobStore, Consumer, CycleError, CycleOutcome, Producer};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};

const DATA: u64 = 200;

fn producer(store: BlobStore) -> hollow::ProducerBuilder {
    Producer::builder(store, "movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .snapshot_every(2)
}

async fn cycle(producer: &Producer, c: u64) -> Result<CycleOutcome, CycleError> {
    let data = Dataset::new(DATA);
    producer
        .run_cycle(|cycle| {
            let mut message = capnp::message::Builder::new_default();
            for a in data.actors(c) {
                a.build(message.init_root::<actor::Builder>());
                cycle.add::<actor::Owned>(message.get_root_as_reader()?)?;
            }
            for m in data.movies(c) {
                m.build(message.init_root::<movie::Builder>());
                cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await
}

fn titles(consumer: &Consumer) -> Vec<(u64, String)> {
    let state = consumer.state().expect("state");
    let table = state.table::<movie::Owned>().expect("movies");
    let mut titles: Vec<(u64, String)> = table
        .iter()
        .map(|(_, m)| {
            let t = m.get_title().expect("t").to_str().expect("s").to_string();
            (m.get_id(), t)
        })
        .collect();
    titles.sort_unstable();
    titles
}

fn expected(c: u64) -> Vec<(u64, String)> {
    Dataset::new(DATA)
        .movies(c)
        .map(|m| (m.id, m.title))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs `crash_child` in a new process of this test binary with `HOLLOW_CRASH_CHILD=spec`.
fn run_child(exe: &Path, spec: &str) -> std::process::ExitStatus {
    Command::new(exe)
        .args(["--exact", "crash_child", "--test-threads=1"])
        .env("HOLLOW_CRASH_CHILD", spec)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run the child")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The child process: restores a producer from `DIR`, arms a kill at the N-th store call from
/// now (before it, or after it took effect), and runs cycle 2. Does nothing without
/// `HOLLOW_CRASH_CHILD=DIR|N|before-or-after`.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var("HOLLOW_CRASH_CHILD") else {
        return;
    };
    let mut parts = spec.split('|');
    let (dir, n, when) = (
        parts.next().expect("dir"),
        parts
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .expect("n"),
        parts.next().expect("when"),
    );
    runtime().block_on(async {
        let (store, faulty) = local_store_with_faults(dir).expect("store");
        let producer = producer(store).build().await.expect("restore");
        if let Some(point) = when.strip_prefix("point=") {
            hollow::testing::arm_crash_point(point);
        } else {
            let fault = Fault::nth(n).kill();
            faulty.inject(if when == "after" {
                fault.after()
            } else {
                fault
            });
        }
        let _ = cycle(&producer, 2).await;
    });
}

#[test]
fn a_producer_killed_at_any_store_call_of_a_publish_restores_and_continues() {
    let base = tempfile::tempdir().expect("tempdir");
    let runtime = runtime();
    // Versions 1 (snapshot) and 2 (delta); cycle 2 then writes a snapshot, a delta and a
    // reverse delta.
    runtime.block_on(async {
        let p = producer(BlobStore::local(base.path()).expect("store"))
            .build()
            .await
            .expect("producer");
        for c in 0..2 {
            assert!(matches!(cycle(&p, c).await, Ok(CycleOutcome::Published(_))));
        }
    });
    // How many store calls the publish of cycle 2 makes.
    let calls = runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(base.path(), dir.path());
        let (store, faulty) = local_store_with_faults(dir.path()).expect("store");
        let p = producer(store).build().await.expect("restore");
        let before = faulty.calls();
        assert!(matches!(cycle(&p, 2).await, Ok(CycleOutcome::Published(_))));
        faulty.calls() - before
    });
    assert!(
        calls >= 3,
        "snapshot, delta and reverse delta: {calls} calls"
    );
    let exe = std::env::current_exe().expect("test binary");
    let mut crashes = 0;
    for n in 1..=calls {
        for when in ["before", "after"] {
            let dir = tempfile::tempdir().expect("tempdir");
            copy_dir(base.path(), dir.path());
            let spec = format!("{}|{n}|{when}", dir.path().display());
            let status = run_child(&exe, &spec);
            assert_eq!(
                status.signal(),
                Some(9),
                "call {n} {when}: the child was killed"
            );
            crashes += 1;
            runtime.block_on(async {
                // A new process restores: the announced version is still 2, complete.
                let p = producer(BlobStore::local(dir.path()).expect("store"))
                    .build()
                    .await
                    .unwrap_or_else(|e| panic!("call {n} {when}: restore failed: {e:#}"));
                assert_eq!(p.version().await, Some(2), "call {n} {when}");
                let consumer = Consumer::builder(BlobStore::local(dir.path()).expect("store"))
                    .build()
                    .await
                    .expect("consumer");
                consumer.refresh_to(1).await.expect("version 1 reads");
                assert_eq!(titles(&consumer), expected(0), "call {n} {when}: version 1");
                assert_eq!(consumer.refresh().await.expect("refresh"), Some(2));
                assert_eq!(titles(&consumer), expected(1), "call {n} {when}: version 2");
                // And continues: the cycle the killed process did not finish publishes.
                let outcome = cycle(&p, 2).await;
                assert!(
                    matches!(outcome, Ok(CycleOutcome::Published(ref r)) if r.version == 3),
                    "call {n} {when}: {outcome:?}"
                );
                assert_eq!(consumer.refresh().await.expect("refresh"), Some(3));
                assert_eq!(titles(&consumer), expected(2), "call {n} {when}: version 3");
            });
        }
    }
    assert_eq!(crashes, 2 * calls);
}

#[test]
fn a_producer_killed_inside_the_local_announcement_leaves_the_old_or_the_new_one() {
    let base = tempfile::tempdir().expect("tempdir");
    let runtime = runtime();
    runtime.block_on(async {
        let p = producer(BlobStore::local(base.path()).expect("store"))
            .build()
            .await
            .expect("producer");
        for c in 0..2 {
            assert!(matches!(cycle(&p, c).await, Ok(CycleOutcome::Published(_))));
        }
    });
    let exe = std::env::current_exe().expect("test binary");
    // Killed before the rename, the store still announces version 2; after it, version 3.
    let announced_after = [2, 2, 3];
    for (point, announced) in hollow::testing::LOCAL_ANNOUNCE_CRASH_POINTS
        .iter()
        .zip(announced_after)
    {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(base.path(), dir.path());
        let spec = format!("{}|0|point={point}", dir.path().display());
        let status = run_child(&exe, &spec);
        assert_eq!(status.signal(), Some(9), "{point}: the child was killed");
        runtime.block_on(async {
            let p = producer(BlobStore::local(dir.path()).expect("store"))
                .build()
                .await
                .unwrap_or_else(|e| panic!("{point}: restore failed: {e:#}"));
            assert_eq!(p.version().await, Some(announced), "{point}");
            let consumer = Consumer::builder(BlobStore::local(dir.path()).expect("store"))
                .build()
                .await
                .expect("consumer");
            for v in 1..=announced {
                consumer
                    .refresh_to(v)
                    .await
                    .expect("every announced version reads");
                assert_eq!(titles(&consumer), expected(v - 1), "{point}: version {v}");
            }
            // The producer continues: the next cycle publishes the version after.
            let next = cycle(&p, announced).await;
            assert!(
                matches!(next, Ok(CycleOutcome::Published(ref r)) if r.version == announced + 1),
                "{point}: {next:?}"
            );
            assert_eq!(
                consumer.refresh().await.expect("refresh"),
                Some(announced + 1)
            );
            assert_eq!(
                titles(&consumer),
                expected(announced),
                "{point}: the next version"
            );
            // A killed writer's temporary is gone once someone announced again.
            let temps = std::fs::read_dir(dir.path())
                .expect("read dir")
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                .count();
            assert_eq!(temps, 0, "{point}");
        });
    }
}
