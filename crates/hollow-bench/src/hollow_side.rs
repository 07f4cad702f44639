//! hollow: snapshot build, open → first lookup, and the read kernels.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hollow::{BlobBytes, ReadState, StateId, Table, WriteOptions, WriteState};
use hollow_movies::movies_capnp::{actor, movie};

use crate::data::Records;
use crate::measure::{self, Resident, ResidentDelta, Stat};
use crate::{Config, Result};

/// The typed movie table the kernels read.
pub type Movies<'s> = Table<'s, movie::Owned>;

/// Durations of one snapshot build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildTimes {
    /// Building a Cap'n Proto message from every parsed record and adding it to the state.
    pub add: Duration,
    /// `write_snapshot` into memory.
    pub snapshot: Duration,
}

/// Builds a write state from the parsed records (Cap'n Proto message per record, through a
/// reused scratch buffer) and writes a snapshot.
pub fn build_snapshot(data: &Records, options: WriteOptions) -> Result<(BlobBytes, BuildTimes)> {
    let start = Instant::now();
    let mut state = WriteState::builder("movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .options(options)
        .build()?;
    // One scratch allocator reused by every message: zeroed once, then only the used words.
    let mut scratch = capnp::Word::allocate_zeroed_vec(1024);
    let mut alloc = capnp::message::ScratchSpaceHeapAllocator::new(
        capnp::Word::words_to_bytes_mut(&mut scratch),
    );
    for a in &data.actors {
        let mut message = capnp::message::Builder::new(&mut alloc);
        a.build(message.init_root::<actor::Builder<'_>>());
        state.add::<actor::Owned>(message.get_root_as_reader()?)?;
    }
    for m in &data.movies {
        let mut message = capnp::message::Builder::new(&mut alloc);
        m.build(message.init_root::<movie::Builder<'_>>());
        state.add::<movie::Owned>(message.get_root_as_reader()?)?;
    }
    let add = start.elapsed();
    let start = Instant::now();
    let blob = state.write_snapshot(&StateId {
        version: 1,
        tag: 0x5eed,
    })?;
    let snapshot = start.elapsed();
    drop(black_box(state));
    Ok((blob, BuildTimes { add, snapshot }))
}

/// Builds a snapshot with `options` and writes it to `path`; returns the blob's length.
pub fn write_blob(data: &Records, options: WriteOptions, path: &Path) -> Result<u64> {
    let (blob, _) = build_snapshot(data, options)?;
    std::fs::write(path, blob.as_slice())?;
    Ok(blob.len() as u64)
}

/// Random reads of `id` by ordinal (independent reads: cache misses overlap). Returns the sum.
#[inline(never)]
pub fn read_ids(table: &Movies<'_>, ordinals: &[u32]) -> u64 {
    let mut sum = 0u64;
    for &o in ordinals {
        if let Some(m) = table.get(o) {
            sum = sum.wrapping_add(m.get_id());
        }
    }
    sum
}

/// Random reads of `id` by ordinal where each ordinal depends on the previous read (latency:
/// one cache miss after another). Returns the sum.
#[inline(never)]
pub fn chase_ids(table: &Movies<'_>, ordinals: &[u32]) -> u64 {
    let mut sum = 0u64;
    let mut prev = 0u64;
    for &o in ordinals {
        // Ids are below 2^63, so this is `o`, but the CPU must wait for `prev` to know it.
        let o = o ^ u32::try_from(prev >> 63).unwrap_or(0);
        prev = table.get(o).map_or(0, |m| m.get_id());
        sum = sum.wrapping_add(prev);
    }
    sum
}

/// Random reads of `title` as `&str` (UTF-8 checked) by ordinal. Returns the total length.
#[inline(never)]
pub fn read_titles(table: &Movies<'_>, ordinals: &[u32]) -> usize {
    let mut len = 0usize;
    for &o in ordinals {
        if let Some(m) = table.get(o) {
            let title: &str = m
                .get_title()
                .ok()
                .and_then(|t| t.to_str().ok())
                .unwrap_or("");
            len = len.wrapping_add(black_box(title).len());
        }
    }
    len
}

/// Full scan summing `year` through [`Table::iter`].
#[inline(never)]
pub fn scan_iter(table: &Movies<'_>) -> u64 {
    table.iter().map(|(_, m)| u64::from(m.get_year())).sum()
}

/// Full scan summing `year` through `get(ordinal)` over `0..ordinal_capacity()`.
#[inline(never)]
pub fn scan_get(table: &Movies<'_>) -> u64 {
    (0..table.ordinal_capacity())
        .filter_map(|o| table.get(o))
        .map(|m| u64::from(m.get_year()))
        .sum()
}

/// Primary-key lookups of `ids`, reading `id` from each record found. Returns the sum.
#[inline(never)]
pub fn lookup_ids(table: &Movies<'_>, ids: &[u64]) -> Result<u64> {
    let mut sum = 0u64;
    for &id in ids {
        if let Some(m) = table.get_by_key(id)? {
            sum = sum.wrapping_add(m.get_id());
        }
    }
    Ok(sum)
}

/// Keys per `get_many_by_key` call in [`lookup_many_ids`].
pub const LOOKUP_BATCH: usize = 1024;

/// Batched primary-key lookups of `ids` (`get_many_by_key`, [`LOOKUP_BATCH`] keys a call),
/// reading `id` from each record found. Returns the sum.
#[inline(never)]
pub fn lookup_many_ids(table: &Movies<'_>, ids: &[u64]) -> Result<u64> {
    let mut sum = 0u64;
    for batch in ids.chunks(LOOKUP_BATCH) {
        for m in table.get_many_by_key(batch.iter())?.into_iter().flatten() {
            sum = sum.wrapping_add(m.get_id());
        }
    }
    Ok(sum)
}

/// Primary-key lookups of `ids`, reading `title` as `&str`. Returns the total length.
#[inline(never)]
pub fn lookup_titles(table: &Movies<'_>, ids: &[u64]) -> Result<usize> {
    let mut len = 0usize;
    for &id in ids {
        if let Some(m) = table.get_by_key(id)? {
            len = len.wrapping_add(black_box(m.get_title()?.to_str()?).len());
        }
    }
    Ok(len)
}

/// Build and size figures of one write configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildFigures {
    /// Whether dedup was on.
    pub dedup: bool,
    /// Building messages + adding records (ms).
    pub add_ms: Stat,
    /// `write_snapshot` (ms).
    pub snapshot_ms: Stat,
    /// Writing the blob file into the page cache (ms).
    pub file_write_ms: Stat,
    /// Add + snapshot + file write (ms): comparable to the others' build time.
    pub total_ms: Stat,
    /// Blob bytes.
    pub blob_bytes: u64,
    /// Blob bytes compressed by zstd -3.
    pub blob_zstd_bytes: u64,
    /// Bytes of the movie record shards.
    pub movie_record_bytes: u64,
    /// Bytes of the movie primary-key index.
    pub movie_index_bytes: u64,
    /// Bytes of the actor record shards.
    pub actor_record_bytes: u64,
    /// Bytes of the actor primary-key index.
    pub actor_index_bytes: u64,
    /// Raw and zstd -3 bytes by section kind (each kind's sections compressed together).
    pub sections: Vec<SectionSize>,
}

/// Bytes of the sections of one kind in a blob.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SectionSize {
    /// Section kind name ("records", "primary-key index", …).
    pub kind: String,
    /// Raw bytes.
    pub bytes: u64,
    /// Bytes after zstd -3 of the kind's sections concatenated.
    pub zstd_bytes: u64,
}

/// Raw and zstd -3 bytes of a blob's sections by kind (header and table of sections excluded).
pub fn section_sizes(blob: &[u8]) -> Result<Vec<SectionSize>> {
    let layout = hollow::format::BlobLayout::parse(blob, "<bench>")?;
    let mut kinds: Vec<(&'static str, Vec<u8>)> = Vec::new();
    for s in &layout.sections {
        let name = s.kind.name();
        let bytes = blob.get(s.range()).ok_or("section out of bounds")?;
        match kinds.iter_mut().find(|(k, _)| *k == name) {
            Some((_, buf)) => buf.extend_from_slice(bytes),
            None => kinds.push((name, bytes.to_vec())),
        }
    }
    kinds
        .into_iter()
        .map(|(kind, buf)| {
            Ok(SectionSize {
                kind: kind.to_string(),
                bytes: buf.len() as u64,
                zstd_bytes: measure::zstd3_len(&buf)?,
            })
        })
        .collect()
}

/// Open → first primary-key lookup, with its parts (µs).
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpenFigures {
    /// `ReadState::open` + `table::<Movie>()` + one `get_by_key` (µs).
    pub total_us: Stat,
    /// `ReadState::open` alone: map, header, manifest, schema (µs).
    pub open_us: Stat,
    /// `table::<Movie>()`: verifies the type's sections on first use (µs).
    pub table_us: Stat,
    /// The first `get_by_key` (µs).
    pub lookup_us: Stat,
}

/// The read kernels on one open state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadKernels {
    /// Random `id` read by ordinal (ns/op, independent reads).
    pub read_id_ns: Stat,
    /// Random `id` read by ordinal, each dependent on the previous (ns/op).
    pub read_id_dependent_ns: Stat,
    /// Random `title` read as `&str` by ordinal (ns/op).
    pub read_title_ns: Stat,
    /// Full scan summing `year` via `iter()` (ns/record).
    pub scan_iter_ns: Stat,
    /// Full scan summing `year` via `get(ordinal)` (ns/record).
    pub scan_get_ns: Stat,
    /// Primary-key lookup reading `id` (ns/op).
    pub pk_lookup_ns: Stat,
    /// Primary-key lookup reading `title` as `&str` (ns/op).
    pub pk_lookup_title_ns: Stat,
    /// Batched primary-key lookups (`get_many_by_key`, 1024 keys a call) reading `id` (ns/key).
    pub pk_lookup_many_ns: Stat,
}

impl ReadKernels {
    /// Runs every kernel `reps` times on `table`.
    pub fn measure(reps: usize, data: &Records, table: &Movies<'_>) -> Result<Self> {
        let ops = data.ordinals.len();
        let n = data.movies.len();
        let lookups = data.ids.len();
        let ords = black_box(&data.ordinals[..]);
        let ids = black_box(&data.ids[..]);
        Ok(Self {
            read_id_ns: measure::ns_per_op(reps, ops, || read_ids(table, ords)),
            read_id_dependent_ns: measure::ns_per_op(reps, ops, || chase_ids(table, ords)),
            read_title_ns: measure::ns_per_op(reps, ops, || read_titles(table, ords)),
            scan_iter_ns: measure::ns_per_op(reps, n, || scan_iter(table)),
            scan_get_ns: measure::ns_per_op(reps, n, || scan_get(table)),
            pk_lookup_ns: measure::try_ns_per_op(reps, lookups, || lookup_ids(table, ids))?,
            pk_lookup_title_ns: measure::try_ns_per_op(reps, lookups, || {
                lookup_titles(table, ids)
            })?,
            pk_lookup_many_ns: measure::try_ns_per_op(reps, lookups, || {
                lookup_many_ids(table, ids)
            })?,
        })
    }

    /// Pools the samples of a later round.
    pub fn pool(&mut self, other: &Self) {
        self.read_id_ns.pool(&other.read_id_ns);
        self.read_id_dependent_ns.pool(&other.read_id_dependent_ns);
        self.read_title_ns.pool(&other.read_title_ns);
        self.scan_iter_ns.pool(&other.scan_iter_ns);
        self.scan_get_ns.pool(&other.scan_get_ns);
        self.pk_lookup_ns.pool(&other.pk_lookup_ns);
        self.pk_lookup_title_ns.pool(&other.pk_lookup_title_ns);
        self.pk_lookup_many_ns.pool(&other.pk_lookup_many_ns);
    }
}

/// The same reads on a private copy of the blob (`MemoryMode::Private`: anonymous memory with
/// transparent huge pages, `BlobBytes::private_copy`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PrivateFigures {
    /// Copying the mapped blob into anonymous memory (ms).
    pub copy_ms: Stat,
    /// Anonymous huge pages of the process after the copy (`AnonHugePages` of
    /// `/proc/self/smaps_rollup`, MB; `None` where unavailable).
    pub anon_huge_mb: Option<f64>,
    /// The read kernels.
    pub reads: ReadKernels,
}

