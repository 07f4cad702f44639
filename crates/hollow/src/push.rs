//! Push announcements over NATS (feature `nats`): a producer publishes "version N announced" on
//! a subject right after its compare-and-swap succeeds, and consumers subscribed to it refresh
//! at once instead of waiting for their next poll.
//!
//! The store stays the only source of truth. A message carries no data a consumer trusts: it
//! only wakes the consumer's watcher, which then reads the announcement from the store as a
//! poll would. So a lost, late, duplicated or forged message costs at most one extra read; a
//! consumer that misses messages (the broker restarting, a network partition) still converges
//! through its poll timer, which keeps running as the fallback. Publishing is best-effort: a
//! producer whose broker is down logs a warning and the cycle still succeeds.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use hollow::push::NatsAnnouncements;
//! use hollow::{BlobStore, Consumer, RefreshPolicy};
//!
//! let store = BlobStore::from_url("s3://bucket/movies")?;
//! let push = NatsAnnouncements::connect("nats://127.0.0.1:4222", "hollow.announced.movies").await?;
//! let consumer = Consumer::builder(store)
//!     .refresh_policy(RefreshPolicy::OnAnnouncement { poll_interval: Duration::from_secs(30) })
//!     .push(push)
//!     .build()
//!     .await?;
//! # Ok(()) }
//! ```

use futures_util::StreamExt;
use tracing::{debug, info, warn};

/// The longest a producer waits for the broker to take an announcement.
pub const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Connecting to the broker or subscribing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The broker could not be reached (or the URL is not a NATS URL).
    #[error("could not connect to NATS at {url}")]
    Connect {
        /// The server URL.
        url: String,
        /// async-nats's error.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The subject is not a valid NATS subject for publishing (empty, wildcards, spaces).
    #[error("{subject:?} is not a NATS subject to publish announcements on: {reason}")]
    InvalidSubject {
        /// The subject.
        subject: String,
        /// Why.
        reason: &'static str,
    },
    /// Subscribing to the subject failed.
    #[error("could not subscribe to {subject}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// async-nats's error.
        #[source]
        source: async_nats::SubscribeError,
    },
}

/// A NATS connection and the subject announcements of one dataset travel on.
#[derive(Clone, Debug)]
pub struct NatsAnnouncements {
    client: async_nats::Client,
    subject: String,
}

/// The default subject of a dataset: `hollow.announced.<dataset>`, with every character NATS
/// does not allow in a subject token (`.`, `*`, `>`, whitespace, …) replaced by `_`.
pub fn default_subject(dataset: &str) -> String {
    let token: String = dataset
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let token = if token.is_empty() { "_".into() } else { token };
    format!("hollow.announced.{token}")
}

fn check_subject(subject: &str) -> Result<(), PushError> {
    let invalid = |reason| PushError::InvalidSubject {
        subject: subject.to_string(),
        reason,
    };
    if subject.is_empty() || subject.split('.').any(str::is_empty) {
        return Err(invalid("it has an empty token"));
    }
    if subject.contains(['*', '>']) {
        return Err(invalid("wildcards cannot be published to"));
    }
    if subject.chars().any(char::is_whitespace) {
        return Err(invalid("it contains whitespace"));
    }
    Ok(())
}

impl NatsAnnouncements {
    /// Connects to the NATS server at `url` (`nats://host:port`, or several comma-separated);
    /// announcements travel on `subject` (see [`default_subject`]). The client reconnects on its
    /// own after the connection drops.
    pub async fn connect(url: &str, subject: &str) -> Result<Self, PushError> {
        check_subject(subject)?;
        let client = async_nats::connect(url)
            .await
            .map_err(|source| PushError::Connect {
                url: url.to_string(),
                source,
            })?;
        info!(url, subject, "connected to NATS for push announcements");
        Ok(Self {
            client,
            subject: subject.to_string(),
        })
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Publishes that `state` of `dataset` was announced (best-effort: a failure is logged and
    /// consumers fall back on polling). Called by the producer after its compare-and-swap.
    pub(crate) async fn announced(&self, dataset: &str, state: crate::StateId) {
        let payload = serde_json::json!({
            "dataset": dataset,
            "version": state.version,
            "tag": format!("{:016x}", state.tag),
        })
        .to_string();
        // While the broker is away the client buffers and `flush` waits for a reconnect: a
        // producer never waits for it longer than PUBLISH_TIMEOUT.
        let send = async {
            self.client
                .publish(self.subject.clone(), payload.into())
                .await
                .map_err(|e| e.to_string())?;
            self.client.flush().await.map_err(|e| e.to_string())
        };
        let sent = match tokio::time::timeout(PUBLISH_TIMEOUT, send).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the broker did not take it within {PUBLISH_TIMEOUT:?}"
            )),
        };
        match sent {
            Ok(()) => {
                debug!(subject = %self.subject, version = state.version, "pushed the announcement")
            }
            Err(error) => warn!(
                subject = %self.subject,
                version = state.version,
                error,
                "could not push the announcement; consumers see it at their next poll"
            ),
        }
    }

    /// Subscribes, and wakes `store`'s announcement watchers (see [`crate::BlobStore::subscribe`])
    /// on every message until the returned task is aborted.
    pub(crate) async fn wake_on_messages(
        &self,
        store: crate::BlobStore,
    ) -> Result<tokio::task::JoinHandle<()>, PushError> {
        let mut messages = self
            .client
            .subscribe(self.subject.clone())
            .await
            .map_err(|source| PushError::Subscribe {
                subject: self.subject.clone(),
                source,
            })?;
        let subject = self.subject.clone();
        Ok(tokio::spawn(async move {
            while messages.next().await.is_some() {
                debug!(subject, "announcement pushed: waking the watcher");
                store.wake_watchers();
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_become_one_subject_token() {
        assert_eq!(default_subject("movies"), "hollow.announced.movies");
        assert_eq!(default_subject("a.b *>c"), "hollow.announced.a_b___c");
        assert_eq!(default_subject(""), "hollow.announced._");
        assert!(check_subject(&default_subject("x.y")).is_ok());
        for bad in ["", "a..b", "a.*", "a.>", "a b", ".a"] {
            assert!(check_subject(bad).is_err(), "{bad:?}");
        }
    }
}
