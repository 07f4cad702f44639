//! # hollow-bench
//!
//! Side-by-side measurements of `hollow` against the figures in `docs/ANCHORS.md` (Netflix
//! Hollow) and against SQLite (rusqlite) and LMDB (heed) loaded with the *same* records of the
//! shared movies dataset, on the same machine, in the same run.
//!
//! * [`data`]: the dataset at a size (cycle 0: N movies + N/4 actors), parsed into plain Rust
//!   records once, plus precomputed random ordinals and keys.
//! * [`hollow_side`], [`sqlite`], [`lmdb`]: build, open and read kernels for each engine.
//! * [`measure`]: timing (medians), `/proc/self/statm` and a counting global allocator.
//! * [`anchors`]: the Netflix Hollow figures from `ANCHORS.md`, as constants.
//! * [`report`]: the [`report::Report`] of one run, rendered as markdown or JSON.
//! * [`run`]: runs everything for one [`Config`].
//!
//! The binary (`cargo run --release -p hollow-bench -- --movies 100000`) prints the report; the
//! criterion bench (`cargo bench -p hollow-bench`) times the micro operations at 100k movies.

pub mod anchors;
pub mod codec;
pub mod data;
pub mod deltas;
pub mod hollow_side;
pub mod lmdb;
pub mod measure;
pub mod pss;
pub mod report;
pub mod sqlite;

use std::time::Instant;

/// Error type of the benchmark library: every engine's error boxed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result type of the benchmark library.
pub type Result<T> = std::result::Result<T, Error>;

/// What one run measures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    /// Movies in cycle 0 (actors are a quarter of that).
    pub movies: u64,
    /// Rounds: every engine is measured once per round, in turn, and each figure's samples
    /// are pooled over the rounds, so load from other tenants spreads over all engines.
    pub rounds: usize,
    /// Repetitions of each read kernel (the median is reported).
    pub reps: usize,
    /// Repetitions of each build (the median is reported).
    pub build_reps: usize,
    /// Fresh opens timed for open → first primary-key lookup.
    pub open_runs: usize,
    /// Random reads per repetition of the by-ordinal kernels.
    pub ops: usize,
    /// Random primary-key lookups per repetition.
    pub lookup_ops: usize,
    /// Shard bits of the hollow write state.
    pub shard_bits: u8,
    /// Skip SQLite and LMDB (hollow only).
    pub hollow_only: bool,
    /// Measure reads after N deltas against fresh snapshots ([`deltas`]).
    pub delta_reads: bool,
    /// Only the reads after N deltas (no rounds over the engines).
    pub deltas_only: bool,
}

impl Config {
    /// Defaults for `movies` movies: enough operations to amortise timer overhead while keeping a
    /// 1M-movie run to a few minutes on two cores.
    pub fn new(movies: u64) -> Self {
        Self {
            movies,
            rounds: 3,
            reps: 3,
            build_reps: 1,
            open_runs: 7,
            ops: 1_000_000,
            lookup_ops: 200_000,
            shard_bits: hollow::DEFAULT_SHARD_BITS,
            hollow_only: false,
            delta_reads: true,
            deltas_only: false,
        }
    }
}

/// Runs every measurement of `config`, reporting progress lines to `progress`.
pub fn run(config: &Config, progress: &mut dyn FnMut(&str)) -> Result<report::Report> {
    let started = Instant::now();
    let dir = tempfile::Builder::new().prefix("hollow-bench").tempdir()?;
    progress(&format!("generating {} movies", config.movies));
    let data = data::Records::generate(config.movies, config.ops, config.lookup_ops);
    progress(&format!(
        "generated {} movies + {} actors in {:.2} s",
        data.movies.len(),
        data.actors.len(),
        started.elapsed().as_secs_f64()
    ));

    let mut hollow: Option<hollow_side::HollowReport> = None;
    let mut sqlite: Option<report::EngineReport> = None;
    let mut lmdb: Option<report::EngineReport> = None;
    let rounds = if config.deltas_only {
        1
    } else {
        config.rounds.max(1)
    };
    for round in 1..=rounds {
        progress(&format!("round {round} of {}", config.rounds.max(1)));
        let h = hollow_side::measure(config, &data, dir.path(), progress)?;
        match &mut hollow {
            Some(first) => first.pool(&h),
            None => hollow = Some(h),
        }
        if config.hollow_only || config.deltas_only {
            continue;
        }
        let s = sqlite::measure(config, &data, dir.path(), progress)?;
        match &mut sqlite {
            Some(first) => first.pool(&s),
            None => sqlite = Some(s),
        }
        let l = lmdb::measure(config, &data, dir.path(), progress)?;
        match &mut lmdb {
            Some(first) => first.pool(&l),
            None => lmdb = Some(l),
        }
    }
    let hollow = hollow.ok_or("no round ran")?;
    let deltas = if config.delta_reads {
        progress("hollow: reads after N deltas");
        Some(deltas::measure(config, &data, dir.path(), progress)?)
    } else {
        None
    };
    Ok(report::Report {
        config: config.clone(),
        machine: report::Machine::detect(),
        movies: data.movies.len() as u64,
        actors: data.actors.len() as u64,
        hollow,
        sqlite,
        lmdb,
        deltas,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}