/// Everything measured for hollow.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HollowReport {
    /// Builds with dedup on, then off.
    pub builds: Vec<BuildFigures>,
    /// Open → first lookup (dedup-on blob in the page cache, fresh open each run).
    pub open: OpenFigures,
    /// Random `id` read by ordinal (ns/op, independent reads).
    pub read_id_ns: Stat,
    /// Random `id` read by ordinal, each dependent on the previous (ns/op).
    pub read_id_dependent_ns: Stat,
    /// Random `title` read as `&str` by ordinal (ns/op).
    pub read_title_ns: Stat,
    /// Full scan summing `year` via `iter()` (ns/record).
    pub scan_iter_ns: Stat,
    /// Full scan summing `year` via `get(ordinal)` (ns/record).
    pub scan_get_ns: Stat,
    /// Primary-key lookup reading `id` (ns/op).
    pub pk_lookup_ns: Stat,
    /// Primary-key lookup reading `title` as `&str` (ns/op).
    pub pk_lookup_title_ns: Stat,
    /// Batched primary-key lookups reading `id` (ns/key).
    pub pk_lookup_many_ns: Stat,
    /// The read kernels on a private copy (`MemoryMode::Private`).
    pub private: PrivateFigures,
    /// Resident growth across open + `table()` + full scan.
    pub resident_open_scan: ResidentDelta,
    /// Rust heap held by the open state after `table::<Movie>()` and one lookup (bytes; `None`
    /// without the counting allocator).
    pub heap_after_open_bytes: Option<i64>,
}

