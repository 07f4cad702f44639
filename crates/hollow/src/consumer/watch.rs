//! The announcement watcher of [`RefreshPolicy::OnAnnouncement`](super::RefreshPolicy): a poll
//! timer raced with the store's in-process announcement channel, refreshing when the
//! announcement or the pin changed.
//!
//! The announcement token and pin are read *before* each refresh and remembered as seen: an
//! announcement that lands while the refresh runs then differs from what was seen, and the next
//! poll refreshes again. (Reading them after the refresh recorded the newer announcement as
//! seen while serving the older version: a lost wake-up.)

use std::sync::Weak;
use std::time::Duration;

use tracing::warn;

use super::Inner;

/// Runs until the consumer is dropped (its `Inner` goes) or the store's channel closes.
pub(super) async fn watch(
    inner: Weak<Inner>,
    mut announced: tokio::sync::watch::Receiver<u64>,
    poll_interval: Duration,
) {
    let mut seen: Option<(crate::store::AnnouncementVersion, Option<crate::StateId>)> = None;
    loop {
        // The poll timer of RefreshPolicy::OnAnnouncement (a remote store cannot push), raced
        // with the in-process announcement channel.
        let woken = tokio::select! {
            _ = tokio::time::sleep(poll_interval) => false,
            changed = announced.changed() => if changed.is_err() { return } else { true },
        };
        let Some(inner) = inner.upgrade() else { return };
        // A poll reads the announcement with a conditional GET, and the pin; when neither
        // changed (and the last refresh did not fail) there is nothing to do.
        if !woken && let Some((token, pin)) = &seen {
            let changed = inner
                .store
                .announcement_changed(Some(token))
                .await
                .unwrap_or(true);
            let pin_now = inner.store.pinned().await.unwrap_or(None);
            if !changed && pin_now == *pin {
                continue;
            }
        }
        let token = inner
            .store
            .announcement()
            .await
            .ok()
            .flatten()
            .map(|(_, t)| t);
        let pin = inner.store.pinned().await.unwrap_or(None);
        match inner.refresh(None).await {
            Ok(_) => {
                seen = token.map(|t| (t, pin));
            }
            Err(e) => {
                seen = None;
                warn!(
                    error = %crate::error::error_chain(&e),
                    "refresh on announcement failed; the current state keeps serving"
                );
            }
        }
    }
}
