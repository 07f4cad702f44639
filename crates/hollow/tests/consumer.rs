//! The consumer: refresh planning over a store, forward and backward, snapshots when the chain
//! is broken, failures that leave the current state serving, pins, announcement watching, and
//! readers holding old states through many refreshes.

use hollow::StateId;
use hollow::{LookupError, OpenError, RefreshError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hollow::{BlobKey, BlobStore, Consumer, Producer, ReadState, RefreshEvent, RefreshPolicy};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};

fn populate(
    data: Dataset,
    c: u64,
) -> impl FnOnce(&mut hollow::Cycle<'_>) -> Result<(), hollow::CycleError> {
    move |cycle| {
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
    }
}

/// id → title of every movie, and id → ordinal.
fn movies(state: &ReadState) -> (BTreeMap<u64, String>, BTreeMap<u64, u32>) {
    let t = state.table::<movie::Owned>().expect("movies");
    let mut titles = BTreeMap::new();
    let mut ordinals = BTreeMap::new();
    for (o, m) in t.iter() {
        titles.insert(
            m.get_id(),
            m.get_title().expect("t").to_str().expect("s").to_string(),
        );
        ordinals.insert(m.get_id(), o);
    }
    (titles, ordinals)
}

fn expected(data: Dataset, c: u64) -> BTreeMap<u64, String> {
    data.movies(c).map(|m| (m.id, m.title)).collect()
}

/// Publishes cycles 0..n of `data` with a snapshot every `every` cycles; returns the producer.
async fn publish(store: &BlobStore, data: Dataset, n: u64, every: u32) -> Producer {
    let producer = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .snapshot_every(every)
        .build()
        .await
        .expect("producer");
    for c in 0..n {
        producer.run_cycle(populate(data, c)).await.expect("cycle");
    }
    producer
}

fn check(state: &ReadState, data: Dataset, c: u64) {
    let (titles, _) = movies(state);
    assert_eq!(titles, expected(data, c), "version {}", c + 1);
    let t = state.table::<movie::Owned>().expect("movies");
    for (id, title) in expected(data, c).iter().take(50) {
        let m = t.get_by_key(*id).expect("lookup").expect("found");
        assert_eq!(m.get_title().expect("t").to_str().expect("s"), title);
    }
}

#[tokio::test]
async fn a_consumer_follows_every_cycle_with_stable_ordinals() {
    let store = BlobStore::memory();
    let data = Dataset::new(400);
    let producer = publish(&store, data, 1, 3).await;
    let consumer = Consumer::builder(store.clone())
        .build()
        .await
        .expect("consumer");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(1));
    let mut ordinals = movies(&consumer.state().expect("state")).1;
    for c in 1..7 {
        producer.run_cycle(populate(data, c)).await.expect("cycle");
        assert_eq!(consumer.refresh().await.expect("refresh"), Some(c + 1));
        let state = consumer.state().expect("state");
        check(&state, data, c);
        let (_, now) = movies(&state);
        for (id, o) in &now {
            if let Some(before) = ordinals.get(id) {
                assert_eq!(o, before, "movie {id} moved");
            }
        }
        ordinals = now;
    }
}

#[tokio::test]
async fn refresh_to_goes_forward_and_backward_across_snapshots() {
    let store = BlobStore::memory();
    let data = Dataset::new(300);
    publish(&store, data, 8, 3).await; // snapshots at versions 1, 4, 7
    let plans = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&plans);
    let consumer = Consumer::builder(store.clone())
        .listener(move |e: &RefreshEvent| {
            if let RefreshEvent::Started { plan, .. } = e {
                seen.lock().expect("lock").push(plan.clone());
            }
        })
        .build()
        .await
        .expect("consumer");
    for v in [2u64, 6, 8, 3, 1, 5] {
        assert_eq!(consumer.refresh_to(v).await.expect("refresh_to"), v);
        check(&consumer.state().expect("state"), data, v - 1);
    }
    let plans = plans.lock().expect("lock").clone();
    assert_eq!(plans[0], "snapshot 1, delta 1→2");
    assert_eq!(plans[1], "delta 2→3, delta 3→4, delta 4→5, delta 5→6");
    assert_eq!(
        plans[3],
        "delta 8→7, delta 7→6, delta 6→5, delta 5→4, delta 4→3"
    );
    assert!(matches!(
        consumer.refresh_to(99).await,
        Err(RefreshError::NoSuchVersion { version: 99 })
    ));
}

