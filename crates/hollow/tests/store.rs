//! The store conformance suite (`hollow::testing::conformance`) on every backend this build
//! has: memory, a local directory (by path and by `file://` URL), prefixes (the `BlobStore`'s
//! own and `object_store`'s `PrefixStore`), and a `FaultyStore` wrapper; and `FaultyStore`
//! itself.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::TryStreamExt;
use hollow::BlobStore;
use hollow::testing::{Call, Fault, FaultyStore, Operation, Timing, conformance};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

#[tokio::test]
async fn memory() {
    // One `InMemory` per location, opened again by name.
    let mut stores: HashMap<String, Arc<InMemory>> = HashMap::new();
    conformance::run_all(|name| {
        let store = stores.entry(name.to_string()).or_default().clone();
        BlobStore::new(store, "")
    })
    .await;
}

/// The suite on stores that write blobs compressed (as remote URLs do).
#[tokio::test]
async fn memory_compressed() {
    let mut stores: HashMap<String, Arc<InMemory>> = HashMap::new();
    conformance::run_all(|name| {
        let store = stores.entry(name.to_string()).or_default().clone();
        BlobStore::new(store, "").with_wire_encoding(hollow::WireEncoding::Zstd { level: 3 })
    })
    .await;
}

/// A local directory holding compressed blobs (copied from a remote store, say) reads the same;
/// its envelopes are decoded, never mapped as blobs.
#[tokio::test]
async fn local_directory_compressed() {
    let dir = tempfile::tempdir().expect("temp dir");
    conformance::run_all(|name| {
        BlobStore::local(dir.path().join(name))
            .expect("local")
            .with_wire_encoding(hollow::WireEncoding::Zstd { level: 1 })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    conformance::run_all(|name| BlobStore::local(dir.path().join(name)).expect("local")).await;
}

#[tokio::test]
async fn local_directory_by_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    conformance::run_all(|name| {
        let url = format!("file://{}", dir.path().join(name).display());
        BlobStore::from_url(&url).expect("file URL")
    })
    .await;
}

#[tokio::test]
async fn prefixed() {
    // Every location a two-segment prefix of one shared store, next to an unrelated object.
    let memory = Arc::new(InMemory::new());
    memory
        .put(
            &Path::from("datasets/readme.txt"),
            PutPayload::from_static(b"x"),
        )
        .await
        .expect("put");
    conformance::run_all(|name| BlobStore::new(memory.clone(), &format!("datasets/{name}"))).await;
    conformance::conditional_requests(memory, &Path::from("datasets")).await;
}

/// The outside store `HOLLOW_CONFORMANCE_URL` names (a directory, or a URL this build's
/// `object_store` understands, e.g. `s3://bucket/prefix` with the `AWS_*` variables set: `.ci/run`
/// starts a SeaweedFS S3 server for it). Skipped when unset, except under CI, where it fails.
fn outside_store_url() -> Option<String> {
    match std::env::var("HOLLOW_CONFORMANCE_URL") {
        Ok(url) => Some(url.trim_end_matches('/').to_string()),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set HOLLOW_CONFORMANCE_URL (.ci/run starts an S3 server for it)"
            );
            eprintln!("HOLLOW_CONFORMANCE_URL is not set: skipped");
            None
        }
    }
}

/// The suite on the outside store, each run under a fresh prefix.
#[tokio::test]
async fn store_named_by_the_environment() {
    let Some(base) = outside_store_url() else {
        return;
    };
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let base = base.trim_end_matches('/').to_string();
    conformance::run_all(|name| {
        BlobStore::from_url(&format!("{base}/conformance-{run}/{name}")).expect("the store")
    })
    .await;
}

/// The suite on the outside store with S3's copy-if-not-exists by multipart copy (the
/// create-only step of a multipart blob upload), when the store is an S3 URL.
#[tokio::test]
async fn store_named_by_the_environment_with_multipart_copy() {
    let Some(base) = outside_store_url() else {
        return;
    };
    if !base.starts_with("s3://") {
        return;
    }
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let store = BlobStore::from_url_with_options(
        &format!("{base}/multipart-{run}"),
        [("aws_copy_if_not_exists", "multipart")],
    )
    .expect("the store");
    conformance::multipart_blobs(&store).await;
}

