//! Reads after N deltas: a consumer that followed N ~1% deltas from a snapshot against the same
//! state opened from a fresh snapshot, kernel by kernel.
//!
//! A producer (local store in the run's directory, a snapshot every cycle so that each
//! version has one to compare with) publishes cycle 0 of the dataset and then the dataset's
//! next cycles (each changes about 1% of the movies: new ones, removed ones, changed ones).
//! The overlaid state is the cycle-0 snapshot (mapped) with N deltas applied; the fresh state is
//! version N's snapshot (mapped). Both are read by the same kernels, alternately.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hollow::{BlobStore, Producer, ReadDelta, ReadState};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::movie;

use crate::data::Records;
use crate::hollow_side::{Movies, lookup_ids, read_ids, read_titles, scan_get, scan_iter};
use crate::measure::{self, Stat};
use crate::{Config, Result};

/// The read kernels on one state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadFigures {
    /// Full scan via `iter()` (ns/record).
    pub scan_iter_ns: Stat,
    /// Full scan via `get(0..capacity)` (ns/record).
    pub scan_get_ns: Stat,
    /// Random `id` read by ordinal (ns/op).
    pub read_id_ns: Stat,
    /// Random `title` read by ordinal (ns/op).
    pub read_title_ns: Stat,
    /// Primary-key lookup reading `id` (ns/op).
    pub pk_lookup_ns: Stat,
    /// `castIds` hash-index lookup: every movie of one actor, reading `id` (ns/lookup).
    pub index_lookup_ns: Stat,
}

/// One depth: the overlaid state and the fresh one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DepthFigures {
    /// Deltas applied to the cycle-0 snapshot.
    pub deltas: usize,
    /// Records of the last delta (upserted + removed, movies).
    pub last_delta_changes: usize,
    /// `apply_delta` of the last delta onto the state at N − 1 deltas (ms of on-CPU time; the
    /// refresh path).
    pub refresh_ms: Stat,
    /// The state with N deltas overlaid.
    pub overlaid: ReadFigures,
    /// The same version opened from its own snapshot.
    pub fresh: ReadFigures,
    /// `ReadState::compacted` of the overlaid state (ms, one run; what a consumer with
    /// `compact_after` spends in the background).
    pub compact_ms: f64,
    /// The compacted state.
    pub compacted: ReadFigures,
    /// `apply_delta` of the last delta onto the state at N − 1 deltas compacted (ms of on-CPU
    /// time): the refresh of a consumer with `compact_after(1)` whose compaction kept up.
    pub refresh_compacted_ms: Stat,
    /// The state at N − 1 deltas compacted, with the Nth delta overlaid: what a consumer with
    /// `compact_after(1)` serves from the Nth refresh until its compaction lands.
    pub compacted_plus_one: ReadFigures,
}

/// The "reads after N deltas" section.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeltaReport {
    /// One entry per depth measured.
    pub depths: Vec<DepthFigures>,
    /// Producing the chain (s), for the record.
    pub produce_seconds: f64,
}

/// Depths measured.
pub const DEPTHS: [usize; 4] = [1, 5, 10, 32];

/// Every movie of one actor through the `castIds` index, for `actors` actor ids.
#[inline(never)]
pub fn index_lookups(table: &Movies<'_>, actors: &[u64]) -> Result<u64> {
    let index = table.index("castIds")?;
    if index.source() != hollow::IndexSource::Shipped {
        return Err("the castIds index is not shipped".into());
    }
    let mut sum = 0u64;
    for &a in actors {
        for m in index.matching(a)? {
            sum = sum.wrapping_add(m.get_id());
        }
    }
    Ok(sum)
}

fn cpu(ops: usize, f: &mut dyn FnMut() -> Result<u64>) -> Result<Stat> {
    measure::try_cpu_ns_per_op(1, ops, f)
}

