//! Secondary indexes on the movies dataset: lookup costs (primary key, a unique index, the
//! `genres` and `castIds` hash indexes the schema declares), index bytes, and what a consumer
//! pays to follow a ~1% delta with the indexes maintained (no rebuild).
//!
//! `cargo run --release -p hollow-bench --example indexes -- 1000000`

use std::sync::Arc;
use std::time::{Duration, Instant};

use hollow::{BlobStore, Producer, ReadDelta, ReadState};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};

fn missing(reason: &str) -> hollow::Error {
    hollow::CycleError::Validation {
        validator: "indexes example".into(),
        reason: reason.into(),
    }
    .into()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ns(d: Duration, ops: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let per = d.as_nanos() as f64 / ops.max(1) as f64;
    per
}

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
        .unique_index("Movie", "id")
        .snapshot_every(100)
        .build()
        .await?;
    let cycles: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2)
        .max(2);
    let mut reports = Vec::new();
    for cycle in 0..cycles {
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
        if let hollow::CycleOutcome::Published(r) = outcome {
            reports.push(r);
        }
    }
    for r in &reports {
        println!(
            "cycle → version {}: {:?} (snapshot {:?} B, delta {:?} B), timings {:?}",
            r.version, r.types, r.snapshot_bytes, r.delta_bytes, r.timings
        );
    }
    let (announcement, _) = store
        .announcement()
        .await?
        .ok_or_else(|| missing("nothing announced"))?;
    let keys = store.list_blobs().await?;
    let snapshot_key = keys
        .iter()
        .find(|k| matches!(k, hollow::BlobKey::Snapshot { .. }))
        .ok_or_else(|| missing("no snapshot"))?;
    let delta_key = keys
        .iter()
        .find(|k| {
            matches!(
                k,
                hollow::BlobKey::Delta {
                    from: hollow::StateId { version: 1, .. },
                    ..
                }
            )
        })
        .copied()
        .ok_or_else(|| missing("no delta from version 1"))?;
    let snapshot = store.get_blob(snapshot_key).await?;
    let delta_bytes = store.get_blob(&delta_key).await?;
    let state = ReadState::from_bytes(snapshot, "snapshot")?;
    for t in state.types() {
        println!(
            "{}: {} records, records {} B, primary-key index {} B, secondary {:?}",
            t.name, t.record_count, t.record_bytes, t.index_bytes, t.secondary_indexes
        );
    }
    let table = state.table::<movie::Owned>()?;
    let n = usize::try_from(movies).unwrap_or(0);
    let ops = 200_000usize;
    let ids: Vec<u64> = (0..ops as u64)
        .map(|i| 100_000 + (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7) % movies)
        .collect();
    let unique = table.index("id")?;
    let cast = table.index("castIds")?;
    let genres = table.index("genres")?;
    let mut pk = Vec::new();
    let mut uq = Vec::new();
    let mut actor_t = Vec::new();
    let mut actor_hits = 0usize;
    for _ in 0..5 {
        let started = Instant::now();
        let mut sum = 0u64;
        for id in &ids {
            sum += table
                .get_by_key(*id)?
                .map_or(0, |m| u64::from(m.get_year()));
        }
        pk.push(started.elapsed());
        let started = Instant::now();
        let mut sum2 = 0u64;
        for id in &ids {
            sum2 += unique.get(*id)?.map_or(0, |m| u64::from(m.get_year()));
        }
        uq.push(started.elapsed());
        assert_eq!(sum, sum2);
        let actors = (movies / 4).max(1);
        let started = Instant::now();
        actor_hits = 0;
        for i in 0..ops as u64 / 10 {
            actor_hits += cast.matching(1 + (i * 7919) % actors)?.count();
        }
        actor_t.push(started.elapsed());
    }
    println!(
        "PK lookup (reading year): {:.0} ns/op; unique index on id: {:.0} ns/op",
        ns(median(pk), ops),
        ns(median(uq), ops)
    );
    println!(
        "castIds lookup (all movies of one actor, {:.1} movies each): {:.0} ns/lookup",
        actor_hits as f64 / (ops / 10) as f64,
        ns(median(actor_t), ops / 10)
    );
    let mut genre_t = Vec::new();
    let mut genre_hits = 0;
    for _ in 0..5 {
        let started = Instant::now();
        genre_hits = genres.matching("Drama")?.count();
        genre_t.push(started.elapsed());
    }
    let g = median(genre_t);
    println!(
        "genres lookup \"Drama\": {genre_hits} movies in {:.2} ms ({:.1} ns/movie; {} movies in all)",
        g.as_secs_f64() * 1e3,
        ns(g, genre_hits),
        n
    );
    let delta = Arc::new(ReadDelta::from_bytes(delta_bytes, "delta")?);
    let upserts: usize = delta.types().iter().map(|t| t.upserted.len()).sum();
    let mut apply = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        let next = state.apply_delta(Arc::clone(&delta))?;
        apply.push(started.elapsed());
        drop(next);
    }
    println!(
        "consumer refresh over the delta ({upserts} upserted records, indexes maintained): {:.2} ms median",
        median(apply).as_secs_f64() * 1e3
    );
    let next = state.apply_delta(Arc::clone(&delta))?;
    // Every delta of the chain in turn: open (verify) and apply, timed separately.
    let mut chained = state.apply_delta(Arc::clone(&delta))?;
    for version in 2..announcement.version {
        let Some(key) = keys
            .iter()
            .find(|k| matches!(k, hollow::BlobKey::Delta { from, .. } if from.version == version))
        else {
            break;
        };
        let bytes = store.get_blob(key).await?;
        let started = Instant::now();
        let d = Arc::new(ReadDelta::from_bytes(bytes, "delta")?);
        let opened = started.elapsed();
        let started = Instant::now();
        chained = chained.apply_delta(d)?;
        println!(
            "delta {version} → {}: open {:.2} ms, apply {:.2} ms",
            version + 1,
            opened.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    let after = next.table::<movie::Owned>()?;
    let started = Instant::now();
    let drama_after = after.matching("genres", "Drama")?.count();
    println!(
        "after the delta: {drama_after} Drama movies ({:.2} ms)",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