#[tokio::test]
async fn a_deleted_delta_is_bridged_by_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::local(dir.path()).expect("store");
    let data = Dataset::new(300);
    publish(&store, data, 6, 4).await; // snapshots at 1 and 5
    let consumer = Consumer::builder(store.clone())
        .build()
        .await
        .expect("consumer");
    consumer.refresh_to(2).await.expect("to 2");
    // Delete the forward delta 3 → 4: the chain is still linked by the reverse delta.
    let keys = store.list_blobs().await.expect("list");
    let gone = keys
        .iter()
        .find(|k| {
            matches!(
                k,
                BlobKey::Delta {
                    from: StateId { version: 3, .. },
                    to: StateId { version: 4, .. }
                }
            )
        })
        .expect("delta 3→4");
    std::fs::remove_file(dir.path().join(gone.relative())).expect("delete");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(6));
    check(&consumer.state().expect("state"), data, 5);
}

#[tokio::test]
async fn a_corrupt_delta_fails_the_refresh_and_a_later_one_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::local(dir.path()).expect("store");
    let data = Dataset::new(300);
    publish(&store, data, 3, 2).await; // snapshots at 1 and 3
    let consumer = Consumer::builder(store.clone())
        .build()
        .await
        .expect("consumer");
    consumer.refresh_to(1).await.expect("to 1");
    let held = consumer.state().expect("state");
    let keys = store.list_blobs().await.expect("list");
    let delta = keys
        .iter()
        .find(|k| {
            matches!(
                k,
                BlobKey::Delta {
                    from: StateId { version: 1, .. },
                    to: StateId { version: 2, .. }
                }
            )
        })
        .expect("delta 1→2");
    let path = dir.path().join(delta.relative());
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 9;
    bytes[last] ^= 0x40; // a bit flip inside the last section
    std::fs::remove_file(&path).expect("replace");
    std::fs::write(&path, &bytes).expect("write");
    let failed = consumer.refresh_to(2).await;
    assert!(
        matches!(failed, Err(RefreshError::Open(OpenError::Corrupt { .. }))),
        "{failed:?}"
    );
    assert_eq!(consumer.version(), Some(1), "the old state keeps serving");
    check(&held, data, 0);
    // The failed blob is remembered: the next refresh goes through the snapshot of version 3.
    assert_eq!(consumer.refresh().await.expect("recover"), Some(3));
    check(&consumer.state().expect("state"), data, 2);
}

#[tokio::test]
async fn pins_hold_consumers_on_a_version() {
    let store = BlobStore::memory();
    let data = Dataset::new(200);
    publish(&store, data, 4, 2).await;
    let consumer = Consumer::builder(store.clone())
        .build()
        .await
        .expect("consumer");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(4));
    // Pin version 2 (its tag from a delta key of the chain).
    let keys = store.list_blobs().await.expect("list");
    let v2 = keys
        .iter()
        .find_map(|k| match k {
            BlobKey::Delta { from, .. } if from.version == 2 => Some(*from),
            _ => None,
        })
        .expect("delta out of version 2");
    store.pin(v2).await.expect("pin");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(2));
    check(&consumer.state().expect("state"), data, 1);
    store.unpin().await.expect("unpin");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(4));
}

#[tokio::test]
async fn an_in_process_announcement_wakes_the_watcher() {
    let store = BlobStore::memory();
    let data = Dataset::new(200);
    let producer = publish(&store, data, 1, 10).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = Consumer::builder(store.clone())
        .refresh_policy(RefreshPolicy::OnAnnouncement {
            poll_interval: std::time::Duration::from_secs(3600),
        })
        .listener(move |e: &RefreshEvent| {
            if let RefreshEvent::Succeeded { version, .. } = e {
                let _ = tx.send(*version);
            }
        })
        .build()
        .await
        .expect("consumer");
    assert_eq!(
        consumer.version(),
        Some(1),
        "the first refresh happens in build"
    );
    assert_eq!(
        tokio::time::timeout(std::time::Duration::from_secs(120), rx.recv())
            .await
            .expect("a refresh event (guard against a hang, not a synchronisation)"),
        Some(1)
    );
    producer.run_cycle(populate(data, 1)).await.expect("cycle");
    // No poll for an hour: only the in-process notification can wake the watcher.
    assert_eq!(
        tokio::time::timeout(std::time::Duration::from_secs(120), rx.recv())
            .await
            .expect("a refresh event (guard against a hang, not a synchronisation)"),
        Some(2)
    );
    assert_eq!(consumer.version(), Some(2));
}

