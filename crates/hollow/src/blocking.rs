//! CPU-heavy stages called from async code (populate, encode, verify, applying deltas).
//!
//! On a multi-threaded tokio runtime the work runs under [`tokio::task::block_in_place`]: the
//! worker thread hands its other tasks to the rest of the pool first, so a cycle that encodes
//! for seconds does not stall the executor. Unlike `spawn_blocking` it can borrow (the producer's
//! write state stays behind its lock, the caller's populate closure need not be `'static`). On a
//! current-thread runtime, or outside one, it simply runs.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work`, letting the runtime move other tasks off this thread while it does.
pub(crate) fn cpu<R>(work: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
