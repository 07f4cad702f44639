//! Figures to beat, copied from `docs/ANCHORS.md` (Netflix Hollow built from source and run on
//! one of these 2-core machines, OpenJDK 17, G1, `-Xmx16g`; at 1M its side-by-side
//! re-measurement of 2026-11-30, at 100k the first table), and the targets of the "Performance
//! bar" of `docs/DESIGN.md`.
//!
//! Hollow was not re-run here: these are constants. If ANCHORS.md changes, change them too.

/// Netflix Hollow figures at one dataset size (`None`: ANCHORS.md gives no figure at that size).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HollowAnchors {
    /// Movies in the dataset these figures were measured on.
    pub movies: u64,
    /// Producer full cycle, cycle 0, warm JVM (seconds). ANCHORS.md: 7.5 s fresh / 6.2 s warm.
    pub producer_cycle_s: Option<f64>,
    /// Snapshot blob, uncompressed (bytes).
    pub snapshot_bytes: Option<f64>,
    /// Consumer snapshot load, fresh JVM (milliseconds), without building a primary-key index.
    pub load_ms: Option<f64>,
    /// Extra time to build the primary-key index after load (milliseconds; lower bound).
    pub pk_index_build_ms: Option<f64>,
    /// Consumer heap after load (bytes).
    pub heap_bytes: Option<f64>,
    /// Random read of `Movie.id` (ns).
    pub read_id_ns: Option<f64>,
    /// Random read of `Movie.title` as a `String` (ns; allocates).
    pub read_title_ns: Option<f64>,
    /// Full scan summing `Movie.year` (ns per record).
    pub scan_ns: Option<f64>,
    /// Primary-key lookup of `Movie.id` (ns).
    pub pk_lookup_ns: Option<f64>,
}

/// ANCHORS.md, "Re-measured side by side, 2026-11-30" (N = 1M movies; Hollow HEAD `76084ad`,
/// same machine and hour as hollow). Where it gives a range, the end better for Hollow.
pub const HOLLOW_1M: HollowAnchors = HollowAnchors {
    movies: 1_000_000,
    producer_cycle_s: Some(5.1),
    snapshot_bytes: Some(55.7e6),
    // Load + primary-key index + first lookup, a later run in the JVM (477 ms first in a JVM).
    load_ms: Some(205.0),
    pk_index_build_ms: None,
    heap_bytes: Some(57.4e6),
    read_id_ns: Some(46.0),
    read_title_ns: Some(382.0),
    scan_ns: Some(10.8),
    pk_lookup_ns: Some(245.0),
};

/// ANCHORS.md, "At N = 100k" line (load is given as a range 25–160 ms; the low end is used).
pub const HOLLOW_100K: HollowAnchors = HollowAnchors {
    movies: 100_000,
    producer_cycle_s: None,
    snapshot_bytes: Some(5.26e6),
    load_ms: Some(25.0),
    pk_index_build_ms: None,
    heap_bytes: None,
    read_id_ns: Some(10.7),
    read_title_ns: Some(269.0),
    scan_ns: None,
    pk_lookup_ns: Some(52.0),
};

/// The Hollow figures for `movies`, when ANCHORS.md has them at exactly that size.
pub fn hollow_at(movies: u64) -> Option<HollowAnchors> {
    [HOLLOW_1M, HOLLOW_100K]
        .into_iter()
        .find(|a| a.movies == movies)
}

/// SQLite and LMDB figures measured for ANCHORS.md at 1M movies (for cross-checking this run's
/// own SQLite/LMDB numbers, which are the ones ratios use).
pub mod others_1m {
    /// SQLite open → first primary-key lookup (µs).
    pub const SQLITE_OPEN_US: f64 = 48.0;
    /// SQLite primary-key lookup, id / with title (ns).
    pub const SQLITE_PK_NS: (f64, f64) = (772.0, 818.0);
    /// SQLite full scan summing year (ns/record).
    pub const SQLITE_SCAN_NS: f64 = 40.8;
    /// LMDB open → first primary-key lookup (µs).
    pub const LMDB_OPEN_US: f64 = 59.0;
    /// LMDB primary-key lookup, id / with title (ns).
    pub const LMDB_PK_NS: (f64, f64) = (745.0, 786.0);
    /// LMDB full scan summing year (ns/record).
    pub const LMDB_SCAN_NS: f64 = 36.7;
    /// SQLite file bytes, raw / zstd -3.
    pub const SQLITE_FILE_BYTES: (f64, f64) = (103e6, 42.8e6);
    /// LMDB file bytes, raw / zstd -3 (bincode values there; a compact encoding here).
    pub const LMDB_FILE_BYTES: (f64, f64) = (110e6, 42.5e6);
    /// SQLite build of cycle 0 from parsed records (ms).
    pub const SQLITE_BUILD_MS: f64 = 540.0;
    /// LMDB build of cycle 0 from parsed records (ms).
    pub const LMDB_BUILD_MS: f64 = 270.0;
}

/// Targets of DESIGN.md's "Performance bar" (1M movies).
pub mod targets {
    /// Open → first primary-key lookup, what it reads verified (ms).
    pub const OPEN_FIRST_LOOKUP_MS: f64 = 1.0;
    /// Primary-key lookup (ns).
    pub const PK_LOOKUP_NS: f64 = 100.0;
    /// Random field read by ordinal (ns).
    pub const READ_FIELD_NS: f64 = 15.0;
    /// Borrowed `&str` read (ns).
    pub const READ_STR_NS: f64 = 150.0;
    /// Scan (ns per record).
    pub const SCAN_NS: f64 = 2.0;
    /// Producer full cycle at least this many times faster than Hollow's.
    pub const PRODUCER_SPEEDUP: f64 = 5.0;
    /// Snapshot on the wire, zstd (bytes).
    pub const SNAPSHOT_ZSTD_BYTES: f64 = 40e6;
    /// Consumer heap as a fraction of Hollow's.
    pub const HEAP_FRACTION_OF_HOLLOW: f64 = 0.05;
}