#[test]
fn readers_keep_their_states_through_a_thousand_refreshes() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let store = BlobStore::memory();
    let data = Dataset::new(100);
    let consumer = runtime.block_on(async {
        publish(&store, data, 6, 3).await;
        let consumer = Consumer::builder(store.clone())
            .build()
            .await
            .expect("consumer");
        consumer.refresh_to(1).await.expect("to 1");
        consumer
    });
    let held = consumer.state().expect("state");
    let expected_titles = movies(&held).0;
    let done = Arc::new(AtomicBool::new(false));
    let started = Arc::new(std::sync::Barrier::new(3));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (held, expected_titles, done, started) = (
                Arc::clone(&held),
                expected_titles.clone(),
                Arc::clone(&done),
                Arc::clone(&started),
            );
            std::thread::spawn(move || {
                started.wait();
                let mut rounds = 0u64;
                while !done.load(Ordering::Acquire) || rounds == 0 {
                    assert_eq!(movies(&held).0, expected_titles);
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    started.wait();
    runtime.block_on(async {
        for i in 0..1000u64 {
            let v = 1 + (i * 7 + 3) % 6;
            assert_eq!(consumer.refresh_to(v).await.expect("refresh"), v);
        }
    });
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
    check(&held, data, 0);
}

#[tokio::test]
async fn long_overlays_compact_onto_newer_snapshots() {
    let store = BlobStore::memory();
    let data = Dataset::new(200);
    let producer = publish(&store, data, 1, 3).await; // snapshots at 1, 4, 7, 10
    let consumer = Consumer::builder(store.clone())
        .max_deltas(4)
        .build()
        .await
        .expect("consumer");
    consumer.refresh().await.expect("refresh");
    for c in 1..11 {
        producer.run_cycle(populate(data, c)).await.expect("cycle");
        consumer.refresh().await.expect("refresh");
        let state = consumer.state().expect("state");
        check(&state, data, c);
        assert!(
            state.overlay_depth() <= 4,
            "version {}: depth {}",
            c + 1,
            state.overlay_depth()
        );
    }
    let state = consumer.state().expect("state");
    assert!(
        state.base_version() > 1,
        "the consumer moved to a newer snapshot"
    );
}

#[tokio::test]
async fn remote_blobs_are_cached_once_and_the_cache_keeps_only_what_the_state_uses() {
    let store = BlobStore::memory();
    let data = Dataset::new(200);
    publish(&store, data, 3, 2).await; // snapshots at 1 and 3
    let cache = tempfile::tempdir().expect("tempdir");
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(cache.path())
            .expect("cache dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".blob"))
            .collect();
        names.sort();
        names
    };
    let consumer = Consumer::builder(store.clone())
        .local_cache(cache.path())
        .max_deltas(1)
        .build()
        .await
        .expect("c");
    consumer.refresh_to(2).await.expect("to 2");
    check(&consumer.state().expect("state"), data, 1);
    let cached = files();
    assert_eq!(cached.len(), 2, "snapshot 1 and delta 1→2: {cached:?}");
    assert!(cached[0].starts_with("deltas_") && cached[1].starts_with("snapshots_"));
    // max_deltas 1: the next refresh compacts onto snapshot 3; the cache drops what it no longer needs.
    let held = consumer.state().expect("state");
    consumer.refresh().await.expect("to 3");
    check(&consumer.state().expect("state"), data, 2);
    let cached = files();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with("snapshots_00000000000000000003"));
    // The state built from the removed files still reads (the mappings outlive the files).
    check(&held, data, 1);
}

#[tokio::test]
async fn a_type_filter_loads_only_the_chosen_types() {
    let store = BlobStore::memory();
    let data = Dataset::new(200);
    publish(&store, data, 3, 2).await;
    let consumer = Consumer::builder(store.clone())
        .type_filter(|name| name == "Movie")
        .build()
        .await
        .expect("c");
    consumer.refresh_to(2).await.expect("to 2");
    let state = consumer.state().expect("state");
    let names: Vec<String> = state.types().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["Movie"]);
    assert!(matches!(
        state.table::<actor::Owned>(),
        Err(LookupError::UnknownType { .. })
    ));
    check(&state, data, 1);
}

