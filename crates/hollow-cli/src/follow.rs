//! `hollow follow`: the long-running consumer operators run beside a service. It follows the
//! announcements (polling, and at once on a pin or an announcement), keeps the current version
//! in its blob cache (trimmed after each refresh), logs each refresh to stderr, and exits 0 on
//! SIGTERM or SIGINT.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use hollow::{DownloadEvent, RefreshEvent, RefreshPolicy};
use tracing::{info, warn};

use crate::data::StoreArgs;

/// The target of follow's log lines (shown at the default log level).
pub const LOG_TARGET: &str = "hollow::follow";

/// `hollow follow`'s options.
#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// How often to read the announcement: 500ms, 2s, 1m.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub poll_interval: Duration,
    /// Bytes of cached blobs the current version does not use that may stay in the cache
    /// (most recently downloaded first); the rest is deleted after each refresh.
    #[arg(long, default_value_t = 0)]
    pub cache_keep_bytes: u64,
    #[command(flatten)]
    pub push: crate::push::PushArgs,
}

/// Parses `500ms`, `2s`, `3` (seconds), `1m`, `1h`; not zero.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (500ms, 2s, 1m, 7d)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        "d" => Ok(Duration::from_secs(n.saturating_mul(86_400))),
        _ => Err(format!("{s:?}: the unit is ms, s, m, h or d")),
    }
    .and_then(|d| {
        if d.is_zero() {
            Err("the duration must not be zero".to_string())
        } else {
            Ok(d)
        }
    })
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(args: &FollowArgs) -> Result<()> {
    let location = args.store.location();
    // Install the signal handlers first: a signal during the first refresh still stops cleanly.
    let stop = stop_signal()?;
    let fetched = Arc::new(AtomicU64::new(0));
    let counter = fetched.clone();
    let store = args
        .store
        .open_for(crate::data::Access::Read, "follow")?
        .with_download_observer(move |e: &DownloadEvent| {
            if let DownloadEvent::Finished { wire_bytes, .. } = e {
                counter.fetch_add(*wire_bytes, Ordering::Relaxed);
            }
        });
    let cache = crate::remote::cache_dir(location, &args.store.remote);
    info!(
        target: LOG_TARGET,
        store = location,
        cache = %cache.as_ref().map_or_else(|| "none (memory)".to_string(), |c| c.display().to_string()),
        poll_interval_ms = u64::try_from(args.poll_interval.as_millis()).unwrap_or(u64::MAX),
        "following"
    );
    let plan = Arc::new(std::sync::Mutex::new(String::new()));
    let listener_plan = plan.clone();
    let listener = move |event: &RefreshEvent| match event {
        RefreshEvent::Started { plan, .. } => {
            if let Ok(mut p) = listener_plan.lock() {
                p.clone_from(plan);
            }
        }
        RefreshEvent::Succeeded { version, elapsed } => {
            let plan = listener_plan.lock().map(|p| p.clone()).unwrap_or_default();
            info!(
                target: LOG_TARGET,
                version,
                duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                bytes_fetched = fetched.swap(0, Ordering::Relaxed),
                plan = %plan,
                "refreshed"
            );
        }
        RefreshEvent::Failed { error } => {
            warn!(
                target: LOG_TARGET,
                bytes_fetched = fetched.swap(0, Ordering::Relaxed),
                error = %error,
                "refresh failed; the current version keeps serving and the next poll retries"
            );
        }
        _ => {}
    };
    let dataset = store
        .announcement()
        .await
        .context("reading the announcement")?
        .map(|(a, _)| a.dataset);
    let push = args.push.connect(dataset.as_deref()).await?;
    if let Some(push) = &push {
        info!(target: LOG_TARGET, subject = push.subject(), "refreshing on pushed announcements too");
    }
    let mut builder = crate::remote::consumer(store);
    if let Some(push) = push {
        builder = builder.push(push);
    }
    let consumer = builder
        .cache_keep_bytes(args.cache_keep_bytes)
        .refresh_policy(RefreshPolicy::OnAnnouncement {
            poll_interval: args.poll_interval,
        })
        .listener(listener)
        .build()
        .await
        .context("starting the consumer")?;
    if consumer.version().is_none() {
        info!(target: LOG_TARGET, "nothing served yet; waiting for an announcement");
    }
    let signal = stop.await;
    info!(target: LOG_TARGET, signal, version = ?consumer.version(), "stopping");
    drop(consumer);
    Ok(())
}

/// Resolves with the name of the first SIGTERM or SIGINT.
#[cfg(unix)]
pub(crate) fn stop_signal() -> Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn stop_signal() -> Result<impl Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(duration("1m"), Ok(Duration::from_secs(60)));
        assert!(duration("0s").is_err());
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(duration("1w").is_err());
        assert!(duration("fast").is_err());
    }
}
