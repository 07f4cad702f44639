//! The consumer's local blob cache: where a blob's bytes come from (mapped in place from a
//! local directory store, mapped from the cache directory after one download, or read into
//! memory), the verification markers of cached snapshots, and removing what the current state
//! no longer uses.

use std::collections::HashSet;
use std::path::PathBuf;

use tracing::warn;

use crate::bytes::BlobBytes;
use crate::error::{OpenError, RefreshError, Result};
use crate::store::{BlobKey, BlobStore};

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
            let bytes = self.store.get_blob(key).await?;
            let tmp = dir.join(format!(
                ".{}.{}.tmp",
                key.relative().replace('/', "_"),
                std::process::id()
            ));
            std::fs::write(&tmp, bytes.as_slice()).map_err(|e| OpenError::io(&tmp, e))?;
            // Cached blobs are read-only: nothing of hollow's writes them again, and a mapping
            // must not see a rewrite (sections are verified on first use all the same).
            let mut permissions = std::fs::metadata(&tmp)
                .map_err(|e| OpenError::io(&tmp, e))?
                .permissions();
            permissions.set_readonly(true);
            std::fs::set_permissions(&tmp, permissions).map_err(|e| OpenError::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| OpenError::io(&path, e))?;
        }
        Ok(BlobBytes::map_file(&path)?)
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

    /// Removes cached blobs the current state does not use. States still held by readers keep
    /// their mappings (an unlinked file stays mapped until its last mapping goes).
    pub(super) fn clean(&self, live: &[BlobKey]) {
        let Some(dir) = &self.dir else { return };
        let keep: HashSet<String> = live
            .iter()
            .map(|k| k.relative().replace('/', "_"))
            .collect();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let blob_name = name.strip_suffix(".verified").unwrap_or(&name);
            if blob_name.ends_with(".blob") && !keep.contains(blob_name) {
                let _ = std::fs::remove_file(entry.path());
            }
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