#[tokio::test]
async fn a_cached_snapshot_verified_once_is_reopened_without_checksumming_again() {
    let store = BlobStore::memory();
    let data = Dataset::new(300);
    publish(&store, data, 2, 1).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let first = Consumer::builder(store.clone())
        .local_cache(cache.path())
        .build()
        .await
        .expect("c");
    first.refresh_to(2).await.expect("refresh");
    assert!(
        !first.state().expect("state").reopened_verified(),
        "first open verifies every section"
    );
    let markers: Vec<_> = std::fs::read_dir(cache.path())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".verified"))
        .collect();
    assert_eq!(markers.len(), 1, "{markers:?}");
    // A new consumer (a restarted process) on the same cache trusts the recorded verification.
    let second = Consumer::builder(store.clone())
        .local_cache(cache.path())
        .build()
        .await
        .expect("c");
    second.refresh_to(2).await.expect("refresh");
    let state = second.state().expect("state");
    assert!(state.reopened_verified());
    check(&state, data, 1);
    // A different file under the same name does not match the record: verified again.
    let cached = cache.path().join(markers[0].trim_end_matches(".verified"));
    let keys = store.list_blobs().await.expect("list");
    let other = keys
        .iter()
        .find(|k| {
            matches!(
                k,
                BlobKey::Snapshot {
                    state: StateId { version: 1, .. }
                }
            )
        })
        .expect("snapshot 1");
    std::fs::remove_file(&cached).expect("remove");
    std::fs::write(
        &cached,
        store.get_blob(other).await.expect("get").as_slice(),
    )
    .expect("replace");
    let third = Consumer::builder(store.clone())
        .local_cache(cache.path())
        .build()
        .await
        .expect("c");
    let swapped = third.refresh_to(2).await;
    assert!(
        matches!(swapped, Err(RefreshError::Open(OpenError::Corrupt { .. }))),
        "a blob that is not the one its key names: {swapped:?}"
    );
    assert_eq!(third.version(), None);
}

#[tokio::test]
async fn a_long_delta_path_never_takes_a_state_past_the_overlay_limit() {
    // max_deltas 200: a state at depth 199 is not compacted, but 60 more deltas would take it
    // past the overlay's limit (255); the refresh goes through snapshot 201 instead of failing.
    let store = BlobStore::memory();
    let producer = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .snapshot_every(100) // snapshots at 1, 101, 201
        .build()
        .await
        .expect("producer");
    let cycle = |v: u64| {
        move |cycle: &mut hollow::Cycle<'_>| {
            let mut message = capnp::message::Builder::new_default();
            let mut m = message.init_root::<movie::Builder>();
            m.set_id(1);
            m.set_title(format!("version {v}"));
            cycle.add::<movie::Owned>(m.into_reader())
        }
    };
    let plans = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&plans);
    let consumer = Consumer::builder(store.clone())
        .max_deltas(200)
        .listener(move |e: &RefreshEvent| {
            if let RefreshEvent::Started { plan, .. } = e {
                seen.lock().expect("lock").push(plan.clone());
            }
        })
        .build()
        .await
        .expect("consumer");
    for v in 1..=200u64 {
        producer.run_cycle(cycle(v)).await.expect("cycle");
        assert_eq!(consumer.refresh().await.expect("refresh"), Some(v));
    }
    let state = consumer.state().expect("state");
    assert_eq!((state.base_version(), state.overlay_depth()), (1, 199));
    for v in 201..=260u64 {
        producer.run_cycle(cycle(v)).await.expect("cycle");
    }
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(260));
    let plan = plans.lock().expect("lock").last().cloned().expect("a plan");
    assert!(plan.starts_with("snapshot 201, delta 201→202"), "{plan}");
    let state = consumer.state().expect("state");
    let title = state
        .table::<movie::Owned>()
        .expect("movies")
        .get_by_key(1u64)
        .expect("lookup")
        .expect("found")
        .get_title()
        .expect("title")
        .to_str()
        .expect("utf-8")
        .to_string();
    assert_eq!(title, "version 260");
}