#[tokio::test]
async fn prefix_spellings_name_one_location() {
    let memory = Arc::new(InMemory::new());
    let a = BlobStore::new(memory.clone(), "datasets/movies");
    let b = BlobStore::new(memory.clone(), "/datasets//movies/");
    conformance::handles_share_a_location(&a, &b).await;
}

#[tokio::test]
async fn object_store_prefix_store() {
    let memory = Arc::new(InMemory::new());
    let prefixed: Arc<dyn ObjectStore> = Arc::new(PrefixStore::new(memory.clone(), "root"));
    conformance::run_all(|name| BlobStore::new(prefixed.clone(), name)).await;
    conformance::conditional_requests(prefixed, &Path::from("p")).await;
    let outside: Vec<_> = memory
        .list(None)
        .map_ok(|m| m.location)
        .try_filter(|p| std::future::ready(!p.as_ref().starts_with("root/")))
        .try_collect()
        .await
        .expect("list");
    assert_eq!(
        outside,
        Vec::<Path>::new(),
        "nothing outside the PrefixStore"
    );
}

#[tokio::test]
async fn faulty_store_passing_through() {
    let faulty = FaultyStore::memory();
    conformance::run_all(|name| BlobStore::new(Arc::new(faulty.clone()), name)).await;
    conformance::conditional_requests(Arc::new(faulty.clone()), &Path::from("c")).await;
    assert!(faulty.calls() > 50, "calls: {}", faulty.calls());
    assert_eq!(faulty.failures(), 0);
    for op in [
        Operation::Put,
        Operation::Get,
        Operation::List,
        Operation::Delete,
    ] {
        assert!(faulty.calls_of(op) > 0, "{op:?}");
    }
    assert_eq!(
        Operation::ALL
            .iter()
            .map(|&op| faulty.calls_of(op))
            .sum::<usize>(),
        faulty.calls()
    );
    assert_eq!(faulty.log().len(), faulty.calls());
}

#[tokio::test]
async fn failed_calls_surface_as_store_errors() {
    conformance::failed_calls(&FaultyStore::memory(), "").await;
    conformance::failed_calls(&FaultyStore::memory(), "a/b").await;
    let wrapped = FaultyStore::new(Arc::new(PrefixStore::new(InMemory::new(), "root")));
    conformance::failed_calls(&wrapped, "ds").await;
}

async fn put(store: &FaultyStore, path: &str) -> object_store::Result<()> {
    store
        .put(&Path::from(path), PutPayload::from_static(b"x"))
        .await
        .map(drop)
}

async fn exists(store: &FaultyStore, path: &str) -> bool {
    store.inner().head(&Path::from(path)).await.is_ok()
}

#[tokio::test]
async fn faulty_store_fails_the_nth_call_from_its_injection() {
    let store = FaultyStore::memory();
    put(&store, "a").await.expect("before any rule");
    store.inject(Fault::nth(3));
    put(&store, "b").await.expect("1st");
    assert!(store.get(&Path::from("a")).await.is_ok(), "2nd");
    let r = put(&store, "c").await;
    assert!(
        matches!(
            r,
            Err(object_store::Error::Generic {
                store: "FaultyStore",
                ..
            })
        ),
        "{r:?}"
    );
    assert!(
        !exists(&store, "c").await,
        "failed before reaching the store"
    );
    put(&store, "c").await.expect("once only");
    assert_eq!(store.calls(), 5);
    assert_eq!(store.calls_of(Operation::Put), 4);
    assert_eq!(store.calls_of(Operation::Get), 1);
    assert_eq!(store.failures(), 1);
    assert_eq!(store.pending(), 0);
    let log = store.log();
    assert_eq!(
        log[3],
        Call {
            operation: Operation::Put,
            location: "c".into(),
            failed: Some(Timing::Before),
        }
    );
    assert!(log.iter().filter(|c| c.failed.is_some()).count() == 1);
}

