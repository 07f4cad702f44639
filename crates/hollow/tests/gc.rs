//! Retention (`hollow::tools::gc`) on the conformance backends: memory, a local directory,
//! compressed memory, and the S3 server `HOLLOW_CONFORMANCE_URL` names (skipped without one,
//! except under CI). What it deletes is exactly what no retained version needs: retained
//! versions stay readable by a fresh consumer, the producer still restores, the pin's chain and
//! young blobs are never touched, and a dry run deletes nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hollow::tools::{GcOptions, GcReason, gc};
use hollow::{BlobKey, BlobStore, Consumer, CycleOutcome, Producer, StateId};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::movie;

async fn publish(store: BlobStore, data: &Dataset, cycles: std::ops::Range<u64>) {
    let producer = Producer::builder(store, "movies")
        .register::<movie::Owned>()
        .snapshot_every(3)
        .build()
        .await
        .expect("producer");
    for c in cycles {
        let outcome = producer
            .run_cycle(|cycle| {
                let mut message = capnp::message::Builder::new_default();
                for m in data.movies(c) {
                    m.build(message.init_root::<movie::Builder>());
                    cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
                }
                Ok(())
            })
            .await
            .expect("cycle");
        assert!(matches!(outcome, CycleOutcome::Published(_)), "cycle {c}");
    }
}

async fn keys(store: &BlobStore) -> BTreeSet<BlobKey> {
    store
        .list_blobs()
        .await
        .expect("list")
        .into_iter()
        .collect()
}

async fn readable(store: &BlobStore, version: u64) -> bool {
    let consumer = Consumer::builder(store.clone())
        .build()
        .await
        .expect("consumer");
    consumer.refresh_to(version).await.is_ok()
}

/// The id of the snapshot of `version` among `keys`.
fn k_id(keys: &BTreeSet<BlobKey>, version: u64) -> u64 {
    keys.iter()
        .find_map(|k| match k {
            BlobKey::Snapshot { state } if state.version == version => Some(state.tag),
            _ => None,
        })
        .expect("a snapshot of that version")
}

fn options(keep_versions: usize, delete: bool) -> GcOptions {
    GcOptions {
        keep_versions,
        min_age: Duration::ZERO,
        delete,
        ..GcOptions::default()
    }
}