impl HollowReport {
    /// The build figures with dedup `on`.
    pub fn build(&self, on: bool) -> Option<&BuildFigures> {
        self.builds.iter().find(|b| b.dedup == on)
    }

    /// Pools the timings of a later round into this one (sizes and memory stay this round's).
    pub fn pool(&mut self, other: &Self) {
        for b in &mut self.builds {
            if let Some(o) = other.builds.iter().find(|o| o.dedup == b.dedup) {
                b.add_ms.pool(&o.add_ms);
                b.snapshot_ms.pool(&o.snapshot_ms);
                b.file_write_ms.pool(&o.file_write_ms);
                b.total_ms.pool(&o.total_ms);
            }
        }
        self.open.total_us.pool(&other.open.total_us);
        self.open.open_us.pool(&other.open.open_us);
        self.open.table_us.pool(&other.open.table_us);
        self.open.lookup_us.pool(&other.open.lookup_us);
        self.read_id_ns.pool(&other.read_id_ns);
        self.read_id_dependent_ns.pool(&other.read_id_dependent_ns);
        self.read_title_ns.pool(&other.read_title_ns);
        self.scan_iter_ns.pool(&other.scan_iter_ns);
        self.scan_get_ns.pool(&other.scan_get_ns);
        self.pk_lookup_ns.pool(&other.pk_lookup_ns);
        self.pk_lookup_title_ns.pool(&other.pk_lookup_title_ns);
        self.pk_lookup_many_ns.pool(&other.pk_lookup_many_ns);
        self.private.copy_ms.pool(&other.private.copy_ms);
        self.private.reads.pool(&other.private.reads);
    }
}