fn kernels(
    config: &Config,
    data: &Records,
    actors: &[u64],
    tables: &[&Movies<'_>],
) -> Result<Vec<ReadFigures>> {
    let overlaid = tables.first().ok_or("no table")?;
    let reps = config.reps.max(1);
    let ords = black_box(&data.ordinals[..]);
    let ids = black_box(&data.ids[..]);
    let n = overlaid.len() as usize;
    let ops = ords.len();
    let mut figures = Vec::new();
    // Alternate the states per kernel so that load from other tenants hits them alike.
    let mut runs: Vec<Vec<[Stat; 6]>> = vec![Vec::new(); tables.len()];
    for _ in 0..reps {
        for (table, out) in tables.iter().zip(runs.iter_mut()) {
            let table = *table;
            out.push([
                cpu(n, &mut || Ok(scan_iter(table)))?,
                cpu(n, &mut || Ok(scan_get(table)))?,
                cpu(ops, &mut || Ok(read_ids(table, ords)))?,
                cpu(ops, &mut || Ok(read_titles(table, ords) as u64))?,
                cpu(ids.len(), &mut || lookup_ids(table, ids))?,
                cpu(actors.len(), &mut || index_lookups(table, actors))?,
            ]);
        }
    }
    for runs in runs {
        let pick = |k: usize| {
            Stat::of(
                runs.iter()
                    .flat_map(|r| r[k].samples.iter().copied())
                    .collect(),
            )
        };
        figures.push(ReadFigures {
            scan_iter_ns: pick(0),
            scan_get_ns: pick(1),
            read_id_ns: pick(2),
            read_title_ns: pick(3),
            pk_lookup_ns: pick(4),
            index_lookup_ns: pick(5),
        });
    }
    Ok(figures)
}

/// Removes every snapshot blob under the store directory `dir` (files under a `snapshots`
/// directory); the producer keeps its state in memory and never reads them back.
fn remove_snapshots(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "snapshots") {
            for blob in std::fs::read_dir(&path)? {
                let blob = blob?.path();
                if blob.is_file() {
                    std::fs::remove_file(&blob)?;
                }
            }
        } else {
            remove_snapshots(&path)?;
        }
    }
    Ok(())
}

/// On-CPU time of `f` when the kernel reports it (as the read kernels), else wall time.
fn cpu_time<T>(f: impl FnOnce() -> T) -> (T, std::time::Duration) {
    let cpu = measure::thread_cpu_ns();
    let (out, took) = measure::time(f);
    let took = match (cpu, measure::thread_cpu_ns()) {
        (Some(a), Some(b)) => std::time::Duration::from_nanos(b.saturating_sub(a)),
        _ => took,
    };
    (out, took)
}

/// Publishes the chain and measures every depth of [`DEPTHS`].
pub fn measure(
    config: &Config,
    data: &Records,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<DeltaReport> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure_async(config, data, dir, progress))
}