/// The whole contract on one store (`open()` gives a new handle on it each time).
async fn retention(open: impl Fn() -> BlobStore) {
    let data = Dataset::new(1000);
    publish(open(), &data, 0..7).await;
    // An orphan: a failed cycle's blob.
    let orphan = BlobKey::Snapshot {
        state: StateId::new(99, 99),
    };
    let bytes = open()
        .get_blob(&open().list_blobs().await.expect("list")[0])
        .await
        .expect("get");
    open().put_blob(&orphan, &bytes).await.expect("put");
    let before = keys(&open()).await;

    // Young blobs are never deleted; every version published within min_age is retained.
    let young = gc(
        &open(),
        &GcOptions {
            keep_versions: 1,
            min_age: Duration::from_secs(3600),
            delete: true,
            ..GcOptions::default()
        },
    )
    .await
    .expect("gc");
    assert_eq!(young.deletable().count(), 0, "{young:?}");
    assert_eq!(young.oldest_retained, Some(1));
    assert_eq!(keys(&open()).await, before);

    // A dry run reports and deletes nothing.
    let dry = gc(&open(), &options(2, false)).await.expect("gc");
    assert!(!dry.deleted);
    assert_eq!(keys(&open()).await, before);
    assert_eq!(dry.head.map(|h| h.version), Some(7));
    assert_eq!(dry.oldest_retained, Some(6));
    let floor = dry.kept_from_snapshot.expect("a floor");
    assert!(floor <= 6 && floor > 1, "snapshot every 3 cycles: {floor}");
    assert!(
        dry.unneeded
            .iter()
            .any(|b| b.key == orphan && b.reason == GcReason::OffChain)
    );
    assert!(
        dry.unneeded
            .iter()
            .any(|b| b.reason == GcReason::BeforeRetention)
    );

    // --keep-snapshots 2: every version from the second newest snapshot of the chain on.
    let mut snapshots: Vec<u64> = before
        .iter()
        .filter_map(|k| match k {
            BlobKey::Snapshot { state } if *k != orphan => Some(state.version),
            _ => None,
        })
        .collect();
    snapshots.sort_unstable();
    assert!(snapshots.len() >= 3, "{snapshots:?}");
    let second_newest = snapshots[snapshots.len() - 2];
    let by_snapshots = gc(
        &open(),
        &GcOptions {
            keep_snapshots: Some(2),
            ..options(1, false)
        },
    )
    .await
    .expect("gc");
    assert_eq!(by_snapshots.oldest_retained, Some(second_newest));
    assert_eq!(by_snapshots.kept_from_snapshot, Some(second_newest));
    assert!(by_snapshots.kept.iter().any(|(k, _)| *k
        == BlobKey::Snapshot {
            state: StateId::new(second_newest, k_id(&before, second_newest))
        }));
    // More snapshots than the chain has: the whole chain.
    let all_snapshots = gc(
        &open(),
        &GcOptions {
            keep_snapshots: Some(100),
            ..options(1, false)
        },
    )
    .await
    .expect("gc");
    assert_eq!(all_snapshots.oldest_retained, Some(snapshots[0]));
    // --keep-since: everything here was published within the hour.
    let since = gc(
        &open(),
        &GcOptions {
            keep_since: Some(Duration::from_secs(3600)),
            ..options(1, false)
        },
    )
    .await
    .expect("gc");
    assert_eq!(since.oldest_retained, Some(1));
    assert!(
        since.deletable().all(|b| b.reason == GcReason::OffChain),
        "{since:?}"
    );
    assert_eq!(keys(&open()).await, before, "dry runs delete nothing");

    // The pin keeps its version reachable.
    open()
        .pin(
            hollow::tools::announced_chain(&open())
                .await
                .expect("chain")[1],
        )
        .await
        .expect("pin");
    let pinned = gc(&open(), &options(1, true)).await.expect("gc");
    assert!(pinned.deleted);
    assert_eq!(pinned.oldest_retained, Some(2));
    assert!(!keys(&open()).await.contains(&orphan), "the orphan went");
    assert!(readable(&open(), 2).await);
    open().unpin().await.expect("unpin");

    let report = gc(&open(), &options(2, true)).await.expect("gc");
    assert!(report.deleted, "{report:?}");
    let after = keys(&open()).await;
    let kept: BTreeSet<BlobKey> = report.kept.iter().map(|(k, _)| *k).collect();
    assert_eq!(after, kept);
    for version in floor..=7 {
        assert!(readable(&open(), version).await, "version {version}");
    }
    assert!(!readable(&open(), 1).await, "version 1 is gone");
    // The producer restores and continues.
    publish(open(), &data, 7..8).await;
    assert!(readable(&open(), 8).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_on_memory() {
    let memory = Arc::new(object_store::memory::InMemory::new());
    retention(|| BlobStore::new(memory.clone(), "movies")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_on_compressed_memory() {
    let memory = Arc::new(object_store::memory::InMemory::new());
    retention(|| {
        BlobStore::new(memory.clone(), "movies")
            .with_wire_encoding(hollow::WireEncoding::Zstd { level: 1 })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_on_a_local_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    retention(|| BlobStore::local(dir.path()).expect("local")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_on_the_store_named_by_the_environment() {
    let base = match std::env::var("HOLLOW_CONFORMANCE_URL") {
        Ok(url) => url.trim_end_matches('/').to_string(),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set HOLLOW_CONFORMANCE_URL"
            );
            eprintln!("HOLLOW_CONFORMANCE_URL is not set: skipped");
            return;
        }
    };
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let url = format!("{base}/gc-{run}");
    retention(|| BlobStore::from_url(&url).expect("store")).await;
}

#[tokio::test]
async fn nothing_announced_deletes_nothing() {
    let store = BlobStore::memory();
    let key = BlobKey::Snapshot {
        state: StateId::new(1, 1),
    };
    store
        .put_blob(&key, &hollow::BlobBytes::from_vec(vec![1, 2, 3]))
        .await
        .expect("put");
    let report = gc(&store, &options(1, true)).await.expect("gc");
    assert_eq!(report.head, None);
    assert_eq!(report.deletable().count(), 0);
    assert_eq!(keys(&store).await.len(), 1);
}