// ---- Reliability: failures are retried, wake-ups are not lost, cached bytes are not trusted ----

#[tokio::test]
async fn a_blob_that_failed_once_is_retried_after_its_backoff_and_the_chain_followed_through_it() {
    use hollow::RetryBackoff;
    use hollow::testing::{Fault, FaultyStore, Operation};

    let faulty = FaultyStore::memory();
    let store = BlobStore::new(Arc::new(faulty.clone()), "ds");
    let data = Dataset::new(200);
    // One snapshot (v1), then deltas only: without the delta there is no way to v2.
    let producer = publish(&store, data, 1, 100).await;
    let consumer = Consumer::builder(store.clone())
        .retry_backoff(RetryBackoff {
            initial: std::time::Duration::ZERO,
            max: std::time::Duration::ZERO,
        })
        .build()
        .await
        .expect("consumer");
    consumer.refresh().await.expect("v1");
    producer.run_cycle(populate(data, 1)).await.expect("v2");
    // The delta's download fails once (a timed-out GET).
    faulty.inject(Fault::nth(1).on(Operation::Get).on_path("deltas/"));
    let failed = consumer.refresh().await;
    assert!(matches!(failed, Err(RefreshError::Store(_))), "{failed:?}");
    assert_eq!(consumer.version(), Some(1), "the old state keeps serving");
    // The next refresh tries the delta again and follows the chain through it.
    assert_eq!(consumer.refresh().await.expect("retried"), Some(2));
    check(&consumer.state().expect("state"), data, 1);

    // With the default backoff a blob that just failed is avoided only while another path
    // exists. Here there is none, so the next refresh tries it again at once rather than
    // waiting out its backoff (found by tests/network.rs: after an S3 outage, consumers stayed
    // on their old version for the whole backoff, up to 5 minutes, with the server back).
    let patient = Consumer::builder(store.clone())
        .build()
        .await
        .expect("consumer");
    patient.refresh_to(1).await.expect("v1");
    faulty.inject(Fault::nth(1).on(Operation::Get).on_path("deltas/"));
    assert!(patient.refresh().await.is_err());
    assert_eq!(patient.version(), Some(1));
    assert_eq!(patient.refresh().await.expect("tried again"), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_landing_during_a_refresh_is_not_lost() {
    use std::sync::Mutex;
    use std::sync::mpsc;

    let dir = tempfile::tempdir().expect("tempdir");
    let data = Dataset::new(100);
    // Producer and consumer use separate handles on one directory: the consumer learns of
    // announcements by polling only, as a consumer on another machine does.
    let producer_store = BlobStore::local(dir.path()).expect("store");
    let producer = publish(&producer_store, data, 1, 100).await;
    // The consumer's refresh to v2 pauses (in its listener) until v3 has been announced.
    let (paused_tx, paused_rx) = mpsc::channel::<()>();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let resume_rx = Mutex::new(resume_rx);
    let (served_tx, mut served_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let consumer = Consumer::builder(BlobStore::local(dir.path()).expect("store"))
        .refresh_policy(RefreshPolicy::OnAnnouncement {
            poll_interval: std::time::Duration::from_millis(20),
        })
        .listener(move |event: &RefreshEvent| match event {
            RefreshEvent::Started { to: 2, .. } => {
                let _ = paused_tx.send(());
                let _ = resume_rx.lock().map(|rx| rx.recv());
            }
            RefreshEvent::Succeeded { version, .. } => {
                let _ = served_tx.send(*version);
            }
            _ => {}
        })
        .build()
        .await
        .expect("consumer");
    assert_eq!(served_rx.recv().await, Some(1));
    producer.run_cycle(populate(data, 1)).await.expect("v2");
    tokio::task::spawn_blocking(move || paused_rx.recv())
        .await
        .expect("join")
        .expect("the consumer starts refreshing to v2");
    producer.run_cycle(populate(data, 2)).await.expect("v3");
    resume_tx.send(()).expect("resume");
    assert_eq!(served_rx.recv().await, Some(2));
    // v3 was announced while the refresh to v2 ran: the consumer must still get there.
    let reached = tokio::time::timeout(std::time::Duration::from_secs(20), served_rx.recv()).await;
    assert_eq!(
        reached.ok().flatten(),
        Some(3),
        "the consumer stayed behind"
    );
    check(&consumer.state().expect("state"), data, 2);
}

#[tokio::test]
async fn a_cached_blob_corrupted_after_download_is_an_error_never_a_wrong_answer() {
    let store = BlobStore::memory();
    let data = Dataset::new(300);
    publish(&store, data, 1, 1).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let first = Consumer::builder(store.clone())
        .local_cache(cache.path())
        .build()
        .await
        .expect("c");
    first.refresh().await.expect("refresh");
    drop(first);
    let cached = std::fs::read_dir(cache.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "blob"))
        .expect("a cached snapshot");
    assert!(
        std::fs::metadata(&cached)
            .expect("meta")
            .permissions()
            .readonly(),
        "cached blobs are read-only"
    );
    // Another program flips one byte of a movie title inside the cached file.
    let title = expected(data, 0).into_values().next().expect("a title");
    let mut bytes = std::fs::read(&cached).expect("read");
    let at = bytes
        .windows(title.len())
        .position(|w| w == title.as_bytes())
        .expect("the title is in the blob");
    bytes[at] ^= 0x20;
    let mut permissions = std::fs::metadata(&cached).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&cached, permissions).expect("chmod");
    std::fs::write(&cached, &bytes).expect("corrupt");

    let second = Consumer::builder(store.clone())
        .local_cache(cache.path())
        .build()
        .await
        .expect("c");
    second
        .refresh()
        .await
        .expect("the header still matches the record");
    let state = second.state().expect("state");
    assert!(state.reopened_verified());
    match state.table::<movie::Owned>() {
        Err(LookupError::Open(OpenError::Corrupt { .. })) => {}
        Err(other) => panic!("expected a corrupt section, got {other}"),
        Ok(movies) => panic!("a corrupted section was served ({} movies)", movies.len()),
    }
}

#[tokio::test]
async fn a_blob_truncated_or_rewritten_in_a_local_store_does_not_reach_a_default_consumer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::local(dir.path()).expect("store");
    let data = Dataset::new(300);
    publish(&store, data, 1, 1).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let with_cache = Consumer::builder(store.clone())
        .local_cache(cache.path())
        .build()
        .await
        .expect("c");
    let in_memory = Consumer::builder(store.clone()).build().await.expect("c");
    with_cache.refresh().await.expect("refresh");
    in_memory.refresh().await.expect("refresh");
    let snapshot = std::fs::read_dir(dir.path().join("snapshots"))
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .next()
        .expect("the snapshot file");
    assert!(
        std::fs::metadata(&snapshot)
            .expect("meta")
            .permissions()
            .readonly(),
        "published blobs are read-only"
    );
    // `cp other.blob snapshot.blob` (truncate, then write other bytes), then cut it short: a
    // state mapped in place would die of SIGBUS here or read the other bytes.
    let mut permissions = std::fs::metadata(&snapshot).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&snapshot, permissions).expect("chmod");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&snapshot)
        .expect("open");
    file.set_len(0).expect("truncate");
    file.set_len(4096).expect("grow with zeros");
    drop(file);
    for consumer in [&with_cache, &in_memory] {
        check(&consumer.state().expect("state"), data, 0);
    }
}