async fn measure_async(
    config: &Config,
    data: &Records,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<DeltaReport> {
    let store_dir = dir.join("delta-store");
    std::fs::create_dir_all(&store_dir)?;
    let store = BlobStore::local(&store_dir)?;
    let dataset = Dataset::new(config.movies);
    let producer = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .hash_index("Movie", "castIds")
        .snapshot_every(1)
        .build()
        .await?;
    let deepest = DEPTHS.iter().copied().max().unwrap_or(0);
    let started = Instant::now();
    let mut deltas = Vec::new();
    let mut fresh_paths = Vec::new();
    for depth in 0..=deepest {
        let cycle = u64::try_from(depth)?;
        producer
            .run_cycle(|c| {
                let mut message = capnp::message::Builder::new_default();
                for m in dataset.movies(cycle) {
                    m.build(message.init_root::<movie::Builder<'_>>());
                    c.add::<movie::Owned>(message.get_root_as_reader()?)?;
                }
                Ok(())
            })
            .await?;
        let (a, _) = store.announcement().await?.ok_or("nothing announced")?;
        if depth == 0 || DEPTHS.contains(&depth) {
            let key = a.snapshot.ok_or("no snapshot")?;
            let path = dir.join(format!("fresh-{depth}.blob"));
            std::fs::write(&path, store.get_blob(&key).await?.as_slice())?;
            fresh_paths.push((depth, path));
        }
        if let Some(key) = a.delta {
            let bytes = store.get_blob(&key).await?;
            deltas.push(Arc::new(ReadDelta::from_bytes(bytes, "delta")?));
        }
        // Snapshots are kept only where copied above: 33 of them at 1M would fill the disk.
        remove_snapshots(&store_dir)?;
        progress(&format!("hollow deltas: published version {}", a.version));
    }
    let produce_seconds = started.elapsed().as_secs_f64();
    drop(producer);
    drop(store);
    std::fs::remove_dir_all(&store_dir)?;

    let base_path = &fresh_paths.first().ok_or("no cycle-0 snapshot")?.1;
    let actor_count = (config.movies / 4).max(1);
    let actors: Vec<u64> = (0..20_000u64)
        .map(|i| 1 + (i.wrapping_mul(7919)) % actor_count)
        .collect();
    let mut depths = Vec::new();
    let mut state = Arc::new(ReadState::open(base_path)?);
    let mut applied = 0usize;
    for &(depth, ref path) in fresh_paths.iter().skip(1) {
        while applied + 1 < depth {
            state = Arc::new(state.apply_delta(Arc::clone(&deltas[applied]))?);
            applied += 1;
        }
        let last = Arc::clone(deltas.get(applied).ok_or("missing delta")?);
        let mut refresh = Vec::new();
        for _ in 0..9 {
            let (next, took) = cpu_time(|| state.apply_delta(Arc::clone(&last)));
            refresh.push(took);
            drop(black_box(next?));
        }
        // A consumer with `compact_after(1)` whose compaction kept up: the state at N − 1
        // compacted, then the Nth delta overlaid on it.
        let previous = state.compacted()?;
        let mut refresh_compacted = Vec::new();
        for _ in 0..9 {
            let (next, took) = cpu_time(|| previous.apply_delta(Arc::clone(&last)));
            refresh_compacted.push(took);
            drop(black_box(next?));
        }
        let plus_one = previous.apply_delta(Arc::clone(&last))?;
        drop(previous);
        let next = Arc::new(state.apply_delta(Arc::clone(&last))?);
        applied += 1;
        state = next;
        if state.overlay_depth() != depth {
            return Err(format!("overlay depth {} at {depth}", state.overlay_depth()).into());
        }
        let fresh = ReadState::open(path)?;
        measure::warm_page_cache(path)?;
        let (to, tf) = (
            state.table::<movie::Owned>()?,
            fresh.table::<movie::Owned>()?,
        );
        if scan_iter(&to) != scan_iter(&tf) || to.len() != tf.len() {
            return Err(
                format!("the overlaid state at {depth} deltas differs from its snapshot").into(),
            );
        }
        let (compacted, took) = measure::time(|| state.compacted());
        let compacted = compacted?;
        let tc = compacted.table::<movie::Owned>()?;
        let tp = plus_one.table::<movie::Owned>()?;
        if scan_iter(&tp) != scan_iter(&tf) {
            return Err(format!("the compacted + 1 state at {depth} differs").into());
        }
        progress(&format!("hollow deltas: reads after {depth} deltas"));
        let mut figures = kernels(config, data, &actors, &[&to, &tf, &tc, &tp])?.into_iter();
        let (Some(overlaid), Some(fresh_figures), Some(compacted_figures), Some(plus_one_figures)) = (
            figures.next(),
            figures.next(),
            figures.next(),
            figures.next(),
        ) else {
            return Err("missing figures".into());
        };
        let changes = last
            .types()
            .iter()
            .find(|t| t.name == "Movie")
            .map_or(0, |t| t.upserted.len() + t.removed.len());
        depths.push(DepthFigures {
            deltas: depth,
            last_delta_changes: changes,
            refresh_ms: measure::ms(&refresh),
            overlaid,
            fresh: fresh_figures,
            compact_ms: took.as_secs_f64() * 1e3,
            compacted: compacted_figures,
            refresh_compacted_ms: measure::ms(&refresh_compacted),
            compacted_plus_one: plus_one_figures,
        });
    }
    Ok(DeltaReport {
        depths,
        produce_seconds,
    })
}

impl DeltaReport {
    /// The section as markdown: per depth and kernel, overlaid and fresh medians and their ratio.
    pub fn to_markdown(&self, out: &mut String) {
        use crate::report::num;
        use std::fmt::Write as _;
        out.push_str(
            "\n#### Reads after N deltas\n\nA state that followed N ~1% deltas from the cycle-0 \
             snapshot (overlaid) against the same version opened from its own snapshot (fresh), \
             both mapped; medians of on-CPU time per operation (the machine is shared: wall time counts waiting for a CPU), kernels alternated. Target: overlaid ÷ fresh ≤ 1.15×; refresh \
             (`apply_delta` of the last delta, on-CPU time) ≤ 3 ms.\n\n\
             | deltas | refresh (ms) | iter scan (ns/rec) | get(0..cap) scan (ns/rec) | random id (ns) \
             | random title (ns) | PK lookup (ns) | castIds lookup (ns) |\n\
             |--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        let compacted = |o: &Stat, f: &Stat| format!("{}×", num(o.median / f.median));
        let cell = |o: &Stat, f: &Stat| {
            format!(
                "{} / {} = {}×",
                num(o.median),
                num(f.median),
                num(o.median / f.median)
            )
        };
        for d in &self.depths {
            let (o, f) = (&d.overlaid, &d.fresh);
            let _ = writeln!(
                out,
                "| {} ({} changes) | {} | {} | {} | {} | {} | {} | {} |",
                d.deltas,
                d.last_delta_changes,
                num(d.refresh_ms.median),
                cell(&o.scan_iter_ns, &f.scan_iter_ns),
                cell(&o.scan_get_ns, &f.scan_get_ns),
                cell(&o.read_id_ns, &f.read_id_ns),
                cell(&o.read_title_ns, &f.read_title_ns),
                cell(&o.pk_lookup_ns, &f.pk_lookup_ns),
                cell(&o.index_lookup_ns, &f.index_lookup_ns),
            );
        }
        out.push_str(
            "\nAfter `ReadState::compacted()` (what `ConsumerBuilder::compact_after` swaps in, in \
             the background), compacted ÷ fresh:\n\n\
             | deltas | compaction (ms) | iter scan | get(0..cap) scan | random id | random title \
             | PK lookup | castIds lookup |\n|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        for d in &self.depths {
            let (c, f) = (&d.compacted, &d.fresh);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                d.deltas,
                num(d.compact_ms),
                compacted(&c.scan_iter_ns, &f.scan_iter_ns),
                compacted(&c.scan_get_ns, &f.scan_get_ns),
                compacted(&c.read_id_ns, &f.read_id_ns),
                compacted(&c.read_title_ns, &f.read_title_ns),
                compacted(&c.pk_lookup_ns, &f.pk_lookup_ns),
                compacted(&c.index_lookup_ns, &f.index_lookup_ns),
            );
        }
        out.push_str(
            "\nA consumer with `compact_after(1)` whose compaction kept up: the state at N − 1 \
             deltas compacted, with the Nth delta overlaid (what it serves from the Nth refresh \
             until that compaction lands), ÷ fresh, and that refresh (on-CPU):\n\n\
             | deltas | refresh (ms) | iter scan | get(0..cap) scan | random id | random title \
             | PK lookup | castIds lookup |\n|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        for d in &self.depths {
            let (c, f) = (&d.compacted_plus_one, &d.fresh);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                d.deltas,
                num(d.refresh_compacted_ms.median),
                compacted(&c.scan_iter_ns, &f.scan_iter_ns),
                compacted(&c.scan_get_ns, &f.scan_get_ns),
                compacted(&c.read_id_ns, &f.read_id_ns),
                compacted(&c.read_title_ns, &f.read_title_ns),
                compacted(&c.pk_lookup_ns, &f.pk_lookup_ns),
                compacted(&c.index_lookup_ns, &f.index_lookup_ns),
            );
        }
        let _ = writeln!(
            out,
            "\nCells are overlaid / fresh = ratio. Producing the chain (a snapshot every cycle, for \
             the fresh side) took {} s.",
            num(self.produce_seconds)
        );
    }
}
