//! Compare-and-swap of the announcement on a local directory, where `object_store` has no
//! `PutMode::Update`: an exclusive file lock around read, compare and atomic rename.

use std::path::Path as FsPath;

use super::ANNOUNCED;
use super::announcement::{AnnouncementVersion, VersionToken};
use crate::error::{Result, StoreError};

/// Compare-and-swap on a local directory: an exclusive lock on `announced.lock` around reading,
/// comparing and atomically renaming the announcement.
pub(super) fn announce_local(
    dir: &FsPath,
    expected: Option<&AnnouncementVersion>,
    bytes: &[u8],
) -> Result<AnnouncementVersion, StoreError> {
    let lock_path = dir.join("announced.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::io(&lock_path, e))?;
    lock.lock().map_err(|e| StoreError::io(&lock_path, e))?;
    let path = dir.join(ANNOUNCED);
    let current = match std::fs::read(&path) {
        Ok(b) => Some(AnnouncementVersion(VersionToken::Content(
            xxhash_rust::xxh3::xxh3_64(&b),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    if current.as_ref() != expected {
        return Err(StoreError::Conflict {
            reason: "another producer announced first".into(),
        });
    }
    let tmp = dir.join(format!("{ANNOUNCED}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| StoreError::io(&path, e))?;
    // The rename is durable only once the directory entry is.
    super::durable::sync_dir(dir)?;
    drop(lock);
    Ok(AnnouncementVersion(VersionToken::Content(
        xxhash_rust::xxh3::xxh3_64(bytes),
    )))
}
