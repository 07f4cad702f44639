//! Background compaction: once the serving state carries `compact_after` overlaid deltas, a
//! blocking task folds it into an in-memory snapshot ([`ReadState::compacted`]) off the read
//! and refresh paths, and the result replaces the serving state if that is still the state it
//! was built from (a refresh that landed meanwhile wins; the next refresh tries again). One
//! compaction at a time, on one blocking thread: its CPU share is bounded by one core while it
//! runs. Readers holding the overlaid state keep it until they drop it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::{info, warn};

use super::Inner;
use crate::read::ReadState;

impl Inner {
    /// Starts a compaction of the serving state when it is due and none is running.
    pub(super) fn maybe_compact(self: &Arc<Self>) {
        let Some(at) = self.compact_after else {
            return;
        };
        let Some(state) = self.current.load_full() else {
            return;
        };
        if state.overlay_depth() < at {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::downgrade(self);
        runtime.spawn(async move {
            let started = Instant::now();
            let from = state.state_id();
            let depth = state.overlay_depth();
            let built = tokio::task::spawn_blocking(move || state.compacted()).await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            match built {
                Ok(Ok(compacted)) => inner.swap_compacted(compacted, depth, started).await,
                Ok(Err(e)) => warn!(
                    version = from.version,
                    error = %crate::error::error_chain(&e),
                    "compaction failed; the overlaid state keeps serving"
                ),
                Err(e) => warn!(version = from.version, error = %e, "compaction task failed"),
            }
            inner.compacting.store(false, Ordering::Release);
        });
    }

    /// Serves `compacted` if the serving state is still the one it was built from.
    async fn swap_compacted(&self, compacted: ReadState, depth: usize, started: Instant) {
        // Under the refresh lock: no refresh swaps the state between the check and the store.
        let _refreshing = self.refreshing.lock().await;
        let serving = self.current.load_full().map(|s| s.state_id());
        if serving == Some(compacted.state_id()) {
            info!(
                version = compacted.version(),
                deltas = depth,
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                "compacted the serving state"
            );
            let version = compacted.version();
            self.current.store(Some(Arc::new(compacted)));
            self.emit(&super::RefreshEvent::Compacted {
                version,
                deltas: depth,
                elapsed: started.elapsed(),
            });
        }
    }
}
