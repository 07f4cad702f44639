//! The report of one run, as markdown tables or JSON.

use std::fmt::Write as _;

use crate::Config;
use crate::anchors::{self, HollowAnchors, targets};
use crate::hollow_side::HollowReport;
use crate::measure::{ResidentDelta, Stat};

/// Figures measured for SQLite or LMDB.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineReport {
    /// Build from the parsed records into a file in the page cache (ms).
    pub build_ms: Stat,
    /// File bytes.
    pub file_bytes: u64,
    /// File bytes compressed by zstd -3.
    pub file_zstd_bytes: u64,
    /// Open → first primary-key lookup, file in the page cache (µs).
    pub open_first_lookup_us: Stat,
    /// Primary-key lookup reading `id` (ns/op).
    pub pk_lookup_ns: Stat,
    /// Primary-key lookup reading `title` as `&str` (ns/op).
    pub pk_lookup_title_ns: Stat,
    /// Full scan summing `year` (ns/record).
    pub scan_ns: Stat,
    /// Resident growth across open + full scan.
    pub resident_open_scan: ResidentDelta,
}

impl EngineReport {
    /// Pools the timings of a later round into this one (sizes and memory stay this round's).
    pub fn pool(&mut self, other: &Self) {
        self.build_ms.pool(&other.build_ms);
        self.open_first_lookup_us.pool(&other.open_first_lookup_us);
        self.pk_lookup_ns.pool(&other.pk_lookup_ns);
        self.pk_lookup_title_ns.pool(&other.pk_lookup_title_ns);
        self.scan_ns.pool(&other.scan_ns);
    }
}

/// The machine the run was on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// Logical CPUs available.
    pub cpus: usize,
    /// CPU model (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// Load averages when the report was made (`/proc/loadavg`): noise from other tenants.
    pub loadavg: String,
    /// The commit the bench was built from and whether the library had uncommitted changes
    /// (recorded at build time by `build.rs`).
    pub source: String,
}

impl Machine {
    /// Reads what Linux exposes; empty strings elsewhere.
    pub fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cpu_model,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            loadavg: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            source: env!("HOLLOW_BENCH_SOURCE").to_string(),
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// What was run.
    pub config: Config,
    /// Where it ran.
    pub machine: Machine,
    /// Movies in the dataset.
    pub movies: u64,
    /// Actors in the dataset.
    pub actors: u64,
    /// hollow's figures.
    pub hollow: HollowReport,
    /// SQLite's figures (`None` with `hollow_only`).
    pub sqlite: Option<EngineReport>,
    /// LMDB's figures (`None` with `hollow_only`).
    pub lmdb: Option<EngineReport>,
    /// Reads after N deltas against fresh snapshots (`None` when skipped).
    pub deltas: Option<crate::deltas::DeltaReport>,
    /// Wall time of the whole run (s).
    pub total_seconds: f64,
}

/// A number with about three significant digits.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[allow(clippy::cast_precision_loss)]
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

#[allow(clippy::cast_precision_loss)]
fn mb_i(bytes: i128) -> f64 {
    bytes as f64 / 1e6
}

fn ratio(hollow: f64, other: Option<f64>) -> String {
    match other {
        Some(o) if o > 0.0 && hollow.is_finite() => format!("{}×", num(hollow / o)),
        _ => "—".into(),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), num)
}

fn stat(s: &Stat) -> String {
    num(s.median)
}

/// Whether a target is met; `lower_is_better` targets are upper bounds.
fn verdict(value: f64, bound: f64, at_target_size: bool) -> String {
    let met = value <= bound;
    let word = if met { "met" } else { "**not met**" };
    if at_target_size {
        word.to_string()
    } else {
        format!("{word} (indicative)")
    }
}

struct Row {
    figure: String,
    hollow: f64,
    /// Smallest and largest hollow sample, for timed figures.
    range: Option<(f64, f64)>,
    anchor: Option<f64>,
    sqlite: Option<f64>,
    lmdb: Option<f64>,
    target: Option<(String, f64)>,
}

impl Report {
    fn anchors(&self) -> Option<HollowAnchors> {
        anchors::hollow_at(self.config.movies)
    }

