//! Compare-and-swap of the announcement on a local directory, where `object_store` has no
//! `PutMode::Update`: an exclusive file lock around read, compare and atomic rename.

use std::io::{Seek, Write};
use std::path::Path as FsPath;
use std::time::{Duration, Instant};

use super::ANNOUNCED;
use super::announcement::{AnnouncementVersion, VersionToken};
use crate::error::{Result, StoreError};

/// Compare-and-swap on a local directory: an exclusive lock on `announced.lock` around reading,
/// comparing and atomically renaming the announcement. The lock is held for milliseconds; a
/// producer that cannot take it within `wait` (its holder was stopped, or hangs) fails with a
/// message naming the holder's process id, which the holder writes into the lock file.
pub(super) fn announce_local(
    dir: &FsPath,
    expected: Option<&AnnouncementVersion>,
    bytes: &[u8],
    wait: Duration,
) -> Result<AnnouncementVersion, StoreError> {
    let lock_path = dir.join("announced.lock");
    let mut lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::io(&lock_path, e))?;
    let deadline = Instant::now() + wait;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                // Polling a lock another process holds (there is nothing to wait on).
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "an unknown process"
                } else {
                    holder
                };
                return Err(StoreError::Conflict {
                    reason: format!(
                        "{} is held by {holder} for more than {:?}: another producer is announcing, \
                         or was stopped while it did (end it, or remove the lock file if no process \
                         holds it)",
                        lock_path.display(),
                        wait
                    ),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&lock_path, e)),
        }
    }
    // Say who holds the lock, for a producer that has to wait for it.
    let _ = lock
        .set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| writeln!(lock, "process {}", std::process::id()));
    #[cfg(feature = "testing")]
    crate::testing::crash_point("announce:locked");
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
    // Under the lock no one else writes a temporary: any there is a killed process's.
    super::staging::remove_announcement_temps(dir);
    let tmp = dir.join(format!("{ANNOUNCED}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        #[cfg(feature = "testing")]
        crate::testing::crash_point("announce:temp-written");
        std::fs::rename(&tmp, &path)?;
        #[cfg(feature = "testing")]
        crate::testing::crash_point("announce:renamed");
        Ok(())
    };
    if let Err(e) = write() {
        // A full disk, say: leave nothing half-written behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io(&path, e));
    }
    // The rename is durable only once the directory entry is.
    super::durable::sync_dir(dir)?;
    drop(lock);
    Ok(AnnouncementVersion(VersionToken::Content(
        xxhash_rust::xxh3::xxh3_64(bytes),
    )))
}
