//! The producer: cycles with identity, deltas and reverse deltas checked by the reference
//! applier, validation and rollback, store failures, racing producers, restore.

mod common;

use hollow::StateId;
use hollow::{CycleError, OpenError, StoreError};
use std::sync::Arc;

use hollow::testing::{Fault, FaultyStore};
use hollow::{
    BlobKey, BlobStore, CycleOutcome, Error, MaxChangeRatio, MinRecordCount, Producer, ReadDelta,
    ReadState, WriteState,
};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};

fn movies_producer(store: BlobStore) -> hollow::ProducerBuilder {
    Producer::builder(store, "movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
}

/// Adds cycle `c` of the movies dataset.
fn populate(
    data: Dataset,
    c: u64,
) -> impl FnOnce(&mut hollow::Cycle<'_>) -> Result<(), hollow::CycleError> {
    move |cycle| {
        let mut message = capnp::message::Builder::new_default();
        for a in data.actors(c) {
            a.build(message.init_root::<actor::Builder>());
            cycle.add::<actor::Owned>(message.get_root_as_reader().expect("reader"))?;
        }
        for m in data.movies(c) {
            m.build(message.init_root::<movie::Builder>());
            cycle.add::<movie::Owned>(message.get_root_as_reader().expect("reader"))?;
        }
        Ok(())
    }
}

fn published(outcome: CycleOutcome) -> hollow::CycleReport {
    match outcome {
        CycleOutcome::Published(r) => r,
        other => panic!("expected a published cycle, got {other:?}"),
    }
}

/// Every record of every type with its ordinal, as JSON: the whole observable state.
fn dump(state: &ReadState) -> Vec<(String, u32, serde_json::Value)> {
    let mut out = Vec::new();
    for t in state.types() {
        for (o, r) in state.dyn_table(&t.name).expect("type").iter() {
            out.push((t.name.clone(), o, r.to_json().expect("json")));
        }
    }
    out
}

async fn snapshot_of(store: &BlobStore, version: u64) -> ReadState {
    let key = store
        .list_blobs()
        .await
        .expect("list")
        .into_iter()
        .find(|k| matches!(k, BlobKey::Snapshot { state: StateId { version: v, .. } } if *v == version))
        .expect("snapshot of the version");
    ReadState::from_bytes(store.get_blob(&key).await.expect("get"), &key.relative()).expect("open")
}

async fn announced_blob(
    store: &BlobStore,
    which: fn(&hollow::Announcement) -> Option<BlobKey>,
) -> ReadDelta {
    let (a, _) = store
        .announcement()
        .await
        .expect("read")
        .expect("announced");
    let key = which(&a).expect("blob named by the announcement");
    ReadDelta::from_bytes(store.get_blob(&key).await.expect("get"), &key.relative()).expect("parse")
}

/// Loads `snapshot` into a fresh movies write state, applies `delta`, and re-encodes.
fn apply(snapshot: &ReadState, delta: &ReadDelta) -> hollow::Result<ReadState> {
    let mut state = WriteState::builder("movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .build()?;
    state.load_snapshot(snapshot)?;
    state.apply_delta(delta)?;
    let current = state.current().expect("versioned");
    Ok(ReadState::from_bytes(
        state.write_snapshot(&current)?,
        "<applied>",
    )?)
}

#[tokio::test]
async fn movies_cycles_publish_deltas_that_the_reference_applier_checks() {
    let store = BlobStore::memory();
    let producer = movies_producer(store.clone())
        .snapshot_every(1)
        .build()
        .await
        .expect("producer");
    let data = Dataset::new(600);
    let first = published(
        producer
            .run_cycle(populate(data, 0))
            .await
            .expect("cycle 0"),
    );
    assert_eq!(first.version, 1);
    assert!(first.snapshot_bytes.is_some() && first.delta_bytes.is_none());
    let v1 = snapshot_of(&store, 1).await;
    let keep_id = 100_000u64 + 3;
    let ordinal_before = v1
        .table::<movie::Owned>()
        .expect("t")
        .ordinal_of_key(&[keep_id.into()])
        .expect("k");

    for c in 1..=5u64 {
        let report = published(producer.run_cycle(populate(data, c)).await.expect("cycle"));
        assert_eq!(report.version, c + 1);
        let movies = &report
            .types
            .iter()
            .find(|(n, _)| n == "Movie")
            .expect("Movie")
            .1;
        assert!(
            movies.added + movies.updated + movies.removed > 0,
            "cycle {c} changes movies: {movies:?}"
        );
        let prev = snapshot_of(&store, c).await;
        let next = snapshot_of(&store, c + 1).await;
        // Forward: previous snapshot + delta == next snapshot, record for record, ordinal for ordinal.
        let delta = announced_blob(&store, |a| a.delta).await;
        assert_eq!(
            dump(&apply(&prev, &delta).expect("apply delta")),
            dump(&next),
            "cycle {c} forward"
        );
        // Backward: next snapshot + reverse delta == previous snapshot.
        let reverse = announced_blob(&store, |a| a.reverse_delta).await;
        assert_eq!(
            dump(&apply(&next, &reverse).expect("apply reverse")),
            dump(&prev),
            "cycle {c} backward"
        );
        // A delta applied to the wrong state is refused.
        assert!(matches!(
            apply(&next, &delta),
            Err(Error::Open(OpenError::WrongState { .. }))
        ));
        // Every record of the generator is there.
        let expected: Vec<u64> = data.movies(c).map(|m| m.id).collect();
        let got: Vec<u64> = next
            .table::<movie::Owned>()
            .expect("t")
            .iter()
            .map(|(_, m)| m.get_id())
            .collect();
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected);
    }
    // An unchanged movie kept its ordinal through five cycles of adds, updates and removals.
    let last = snapshot_of(&store, 6).await;
    let movies = last.table::<movie::Owned>().expect("t");
    if let Some(o) = movies.ordinal_of_key(&[keep_id.into()]).expect("lookup") {
        assert_eq!(Some(o), ordinal_before);
    }
    // Identical cycle: nothing published.
    assert_eq!(
        producer.run_cycle(populate(data, 5)).await.expect("same"),
        CycleOutcome::Unchanged { version: 6 }
    );
    assert_eq!(store.list_blobs().await.expect("list").len(), 6 + 5 + 5);
}

#[tokio::test]
async fn empty_dataset_and_errors_that_publish_nothing() {
    let store = BlobStore::memory();
    let producer = movies_producer(store.clone())
        .build()
        .await
        .expect("producer");
    let r = published(producer.run_cycle(|_| Ok(())).await.expect("empty cycle"));
    assert_eq!(r.version, 1);
    assert_eq!(
        producer.run_cycle(|_| Ok(())).await.expect("again"),
        CycleOutcome::Unchanged { version: 1 }
    );

    // A duplicate key fails the cycle, naming the type and key; nothing is published.
    let dup = producer
        .run_cycle(|cycle| {
            let mut message = capnp::message::Builder::new_default();
            for _ in 0..2 {
                let mut m = message.init_root::<movie::Builder>();
                m.set_id(42);
                cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await;
    match dup {
        Err(CycleError::DuplicateKey { type_name, key }) => {
            assert_eq!((type_name.as_str(), key.as_str()), ("Movie", "42"))
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    assert_eq!(producer.version().await, Some(1));
    assert_eq!(
        store
            .announcement()
            .await
            .expect("read")
            .expect("announced")
            .0
            .version,
        1
    );
    // The next cycle is fine.
    let data = Dataset::new(50);
    assert_eq!(
        published(producer.run_cycle(populate(data, 0)).await.expect("cycle")).version,
        2
    );
}

#[tokio::test]
async fn validators_roll_back_and_the_next_cycle_is_correct() {
    let store = BlobStore::memory();
    let producer = movies_producer(store.clone())
        .snapshot_every(1)
        .validator(MaxChangeRatio {
            type_name: Some("Movie".into()),
            max_ratio: 0.2,
        })
        .validator(MinRecordCount {
            type_name: "Movie".into(),
            min: 10,
        })
        .build()
        .await
        .expect("producer");
    let data = Dataset::new(200);
    published(
        producer
            .run_cycle(populate(data, 0))
            .await
            .expect("cycle 0"),
    );
    // Dropping every movie breaks both rules: refused, rolled back.
    let refused = producer
        .run_cycle(|cycle| populate(Dataset::new(4), 0)(cycle))
        .await;
    assert!(
        matches!(refused, Err(CycleError::Validation { .. })),
        "{refused:?}"
    );
    assert_eq!(producer.version().await, Some(1));
    // The next cycle's delta starts from the announced state.
    published(
        producer
            .run_cycle(populate(data, 1))
            .await
            .expect("cycle 1"),
    );
    let delta = announced_blob(&store, |a| a.delta).await;
    let v1 = snapshot_of(&store, 1).await;
    assert_eq!(
        dump(&apply(&v1, &delta).expect("apply")),
        dump(&snapshot_of(&store, 2).await)
    );
}

#[tokio::test]
async fn incremental_cycles_upsert_and_delete_by_key() {
    let store = BlobStore::memory();
    let producer = movies_producer(store.clone())
        .snapshot_every(1)
        .build()
        .await
        .expect("producer");
    let data = Dataset::new(100);
    published(
        producer
            .run_cycle(populate(data, 0))
            .await
            .expect("cycle 0"),
    );
    let report = published(
        producer
            .run_incremental(|inc| {
                let mut message = capnp::message::Builder::new_default();
                let mut m = message.init_root::<movie::Builder>();
                m.set_id(100_005);
                m.set_title("Renamed");
                inc.upsert::<movie::Owned>(message.get_root_as_reader()?)?;
                let mut m = message.init_root::<movie::Builder>();
                m.set_id(7);
                m.set_title("Brand new");
                inc.upsert::<movie::Owned>(message.get_root_as_reader()?)?;
                assert!(inc.delete::<movie::Owned>(100_010u64)?);
                assert!(!inc.delete::<movie::Owned>(1u64)?, "absent key");
                Ok(())
            })
            .await
            .expect("incremental"),
    );
    let movies = report
        .types
        .iter()
        .find(|(n, _)| n == "Movie")
        .expect("Movie")
        .1;
    assert_eq!((movies.added, movies.updated, movies.removed), (1, 1, 1));
    let v2 = snapshot_of(&store, 2).await;
    let t = v2.table::<movie::Owned>().expect("t");
    assert_eq!(t.len(), 100);
    let title = |id: u64| {
        t.get_by_key(id)
            .expect("lookup")
            .map(|m| m.get_title().expect("t").to_str().expect("s").to_string())
    };
    assert_eq!(title(100_005).as_deref(), Some("Renamed"));
    assert_eq!(title(7).as_deref(), Some("Brand new"));
    assert_eq!(title(100_010), None);
    assert!(title(100_011).is_some());
    let delta = announced_blob(&store, |a| a.delta).await;
    assert_eq!(
        dump(&apply(&snapshot_of(&store, 1).await, &delta).expect("apply")),
        dump(&v2)
    );
}

#[tokio::test]
async fn two_producers_race_and_exactly_one_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::local(dir.path()).expect("store");
    let first = movies_producer(store.clone()).build().await.expect("a");
    published(
        first
            .run_cycle(populate(Dataset::new(50), 0))
            .await
            .expect("v1"),
    );
    let a = movies_producer(BlobStore::local(dir.path()).expect("store"))
        .build()
        .await
        .expect("a");
    let b = movies_producer(BlobStore::local(dir.path()).expect("store"))
        .build()
        .await
        .expect("b");
    let (ra, rb) = tokio::join!(
        a.run_cycle(populate(Dataset::new(60), 0)),
        b.run_cycle(populate(Dataset::new(70), 0))
    );
    let wins = [&ra, &rb]
        .iter()
        .filter(|r| matches!(r, Ok(CycleOutcome::Published(_))))
        .count();
    let conflicts = [&ra, &rb]
        .iter()
        .filter(|r| matches!(r, Err(CycleError::Conflict { .. })))
        .count();
    assert_eq!((wins, conflicts), (1, 1), "{ra:?} / {rb:?}");
    assert_eq!(
        store
            .announcement()
            .await
            .expect("read")
            .expect("announced")
            .0
            .version,
        2
    );
}

#[tokio::test]
async fn a_producer_that_lost_a_race_follows_the_winner_and_continues_its_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::local(dir.path()).expect("store");
    let (a, b) = (
        movies_producer(store.clone()).build().await.expect("a"),
        movies_producer(store.clone()).build().await.expect("b"),
    );
    published(
        a.run_cycle(populate(Dataset::new(50), 0))
            .await
            .expect("v1 by a"),
    );
    // b never saw v1: its first cycle loses the compare-and-swap …
    let lost = b.run_cycle(populate(Dataset::new(70), 0)).await;
    assert!(matches!(lost, Err(CycleError::Conflict { .. })), "{lost:?}");
    // The blobs of the lost cycle were removed: only the winner's v1 snapshot is left.
    let blobs = store.list_blobs().await.expect("list");
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    // … after which it follows the winner at once (no new producer needed) …
    assert_eq!(b.version().await, Some(1));
    // … and its next cycle continues the store's chain with a delta from v1.
    let v2 = published(
        b.run_cycle(populate(Dataset::new(70), 0))
            .await
            .expect("v2 by b"),
    );
    assert_eq!(v2.version, 2);
    assert!(v2.delta_bytes.is_some(), "a delta from the winner's v1");
    let delta = announced_blob(&store, |x| x.delta).await;
    let expected = snapshot_of(&store, 1).await;
    let via_delta = apply(&expected, &delta).expect("v1 + delta");
    let fresh = movies_producer(BlobStore::local(dir.path()).expect("store"))
        .build()
        .await
        .expect("restored at v2");
    assert_eq!(fresh.version().await, Some(2));
    let v2_records = dump(&via_delta);
    assert_eq!(
        v2_records.iter().filter(|(t, _, _)| t == "Movie").count(),
        70
    );

    // a learns of v2 through `resync` (or would on its next failed announcement).
    assert_eq!(a.version().await, Some(1));
    assert_eq!(a.resync().await.expect("resync"), Some(2));
    let v3 = published(
        a.run_cycle(populate(Dataset::new(60), 1))
            .await
            .expect("v3 by a"),
    );
    assert_eq!(v3.version, 3);
    // In step, a resync is one read of the announcement.
    assert_eq!(a.resync().await.expect("resync"), Some(3));
}

#[tokio::test]
async fn a_restored_producer_continues_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Dataset::new(300);
    {
        let producer = movies_producer(BlobStore::local(dir.path()).expect("store"))
            .snapshot_every(3)
            .build()
            .await
            .expect("p");
        for c in 0..4 {
            published(producer.run_cycle(populate(data, c)).await.expect("cycle"));
        }
    }
    // A new process: restore from snapshot 4 (cadence 3: versions 1 and 4) … or 1 + deltas.
    let store = BlobStore::local(dir.path()).expect("store");
    let producer = movies_producer(store.clone())
        .snapshot_every(100)
        .build()
        .await
        .expect("restored");
    assert_eq!(producer.version().await, Some(4));
    assert_eq!(
        producer
            .run_cycle(populate(data, 3))
            .await
            .expect("same data"),
        CycleOutcome::Unchanged { version: 4 }
    );
    published(
        producer
            .run_cycle(populate(data, 4))
            .await
            .expect("cycle 4"),
    );
    // Its first delta applies to version 4 (rebuilt by the reference applier from the chain).
    let mut state = WriteState::builder("movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .build()
        .expect("s");
    let keys = store.list_blobs().await.expect("list");
    let snap = keys
        .iter()
        .find(|k| {
            matches!(
                k,
                BlobKey::Snapshot {
                    state: StateId { version: 4, .. }
                }
            )
        })
        .expect("snapshot 4");
    state
        .load_snapshot(
            &ReadState::from_bytes(store.get_blob(snap).await.expect("get"), "s4").expect("open"),
        )
        .expect("load");
    let delta = announced_blob(&store, |a| a.delta).await;
    state
        .apply_delta(&delta)
        .expect("the restored producer's first delta applies");
    let expected: Vec<u64> = data.movies(4).map(|m| m.id).collect();
    assert_eq!(
        state.record_count("Movie"),
        Some(u32::try_from(expected.len()).expect("fits"))
    );
}

#[tokio::test]
async fn a_store_failure_on_any_call_of_a_publish_announces_nothing() {
    let data = Dataset::new(80);
    // Count the store calls of one publish, then fail each of them in turn.
    let calls_of_publish = {
        let store = FaultyStore::memory();
        let producer = movies_producer(BlobStore::new(Arc::new(store.clone()), "ds"))
            .build()
            .await
            .expect("p");
        published(producer.run_cycle(populate(data, 0)).await.expect("v1"));
        let before = store.calls();
        published(producer.run_cycle(populate(data, 1)).await.expect("v2"));
        store.calls() - before
    };
    assert!(
        calls_of_publish >= 3,
        "delta, reverse delta, announcement: {calls_of_publish}"
    );
    for n in 1..=calls_of_publish {
        let store = FaultyStore::memory();
        let blob_store = BlobStore::new(Arc::new(store.clone()), "ds");
        let producer = movies_producer(blob_store.clone())
            .snapshot_every(1)
            .build()
            .await
            .expect("p");
        published(producer.run_cycle(populate(data, 0)).await.expect("v1"));
        store.inject(Fault::nth(n));
        let failed = producer.run_cycle(populate(data, 1)).await;
        assert!(
            matches!(failed, Err(CycleError::Store(StoreError::Failed { .. }))),
            "call {n}: {failed:?}"
        );
        assert_eq!(
            blob_store
                .announcement()
                .await
                .expect("read")
                .expect("announced")
                .0
                .version,
            1,
            "call {n}"
        );
        assert_eq!(producer.version().await, Some(1));
        // A failed put of a blob leaves no orphan: the blobs written before it are removed.
        let failed_call = store
            .log()
            .into_iter()
            .find(|c| c.failed.is_some())
            .expect("the failed call is logged");
        if failed_call.operation == hollow::testing::Operation::Put
            && !failed_call.location.ends_with("announced.json")
        {
            let left: Vec<BlobKey> = blob_store.list_blobs().await.expect("list");
            assert!(
                left.iter().all(|k| k.to_state().version == 1),
                "call {n} ({}): orphans left: {left:?}",
                failed_call.location
            );
        }
        // The producer stays usable: the retry publishes version 2 with a correct delta.
        let report = published(producer.run_cycle(populate(data, 1)).await.expect("retry"));
        assert_eq!(report.version, 2);
        let delta = announced_blob(&blob_store, |a| a.delta).await;
        let v1 = snapshot_of(&blob_store, 1).await;
        let (a, _) = blob_store
            .announcement()
            .await
            .expect("read")
            .expect("announced");
        let v2 = ReadState::from_bytes(
            blob_store
                .get_blob(&a.snapshot.expect("snapshot"))
                .await
                .expect("get"),
            "v2",
        )
        .expect("open");
        assert_eq!(
            dump(&apply(&v1, &delta).expect("apply")),
            dump(&v2),
            "call {n}"
        );
    }
}

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/test_types_capnp.rs"]
mod test_types_capnp;

#[tokio::test]
async fn composite_keys_keep_their_ordinals_across_updates() {
    use test_types_capnp::place;
    let store = BlobStore::memory();
    let producer = Producer::builder(store.clone(), "places")
        .register::<place::Owned>()
        .snapshot_every(1)
        .build()
        .await
        .expect("p");
    let cycle = |names: &'static [(&'static str, u32, &'static str)]| {
        move |c: &mut hollow::Cycle<'_>| {
            let mut message = capnp::message::Builder::new_default();
            for (country, code, name) in names {
                let mut p = message.init_root::<place::Builder>();
                p.set_country(*country);
                p.set_code(*code);
                p.set_name(*name);
                c.add::<place::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        }
    };
    published(
        producer
            .run_cycle(cycle(&[("US", 1, "a"), ("US", 2, "b"), ("FR", 1, "c")]))
            .await
            .expect("v1"),
    );
    let ordinals = |state: &ReadState| {
        let t = state.table::<place::Owned>().expect("t");
        ["US", "US", "FR"]
            .iter()
            .zip([1u32, 2, 1])
            .map(|(c, n)| t.ordinal_of_key(&[(*c).into(), n.into()]).expect("lookup"))
            .collect::<Vec<_>>()
    };
    let before = ordinals(&snapshot_of(&store, 1).await);
    let report = published(
        producer
            .run_cycle(cycle(&[("FR", 1, "c2"), ("US", 2, "b"), ("US", 1, "a2")]))
            .await
            .expect("v2"),
    );
    assert_eq!(
        report.types[0].1,
        hollow::TypeChangeCounts {
            added: 0,
            updated: 2,
            removed: 0
        }
    );
    let after = snapshot_of(&store, 2).await;
    assert_eq!(ordinals(&after), before, "updates keep ordinals");
    let t = after.table::<place::Owned>().expect("t");
    let fr = t
        .get_by_key_values(&["FR".into(), 1u32.into()])
        .expect("lookup")
        .expect("found");
    assert_eq!(fr.get_name().expect("n").to_str().expect("s"), "c2");
    // A missing key field names the type and field; nothing is published.
    let missing = producer
        .run_cycle(|c| {
            let mut message = capnp::message::Builder::new_default();
            message.init_root::<place::Builder>().set_code(3);
            c.add::<place::Owned>(message.get_root_as_reader()?)
        })
        .await;
    match missing {
        Err(CycleError::MissingKey { type_name, field }) => {
            assert_eq!((type_name.as_str(), field.as_str()), ("Place", "country"))
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
    assert_eq!(producer.version().await, Some(2));
}

#[tokio::test]
async fn concurrent_cycles_on_one_producer_are_serialised() {
    let store = BlobStore::memory();
    let producer = movies_producer(store.clone())
        .snapshot_every(1)
        .build()
        .await
        .expect("p");
    published(
        producer
            .run_cycle(populate(Dataset::new(40), 0))
            .await
            .expect("v1"),
    );
    let (a, b) = tokio::join!(
        producer.run_cycle(populate(Dataset::new(50), 0)),
        producer.run_cycle(populate(Dataset::new(60), 0))
    );
    let mut versions = vec![
        published(a.expect("a")).version,
        published(b.expect("b")).version,
    ];
    versions.sort_unstable();
    assert_eq!(
        versions,
        [2, 3],
        "one after the other, each from the state the other announced"
    );
    // Each delta starts from the version before it.
    for v in [2u64, 3] {
        let keys = store.list_blobs().await.expect("list");
        assert!(keys.iter().any(
            |k| matches!(k, BlobKey::Delta { from, to } if from.version == v - 1 && to.version == v)
        ));
    }
}

#[tokio::test]
async fn a_restore_applies_every_delta_since_the_latest_snapshot_and_needs_each_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Dataset::new(200);
    {
        let producer = movies_producer(BlobStore::local(dir.path()).expect("store"))
            .snapshot_every(10)
            .build()
            .await
            .expect("p");
        for c in 0..5 {
            published(producer.run_cycle(populate(data, c)).await.expect("cycle"));
        }
    }
    // Snapshot 1, then deltas 1→2 … 4→5: the restored state is version 5 exactly.
    let store = BlobStore::local(dir.path()).expect("store");
    let producer = movies_producer(store.clone())
        .build()
        .await
        .expect("restored");
    assert_eq!(producer.version().await, Some(5));
    assert_eq!(
        producer
            .run_cycle(populate(data, 4))
            .await
            .expect("same data"),
        CycleOutcome::Unchanged { version: 5 }
    );
    drop(producer);
    // Without the forward delta 3→4 (its reverse delta still links the chain) restore fails.
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
    let failed = movies_producer(store).build().await;
    assert!(
        matches!(
            &failed,
            Err(CycleError::Restore {
                source: OpenError::Corrupt { .. }
            })
        ),
        "{:?}",
        failed.err()
    );
}

#[tokio::test]
async fn an_announcement_whose_response_is_lost_still_publishes_and_the_producer_continues() {
    use hollow::testing::Operation;

    let data = Dataset::new(1000);
    let store = FaultyStore::memory();
    let blob_store = BlobStore::new(Arc::new(store.clone()), "ds");
    let producer = movies_producer(blob_store.clone())
        .build()
        .await
        .expect("p");
    published(producer.run_cycle(populate(data, 0)).await.expect("v1"));
    // The announcement's write takes effect; its response is lost.
    store.inject(
        Fault::nth(1)
            .on(Operation::Put)
            .on_path("announced.json")
            .after(),
    );
    let v2 = published(producer.run_cycle(populate(data, 1)).await.expect("v2"));
    assert_eq!(store.failures(), 1, "the fault fired");
    let (announced, _) = blob_store
        .announcement()
        .await
        .expect("read")
        .expect("some");
    assert_eq!((announced.version, announced.tag), (v2.version, v2.tag));
    // The producer is in step with the store: the next cycle publishes normally.
    let v3 = published(producer.run_cycle(populate(data, 2)).await.expect("v3"));
    assert_eq!(v3.version, 3);
    let consumer = hollow::Consumer::builder(blob_store)
        .build()
        .await
        .expect("c");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(3));
}

#[tokio::test]
async fn a_producer_stopped_while_announcing_does_not_block_the_next_forever() {
    let data = Dataset::new(200);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::local(dir.path())
        .expect("store")
        .with_announce_lock_wait(std::time::Duration::from_millis(200));
    let producer = movies_producer(store.clone()).build().await.expect("p");
    published(producer.run_cycle(populate(data, 0)).await.expect("v1"));
    // Another producer took the announcement lock and was stopped (SIGSTOP) holding it.
    let lock_path = dir.path().join("announced.lock");
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(&lock_path)
        .expect("lock file");
    held.lock().expect("hold the lock");
    std::fs::write(&lock_path, "process 4242\n").expect("name the holder");
    let failed = producer.run_cycle(populate(data, 1)).await;
    let message = match failed {
        Err(e @ CycleError::Conflict { .. }) => e.to_string(),
        other => panic!("expected a conflict naming the holder, got {other:?}"),
    };
    assert!(
        message.contains("announced.lock") && message.contains("process 4242"),
        "{message}"
    );
    assert_eq!(
        producer.version().await,
        Some(1),
        "nothing announced, rolled back"
    );
    // Once the holder is gone, the same producer continues.
    drop(held);
    let v2 = published(producer.run_cycle(populate(data, 1)).await.expect("v2"));
    assert_eq!(v2.version, 2);
}

#[tokio::test]
async fn staging_files_of_killed_writers_are_removed_and_never_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::local(dir.path()).expect("store");
    let data = Dataset::new(30);
    let p = movies_producer(store.clone()).build().await.expect("p");
    published(p.run_cycle(populate(data, 0)).await.expect("v1"));
    // What a producer killed mid-write leaves: a blob's staging file (an hour old) and an
    // announcement's temporary.
    let staging = dir.path().join(
        "deltas/00000000000000000001-0000000000000001-00000000000000000002-0000000000000002.blob#7",
    );
    std::fs::create_dir_all(dir.path().join("deltas")).expect("mkdir");
    std::fs::write(&staging, b"half a blob").expect("write");
    let an_hour_ago = std::time::SystemTime::now() - hollow::BLOB_STAGING_MAX_AGE;
    std::fs::File::options()
        .write(true)
        .open(&staging)
        .and_then(|f| f.set_modified(an_hour_ago))
        .expect("age it");
    let recent = dir.path().join("snapshots/x.blob#1");
    std::fs::write(&recent, b"being written").expect("write");
    let temp = dir.path().join("announced.json.4242.tmp");
    std::fs::write(&temp, b"{\"half").expect("write");
    assert_eq!(
        store.list_blobs().await.expect("list").len(),
        1,
        "never listed"
    );

    // A producer starting on the store removes the old staging file, not a recent one …
    let p = movies_producer(store.clone()).build().await.expect("p");
    assert!(!staging.exists());
    assert!(
        recent.exists(),
        "a write in progress elsewhere is left alone"
    );
    // … and announcing (under the lock) removes announcement temporaries.
    published(
        p.run_cycle(populate(Dataset::new(40), 0))
            .await
            .expect("v2"),
    );
    assert!(!temp.exists());
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A cycle listener hears every outcome: published (with the cycle's report), unchanged, and
/// failed (an aborted populate, a refused incremental delete of a missing key).
#[tokio::test]
async fn cycle_listeners_hear_published_unchanged_and_failed_cycles() {
    let heard: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let log = heard.clone();
    let producer = movies_producer(BlobStore::memory())
        .listener(move |e: &hollow::CycleEvent<'_>| {
            let line = match e {
                hollow::CycleEvent::Published(r) => format!(
                    "published {} {:?}",
                    r.version,
                    r.types
                        .iter()
                        .map(|(n, c)| (n.as_str(), c.added))
                        .collect::<Vec<_>>()
                ),
                hollow::CycleEvent::Unchanged { version } => format!("unchanged {version}"),
                hollow::CycleEvent::Failed(e) => format!("failed {}", e.is_retryable()),
                _ => "other".to_string(),
            };
            log.lock().expect("lock").push(line);
        })
        .build()
        .await
        .expect("producer");
    let data = Dataset::new(20);
    producer.run_cycle(populate(data, 0)).await.expect("cycle");
    producer
        .run_cycle(populate(data, 0))
        .await
        .expect("same cycle");
    let failed = producer
        .run_cycle(|_| Err(CycleError::aborted(std::io::Error::other("no input"))))
        .await;
    assert!(failed.is_err());
    let heard = heard.lock().expect("lock");
    assert_eq!(heard.len(), 3, "{heard:?}");
    assert!(
        heard[0].starts_with("published 1 ") && heard[0].contains("(\"Movie\", 20)"),
        "{heard:?}"
    );
    assert_eq!(heard[1..], ["unchanged 1", "failed false"]);
}
