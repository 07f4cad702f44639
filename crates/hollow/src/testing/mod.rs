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