#[tokio::test]
async fn mapping_a_local_store_in_place_is_an_opt_in_that_reads_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::local(dir.path()).expect("store");
    let data = Dataset::new(300);
    let producer = publish(&store, data, 1, 1).await;
    let consumer = Consumer::builder(store.clone())
        .map_local_store_in_place(true)
        .build()
        .await
        .expect("c");
    consumer.refresh().await.expect("refresh");
    check(&consumer.state().expect("state"), data, 0);
    producer.run_cycle(populate(data, 1)).await.expect("v2");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(2));
    check(&consumer.state().expect("state"), data, 1);
}

#[tokio::test]
async fn a_private_memory_consumer_serves_copies_that_no_file_change_reaches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::local(dir.path()).expect("store");
    let data = Dataset::new(300);
    let producer = publish(&store, data, 1, 1).await;
    // Even with the store's files mapped in place, a private consumer copies each blob.
    let consumer = Consumer::builder(store.clone())
        .map_local_store_in_place(true)
        .memory_mode(hollow::MemoryMode::Private)
        .build()
        .await
        .expect("c");
    consumer.refresh().await.expect("refresh");
    check(&consumer.state().expect("state"), data, 0);
    // Truncating the snapshot file would kill a process mapping it (SIGBUS) on first touch of
    // a lost page; the private copy reads on, every record.
    let snapshot = std::fs::read_dir(dir.path().join("snapshots"))
        .expect("snapshots")
        .flatten()
        .next()
        .expect("a snapshot")
        .path();
    let mut permissions = std::fs::metadata(&snapshot).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&snapshot, permissions).expect("writable");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&snapshot)
        .and_then(|f| f.set_len(0))
        .expect("truncate");
    check(&consumer.state().expect("state"), data, 0);
    producer.run_cycle(populate(data, 1)).await.expect("v2");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(2));
    check(&consumer.state().expect("state"), data, 1);
}

