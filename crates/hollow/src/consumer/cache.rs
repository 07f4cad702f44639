//! The consumer's local blob cache: where a blob's bytes come from (mapped in place from a
//! local directory store, mapped from the cache directory after one download, or read into
//! memory), the verification markers of cached snapshots, and removing what the current state
//! no longer uses.

use std::collections::HashSet;
use std::path::PathBuf;

use tracing::{debug, warn};

use crate::bytes::BlobBytes;
use crate::error::{OpenError, RefreshError, Result, StoreError};
use crate::store::{BlobKey, BlobStore, WireError};

/// A temporary download file this old was left by a process that died: `clean` removes it.
const ABANDONED_DOWNLOAD: std::time::Duration = std::time::Duration::from_secs(3600);

/// Opens blobs for a consumer.
///
/// Where bytes come from, safest first:
/// - with a cache directory, every blob (of a remote store or of a local directory) is copied
///   into it once, made read-only and mapped from there: the consumer's own immutable copy,
///   shared through the page cache by every process using the same directory;
/// - without one, blobs are read into memory;
/// - only when the consumer opted in ([`ConsumerBuilder::map_local_store_in_place`]) are a
///   local directory store's files mapped where the producer wrote them. That shares the
///   producer's page cache and copies nothing, but a program that truncates or rewrites a
///   published blob then crashes the process (SIGBUS) or changes what it reads.
///
/// [`ConsumerBuilder::map_local_store_in_place`]: super::ConsumerBuilder::map_local_store_in_place
pub(super) struct BlobCache {
    store: BlobStore,
    /// The cache directory, if the consumer has one.
    dir: Option<PathBuf>,
    /// Map a local directory store's files in place (opt-in).
    map_in_place: bool,
}

