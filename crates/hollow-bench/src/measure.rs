//! Timing, medians, resident memory and heap accounting.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Summary of repeated measurements of one figure, in the unit the figure's name gives.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stat {
    /// Median.
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of samples.
    pub runs: usize,
    /// Every sample, in the order taken (rounds concatenated).
    pub samples: Vec<f64>,
}

impl Stat {
    /// Summarises `samples` (`NaN` figures when empty).
    pub fn of(samples: Vec<f64>) -> Self {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let runs = sorted.len();
        let median = match runs {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
        };
        Self {
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            runs,
            samples,
        }
    }

    /// The samples of `self` and `other` pooled (rounds of the same measurement).
    pub fn pooled(&self, other: &Self) -> Self {
        Self::of(self.samples.iter().chain(&other.samples).copied().collect())
    }

    /// Pools `other` into `self`.
    pub fn pool(&mut self, other: &Self) {
        *self = self.pooled(other);
    }
}

/// Times `f` once.
pub fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// Times `f` `reps` times (after one untimed warm-up run) and returns nanoseconds per operation
/// for each run, `ops` being the operations one run performs, in on-CPU time when the kernel
/// reports it (the machine is shared: wall time would count waiting for a CPU), else in wall
/// time. The result of every run goes through [`std::hint::black_box`].
pub fn ns_per_op<T>(reps: usize, ops: usize, mut f: impl FnMut() -> T) -> Stat {
    let result = try_cpu_ns_per_op(reps, ops, || Ok(f()));
    result.unwrap_or_else(|_| Stat::of(Vec::new()))
}

/// Like [`ns_per_op`] for a fallible kernel.
pub fn try_ns_per_op<T>(
    reps: usize,
    ops: usize,
    f: impl FnMut() -> crate::Result<T>,
) -> crate::Result<Stat> {
    try_cpu_ns_per_op(reps, ops, f)
}

/// Converts durations to a [`Stat`] in milliseconds.
pub fn ms(samples: &[Duration]) -> Stat {
    Stat::of(samples.iter().map(|d| d.as_secs_f64() * 1e3).collect())
}

/// Converts durations to a [`Stat`] in microseconds.
pub fn us(samples: &[Duration]) -> Stat {
    Stat::of(samples.iter().map(|d| d.as_secs_f64() * 1e6).collect())
}

/// Resident set of this process from `/proc/self/statm`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Resident {
    /// Resident bytes (anonymous and file-backed).
    pub resident: u64,
    /// Resident file-backed or shared bytes (mapped blob pages count here).
    pub shared: u64,
}

impl Resident {
    /// Reads `/proc/self/statm`; zero when it cannot be read (not Linux).
    pub fn now() -> Self {
        let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
            return Self::default();
        };
        let mut fields = text
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0));
        let _size = fields.next();
        let resident = fields.next().unwrap_or(0);
        let shared = fields.next().unwrap_or(0);
        let page = 4096; // Linux x86-64 and aarch64 default page size.
        Self {
            resident: resident * page,
            shared: shared * page,
        }
    }

    /// `self - before`, saturating at zero.
    pub fn since(self, before: Self) -> ResidentDelta {
        ResidentDelta {
            resident: i128::from(self.resident) - i128::from(before.resident),
            shared: i128::from(self.shared) - i128::from(before.shared),
        }
    }
}

/// Growth of the resident set across an operation, in bytes (may be negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ResidentDelta {
    /// Change of resident bytes.
    pub resident: i128,
    /// Change of resident shared (file-backed) bytes.
    pub shared: i128,
}

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// A global allocator that counts live heap bytes, for consumer-heap figures.
///
/// Install it in a binary with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
/// Only Rust allocations are counted: SQLite and LMDB allocate through libc directly.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are plain atomics and never affect the allocation itself.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's (valid, non-zero-size) layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's (valid, non-zero-size) layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr`/`layout` come from this allocator and `new_size`
        // is valid for `layout`'s alignment.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
}

/// Live heap bytes counted by [`CountingAlloc`], or `None` when it is not the global allocator.
pub fn live_heap_bytes() -> Option<usize> {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let probe = std::hint::black_box(Box::new(0u64));
    drop(probe);
    (ALLOCATIONS.load(Ordering::Relaxed) != before).then(|| LIVE_BYTES.load(Ordering::Relaxed))
}

/// Reads `path` back once so it is in the page cache (the benchmarks measure warm opens).
pub fn warm_page_cache(path: &std::path::Path) -> crate::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    Ok(std::io::copy(&mut file, &mut std::io::sink())?)
}

/// Bytes of `bytes` compressed by zstd at level 3.
pub fn zstd3_len(bytes: &[u8]) -> crate::Result<u64> {
    Ok(zstd::bulk::compress(bytes, 3)?.len() as u64)
}

/// Bytes of the file at `path` compressed by zstd at level 3.
pub fn zstd3_file_len(path: &std::path::Path) -> crate::Result<u64> {
    zstd3_len(&std::fs::read(path)?)
}

/// Nanoseconds this thread has spent on a CPU (`CLOCK_THREAD_CPUTIME_ID`). Unlike wall time, it
/// does not count the time the thread waited for a CPU while other processes ran: the figure to
/// time kernels with on a shared machine (cache and memory-bandwidth contention still count).
pub fn thread_cpu_ns() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u64::try_from(t.tv_nsec).ok()?;
    Some(secs * 1_000_000_000 + nanos)
}

/// Like [`try_ns_per_op`], timed in on-CPU time ([`thread_cpu_ns`]) when the kernel reports it,
/// else in wall time.
pub fn try_cpu_ns_per_op<T>(
    reps: usize,
    ops: usize,
    mut f: impl FnMut() -> crate::Result<T>,
) -> crate::Result<Stat> {
    std::hint::black_box(f()?);
    let ops = ops.max(1) as f64;
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let (cpu, wall) = (thread_cpu_ns(), Instant::now());
        std::hint::black_box(f()?);
        let elapsed = wall.elapsed().as_secs_f64() * 1e9;
        #[allow(clippy::cast_precision_loss)]
        let ns = match (cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64,
            _ => elapsed,
        };
        samples.push(ns / ops);
    }
    Ok(Stat::of(samples))
}