#[tokio::test]
async fn faulty_store_chooses_by_kind_and_key_and_times() {
    let store = FaultyStore::memory();
    store.inject(Fault::always().on(Operation::Get));
    put(&store, "a").await.expect("puts pass");
    assert!(store.get(&Path::from("a")).await.is_err());
    assert!(store.head(&Path::from("a")).await.is_err(), "head is a get");
    store.clear();
    assert!(store.get(&Path::from("a")).await.is_ok(), "cleared");

    store.inject(Fault::nth(2).on_path("announced").times(2));
    put(&store, "announced.json").await.expect("1st matching");
    put(&store, "other").await.expect("not matching");
    assert!(put(&store, "announced.json").await.is_err(), "2nd matching");
    assert!(
        store.get(&Path::from("announced.json")).await.is_err(),
        "3rd matching (times 2)"
    );
    assert!(store.get(&Path::from("announced.json")).await.is_ok());

    // Delete counts per location; list is one call.
    store.inject(Fault::nth(1).on(Operation::Delete));
    assert!(store.delete(&Path::from("a")).await.is_err());
    assert!(exists(&store, "a").await);
    store.delete(&Path::from("a")).await.expect("delete");
    assert!(!exists(&store, "a").await);
    assert_eq!(store.calls_of(Operation::Delete), 2);
    store.inject(Fault::nth(1).on(Operation::List));
    let listed: object_store::Result<Vec<_>> = store.list(None).try_collect().await;
    assert!(listed.is_err());
    let listed: Vec<_> = store.list(None).try_collect().await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(store.calls_of(Operation::List), 2);
}

#[tokio::test]
async fn faulty_store_fails_after_the_call_took_effect() {
    let store = FaultyStore::memory();
    store.inject(Fault::nth(1).on(Operation::Put).after());
    assert!(put(&store, "a").await.is_err());
    assert!(exists(&store, "a").await, "the put took effect");
    assert_eq!(store.log()[0].failed, Some(Timing::After));
    // A list fails after its entries.
    store.inject(Fault::nth(1).on(Operation::List).after());
    let mut stream = store.list(None);
    let first = stream.try_next().await.expect("the entry");
    assert_eq!(first.map(|m| m.location), Some(Path::from("a")));
    assert!(stream.try_next().await.is_err(), "then the error");
}

#[tokio::test]
async fn faulty_store_clones_share_counts_and_rules() {
    let store = FaultyStore::memory();
    let clone = store.clone();
    clone.inject(Fault::nth(1));
    assert!(put(&store, "a").await.is_err());
    assert_eq!(clone.calls(), 1);
    assert_eq!(clone.failures(), 1);
    store.clear_log();
    assert!(clone.log().is_empty());
    assert_eq!(clone.calls(), 1, "counts keep running");
    assert_eq!(format!("{store}"), "FaultyStore(InMemory)");
}

/// A producer publishes three cycles to the outside store (S3 in CI) and a consumer with a
/// local cache follows them, forward and back; blobs travel compressed and rest decompressed in
/// the cache.
#[tokio::test]
async fn a_producer_and_a_consumer_over_the_store_named_by_the_environment() {
    let Some(base) = outside_store_url() else {
        return;
    };
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let url = format!("{base}/end-to-end-{run}");
    let store = || BlobStore::from_url(&url).expect("store");
    assert!(matches!(
        store().wire_encoding(),
        hollow::WireEncoding::Columnar { .. }
    ));
    producer_then_consumer(store).await;
}

/// The same through an in-memory store configured as a remote one (compressed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_and_a_consumer_over_a_compressed_memory_store() {
    over_an_enveloping_memory_store(hollow::WireEncoding::Zstd { level: 3 }).await;
}

/// The same with the columnar encoding (the remote default): snapshots travel without their
/// indexes, deltas and snapshots column by column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_and_a_consumer_over_a_columnar_memory_store() {
    over_an_enveloping_memory_store(hollow::WireEncoding::Columnar { level: 3 }).await;
}