    #[allow(clippy::cast_precision_loss)]
    fn per_movie(&self, bytes: u64) -> f64 {
        bytes as f64 / self.movies.max(1) as f64
    }

    fn rows_reads(&self) -> Vec<Row> {
        let h = &self.hollow;
        let a = self.anchors();
        let s = self.sqlite.as_ref();
        let l = self.lmdb.as_ref();
        let hollow_load_us = a.and_then(|a| a.load_ms).map(|ms| ms * 1e3);
        vec![
            Row {
                figure: "open → first PK lookup (µs), page cache".into(),
                hollow: h.open.total_us.median,
                range: Some((h.open.total_us.min, h.open.total_us.max)),
                anchor: hollow_load_us,
                sqlite: s.map(|e| e.open_first_lookup_us.median),
                lmdb: l.map(|e| e.open_first_lookup_us.median),
                target: Some((
                    "≤ 1000 µs, verified".into(),
                    targets::OPEN_FIRST_LOOKUP_MS * 1e3,
                )),
            },
            Row {
                figure: "PK lookup, read `id` (ns)".into(),
                hollow: h.pk_lookup_ns.median,
                range: Some((h.pk_lookup_ns.min, h.pk_lookup_ns.max)),
                anchor: a.and_then(|a| a.pk_lookup_ns),
                sqlite: s.map(|e| e.pk_lookup_ns.median),
                lmdb: l.map(|e| e.pk_lookup_ns.median),
                target: Some(("≤ 100 ns".into(), targets::PK_LOOKUP_NS)),
            },
            Row {
                figure: "PK lookup, read `title` as &str (ns)".into(),
                hollow: h.pk_lookup_title_ns.median,
                range: Some((h.pk_lookup_title_ns.min, h.pk_lookup_title_ns.max)),
                anchor: None,
                sqlite: s.map(|e| e.pk_lookup_title_ns.median),
                lmdb: l.map(|e| e.pk_lookup_title_ns.median),
                target: None,
            },
            Row {
                figure:
                    "batched PK lookups, `get_many_by_key` (1024 keys a call), read `id` (ns/key)"
                        .into(),
                hollow: h.pk_lookup_many_ns.median,
                range: Some((h.pk_lookup_many_ns.min, h.pk_lookup_many_ns.max)),
                anchor: a.and_then(|a| a.pk_lookup_ns),
                sqlite: s.map(|e| e.pk_lookup_ns.median),
                lmdb: l.map(|e| e.pk_lookup_ns.median),
                target: Some(("≤ 80 ns (issue 18)".into(), 80.0)),
            },
            Row {
                figure: "random read `id` by ordinal (ns)".into(),
                hollow: h.read_id_ns.median,
                range: Some((h.read_id_ns.min, h.read_id_ns.max)),
                anchor: a.and_then(|a| a.read_id_ns),
                sqlite: None,
                lmdb: None,
                target: Some(("≤ 15 ns".into(), targets::READ_FIELD_NS)),
            },
            Row {
                figure: "random read `id` by ordinal, dependent chain (ns)".into(),
                hollow: h.read_id_dependent_ns.median,
                range: Some((h.read_id_dependent_ns.min, h.read_id_dependent_ns.max)),
                anchor: None,
                sqlite: None,
                lmdb: None,
                target: None,
            },
            Row {
                figure: "random read `title` as &str by ordinal (ns; Hollow: String)".into(),
                hollow: h.read_title_ns.median,
                range: Some((h.read_title_ns.min, h.read_title_ns.max)),
                anchor: a.and_then(|a| a.read_title_ns),
                sqlite: None,
                lmdb: None,
                target: Some(("≤ 150 ns".into(), targets::READ_STR_NS)),
            },
            Row {
                figure: "full scan summing `year`, `iter()` (ns/record)".into(),
                hollow: h.scan_iter_ns.median,
                range: Some((h.scan_iter_ns.min, h.scan_iter_ns.max)),
                anchor: a.and_then(|a| a.scan_ns),
                sqlite: s.map(|e| e.scan_ns.median),
                lmdb: l.map(|e| e.scan_ns.median),
                target: Some(("≤ 2 ns".into(), targets::SCAN_NS)),
            },
            Row {
                figure: "full scan summing `year`, `get(0..capacity)` (ns/record)".into(),
                hollow: h.scan_get_ns.median,
                range: Some((h.scan_get_ns.min, h.scan_get_ns.max)),
                anchor: a.and_then(|a| a.scan_ns),
                sqlite: s.map(|e| e.scan_ns.median),
                lmdb: l.map(|e| e.scan_ns.median),
                target: Some(("≤ 2 ns".into(), targets::SCAN_NS)),
            },
        ]
    }

