//! The CLI on a remote store: `--store-opt KEY=VALUE` (hollow's and `object_store`'s options),
//! the local blob cache (`--cache DIR`, `--no-cache`; by default remote stores are cached under
//! the user's cache directory, keyed by the store URL) and the download progress bar.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use hollow::{BlobStore, Consumer, ConsumerBuilder, DownloadEvent};

/// Cached blobs the current state does not use that a CLI run leaves in the cache (most
/// recently downloaded first), so going back to an older version, or the next run, downloads
/// nothing again.
pub const CACHE_KEEP_BYTES: u64 = 2 << 30;

/// How to reach a remote store and where its blobs are kept.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoteArgs {
    /// Keep downloaded blobs (decompressed, mapped from there) in DIR. Default for a remote
    /// store: $XDG_CACHE_HOME/hollow/<hash of the store URL> (else ~/.cache/hollow/…); a local
    /// directory store is read in place unless --cache is given.
    #[arg(long, global = true, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// No blob cache: download blobs into memory for this run only.
    #[arg(long, global = true, conflicts_with = "cache")]
    pub no_cache: bool,
    /// A store option, repeatable: hollow's (hollow_wire_encoding=raw|zstd[:LEVEL]|columnar[:LEVEL],
    /// hollow_max_blob_bytes=N) or the object store builder's (aws_region=…, aws_endpoint=…,
    /// aws_virtual_hosted_style_request=true, google_service_account=…, …), after the
    /// standard environment (AWS_*, GOOGLE_*, AZURE_*).
    #[arg(long = "store-opt", global = true, value_name = "KEY=VALUE", value_parser = key_value)]
    pub store_opts: Vec<(String, String)>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    if k.is_empty() {
        return Err(format!("{s:?} has no key"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Every progress bar and spinner of this run, drawn together on stderr (hidden when stderr is
/// not a terminal), so a download bar and a command's spinner do not draw over each other.
pub fn bars() -> &'static indicatif::MultiProgress {
    static BARS: OnceLock<indicatif::MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| {
        indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(8))
    })
}

/// The cache directory this run's consumers use (set by [`open`]).
static CACHE_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Whether `location` names a remote store (not a local directory or file URL).
pub fn is_remote(location: &str) -> bool {
    location.contains("://") && !location.starts_with("file:")
}

/// The user's cache directory for hollow: `$XDG_CACHE_HOME/hollow`, else `~/.cache/hollow`.
pub fn user_cache_root() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .map(|d| d.join("hollow"))
}

/// The default cache directory of a store: one per store URL (its xxh3-64, in hex).
pub fn default_cache_dir(location: &str) -> Option<PathBuf> {
    let normal = location.trim_end_matches('/');
    let hash = xxhash_rust::xxh3::xxh3_64(normal.as_bytes());
    user_cache_root().map(|root| root.join(format!("{hash:016x}")))
}

/// Where this run keeps the blobs of `location` (None: in memory).
pub fn cache_dir(location: &str, args: &RemoteArgs) -> Option<PathBuf> {
    if args.no_cache {
        return None;
    }
    match &args.cache {
        Some(dir) => Some(dir.clone()),
        None if is_remote(location) => default_cache_dir(location),
        None => None,
    }
}

/// Opens `location` with the run's store options and a progress bar for downloads, and
/// remembers its cache directory for [`consumer`].
pub fn open(location: &str, args: &RemoteArgs) -> Result<BlobStore> {
    let store = BlobStore::from_url_with_options(location, args.store_opts.iter().cloned())
        .with_context(|| format!("opening the store {location}"))?;
    let cache = cache_dir(location, args);
    if let Some(dir) = &cache {
        tracing::debug!(cache = %dir.display(), "blob cache");
    }
    let _ = CACHE_DIR.set(cache);
    Ok(if std::io::stderr().is_terminal() {
        store.with_download_observer(DownloadBar::default())
    } else {
        store
    })
}

/// A consumer of `store` using this run's blob cache.
pub fn consumer(store: BlobStore) -> ConsumerBuilder {
    let builder = Consumer::builder(store);
    match CACHE_DIR.get() {
        Some(Some(dir)) => builder
            .local_cache(dir.clone())
            .cache_keep_bytes(CACHE_KEEP_BYTES),
        _ => builder,
    }
}

/// A progress bar on stderr per blob download: bytes, total and rate.
#[derive(Default)]
struct DownloadBar {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl hollow::DownloadObserver for DownloadBar {
    fn on_download(&self, event: &DownloadEvent) {
        let Ok(mut bar) = self.bar.lock() else {
            return;
        };
        match event {
            DownloadEvent::Started { key, wire_bytes } => {
                let b = bars().add(indicatif::ProgressBar::new(*wire_bytes));
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} {bytes}/{total_bytes} {binary_bytes_per_sec} {wide_bar} {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b.set_message(format!("downloading {}", key.relative()));
                if let Some(old) = bar.replace(b) {
                    old.finish_and_clear();
                }
            }
            DownloadEvent::Progress { wire_bytes, .. } => {
                if let Some(b) = bar.as_ref() {
                    b.set_position(*wire_bytes);
                }
            }
            DownloadEvent::Finished { .. } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dirs() {
        let args = RemoteArgs::default();
        assert_eq!(cache_dir("./data", &args), None);
        assert_eq!(cache_dir("file:///tmp/x", &args), None);
        let a = cache_dir("s3://bucket/a", &args);
        assert_eq!(a, cache_dir("s3://bucket/a/", &args), "one URL, one cache");
        assert_ne!(a, cache_dir("s3://bucket/b", &args));
        let no = RemoteArgs {
            no_cache: true,
            ..RemoteArgs::default()
        };
        assert_eq!(cache_dir("s3://bucket/a", &no), None);
        let dir = RemoteArgs {
            cache: Some(PathBuf::from("/c")),
            ..RemoteArgs::default()
        };
        assert_eq!(cache_dir("./data", &dir), Some(PathBuf::from("/c")));
    }

    #[test]
    fn store_options_parse() {
        assert_eq!(
            key_value("aws_region=eu-west-1"),
            Ok(("aws_region".into(), "eu-west-1".into()))
        );
        assert_eq!(key_value("k=a=b"), Ok(("k".into(), "a=b".into())));
        assert!(key_value("novalue").is_err());
        assert!(key_value("=x").is_err());
    }
}