impl BlobCache {
    /// A cache over `store`, keeping files in `dir` (created here).
    pub(super) fn new(
        store: BlobStore,
        dir: Option<PathBuf>,
        map_in_place: bool,
    ) -> Result<Self, RefreshError> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|e| OpenError::io(dir, e))?;
        }
        Ok(BlobCache {
            store,
            dir,
            map_in_place,
        })
    }

    /// Whether blobs are mapped in place from a local directory store.
    fn in_place(&self) -> bool {
        self.map_in_place && self.store.local_dir().is_some()
    }

    /// The cache directory, when blobs go through it.
    fn copy_dir(&self) -> Option<&PathBuf> {
        self.dir.as_ref().filter(|_| !self.in_place())
    }

    /// A blob's bytes: mapped from the cache (copied there once), read into memory, or mapped
    /// in place from a local store (opt-in).
    pub(super) async fn open(&self, key: &BlobKey) -> Result<BlobBytes, RefreshError> {
        if self.in_place() {
            return Ok(self.store.open_blob(key).await?);
        }
        let Some(dir) = self.copy_dir() else {
            return Ok(self.store.get_blob(key).await?);
        };
        let path = dir.join(key.relative().replace('/', "_"));
        if !path.exists() {
            self.download(key, dir, &path).await?;
        }
        Ok(BlobBytes::map_file(&path)?)
    }

    /// Downloads `key` into the cache as `path`: streamed and decoded (a compressed blob is
    /// stored decompressed, checked against its envelope's length and checksum) into a temporary
    /// file, synced, made read-only, then renamed into place, so the cache never holds a partial
    /// blob under a blob's name.
    async fn download(
        &self,
        key: &BlobKey,
        dir: &std::path::Path,
        path: &std::path::Path,
    ) -> Result<(), RefreshError> {
        // Unique per download (process and call): two consumers sharing the directory never
        // write one temporary file.
        static DOWNLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = DOWNLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}.{n}.tmp",
            key.relative().replace('/', "_"),
            std::process::id()
        ));
        let file = std::fs::File::create(&tmp).map_err(|e| OpenError::io(&tmp, e))?;
        let sink = std::io::BufWriter::with_capacity(1 << 20, file);
        let written = match self.store.download_blob(key, sink).await {
            Ok((_, sink)) => sink
                .into_inner()
                .map_err(std::io::IntoInnerError::into_error)
                .and_then(|file| file.sync_data())
                .map_err(|e| OpenError::io(&tmp, e).into()),
            Err(StoreError::Wire {
                source: WireError::Sink(e),
                ..
            }) => Err(OpenError::io(&tmp, e).into()),
            Err(e) => Err(RefreshError::from(e)),
        };
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // Cached blobs are read-only: nothing of hollow's writes them again, and a mapping
        // must not see a rewrite (sections are verified on first use all the same).
        let mut permissions = std::fs::metadata(&tmp)
            .map_err(|e| OpenError::io(&tmp, e))?
            .permissions();
        permissions.set_readonly(true);
        std::fs::set_permissions(&tmp, permissions).map_err(|e| OpenError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| OpenError::io(path, e))?;
        Ok(())
    }

    /// Where the verification record of a cached snapshot lives (only for blobs copied into the
    /// cache: a local store's files mapped in place belong to the producer).
    fn verified_marker(&self, key: &BlobKey) -> Option<PathBuf> {
        let dir = self.copy_dir()?;
        Some(dir.join(format!("{}.verified", key.relative().replace('/', "_"))))
    }

    /// Whether the snapshot `key` with these bytes was verified before (by this process or an
    /// earlier one on the same cache).
    pub(super) fn was_verified(&self, key: &BlobKey, bytes: &[u8]) -> bool {
        self.verified_marker(key)
            .is_some_and(|m| verified_before(&m, bytes))
    }

    /// Remembers that the snapshot `key` with these bytes verified, next to the cached blob, so
    /// reopening it (this process or the next) skips the section checksums.
    pub(super) fn record_verified(&self, key: &BlobKey, bytes: &[u8]) {
        if let Some(marker) = self.verified_marker(key) {
            remember_verified(&marker, bytes);
        }
    }

    /// Removes cached blobs the current state does not use, except the most recently
    /// downloaded ones up to `keep_bytes` in all (so moving back and forth between versions, or
    /// the next CLI invocation, need not download them again). States still held by readers
    /// keep their mappings (an unlinked file stays mapped until its last mapping goes).
    pub(super) fn clean(&self, live: &[BlobKey], keep_bytes: u64) {
        let Some(dir) = self.copy_dir() else { return };
        let keep: HashSet<String> = live
            .iter()
            .map(|k| k.relative().replace('/', "_"))
            .collect();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut spare = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".blob") && !keep.contains(&name) {
                let Ok(meta) = entry.metadata() else { continue };
                let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                spare.push((modified, meta.len(), entry.path()));
            } else if name.starts_with('.')
                && name.ends_with(".tmp")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > ABANDONED_DOWNLOAD)
            {
                // A download a crashed process left behind.
                let _ = std::fs::remove_file(entry.path());
            } else if let Some(blob) = name.strip_suffix(".verified")
                && !dir.join(blob).exists()
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        // Newest first: keep while they fit.
        spare.sort_by_key(|s| std::cmp::Reverse(s.0));
        let mut kept = 0u64;
        for (_, len, path) in spare {
            if kept.saturating_add(len) <= keep_bytes {
                kept += len;
                continue;
            }
            debug!(path = %path.display(), bytes = len, "removing a cached blob");
            let _ = std::fs::remove_file(&path);
            let mut marker = path.into_os_string();
            marker.push(".verified");
            let _ = std::fs::remove_file(marker);
        }
    }
}

/// What identifies a verified blob: its length and its header checksum, which covers the
/// header and every section checksum.
fn blob_identity(bytes: &[u8]) -> Option<String> {
    let checksum = crate::format::header::checksum_bytes(bytes)?;
    Some(format!(
        "{} {}",
        bytes.len(),
        checksum
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

fn verified_before(marker: &std::path::Path, bytes: &[u8]) -> bool {
    std::fs::read_to_string(marker)
        .ok()
        .zip(blob_identity(bytes))
        .is_some_and(|(m, id)| m.trim() == id)
}

fn remember_verified(marker: &std::path::Path, bytes: &[u8]) {
    if let Some(id) = blob_identity(bytes) {
        let tmp = marker.with_extension("verified.tmp");
        if std::fs::write(&tmp, id)
            .and_then(|()| std::fs::rename(&tmp, marker))
            .is_err()
        {
            warn!(marker = %marker.display(), "could not record a verified blob; it will be verified again");
        }
    }
}