    /// Every read row again on a private copy (`MemoryMode::Private`) beside the mapped one.
    fn private_table(&self, out: &mut String) {
        let h = &self.hollow;
        let p = &h.private.reads;
        let a = self.anchors();
        let l = self.lmdb.as_ref();
        let _ = writeln!(
            out,
            "\n#### Reads, `MemoryMode::Private` (the blob copied into anonymous memory with \
             transparent huge pages)\n\nCopy of the {} MB blob: {} ms (median); anonymous huge \
             pages after the copy: {} MB. Mapped = the rows above (page cache, shared between \
             processes).\n",
            num(mb(h.build(true).map_or(0, |b| b.blob_bytes))),
            stat(&h.private.copy_ms),
            opt(h.private.anon_huge_mb),
        );
        out.push_str(
            "| figure | mapped | private | private min–max | private ÷ mapped | Hollow | private ÷ Hollow | LMDB | private ÷ LMDB |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        // (figure, mapped, private, Hollow, LMDB)
        type PrivateRow<'r> = (&'r str, &'r Stat, &'r Stat, Option<f64>, Option<f64>);
        let rows: [PrivateRow<'_>; 8] = [
            (
                "PK lookup, read `id` (ns)",
                &h.pk_lookup_ns,
                &p.pk_lookup_ns,
                a.and_then(|a| a.pk_lookup_ns),
                l.map(|e| e.pk_lookup_ns.median),
            ),
            (
                "PK lookup, read `title` as &str (ns)",
                &h.pk_lookup_title_ns,
                &p.pk_lookup_title_ns,
                None,
                l.map(|e| e.pk_lookup_title_ns.median),
            ),
            (
                "batched PK lookups, read `id` (ns/key)",
                &h.pk_lookup_many_ns,
                &p.pk_lookup_many_ns,
                a.and_then(|a| a.pk_lookup_ns),
                l.map(|e| e.pk_lookup_ns.median),
            ),
            (
                "random read `id` by ordinal (ns)",
                &h.read_id_ns,
                &p.read_id_ns,
                a.and_then(|a| a.read_id_ns),
                None,
            ),
            (
                "random read `id`, dependent chain (ns)",
                &h.read_id_dependent_ns,
                &p.read_id_dependent_ns,
                None,
                None,
            ),
            (
                "random read `title` as &str (ns)",
                &h.read_title_ns,
                &p.read_title_ns,
                a.and_then(|a| a.read_title_ns),
                None,
            ),
            (
                "full scan, `iter()` (ns/record)",
                &h.scan_iter_ns,
                &p.scan_iter_ns,
                a.and_then(|a| a.scan_ns),
                l.map(|e| e.scan_ns.median),
            ),
            (
                "full scan, `get(0..capacity)` (ns/record)",
                &h.scan_get_ns,
                &p.scan_get_ns,
                a.and_then(|a| a.scan_ns),
                l.map(|e| e.scan_ns.median),
            ),
        ];
        for (figure, mapped, private, hollow, lmdb) in rows {
            let _ = writeln!(
                out,
                "| {figure} | {} | {} | {}–{} | {} | {} | {} | {} | {} |",
                stat(mapped),
                stat(private),
                num(private.min),
                num(private.max),
                ratio(private.median, Some(mapped.median)),
                opt(hollow),
                ratio(private.median, hollow),
                opt(lmdb),
                ratio(private.median, lmdb),
            );
        }
    }