async fn over_an_enveloping_memory_store(encoding: hollow::WireEncoding) {
    let memory = Arc::new(InMemory::new());
    let store = || BlobStore::new(memory.clone(), "movies").with_wire_encoding(encoding);
    producer_then_consumer(store).await;
    // Every stored blob is an envelope.
    let stored: Vec<_> = memory
        .list(Some(&Path::from("movies/snapshots")))
        .try_collect()
        .await
        .expect("list");
    assert!(!stored.is_empty());
    for meta in stored {
        let bytes = memory
            .get(&meta.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        assert!(bytes.starts_with(&hollow::WIRE_MAGIC), "{}", meta.location);
    }
}

/// Publishes three cycles through `store()`, follows them with a consumer with a cache (forward
/// and back), and checks the cache holds every blob decompressed: a raw blob whose size is the
/// decoded one (a compressed store lists fewer bytes).
async fn producer_then_consumer(store: impl Fn() -> BlobStore) {
    use hollow::{Consumer, CycleOutcome, Producer};
    use hollow_movies::Dataset;
    use hollow_movies::movies_capnp::movie;

    let data = Dataset::new(300);
    let producer = Producer::builder(store(), "movies")
        .register::<movie::Owned>()
        .snapshot_every(2)
        .build()
        .await
        .expect("producer");
    for c in 0..3 {
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
        assert!(matches!(outcome, CycleOutcome::Published(_)));
    }
    let cache = tempfile::tempdir().expect("tempdir");
    let downloads = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = downloads.clone();
    let consumer = Consumer::builder(store().with_download_observer(
        move |e: &hollow::DownloadEvent| {
            if matches!(e, hollow::DownloadEvent::Finished { .. }) {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        },
    ))
    .local_cache(cache.path())
    .cache_keep_bytes(u64::MAX)
    .build()
    .await
    .expect("consumer");
    for (version, c) in [(3u64, 2u64), (1, 0), (2, 1), (3, 2)] {
        assert_eq!(
            consumer.refresh_to(version).await.expect("refresh"),
            version
        );
        let state = consumer.state().expect("state");
        let movies = state.table::<movie::Owned>().expect("movies");
        let mut ids: Vec<u64> = movies.iter().map(|(_, m)| m.get_id()).collect();
        ids.sort_unstable();
        let want: Vec<u64> = data.movies(c).map(|m| m.id).collect();
        assert_eq!(ids, want, "version {version}");
    }
    let listed = store().list_blob_sizes().await.expect("list");
    let compressed = !matches!(store().wire_encoding(), hollow::WireEncoding::Raw);
    let mut cached = 0;
    for (key, stored) in &listed {
        let path = cache.path().join(key.relative().replace('/', "_"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        cached += 1;
        assert!(
            bytes.starts_with(&hollow::format::MAGIC),
            "{key} is cached decoded"
        );
        if compressed {
            assert!(*stored < bytes.len() as u64, "{key}: {stored} stored");
        } else {
            assert_eq!(*stored, bytes.len() as u64, "{key}");
        }
    }
    assert!(cached >= 3, "{cached} cached");
    // Each blob was downloaded once (the cache kept them all), whatever the refreshes did.
    assert_eq!(downloads.load(std::sync::atomic::Ordering::Relaxed), cached);
}

/// Consumers in one process sharing a cache directory download the same blobs at the same time
/// without writing one temporary file; a temporary file a crashed process left is removed after
/// an hour, a recent one (another process's download in progress) is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_sharing_a_cache_directory() {
    use hollow::{Consumer, Producer};
    use hollow_movies::Dataset;
    use hollow_movies::movies_capnp::movie;

    let store = BlobStore::memory().with_wire_encoding(hollow::WireEncoding::Zstd { level: 1 });
    let data = Dataset::new(2000);
    let producer = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .build()
        .await
        .expect("producer");
    producer
        .run_cycle(|cycle| {
            let mut message = capnp::message::Builder::new_default();
            for m in data.movies(0) {
                m.build(message.init_root::<movie::Builder>());
                cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await
        .expect("cycle");
    let cache = tempfile::tempdir().expect("tempdir");
    let abandoned = cache.path().join(".snapshots_x.blob.1.0.tmp");
    let in_progress = cache.path().join(".snapshots_y.blob.2.0.tmp");
    for p in [&abandoned, &in_progress] {
        std::fs::write(p, b"partial").expect("write");
    }
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .and_then(|f| f.set_modified(old))
        .expect("age the file");
    let consumer = || async {
        Consumer::builder(store.clone())
            .local_cache(cache.path())
            .build()
            .await
            .expect("consumer")
    };
    let (a, b) = tokio::join!(consumer(), consumer());
    let (ra, rb) = tokio::join!(a.refresh(), b.refresh());
    assert_eq!(ra.expect("a"), Some(1));
    assert_eq!(rb.expect("b"), Some(1));
    for c in [&a, &b] {
        let state = c.state().expect("state");
        assert_eq!(
            state
                .table::<movie::Owned>()
                .expect("movies")
                .iter()
                .count(),
            data.movies(0).count()
        );
    }
    assert!(!abandoned.exists(), "a crashed download is cleaned up");
    assert!(in_progress.exists(), "a recent one is left alone");
}
