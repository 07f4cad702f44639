//! Blobs on the wire: the demo movies dataset (movies and actors, as `hollow demo` publishes
//! it) published to a local directory (raw blobs), to local directories holding zstd and
//! columnar envelopes (docs/FORMAT.md §19a–b) and, when `HOLLOW_BENCH_S3` names one, to an S3
//! URL (the remote default): publish time of cycle 0 (snapshot) and of a ~1% cycle, bytes
//! stored per blob, a consumer's cold start (download + decode + verify + open into a fresh
//! cache), its ~1% refresh, and a second consumer's start on the same cache (a cache hit) to
//! its first primary-key lookup; then encode and decode times of the snapshot and the delta
//! per encoding, and the snapshot at other zstd levels.
//!
//! ```text
//! cargo run --release -p hollow-bench --example wire -- 1000000
//! HOLLOW_BENCH_S3=s3://hollow-ci/bench AWS_ENDPOINT=… cargo run --release -p hollow-bench --example wire -- 1000000
//! ```

use std::time::{Duration, Instant};

use hollow::{BlobKey, BlobStore, Consumer, CycleOutcome, Producer, WireEncoding};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};

fn mb(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / 1e6;
    format!("{mb:.2} MB")
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

struct Run {
    publish: [Duration; 2],
    sizes: Vec<(BlobKey, u64)>,
    cold_start: Duration,
    refresh: Duration,
    /// A second consumer on the same cache: start at version 1 (from the cache) and one
    /// primary-key lookup.
    cache_hit: Duration,
}

async fn run(
    store: impl Fn() -> BlobStore,
    data: &Dataset,
) -> Result<Run, Box<dyn std::error::Error>> {
    let producer = Producer::builder(store(), "movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .snapshot_every(100)
        .build()
        .await?;
    let mut publish = [Duration::ZERO; 2];
    for (cycle, slot) in (0u64..).zip(publish.iter_mut()) {
        let started = Instant::now();
        let outcome = producer
            .run_cycle(|c| {
                let mut message = capnp::message::Builder::new_default();
                for a in data.actors(cycle) {
                    a.build(message.init_root::<actor::Builder>());
                    c.add::<actor::Owned>(message.get_root_as_reader()?)?;
                }
                for m in data.movies(cycle) {
                    m.build(message.init_root::<movie::Builder>());
                    c.add::<movie::Owned>(message.get_root_as_reader()?)?;
                }
                Ok(())
            })
            .await?;
        *slot = started.elapsed();
        assert!(matches!(outcome, CycleOutcome::Published(_)));
    }
    let sizes = store().list_blob_sizes().await?;
    let cache = tempfile::tempdir()?;
    let consumer = Consumer::builder(store())
        .local_cache(cache.path())
        .build()
        .await?;
    let started = Instant::now();
    consumer.refresh_to(1).await?;
    let cold_start = started.elapsed();
    let started = Instant::now();
    consumer.refresh_to(2).await?;
    let refresh = started.elapsed();
    let probe = data.movies(0).nth(42).map_or(0, |m| m.id);
    let started = Instant::now();
    let second = Consumer::builder(store())
        .local_cache(cache.path())
        .build()
        .await?;
    second.refresh_to(1).await?;
    let state = second.state().ok_or("no state after a refresh")?;
    let found = state.table::<movie::Owned>()?.get_by_key(probe)?.is_some();
    let cache_hit = started.elapsed();
    assert!(found, "movie {probe} is in cycle 0");
    Ok(Run {
        publish,
        sizes,
        cold_start,
        refresh,
        cache_hit,
    })
}

fn kind(key: &BlobKey) -> &'static str {
    match key {
        BlobKey::Snapshot { .. } => "snapshot",
        BlobKey::Delta { .. } => "delta",
        BlobKey::ReverseDelta { .. } => "reverse delta",
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let movies: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let data = Dataset::new(movies);
    let dir = tempfile::tempdir()?;
    let mut runs = vec![(
        "file:// (raw)".to_string(),
        run(|| BlobStore::local(dir.path()).expect("local"), &data).await?,
    )];
    for encoding in [
        WireEncoding::Zstd { level: 3 },
        WireEncoding::Columnar { level: 3 },
    ] {
        let enveloped = tempfile::tempdir()?;
        let store = || {
            BlobStore::local(enveloped.path())
                .expect("local")
                .with_wire_encoding(encoding)
        };
        runs.push((format!("file:// ({encoding})"), run(store, &data).await?));
    }
    if let Ok(base) = std::env::var("HOLLOW_BENCH_S3") {
        let run_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let url = format!("{}/wire-{movies}-{run_id}", base.trim_end_matches('/'));
        let r = run(|| BlobStore::from_url(&url).expect("S3 URL"), &data).await?;
        runs.push((url, r));
    }
    println!("{movies} movies");
    for (name, r) in &runs {
        println!("{name}");
        println!(
            "  publish: cycle 0 (snapshot) {}, ~1% cycle {}",
            ms(r.publish[0]),
            ms(r.publish[1])
        );
        for (key, bytes) in &r.sizes {
            println!("  {:<14} {:>12} stored", kind(key), mb(*bytes));
        }
        println!(
            "  consumer: cold start (download + decode + verify + open) {}, ~1% refresh {}, \
             cache hit (start + first PK lookup) {}",
            ms(r.cold_start),
            ms(r.refresh),
            ms(r.cache_hit)
        );
    }
    // Encode (producer) and decode (consumer, into memory) time per encoding, same run.
    let local = BlobStore::local(dir.path())?;
    for (key, _) in &runs[0].1.sizes {
        if matches!(key, BlobKey::ReverseDelta { .. }) {
            continue;
        }
        let raw = local.get_blob(key).await?;
        for encoding in [
            WireEncoding::Zstd { level: 3 },
            WireEncoding::Columnar { level: 3 },
        ] {
            let memory = BlobStore::memory().with_wire_encoding(encoding);
            let started = Instant::now();
            let stored = memory.put_blob(key, &raw).await?;
            let encode = started.elapsed();
            let started = Instant::now();
            let back = memory.get_blob(key).await?;
            let decode = started.elapsed();
            assert_eq!(back.as_slice(), raw.as_slice());
            println!(
                "{} as {encoding}: {} of {} raw, encode {}, decode {}",
                kind(key),
                mb(stored),
                mb(raw.len() as u64),
                ms(encode),
                ms(decode)
            );
        }
    }
    // The snapshot at other levels (what `hollow_wire_encoding=zstd:N` would store).
    if let Some((key, _)) = runs[0]
        .1
        .sizes
        .iter()
        .find(|(k, _)| matches!(k, BlobKey::Snapshot { .. }))
    {
        let raw = local.get_blob(key).await?;
        let levels = std::env::var("HOLLOW_BENCH_LEVELS").unwrap_or_else(|_| "1,3,9".into());
        let levels = levels
            .split(',')
            .filter_map(|l| l.trim().parse::<i32>().ok());
        for (level, columnar) in levels.flat_map(|l| [(l, false), (l, true)]) {
            let encoding = if columnar {
                WireEncoding::Columnar { level }
            } else {
                WireEncoding::Zstd { level }
            };
            let memory = BlobStore::memory().with_wire_encoding(encoding);
            let started = Instant::now();
            let stored = memory.put_blob(key, &raw).await?;
            println!(
                "snapshot at {encoding}: {} of {} raw, {}",
                mb(stored),
                mb(raw.len() as u64),
                ms(started.elapsed())
            );
        }
    }
    Ok(())
}
