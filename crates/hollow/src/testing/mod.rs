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