/// 64 reader threads each take the consumer's current state again and again while the consumer
/// applies 1,000 refreshes forward and backward; every state a reader holds must be internally
/// consistent: its records are exactly its version's, every key lookup finds its record, and the
/// genres index answers what a scan answers. Synchronised by a barrier and a flag, no sleeps.
#[test]
fn sixty_four_readers_see_consistent_states_during_a_thousand_refreshes() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let store = BlobStore::memory();
    let data = Dataset::new(120);
    let consumer = Arc::new(runtime.block_on(async {
        publish(&store, data, 6, 3).await;
        let consumer = Consumer::builder(store.clone())
            .build()
            .await
            .expect("consumer");
        consumer.refresh_to(1).await.expect("to 1");
        consumer
    }));
    let expected: Arc<BTreeMap<u64, BTreeMap<u64, String>>> =
        Arc::new((1..=6).map(|v| (v, expected(data, v - 1))).collect());
    let done = Arc::new(AtomicBool::new(false));
    let started = Arc::new(std::sync::Barrier::new(65));
    let readers: Vec<_> = (0..64u64)
        .map(|r| {
            let (consumer, expected, done, started) = (
                Arc::clone(&consumer),
                Arc::clone(&expected),
                Arc::clone(&done),
                Arc::clone(&started),
            );
            std::thread::spawn(move || {
                started.wait();
                let mut rounds = 0u64;
                while !done.load(Ordering::Acquire) || rounds == 0 {
                    let state = consumer.state().expect("a state");
                    let want = &expected[&state.version()];
                    let movies_of = state.table::<movie::Owned>().expect("movies");
                    // A key lookup (a different key per reader and round) finds its record.
                    let ids: Vec<&u64> = want.keys().collect();
                    let id =
                        *ids[usize::try_from((r * 31 + rounds) % ids.len() as u64).unwrap_or(0)];
                    let m = movies_of.get_by_key(id).expect("lookup").expect("found");
                    assert_eq!(m.get_title().expect("t").to_str().expect("s"), want[&id]);
                    // Now and then: the whole state, and an index answer against a scan.
                    if rounds % 64 == r % 64 {
                        assert_eq!(&movies(&state).0, want, "version {}", state.version());
                        let by_index = movies_of
                            .matching("genres", "Drama")
                            .expect("index")
                            .count();
                        let by_scan = movies_of
                            .iter()
                            .filter(|(_, m)| {
                                m.get_genres()
                                    .expect("genres")
                                    .iter()
                                    .any(|g| g.ok().and_then(|g| g.to_str().ok()) == Some("Drama"))
                            })
                            .count();
                        assert_eq!(by_index, by_scan, "version {}", state.version());
                    }
                    rounds += 1;
                    // Sixty-four spinning readers would starve the one refreshing thread.
                    std::thread::yield_now();
                }
                rounds
            })
        })
        .collect();
    started.wait();
    runtime.block_on(async {
        for i in 0..1000u64 {
            let v = 1 + (i * 7 + 3) % 6;
            assert_eq!(consumer.refresh_to(v).await.expect("refresh"), v);
        }
    });
    done.store(true, Ordering::Release);
    let rounds: u64 = readers
        .into_iter()
        .map(|r| r.join().expect("a reader saw an inconsistent state"))
        .sum();
    assert!(rounds >= 64, "every reader read ({rounds} rounds)");
}