    fn rows_build(&self) -> Vec<Row> {
        let h = &self.hollow;
        let a = self.anchors();
        let s = self.sqlite.as_ref();
        let l = self.lmdb.as_ref();
        let mut rows = Vec::new();
        for b in &h.builds {
            let tag = if b.dedup { "dedup on" } else { "dedup off" };
            let hollow_cycle_ms = a.and_then(|a| a.producer_cycle_s).map(|s| s * 1e3);
            rows.push(Row {
                figure: format!("build from parsed records (ms), {tag}"),
                hollow: b.total_ms.median,
                range: Some((b.total_ms.min, b.total_ms.max)),
                anchor: hollow_cycle_ms,
                sqlite: s.map(|e| e.build_ms.median),
                lmdb: l.map(|e| e.build_ms.median),
                target: hollow_cycle_ms.filter(|_| b.dedup).map(|ms| {
                    (
                        format!("≤ {} ms (5× faster than Hollow)", num(ms / 5.0)),
                        ms / targets::PRODUCER_SPEEDUP,
                    )
                }),
            });
            rows.push(Row {
                figure: format!("file bytes, raw (MB), {tag}"),
                hollow: mb(b.blob_bytes),
                range: None,
                anchor: a.and_then(|a| a.snapshot_bytes).map(|b| b / 1e6),
                sqlite: s.map(|e| mb(e.file_bytes)),
                lmdb: l.map(|e| mb(e.file_bytes)),
                target: None,
            });
            rows.push(Row {
                figure: format!("file bytes, zstd -3 (MB), {tag}"),
                hollow: mb(b.blob_zstd_bytes),
                range: None,
                anchor: None,
                sqlite: s.map(|e| mb(e.file_zstd_bytes)),
                lmdb: l.map(|e| mb(e.file_zstd_bytes)),
                // An absolute size: only meaningful at the size the bar is set for.
                target: (b.dedup && self.config.movies == 1_000_000)
                    .then(|| ("≤ 40 MB".into(), targets::SNAPSHOT_ZSTD_BYTES / 1e6)),
            });
        }
        rows
    }

