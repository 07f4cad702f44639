//! Cycle listeners: how a library user learns what each cycle did (metrics, logs, alerts)
//! without wrapping every call. The CLI's `produce --watch --metrics-bind` is one listener.

use crate::error::CycleError;

use super::CycleReport;

/// What a cycle of [`crate::Producer`] did, for [`CycleListener`]s.
#[derive(Debug)]
#[non_exhaustive]
pub enum CycleEvent<'a> {
    /// A new version was announced: its report (counts per type, blob bytes, stage timings).
    Published(&'a CycleReport),
    /// Nothing changed: no blob, no announcement.
    Unchanged {
        /// The announced version, unchanged.
        version: u64,
    },
    /// The cycle failed (refused, validation, store, conflict…): nothing was announced.
    Failed(&'a CycleError),
}

/// Receives a [`CycleEvent`] at the end of every cycle, on the cycle's task: keep it quick.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> hollow::Result<()> {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use hollow::{BlobStore, CycleEvent, Producer};
/// use hollow_movies::movies_capnp::movie;
///
/// let published = Arc::new(AtomicU64::new(0));
/// let seen = published.clone();
/// let producer = Producer::builder(BlobStore::memory(), "movies")
///     .register::<movie::Owned>()
///     .listener(move |event: &CycleEvent<'_>| {
///         if let CycleEvent::Published(report) = event {
///             seen.store(report.version, Ordering::Relaxed);
///         }
///     })
///     .build()
///     .await?;
/// producer
///     .run_cycle(|cycle| {
///         let mut message = capnp::message::Builder::new_default();
///         let mut m = message.init_root::<movie::Builder>();
///         m.set_id(1);
///         cycle.add::<movie::Owned>(m.into_reader())
///     })
///     .await?;
/// assert_eq!(published.load(Ordering::Relaxed), 1);
/// # Ok(()) }
/// ```
pub trait CycleListener: Send + Sync {
    /// One cycle's outcome.
    fn on_cycle(&self, event: &CycleEvent<'_>);
}

impl<F: Fn(&CycleEvent<'_>) + Send + Sync> CycleListener for F {
    fn on_cycle(&self, event: &CycleEvent<'_>) {
        self(event);
    }
}