/// A consumer one version behind the head reads the delta the announcement names: no listing
/// of the store (a LIST per blob prefix on every refresh, on S3). Any other refresh — a pin,
/// a version asked for, more than one version behind — lists and plans as before.
#[tokio::test]
async fn a_refresh_one_version_behind_does_not_list_the_store() {
    use hollow::testing::{FaultyStore, Operation};

    let faulty = FaultyStore::memory();
    let store = BlobStore::new(Arc::new(faulty.clone()), "ds");
    let data = Dataset::new(200);
    let producer = publish(&store, data, 1, 100).await;
    let consumer = Consumer::builder(store.clone())
        .build()
        .await
        .expect("consumer");
    consumer.refresh().await.expect("v1");
    let lists = || faulty.calls_of(Operation::List) + faulty.calls_of(Operation::ListWithDelimiter);
    for c in 1..4 {
        producer.run_cycle(populate(data, c)).await.expect("cycle");
        let before = lists();
        assert_eq!(consumer.refresh().await.expect("refresh"), Some(c + 1));
        assert_eq!(lists(), before, "cycle {c}: listed the store");
        check(&consumer.state().expect("state"), data, c);
    }
    // Two versions behind: the chain is listed and followed.
    producer.run_cycle(populate(data, 4)).await.expect("cycle");
    producer.run_cycle(populate(data, 5)).await.expect("cycle");
    let before = lists();
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(6));
    assert!(lists() > before);
    check(&consumer.state().expect("state"), data, 5);
    // Back to a version: listed.
    assert_eq!(consumer.refresh_to(5).await.expect("refresh_to"), 5);
    check(&consumer.state().expect("state"), data, 4);
}

/// With `compact_after(3)`, a consumer that followed three deltas soon serves the same version
/// folded into a snapshot (no overlay), reading the same records and keys; a reader holding the
/// overlaid state keeps it; later deltas overlay the compacted state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_overlay_is_compacted_in_the_background() {
    let store = BlobStore::memory();
    let data = Dataset::new(500);
    let producer = publish(&store, data, 1, 100).await;
    // The test waits on the listener's Compacted event, not on a clock.
    let (compacted_tx, compacted_rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = Consumer::builder(store.clone())
        .compact_after(3)
        .listener(move |event: &hollow::RefreshEvent| {
            if let hollow::RefreshEvent::Compacted {
                version, deltas, ..
            } = event
            {
                let _ = compacted_tx.send((*version, *deltas));
            }
        })
        .build()
        .await
        .expect("consumer");
    let mut compacted_rx = compacted_rx;
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(1));
    for c in 1..3 {
        producer.run_cycle(populate(data, c)).await.expect("cycle");
        consumer.refresh().await.expect("refresh");
        assert_eq!(
            u64::try_from(consumer.state().expect("state").overlay_depth()).ok(),
            Some(c)
        );
    }
    producer.run_cycle(populate(data, 3)).await.expect("cycle");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(4));
    let overlaid = consumer.state().expect("state");
    assert_eq!(overlaid.overlay_depth(), 3);
    assert_eq!(
        compacted_rx.recv().await,
        Some((4, 3)),
        "compacted at version 4"
    );
    let compacted = consumer.state().expect("state");
    assert_eq!(compacted.overlay_depth(), 0);
    assert_eq!(compacted.state_id(), overlaid.state_id());
    check(&compacted, data, 3);
    check(&overlaid, data, 3);
    assert_eq!(movies(&compacted), movies(&overlaid));
    // The next delta overlays the compacted state.
    producer.run_cycle(populate(data, 4)).await.expect("cycle");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(5));
    let next = consumer.state().expect("state");
    assert_eq!(next.overlay_depth(), 1);
    check(&next, data, 4);
}
