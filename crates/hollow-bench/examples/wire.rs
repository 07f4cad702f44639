//! Blobs on the wire: the demo movies dataset (movies and actors, as `hollow demo` publishes
//! it) published to a local directory (raw blobs) and, when `HOLLOW_BENCH_S3` names one, to
//! an S3 URL (zstd envelopes): publish time of cycle 0 (snapshot) and of a ~1% cycle, bytes
//! stored per blob, and a consumer's cold start (download + decode + verify + open into a fresh
//! cache) and ~1% refresh; then the snapshot at other zstd levels.
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
    Ok(Run {
        publish,
        sizes,
        cold_start,
        refresh,
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
        "file://".to_string(),
        run(|| BlobStore::local(dir.path()).expect("local"), &data).await?,
    )];
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
            "  consumer: cold start (download + verify + open) {}, ~1% refresh {}",
            ms(r.cold_start),
            ms(r.refresh)
        );
    }
    // The snapshot at other levels (what `hollow_wire_encoding=zstd:N` would store).
    let local = BlobStore::local(dir.path())?;
    if let Some((key, _)) = runs[0]
        .1
        .sizes
        .iter()
        .find(|(k, _)| matches!(k, BlobKey::Snapshot { .. }))
    {
        let raw = local.get_blob(key).await?;
        for level in [1, 3, 9, 19] {
            let memory = BlobStore::memory().with_wire_encoding(WireEncoding::Zstd { level });
            let started = Instant::now();
            let stored = memory.put_blob(key, &raw).await?;
            println!(
                "snapshot at zstd:{level}: {} of {} raw, {}",
                mb(stored),
                mb(raw.len() as u64),
                ms(started.elapsed())
            );
        }
    }
    Ok(())
}
