//! Staging files a killed process leaves in a local directory store, and their removal.
//!
//! Two kinds: `announced.json.<pid>.tmp` (the announcement before its rename, `local_cas.rs`)
//! and `<blob>#<n>` (`object_store`'s local file system writes a blob there before linking it
//! into place). Neither is ever read: blob listings skip names that are not blob keys, and the
//! announcement is only read from `announced.json`. They are removed so they do not pile up:
//! announcement temporaries by the producer that holds the announcement lock (no one else can be
//! writing one then), blob staging files by a producer starting on the store once they are older
//! than [`BLOB_STAGING_MAX_AGE`] (a blob's upload never takes that long; one that did belonged to
//! a cycle that has failed since).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::ANNOUNCED;
use super::key::BLOB_DIRS;

/// Age after which a blob staging file (`<blob>#<n>`) is taken to be a dead process's.
pub const BLOB_STAGING_MAX_AGE: Duration = Duration::from_secs(3600);

/// Removes every `announced.json.*.tmp` in `dir`. Call only while holding the announcement lock.
pub(super) fn remove_announcement_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{ANNOUNCED}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            remove(&entry.path());
        }
    }
}

/// Removes blob staging files (`*.blob#<digits>`) under `dir`'s blob directories whose last
/// modification is older than `max_age`. Returns the paths removed.
pub(crate) fn remove_stale_blob_staging(dir: &Path, max_age: Duration) -> Vec<PathBuf> {
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for kind in BLOB_DIRS {
        let Ok(entries) = std::fs::read_dir(dir.join(kind)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let staging = name.rsplit_once('#').is_some_and(|(blob, n)| {
                blob.ends_with(".blob") && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            });
            if !staging {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= max_age);
            if old && remove(&entry.path()) {
                removed.push(entry.path());
            }
        }
    }
    removed
}

fn remove(path: &Path) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed a staging file a failed write left");
            true
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a staging file");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_staging_files_go_and_everything_else_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("snapshots")).expect("mkdir");
        let keep = [
            "snapshots/00000000000000000001-0000000000000001.blob",
            "snapshots/notes#1",
            "snapshots/x.blob#",
            "snapshots/x.blob#1a",
            "announced.json",
        ];
        let stale = ["snapshots/00000000000000000001-0000000000000002.blob#3"];
        for name in keep.iter().chain(&stale) {
            std::fs::write(d.join(name), b"x").expect("write");
        }
        std::fs::write(d.join("announced.json.4242.tmp"), b"{").expect("write");

        // Nothing is old enough yet.
        assert!(remove_stale_blob_staging(d, Duration::from_secs(3600)).is_empty());
        let removed = remove_stale_blob_staging(d, Duration::ZERO);
        assert_eq!(removed, vec![d.join(stale[0])]);
        remove_announcement_temps(d);
        assert!(!d.join("announced.json.4242.tmp").exists());
        for name in keep {
            assert!(d.join(name).exists(), "{name} must stay");
        }
    }
}