/// `AnonHugePages` of `/proc/self/smaps_rollup` (MB).
fn anon_huge_mb() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = text.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1e3)
}

/// The read kernels on a private copy of the blob at `path`.
fn measure_private(config: &Config, data: &Records, path: &Path) -> Result<PrivateFigures> {
    let mapped = BlobBytes::map_file(path)?;
    let mut copies = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        drop(last.take());
        let start = Instant::now();
        let copy = mapped.private_copy()?;
        copies.push(start.elapsed());
        last = Some(copy);
    }
    let bytes = last.ok_or("no copy")?;
    let anon_huge_mb = anon_huge_mb();
    let state = ReadState::from_bytes(bytes, "private copy")?;
    let table = state.table::<movie::Owned>()?;
    if scan_iter(&table) != data.year_sum() {
        return Err("hollow (private) scan disagrees with the dataset".into());
    }
    Ok(PrivateFigures {
        copy_ms: measure::ms(&copies),
        anon_huge_mb,
        reads: ReadKernels::measure(config.reps, data, &table)?,
    })
}

fn heap_delta(before: Option<usize>) -> Option<i64> {
    let now = measure::live_heap_bytes()?;
    let before = before?;
    Some(i64::try_from(now).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX))
}

fn measure_build(
    config: &Config,
    data: &Records,
    dedup: bool,
    path: &Path,
) -> Result<BuildFigures> {
    let options = WriteOptions {
        shard_bits: config.shard_bits,
        dedup,
    };
    let (mut add, mut snap, mut write, mut total) = (vec![], vec![], vec![], vec![]);
    let mut last = None;
    for _ in 0..config.build_reps.max(1) {
        let (blob, times) = build_snapshot(data, options)?;
        let start = Instant::now();
        std::fs::write(path, blob.as_slice())?;
        let w = start.elapsed();
        add.push(times.add);
        snap.push(times.snapshot);
        write.push(w);
        total.push(times.add + times.snapshot + w);
        last = Some(blob);
    }
    let blob = last.ok_or("no build ran")?;
    let read = ReadState::open(path)?;
    let types = read.types();
    let of = |name: &str| types.iter().find(|t| t.name == name);
    let movie_t = of("Movie").ok_or("no Movie type in the blob")?;
    let actor_t = of("Actor").ok_or("no Actor type in the blob")?;
    Ok(BuildFigures {
        dedup,
        add_ms: measure::ms(&add),
        snapshot_ms: measure::ms(&snap),
        file_write_ms: measure::ms(&write),
        total_ms: measure::ms(&total),
        blob_bytes: blob.len() as u64,
        blob_zstd_bytes: measure::zstd3_len(blob.as_slice())?,
        movie_record_bytes: movie_t.record_bytes,
        movie_index_bytes: movie_t.index_bytes,
        actor_record_bytes: actor_t.record_bytes,
        actor_index_bytes: actor_t.index_bytes,
        sections: section_sizes(blob.as_slice())?,
    })
}

