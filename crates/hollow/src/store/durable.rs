//! Durability of a local directory store: what is announced has reached the disk first.
//!
//! `object_store`'s local file system writes a blob to a temporary file and links it into place
//! but never calls `fsync`, so after a power cut an announcement could name a blob whose bytes
//! (or whose directory entry) never reached the disk. The order kept here: the blob's data, then
//! the directories naming it, before the producer announces; the announcement's own data before
//! its rename, and its directory after (see `local_cas.rs`).

use std::fs::File;
use std::path::Path;

use crate::error::StoreError;

/// Flushes a directory's entries (a new or renamed file in it) to the disk.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// After a blob was written under `dir/relative`: flushes its data and every directory from its
/// own up to `dir` (a first blob of a kind also created its directory), and makes the file
/// read-only (a published blob is never written again; consumers may map it in place).
pub(super) fn seal_local_blob(dir: &Path, relative: &str) -> Result<(), StoreError> {
    let path = dir.join(relative);
    let file = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
    file.sync_all().map_err(|e| StoreError::io(&path, e))?;
    let mut permissions = file
        .metadata()
        .map_err(|e| StoreError::io(&path, e))?
        .permissions();
    permissions.set_readonly(true);
    if let Err(e) = std::fs::set_permissions(&path, permissions) {
        tracing::warn!(path = %path.display(), error = %e, "could not make a published blob read-only");
    }
    let mut parent = path.parent();
    while let Some(p) = parent {
        sync_dir(p)?;
        if p == dir {
            break;
        }
        parent = p.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_blob_is_read_only_and_its_directories_sync() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("snapshots")).expect("mkdir");
        std::fs::write(dir.path().join("snapshots/a.blob"), b"bytes").expect("write");
        seal_local_blob(dir.path(), "snapshots/a.blob").expect("seal");
        let meta = std::fs::metadata(dir.path().join("snapshots/a.blob")).expect("meta");
        assert!(meta.permissions().readonly());
        assert!(seal_local_blob(dir.path(), "snapshots/missing.blob").is_err());
    }
}
