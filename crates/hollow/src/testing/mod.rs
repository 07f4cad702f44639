//! Test support for stores, behind the cargo feature `testing` (not part of the stable API; the
//! crate's own tests enable it through a dev-dependency on the crate itself).
//!
//! - [`conformance`]: one public function per behaviour every `BlobStore` backend must have,
//!   and [`conformance::run_all`] to check a backend with one call.
//! - [`FaultyStore`]: an `ObjectStore` wrapper that counts and logs calls and fails those that
//!   [`Fault`] rules choose (the N-th call, a kind of call, calls on some keys; before the call
//!   or after it took effect).

pub mod conformance;
mod faulty;

pub use faulty::{Call, Fault, FaultyStore, Operation, Timing};

/// The named points inside a local directory store's announcement where
/// [`arm_crash_point`] can kill the process (they are not store calls, so `Fault` cannot):
/// the lock taken, the temporary file written and fsynced, the rename done (before the
/// directory's fsync).
pub const LOCAL_ANNOUNCE_CRASH_POINTS: [&str; 3] = [
    "announce:locked",
    "announce:temp-written",
    "announce:renamed",
];

static ARMED_CRASH_POINT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Arms a crash point: when this process next reaches the point `name` (one of
/// [`LOCAL_ANNOUNCE_CRASH_POINTS`]) it is killed with SIGKILL, as `Fault::kill` does at a store
/// call. For crash tests that run a producer in a child process.
pub fn arm_crash_point(name: &str) {
    if let Ok(mut armed) = ARMED_CRASH_POINT.lock() {
        *armed = Some(name.to_string());
    }
}

/// Called at each named point; kills the process when that point is armed.
pub(crate) fn crash_point(name: &str) {
    let armed = ARMED_CRASH_POINT
        .lock()
        .map(|a| a.as_deref() == Some(name))
        .unwrap_or(false);
    if armed {
        faulty::kill_this_process();
    }
}

use std::path::Path;

use crate::error::StoreError;
use crate::store::BlobStore;

/// A local directory store (as [`BlobStore::local`]) whose object-store calls go through a
/// [`FaultyStore`]: blobs are written and read through it, while the announcement's file lock
/// and the mapping of blobs stay direct, as on a real local store.
pub fn local_store_with_faults(
    dir: impl AsRef<Path>,
) -> Result<(BlobStore, FaultyStore), StoreError> {
    let mut faulty = None;
    let store = BlobStore::local_wrapped(dir, |fs| {
        let f = FaultyStore::new(fs);
        faulty = Some(f.clone());
        std::sync::Arc::new(f)
    })?;
    let faulty = faulty.ok_or_else(|| {
        StoreError::io("<local store>", std::io::Error::other("store not wrapped"))
    })?;
    Ok((store, faulty))
}