/// Times open → first primary-key lookup `runs` times, each on a fresh `ReadState`.
pub fn measure_open(path: &Path, id: u64, runs: usize) -> Result<OpenFigures> {
    let (mut total, mut open, mut table, mut lookup) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        let state = ReadState::open(path)?;
        let t1 = Instant::now();
        let movies = state.table::<movie::Owned>()?;
        let t2 = Instant::now();
        let m = movies.get_by_key(id)?.ok_or("first lookup found nothing")?;
        black_box(m.get_id());
        let t3 = Instant::now();
        total.push(t3 - t0);
        open.push(t1 - t0);
        table.push(t2 - t1);
        lookup.push(t3 - t2);
        drop(black_box(state));
    }
    Ok(OpenFigures {
        total_us: measure::us(&total),
        open_us: measure::us(&open),
        table_us: measure::us(&table),
        lookup_us: measure::us(&lookup),
    })
}

/// Runs every hollow measurement.
pub fn measure(
    config: &Config,
    data: &Records,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<HollowReport> {
    let dedup_path: PathBuf = dir.join("hollow-dedup.blob");
    let plain_path: PathBuf = dir.join("hollow-plain.blob");
    let mut builds = Vec::new();
    for (dedup, path) in [(true, &dedup_path), (false, &plain_path)] {
        progress(&format!("hollow: building snapshots (dedup {dedup})"));
        builds.push(measure_build(config, data, dedup, path)?);
    }
    std::fs::remove_file(&plain_path)?;
    measure::warm_page_cache(&dedup_path)?;

    progress("hollow: open → first lookup");
    let open = measure_open(&dedup_path, data.middle_id(), config.open_runs)?;

    progress("hollow: reads");
    let heap_before = measure::live_heap_bytes();
    let resident_before = Resident::now();
    let state = ReadState::open(&dedup_path)?;
    let table = state.table::<movie::Owned>()?;
    black_box(table.get_by_key(data.middle_id())?);
    let heap_after_open_bytes = heap_delta(heap_before);
    let year_sum = scan_iter(&table);
    let resident_open_scan = Resident::now().since(resident_before);
    if year_sum != data.year_sum() {
        return Err(format!(
            "hollow scan summed {year_sum}, expected {}",
            data.year_sum()
        )
        .into());
    }
    if table.len() as usize != data.movies.len() {
        return Err("hollow table length differs from the dataset".into());
    }
    let expected_ids: u64 = data
        .ordinals
        .iter()
        .map(|&o| data.movies[o as usize].id)
        .fold(0, u64::wrapping_add);
    if read_ids(&table, &data.ordinals) != expected_ids {
        return Err("hollow id reads disagree with the dataset".into());
    }

    if lookup_many_ids(&table, &data.ids)? != lookup_ids(&table, &data.ids)? {
        return Err("hollow batched lookups disagree with single lookups".into());
    }
    let r = ReadKernels::measure(config.reps, data, &table)?;
    drop(state);
    progress("hollow: reads on a private copy (MemoryMode::Private)");
    let private = measure_private(config, data, &dedup_path)?;
    Ok(HollowReport {
        builds,
        open,
        read_id_ns: r.read_id_ns,
        read_id_dependent_ns: r.read_id_dependent_ns,
        read_title_ns: r.read_title_ns,
        scan_iter_ns: r.scan_iter_ns,
        scan_get_ns: r.scan_get_ns,
        pk_lookup_ns: r.pk_lookup_ns,
        pk_lookup_title_ns: r.pk_lookup_title_ns,
        pk_lookup_many_ns: r.pk_lookup_many_ns,
        private,
        resident_open_scan,
        heap_after_open_bytes,
    })
}