    fn table(&self, out: &mut String, rows: &[Row]) {
        let at_target = self.config.movies == 1_000_000;
        out.push_str(
            "| figure | hollow | hollow min–max | Hollow (ANCHORS) | hollow ÷ Hollow | SQLite | hollow ÷ SQLite \
             | LMDB | hollow ÷ LMDB | DESIGN target | |\n",
        );
        out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n");
        for r in rows {
            let (target, verdict_text) = match &r.target {
                Some((text, bound)) => (text.clone(), verdict(r.hollow, *bound, at_target)),
                None => (String::new(), String::new()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.figure,
                num(r.hollow),
                r.range
                    .map_or_else(String::new, |(lo, hi)| format!("{}–{}", num(lo), num(hi))),
                opt(r.anchor),
                ratio(r.hollow, r.anchor),
                opt(r.sqlite),
                ratio(r.hollow, r.sqlite),
                opt(r.lmdb),
                ratio(r.hollow, r.lmdb),
                target,
                verdict_text
            );
        }
    }

    /// This run's SQLite and LMDB figures next to ANCHORS.md's for the same engines: how this
    /// machine and moment compare with the one the anchors were measured on.
    fn calibration(&self, out: &mut String) {
        use anchors::others_1m as o;
        let (Some(s), Some(l)) = (&self.sqlite, &self.lmdb) else {
            return;
        };
        out.push_str(
            "\nCross-check (noise calibration): SQLite and LMDB measured here vs the same \
             engines in ANCHORS.md (here ÷ there; above 1× this run was slower or larger).\n\n\
             | figure | SQLite here | SQLite ANCHORS | ratio | LMDB here | LMDB ANCHORS | ratio |\n\
             |---|--:|--:|--:|--:|--:|--:|\n",
        );
        let rows = [
            (
                "open → first PK lookup (µs)",
                s.open_first_lookup_us.median,
                o::SQLITE_OPEN_US,
                l.open_first_lookup_us.median,
                o::LMDB_OPEN_US,
            ),
            (
                "PK lookup, id (ns)",
                s.pk_lookup_ns.median,
                o::SQLITE_PK_NS.0,
                l.pk_lookup_ns.median,
                o::LMDB_PK_NS.0,
            ),
            (
                "PK lookup, with title (ns)",
                s.pk_lookup_title_ns.median,
                o::SQLITE_PK_NS.1,
                l.pk_lookup_title_ns.median,
                o::LMDB_PK_NS.1,
            ),
            (
                "full scan (ns/record)",
                s.scan_ns.median,
                o::SQLITE_SCAN_NS,
                l.scan_ns.median,
                o::LMDB_SCAN_NS,
            ),
            (
                "build from parsed records (ms)",
                s.build_ms.median,
                o::SQLITE_BUILD_MS,
                l.build_ms.median,
                o::LMDB_BUILD_MS,
            ),
            (
                "file bytes raw (MB)",
                mb(s.file_bytes),
                o::SQLITE_FILE_BYTES.0 / 1e6,
                mb(l.file_bytes),
                o::LMDB_FILE_BYTES.0 / 1e6,
            ),
            (
                "file bytes zstd -3 (MB)",
                mb(s.file_zstd_bytes),
                o::SQLITE_FILE_BYTES.1 / 1e6,
                mb(l.file_zstd_bytes),
                o::LMDB_FILE_BYTES.1 / 1e6,
            ),
        ];
        for (figure, sh, sa, lh, la) in rows {
            let _ = writeln!(
                out,
                "| {figure} | {} | {} | {} | {} | {} | {} |",
                num(sh),
                num(sa),
                ratio(sh, Some(sa)),
                num(lh),
                num(la),
                ratio(lh, Some(la)),
            );
        }
    }

    /// Renders the report as markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let h = &self.hollow;
        let m = &self.machine;
        let _ = writeln!(
            out,
            "### {} movies + {} actors\n\n{} CPUs ({}), Linux {}, load average at the end {}; \
             source `{}`; {} s wall. {} rounds over all engines; medians of {} samples (reads, \
             on-CPU time per operation), {} (builds, wall), {} fresh opens (wall), pooled over the rounds; {} random ordinals, {} random PK lookups per \
             sample; shard bits {}.\n",
            self.movies,
            self.actors,
            m.cpus,
            m.cpu_model,
            m.kernel,
            m.loadavg,
            m.source,
            num(self.total_seconds),
            self.config.rounds.max(1),
            self.config.reps.max(1) * self.config.rounds.max(1),
            self.config.build_reps.max(1) * self.config.rounds.max(1),
            self.config.open_runs.max(1) * self.config.rounds.max(1),
            self.config.ops,
            self.config.lookup_ops,
            self.config.shard_bits,
        );
        out.push_str(
            "Ratios are hollow ÷ other: below 1× hollow is faster or smaller. Hollow figures are \
             the constants of ANCHORS.md (its side-by-side re-measurement of 2026-11-30 at 1M; \
             not re-run here); SQLite and LMDB were measured in this run.\n\n",
        );
        out.push_str("#### Reads\n\n");
        self.table(&mut out, &self.rows_reads());
        let o = &h.open;
        let _ = writeln!(
            out,
            "\nhollow open → first lookup, median parts: `ReadState::open` {} µs, \
             `table::<Movie>()` (verifies the type's sections) {} µs, first `get_by_key` {} µs \
             (min total {} µs, max {} µs). Hollow's column is its load + primary-key \
             index + first lookup in a JVM that already ran one (2026-11-30; 477 ms first in a \
             JVM).",
            stat(&o.open_us),
            stat(&o.table_us),
            stat(&o.lookup_us),
            num(o.total_us.min),
            num(o.total_us.max),
        );
        self.private_table(&mut out);
        out.push_str("\n#### Build and size\n\n");
        self.table(&mut out, &self.rows_build());
        out.push_str(
            "\nHollow's build column is a full producer cycle (`runCycle`, warm JVM), which also \
             publishes; hollow's is add (message building + canonicalize + hash) + \
             `write_snapshot` + writing the file into the page cache; SQLite and LMDB are one \
             bulk-load transaction without fsync.\n\n",
        );
        out.push_str(
            "| hollow snapshot | add (ms) | write_snapshot (ms) | file write (ms) | blob (MB) \
             | zstd -3 (MB) | blob B/movie | Movie records B/movie | Movie PK index B/movie \
             | Actor records (MB) | Actor index (MB) |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        for b in &h.builds {
            let _ = writeln!(
                out,
                "| dedup {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if b.dedup { "on" } else { "off" },
                stat(&b.add_ms),
                stat(&b.snapshot_ms),
                stat(&b.file_write_ms),
                num(mb(b.blob_bytes)),
                num(mb(b.blob_zstd_bytes)),
                num(self.per_movie(b.blob_bytes)),
                num(self.per_movie(b.movie_record_bytes)),
                num(self.per_movie(b.movie_index_bytes)),
                num(mb(b.actor_record_bytes)),
                num(mb(b.actor_index_bytes)),
            );
        }
        out.push_str("\n| hollow blob by section kind | raw (MB), dedup on | zstd -3 (MB), dedup on | raw (MB), dedup off | zstd -3 (MB), dedup off |\n|---|--:|--:|--:|--:|\n");
        let on = h.build(true);
        let off = h.build(false);
        let kinds: Vec<&str> = on
            .into_iter()
            .chain(off)
            .flat_map(|b| b.sections.iter().map(|s| s.kind.as_str()))
            .fold(Vec::new(), |mut v, k| {
                if !v.contains(&k) {
                    v.push(k);
                }
                v
            });
        let cell = |b: Option<&crate::hollow_side::BuildFigures>, kind: &str| {
            b.and_then(|b| b.sections.iter().find(|s| s.kind == kind))
                .map_or(("—".to_string(), "—".to_string()), |s| {
                    (num(mb(s.bytes)), num(mb(s.zstd_bytes)))
                })
        };
        for kind in kinds {
            let (a, b) = cell(on, kind);
            let (c, d) = cell(off, kind);
            let _ = writeln!(out, "| {kind} | {a} | {b} | {c} | {d} |");
        }
        if self.config.movies == 1_000_000 {
            self.calibration(&mut out);
        }
        if let Some(d) = &self.deltas {
            d.to_markdown(&mut out);
        }
        out.push_str("\n#### Memory\n\n");
        out.push_str("| figure | hollow | Hollow (ANCHORS) | SQLite | LMDB | DESIGN target | |\n|---|--:|--:|--:|--:|---|---|\n");
        let res = |e: Option<&EngineReport>| {
            e.map_or_else(
                || "—".to_string(),
                |e| {
                    format!(
                        "{} ({} file-backed)",
                        num(mb_i(e.resident_open_scan.resident)),
                        num(mb_i(e.resident_open_scan.shared))
                    )
                },
            )
        };
        let _ = writeln!(
            out,
            "| resident growth over open + full scan (MB) | {} ({} file-backed) | — | {} | {} | | |",
            num(mb_i(h.resident_open_scan.resident)),
            num(mb_i(h.resident_open_scan.shared)),
            res(self.sqlite.as_ref()),
            res(self.lmdb.as_ref()),
        );
        let hollow_heap = self.anchors().and_then(|a| a.heap_bytes);
        match h.heap_after_open_bytes {
            Some(bytes) => {
                #[allow(clippy::cast_precision_loss)]
                let mbytes = bytes as f64 / 1e6;
                let (target, verdict_text) =
                    hollow_heap.map_or((String::new(), String::new()), |hh| {
                        let bound = hh * targets::HEAP_FRACTION_OF_HOLLOW / 1e6;
                        (
                            format!("≤ {} MB (5% of Hollow's)", num(bound)),
                            verdict(mbytes, bound, self.config.movies == 1_000_000),
                        )
                    });
                let _ = writeln!(
                    out,
                    "| consumer heap after open + `table()` + one lookup (MB, Rust allocations) | {} | {} | not measured (C allocator) | not measured (C allocator) | {} | {} |",
                    num(mbytes),
                    opt(hollow_heap.map(|b| b / 1e6)),
                    target,
                    verdict_text
                );
            }
            None => {
                out.push_str("| consumer heap | not measured (no counting allocator) | | | | | |\n")
            }
        }
        out
    }
}
