//! Memory of many consumer processes serving one version: each process's proportional set
//! size (PSS: a page shared by n processes counts 1/n to each), read from `/proc/PID/smaps`.
//! The sum of the PSS of every process is the memory the host really spends on them, so
//! consumers that share one copy of the blob bytes through the page cache sum to about one
//! process's figure, and consumers holding private copies sum to n times it.

use std::path::Path;

use serde::Serialize;

use crate::Result;

/// One process's memory, in bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Proportional set size of the whole process.
    pub pss: u64,
    /// Its anonymous part (heap, stacks, private copies).
    pub pss_anon: u64,
    /// Proportional set size of the mappings of files under the store directory (the blobs).
    pub blob_pss: u64,
    /// Resident bytes of those mappings (what one process alone would be charged).
    pub blob_rss: u64,
}

/// Reads `pid`'s memory; blob mappings are the file mappings whose path is under `store`.
#[cfg(target_os = "linux")]
pub fn process_memory(pid: u32, store: &Path) -> Result<ProcessMemory> {
    let pid = i32::try_from(pid)?;
    let process = procfs::process::Process::new(pid)?;
    let mut memory = ProcessMemory::default();
    let rollup = process.smaps_rollup()?;
    for map in rollup.memory_map_rollup.iter() {
        let get = |k: &str| map.extension.map.get(k).copied().unwrap_or(0);
        memory.pss += get("Pss");
        memory.pss_anon += get("Pss_Anon");
    }
    for map in process.smaps()?.iter() {
        if let procfs::process::MMapPath::Path(path) = &map.pathname
            && path.starts_with(store)
        {
            let get = |k: &str| map.extension.map.get(k).copied().unwrap_or(0);
            memory.blob_pss += get("Pss");
            memory.blob_rss += get("Rss");
        }
    }
    Ok(memory)
}

/// Not available off Linux.
#[cfg(not(target_os = "linux"))]
pub fn process_memory(_pid: u32, _store: &Path) -> Result<ProcessMemory> {
    Err("PSS is read from /proc: Linux only".into())
}

/// One measurement: the same version served by `processes` consumer processes.
#[derive(Debug, Clone, Serialize)]
pub struct SharedMemoryReport {
    /// Memory mode of the consumers (`shared` or `private`).
    pub mode: String,
    /// Bytes of the blobs the consumers serve.
    pub blob_bytes: u64,
    /// One consumer process alone.
    pub one: ProcessMemory,
    /// Each of `processes` consumer processes running together.
    pub each: Vec<ProcessMemory>,
}

impl SharedMemoryReport {
    /// Sum of the PSS of the processes running together.
    pub fn total_pss(&self) -> u64 {
        self.each.iter().map(|m| m.pss).sum()
    }

    /// Sum of their blob mappings' PSS: the blob bytes the host holds for all of them.
    pub fn total_blob_pss(&self) -> u64 {
        self.each.iter().map(|m| m.blob_pss).sum()
    }

    /// Sum of their anonymous PSS.
    pub fn total_anon(&self) -> u64 {
        self.each.iter().map(|m| m.pss_anon).sum()
    }

    /// Total PSS of all processes over one process's PSS (1.0: they cost what one costs).
    pub fn total_ratio(&self) -> f64 {
        self.total_pss() as f64 / self.one.pss.max(1) as f64
    }
}
