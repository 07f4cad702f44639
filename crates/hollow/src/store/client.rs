//! How hollow's remote stores (S3, GCS, Azure) time out and retry: object_store's client and
//! retry configuration, with defaults chosen for blobs of any size.
//!
//! object_store's own default is a 30 s limit on a whole request, body included: a 150 MB
//! blob over a 4 MB/s link would time out, be retried from the start and time out again.
//! hollow instead bounds a request by a long overall limit and catches stalls with a per-read
//! limit that resets on every read. Both, and the retry budget, can be overridden by options.

use std::time::Duration;

#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
use object_store::{BackoffConfig, ClientConfigKey, RetryConfig};

/// object_store's default retry budget (`RetryConfig::default()`).
const DEFAULT_MAX_RETRIES: usize = 10;
const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(3 * 60);

/// hollow's client defaults, applied after the environment and before `--store-opt`s: an
/// explicit `timeout=…` / `read_timeout=…` wins.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
pub(crate) const CLIENT_DEFAULTS: [(ClientConfigKey, &str); 2] = [
    // A whole request, body included: long enough for any blob on a slow link.
    (ClientConfigKey::Timeout, "24h"),
    // No byte for this long on a connection (a stall): the request fails and is retried.
    (ClientConfigKey::ReadTimeout, "30s"),
];

/// Retries of failed requests (connection errors, timeouts, 5xx, throttling), with
/// exponential backoff (100 ms doubling to 15 s, jittered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetrySettings {
    /// Retries of one request (`hollow_max_retries`; default 10).
    pub max_retries: usize,
    /// No retry starts after this long since the first attempt (`hollow_retry_timeout`;
    /// default 3 min).
    pub retry_timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            retry_timeout: DEFAULT_RETRY_TIMEOUT,
        }
    }
}

impl RetrySettings {
    /// object_store's retry configuration for these settings.
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    pub(crate) fn config(self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }
}

/// Parses a duration option (`500ms`, `30s`, `5m`, `1h`).
pub(crate) fn parse_duration(key: &str, value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| format!("{key}={value:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    #[test]
    fn defaults_do_not_time_out_a_long_download() {
        for (key, value) in CLIENT_DEFAULTS {
            let d = humantime::parse_duration(value).expect("a duration");
            match key {
                ClientConfigKey::Timeout => assert!(d >= Duration::from_secs(3600)),
                ClientConfigKey::ReadTimeout => assert!(d <= Duration::from_secs(60)),
                _ => {}
            }
        }
        let ours = RetrySettings::default().config();
        let theirs = RetryConfig::default();
        assert_eq!(
            (ours.max_retries, ours.retry_timeout),
            (theirs.max_retries, theirs.retry_timeout)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("k", "5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("k", "250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("k", "soon").is_err());
    }
}
