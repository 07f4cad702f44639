//! Consumer start-up from a local cache: a producer publishes the movies dataset (cycle 0) to an
//! in-memory store; consumers with the same cache directory then start one after the other.
//! The first downloads the snapshot into the cache and verifies every section; the next ones
//! reopen it on the recorded verification.
//!
//! `cargo run --release -p hollow-bench --example reopen -- 1000000`

use std::time::Instant;

use hollow::{BlobStore, Consumer, Producer};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};

#[tokio::main]
async fn main() -> hollow::Result<()> {
    let movies: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let store = BlobStore::memory();
    let data = Dataset::new(movies);
    let producer = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .build()
        .await?;
    producer
        .run_cycle(|cycle| {
            let mut message = capnp::message::Builder::new_default();
            for a in data.actors(0) {
                a.build(message.init_root::<actor::Builder>());
                cycle.add::<actor::Owned>(message.get_root_as_reader()?)?;
            }
            for m in data.movies(0) {
                m.build(message.init_root::<movie::Builder>());
                cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await?;
    let cache = tempfile::tempdir().map_err(|e| hollow::OpenError::Io {
        path: "tempdir".into(),
        source: e,
    })?;
    for start in 0..5 {
        let t = Instant::now();
        let consumer = Consumer::builder(store.clone())
            .local_cache(cache.path())
            .build()
            .await?;
        consumer.refresh().await?;
        let state = consumer.state().expect("refreshed");
        let found = state
            .table::<movie::Owned>()?
            .get_by_key(100_000u64)?
            .is_some();
        println!(
            "start {start}: consumer build + refresh + first primary-key lookup {:?} (reopened on a recorded verification: {}, found: {found})",
            t.elapsed(),
            state.reopened_verified()
        );
    }
    Ok(())
}
