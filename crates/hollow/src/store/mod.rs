//! Where a dataset lives: its blobs and its announcement, over `object_store`
//! (docs/FORMAT.md, "Key layout in a store").
//!
//! Blobs are immutable and written with `PutMode::Create`, so a key is never overwritten. The
//! announcement moves by compare-and-swap: `PutMode::Update` on stores that have it (memory,
//! S3), and on a local directory an exclusive file lock around read-compare-rename, so two
//! producers can never both announce.
//!
//! Every backend is held to one conformance suite, `hollow::testing::conformance` (feature
//! `testing`), run by `tests/store.rs`.

mod announcement;
mod client;
mod durable;
mod key;
mod local_cas;
mod pin;
mod staging;

pub use staging::BLOB_STAGING_MAX_AGE;
pub(crate) mod wire;
mod wire_columnar;
mod wire_rebuild;

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tracing::{debug, warn};

use crate::bytes::BlobBytes;
use crate::error::{OpenError, Result, StoreError, StoreKey, StoreOperation};

pub(crate) use announcement::parse_announcement;
pub use announcement::{Announcement, AnnouncementVersion};
pub use key::BlobKey;
pub(crate) use pin::parse_pin;
use wire::WireDecoder;
pub use wire::{
    DEFAULT_MAX_BLOB_BYTES, DEFAULT_ZSTD_LEVEL, Decoded, WIRE_HEADER_LEN, WIRE_MAGIC, WireEncoding,
    WireError,
};
pub use wire_rebuild::RebuildError;

/// The columnar stream of a blob (for the fuzzing entry points).
pub(crate) fn wire_columnar_stream(blob: &[u8]) -> Option<Vec<u8>> {
    wire_columnar::stream(blob)
}

/// What a [`BlobStore`] reports while it downloads a blob (for progress bars and byte counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownloadEvent {
    /// A blob's download starts.
    Started {
        /// The blob.
        key: BlobKey,
        /// Its stored size (what travels).
        wire_bytes: u64,
    },
    /// More of it arrived.
    Progress {
        /// The blob.
        key: BlobKey,
        /// Stored bytes received so far.
        wire_bytes: u64,
    },
    /// It arrived whole and decoded.
    Finished {
        /// The blob.
        key: BlobKey,
        /// Stored bytes received.
        wire_bytes: u64,
        /// Bytes of the blob (decoded).
        bytes: u64,
    },
}

/// Receives [`DownloadEvent`]s (see [`BlobStore::with_download_observer`]). Called on the
/// downloading task: keep it quick.
pub trait DownloadObserver: Send + Sync {
    /// One event.
    fn on_download(&self, event: &DownloadEvent);
}

impl<F: Fn(&DownloadEvent) + Send + Sync> DownloadObserver for F {
    fn on_download(&self, event: &DownloadEvent) {
        self(event);
    }
}

#[derive(Clone)]
struct Observer(Arc<dyn DownloadObserver>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DownloadObserver")
    }
}

/// A dataset's location: an `object_store` and a key prefix.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// The directory, when the store is a local file system rooted at the dataset.
    local_dir: Option<PathBuf>,
    /// Announced versions, for consumers in the same process (clones of a `BlobStore` share it).
    announced: Arc<tokio::sync::watch::Sender<u64>>,
    /// How long an announcement on a local directory waits for another producer's lock.
    lock_wait: std::time::Duration,
    /// How blobs are written (raw, or enveloped and compressed).
    encoding: WireEncoding,
    /// The largest decoded blob a read accepts.
    max_blob_bytes: u64,
    /// Told about downloads.
    observer: Option<Observer>,
    /// Blobs stored this large or larger are uploaded in parts (remote stores only).
    multipart_threshold: Option<u64>,
}

/// Blobs stored at least this large (after compression) are uploaded in parts by remote
/// stores (64 MiB; [`BlobStore::with_multipart_threshold`]).
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 << 20;
/// The size of each part of a multipart upload.
const MULTIPART_PART: usize = 16 << 20;

/// Default for [`BlobStore::with_announce_lock_wait`].
pub const DEFAULT_ANNOUNCE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What remote URLs write (see [`BlobStore::with_wire_encoding`]).
const REMOTE_ENCODING: WireEncoding = WireEncoding::Columnar {
    level: DEFAULT_ZSTD_LEVEL,
};

const ANNOUNCED: &str = "announced.json";
const PINNED: &str = "pinned.json";

fn watch() -> Arc<tokio::sync::watch::Sender<u64>> {
    Arc::new(tokio::sync::watch::Sender::new(0))
}

fn store_error(
    operation: StoreOperation,
    key: StoreKey,
    source: object_store::Error,
) -> StoreError {
    StoreError::failed(operation, key, source)
}

impl BlobStore {
    /// A store for `location`: a local directory path, `file:///dir`, `memory://` (a fresh
    /// in-memory store), or a URL `object_store` understands in this build: `s3://bucket/prefix`
    /// (feature `s3`), `gs://bucket/prefix` (feature `gcs`), `az://container/prefix` or
    /// `abfs[s]://…` (feature `azure`), each configured from its standard environment
    /// (`AWS_*`, `GOOGLE_*`, `AZURE_*`, as `object_store`'s `from_env` builders read them).
    /// Remote stores write blobs compressed ([`WireEncoding::Columnar`], zstd level 3).
    pub fn from_url(location: &str) -> Result<Self, StoreError> {
        Self::from_url_with_options(location, std::iter::empty::<(&str, &str)>())
    }

    /// [`BlobStore::from_url`] with options: keys starting `hollow_` are hollow's own
    /// (`hollow_wire_encoding` = `raw`, `zstd`, `zstd:LEVEL`, `columnar` or `columnar:LEVEL`;
    /// `hollow_max_blob_bytes` = a byte count, see [`BlobStore::with_max_blob_bytes`];
    /// `hollow_multipart_threshold` = a byte count or `never`; `hollow_max_retries` = retries
    /// of one failed request (10) and `hollow_retry_timeout` = a duration (`3m`) after which no
    /// retry starts, for remote stores, which back off exponentially from 100 ms to 15 s);
    /// every other key goes to the
    /// `object_store` builder for the URL's scheme after its environment (e.g. `aws_region`,
    /// `aws_endpoint`, `aws_virtual_hosted_style_request`, `google_service_account`,
    /// `azure_storage_account_name`; `object_store`'s `*ConfigKey` names). An unknown key is
    /// an error, never ignored. Local and in-memory stores take only hollow's keys.
    ///
    /// Remote stores time a request out after 24 h (`timeout`) and a stalled connection after
    /// 30 s without a byte (`read_timeout`), instead of `object_store`'s 30 s for a whole
    /// request, which a large blob on a slow link would exceed on every retry; both are
    /// options too.
    pub fn from_url_with_options<K: AsRef<str>, V: AsRef<str>>(
        location: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, StoreError> {
        let invalid = |reason: String| StoreError::InvalidLocation {
            location: location.to_string(),
            reason,
        };
        let mut encoding = None;
        let mut max_blob_bytes = None;
        let mut multipart = None;
        let mut retry = client::RetrySettings::default();
        let mut store_options: Vec<(String, String)> = Vec::new();
        for (k, v) in options {
            let (k, v) = (k.as_ref(), v.as_ref());
            match k {
                "hollow_wire_encoding" => {
                    encoding = Some(v.parse::<WireEncoding>().map_err(&invalid)?);
                }
                "hollow_max_blob_bytes" => {
                    max_blob_bytes = Some(
                        v.parse::<u64>()
                            .map_err(|e| invalid(format!("hollow_max_blob_bytes={v:?}: {e}")))?,
                    );
                }
                "hollow_multipart_threshold" => {
                    multipart = Some(match v {
                        "never" => None,
                        v => Some(v.parse::<u64>().map_err(|e| {
                            invalid(format!("hollow_multipart_threshold={v:?}: {e}"))
                        })?),
                    });
                }
                "hollow_max_retries" => {
                    retry.max_retries = v
                        .parse()
                        .map_err(|e| invalid(format!("hollow_max_retries={v:?}: {e}")))?;
                }
                "hollow_retry_timeout" => {
                    retry.retry_timeout = client::parse_duration(k, v).map_err(&invalid)?;
                }
                k if k.starts_with("hollow_") => {
                    return Err(invalid(format!(
                        "unknown option {k:?} (hollow's are hollow_wire_encoding, \
                         hollow_max_blob_bytes, hollow_multipart_threshold, hollow_max_retries, \
                         hollow_retry_timeout)"
                    )));
                }
                k => store_options.push((k.to_string(), v.to_string())),
            }
        }
        let mut store = Self::open_url(location, &store_options, retry)?;
        if let Some(e) = encoding {
            store = store.with_wire_encoding(e);
        }
        if let Some(m) = max_blob_bytes {
            store = store.with_max_blob_bytes(m);
        }
        if let Some(m) = multipart {
            store = store.with_multipart_threshold(m);
        }
        Ok(store)
    }

    fn open_url(
        location: &str,
        options: &[(String, String)],
        #[cfg_attr(
            not(any(feature = "s3", feature = "gcs", feature = "azure")),
            allow(unused_variables)
        )]
        retry: client::RetrySettings,
    ) -> Result<Self, StoreError> {
        let invalid = |reason: String| StoreError::InvalidLocation {
            location: location.to_string(),
            reason,
        };
        let no_options = || {
            if let Some((k, _)) = options.first() {
                return Err(invalid(format!(
                    "option {k:?}: a local or in-memory store takes no object store options"
                )));
            }
            Ok(())
        };
        // `file:/abs/dir` (RFC 8089's one-slash form) is a URL too, not a relative directory.
        if !location.contains("://") && !location.starts_with("file:") {
            no_options()?;
            return Self::local(location);
        }
        let url = url::Url::parse(location).map_err(|e| invalid(e.to_string()))?;
        let remote = |store: Arc<dyn ObjectStore>, prefix: Path| {
            Ok(Self::with_parts(store, prefix, None).with_wire_encoding(REMOTE_ENCODING))
        };
        match url.scheme() {
            "file" => {
                no_options()?;
                let dir = url
                    .to_file_path()
                    .map_err(|()| invalid("not a local file path".to_string()))?;
                Self::local(dir)
            }
            "memory" => {
                no_options()?;
                Ok(Self::memory())
            }
            #[cfg(feature = "s3")]
            "s3" | "s3a" => {
                // Credentials, region, endpoint and the rest from the standard AWS_* variables
                // (as `AmazonS3Builder::from_env` reads them); the bucket from the URL.
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(location)
                    .with_retry(retry.config());
                for (k, v) in client::CLIENT_DEFAULTS {
                    builder =
                        builder.with_config(object_store::aws::AmazonS3ConfigKey::Client(k), v);
                }
                for (k, v) in options {
                    let key = k
                        .parse()
                        .map_err(|e: object_store::Error| invalid(e.to_string()))?;
                    builder = builder.with_config(key, v);
                }
                // Multipart uploads keep blobs create-only through copy-if-not-exists, which S3
                // has only when configured (`aws_copy_if_not_exists`, e.g. `multipart`): without
                // it, every blob is one conditional PUT.
                let copy_if_not_exists = builder
                    .get_config_value(&object_store::aws::AmazonS3ConfigKey::CopyIfNotExists)
                    .is_some();
                let store = builder.build().map_err(|e| invalid(e.to_string()))?;
                let store = remote(Arc::new(store), Path::from(url.path()))?;
                Ok(if copy_if_not_exists {
                    store
                } else {
                    store.with_multipart_threshold(None)
                })
            }
            #[cfg(feature = "gcs")]
            "gs" => {
                let mut builder = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(location)
                    .with_retry(retry.config());
                for (k, v) in client::CLIENT_DEFAULTS {
                    builder = builder.with_config(object_store::gcp::GoogleConfigKey::Client(k), v);
                }
                for (k, v) in options {
                    let key = k
                        .parse()
                        .map_err(|e: object_store::Error| invalid(e.to_string()))?;
                    builder = builder.with_config(key, v);
                }
                let store = builder.build().map_err(|e| invalid(e.to_string()))?;
                remote(Arc::new(store), Path::from(url.path()))
            }
            #[cfg(feature = "azure")]
            "az" | "azure" | "abfs" | "abfss" | "adl" => {
                let mut builder = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(location)
                    .with_retry(retry.config());
                for (k, v) in client::CLIENT_DEFAULTS {
                    builder =
                        builder.with_config(object_store::azure::AzureConfigKey::Client(k), v);
                }
                for (k, v) in options {
                    let key = k
                        .parse()
                        .map_err(|e: object_store::Error| invalid(e.to_string()))?;
                    builder = builder.with_config(key, v);
                }
                let store = builder.build().map_err(|e| invalid(e.to_string()))?;
                remote(Arc::new(store), Path::from(url.path()))
            }
            #[cfg(not(all(feature = "s3", feature = "gcs", feature = "azure")))]
            #[allow(unreachable_patterns)]
            // some of the schemes are served above in this build
            scheme @ ("s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss" | "adl") => {
                let feature = match scheme {
                    "s3" | "s3a" => "s3",
                    "gs" => "gcs",
                    _ => "azure",
                };
                Err(invalid(format!(
                    "{scheme}:// stores need hollow's `{feature}` feature, not built in"
                )))
            }
            _ => {
                let (store, prefix) = object_store::parse_url_opts(&url, options.iter().cloned())
                    .map_err(|e| invalid(e.to_string()))?;
                remote(Arc::from(store), prefix)
            }
        }
    }

    /// A fresh in-memory store (tests, demos).
    pub fn memory() -> Self {
        Self::new(Arc::new(object_store::memory::InMemory::new()), "")
    }

    /// A local directory (created if missing).
    pub fn local(dir: impl AsRef<FsPath>) -> Result<Self, StoreError> {
        Self::local_wrapped(dir, |fs| fs)
    }

    /// A local directory whose object-store calls go through `wrap` (the local paths — mapping
    /// blobs, the announcement's file lock — stay direct): `hollow::testing` wraps it in a
    /// `FaultyStore`.
    pub(crate) fn local_wrapped(
        dir: impl AsRef<FsPath>,
        wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let dir = dir.canonicalize().map_err(|e| StoreError::io(dir, e))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
            store_error(
                StoreOperation::Open,
                StoreKey::Other(dir.display().to_string()),
                e,
            )
        })?;
        Ok(Self::with_parts(
            wrap(Arc::new(fs)),
            Path::default(),
            Some(dir),
        ))
    }

    /// Any `object_store` and a key prefix. Compare-and-swap of the announcement uses
    /// `PutMode::Update`, so the store must support it (`object_store`'s `LocalFileSystem` does
    /// not: use [`BlobStore::local`] for a directory); `testing::conformance::conditional_requests`
    /// checks a store for what this needs.
    ///
    /// Blobs are written raw (as [`BlobStore::memory`]); a remote store should say
    /// `.with_wire_encoding(WireEncoding::Columnar { level: DEFAULT_ZSTD_LEVEL })`, as
    /// [`BlobStore::from_url`] does for every remote URL.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self::with_parts(store, Path::from(prefix), None)
    }

    fn with_parts(store: Arc<dyn ObjectStore>, prefix: Path, local_dir: Option<PathBuf>) -> Self {
        Self {
            store,
            prefix,
            local_dir,
            announced: watch(),
            lock_wait: DEFAULT_ANNOUNCE_LOCK_WAIT,
            encoding: WireEncoding::Raw,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            observer: None,
            multipart_threshold: Some(DEFAULT_MULTIPART_THRESHOLD),
        }
    }

    /// How blobs are written from now on (docs/FORMAT.md, "The wire container"): `Raw` keeps
    /// them mappable in place (the default of local directories, memory and [`BlobStore::new`]),
    /// `Zstd` envelopes and compresses them (the default of remote URLs, level
    /// [`DEFAULT_ZSTD_LEVEL`]). Reads decode either kind whatever this says, so a store may hold
    /// both.
    pub fn with_wire_encoding(mut self, encoding: WireEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// How this store writes blobs.
    pub fn wire_encoding(&self) -> WireEncoding {
        self.encoding
    }

    /// The largest blob (decoded) a read accepts: an envelope declaring more is refused with
    /// [`WireError::TooLarge`] before anything is decoded (default [`DEFAULT_MAX_BLOB_BYTES`]).
    pub fn max_blob_bytes(&self) -> u64 {
        self.max_blob_bytes
    }

    /// The most bytes a stored blob may decode to (see [`BlobStore::max_blob_bytes`]); a
    /// consumer lowers it to its [`Limits::max_blob_bytes`](crate::Limits::max_blob_bytes).
    pub fn with_max_blob_bytes(mut self, limit: u64) -> Self {
        self.max_blob_bytes = limit;
        self
    }

    /// Reports every blob download (progress bars, byte counts). One observer; a later call
    /// replaces it. Clones made afterwards share it.
    pub fn with_download_observer(mut self, observer: impl DownloadObserver + 'static) -> Self {
        self.observer = Some(Observer(Arc::new(observer)));
        self
    }

    fn observe(&self, event: DownloadEvent) {
        if let Some(o) = &self.observer {
            o.0.on_download(&event);
        }
    }

    /// How long announcing on a local directory waits for the lock another producer holds
    /// while it announces (milliseconds, normally) before failing with a
    /// [`StoreError::Conflict`] that names the holder's process (default
    /// [`DEFAULT_ANNOUNCE_LOCK_WAIT`]). No effect on other stores.
    pub fn with_announce_lock_wait(mut self, wait: std::time::Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Wakes every announcement watcher of this store in this process (consumers with
    /// `RefreshPolicy::OnAnnouncement`), as an announcement through it does: they read the
    /// announcement now instead of at their next poll. Push announcements call this.
    pub fn wake_watchers(&self) {
        self.announced.send_modify(|_| {});
    }

    /// The local directory, when the store is one (blobs can then be mapped in place).
    pub fn local_dir(&self) -> Option<&FsPath> {
        self.local_dir.as_deref()
    }

    /// On a local directory: removes blob staging files older than `max_age` that killed
    /// writers left (see [`BLOB_STAGING_MAX_AGE`]); returns their paths. Nothing on other stores
    /// (object stores upload atomically). A producer does this when it starts.
    pub fn remove_stale_staging(&self, max_age: std::time::Duration) -> Vec<PathBuf> {
        match &self.local_dir {
            Some(dir) => staging::remove_stale_blob_staging(dir, max_age),
            None => Vec::new(),
        }
    }

    fn path(&self, relative: &str) -> Path {
        relative
            .split('/')
            .fold(self.prefix.clone(), |p, part| p.join(part))
    }

    /// Writes a blob in the store's [`WireEncoding`]; an existing key is an error (`Conflict`),
    /// never an overwrite. Returns the bytes stored.
    pub async fn put_blob(&self, key: &BlobKey, bytes: &BlobBytes) -> Result<u64, StoreError> {
        let relative = key.relative();
        let encoded = crate::blocking::cpu(|| wire::encode(bytes.as_slice(), self.encoding))
            .map_err(|source| StoreError::Wire {
                key: StoreKey::from(*key),
                source,
            })?;
        // A raw blob goes to object_store as it is, shared (no copy of a 145 MB snapshot).
        let payload = match encoded {
            Some(encoded) => PutPayload::from(encoded),
            None => PutPayload::from(bytes::Bytes::from_owner(bytes.clone())),
        };
        let stored = payload.content_length() as u64;
        if self.local_dir.is_none()
            && self.multipart_threshold.is_some_and(|t| stored >= t)
            && self.put_multipart_create(key, &payload).await?
        {
            debug!(key = %relative, bytes = bytes.len(), stored, encoding = %self.encoding, "blob stored in parts");
            return Ok(stored);
        }
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path(&relative), payload, opts)
            .await
        {
            Ok(_) => {
                if let Some(dir) = &self.local_dir {
                    durable::seal_local_blob(dir, &relative)?;
                }
                debug!(key = %relative, bytes = bytes.len(), stored, encoding = %self.encoding, "blob stored");
                Ok(stored)
            }
            Err(object_store::Error::AlreadyExists { .. }) => Err(StoreError::Conflict {
                reason: format!("blob {relative} already exists"),
            }),
            Err(e) => Err(store_error(StoreOperation::Put, StoreKey::from(*key), e)),
        }
    }

    /// Deletes a blob; a blob that is already gone is not an error. Only for blobs nothing
    /// announced still needs: the producer removes the blobs of a cycle whose announcement lost
    /// its compare-and-swap (so they never stay behind as orphans), and retention
    /// (`tools::gc`) the blobs no kept version needs.
    pub async fn delete_blob(&self, key: &BlobKey) -> Result<(), StoreError> {
        match self.store.delete(&self.path(&key.relative())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(StoreOperation::Delete, StoreKey::from(*key), e)),
        }
    }

    /// Writes a large blob in parts without ever overwriting: a multipart upload under a
    /// unique temporary key (`uploads/…`, nobody else writes it), then a server-side
    /// copy-if-not-exists to the blob's key (`object_store`'s multipart has no create-only mode;
    /// the copy is where the create-only rule is kept), then the temporary object is deleted.
    /// `Ok(false)` when the store cannot copy if not exists (S3 without
    /// `aws_copy_if_not_exists`): the caller then writes the blob in one conditional PUT.
    async fn put_multipart_create(
        &self,
        key: &BlobKey,
        payload: &PutPayload,
    ) -> Result<bool, StoreError> {
        let relative = key.relative();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tmp = self.path(&format!(
            "uploads/{}.{}.{nanos}",
            relative.replace('/', "_"),
            std::process::id()
        ));
        let failed = |e| store_error(StoreOperation::Put, StoreKey::from(*key), e);
        let upload = self.store.put_multipart(&tmp).await.map_err(failed)?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART);
        for chunk in payload.iter() {
            writer.put(chunk.clone());
        }
        writer.finish().await.map_err(failed)?;
        let copied = self
            .store
            .copy_if_not_exists(&tmp, &self.path(&relative))
            .await;
        if let Err(e) = self.store.delete(&tmp).await {
            warn!(upload = %tmp, error = %e, "could not delete a finished upload's temporary object");
        }
        match copied {
            Ok(()) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Err(StoreError::Conflict {
                reason: format!("blob {relative} already exists"),
            }),
            Err(
                e @ (object_store::Error::NotSupported { .. }
                | object_store::Error::NotImplemented { .. }),
            ) => {
                debug!(key = %relative, error = %e, "no copy-if-not-exists: one conditional PUT instead");
                Ok(false)
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// Blobs stored this large or larger go up in parts (remote stores; see
    /// [`DEFAULT_MULTIPART_THRESHOLD`]); `None`: always one PUT.
    pub fn with_multipart_threshold(mut self, threshold: Option<u64>) -> Self {
        self.multipart_threshold = threshold;
        self
    }

    /// A blob's bytes for reading: mapped in place from a local directory, else read into
    /// memory. A missing blob is the same error as from [`BlobStore::get_blob`]. A stored
    /// envelope (a compressed blob) is never handed out mapped: it is decoded into memory.
    pub async fn open_blob(&self, key: &BlobKey) -> Result<BlobBytes, StoreError> {
        let Some(dir) = &self.local_dir else {
            return self.get_blob(key).await;
        };
        let relative = key.relative();
        let mapped = BlobBytes::map_file(&dir.join(&relative)).map_err(|e| match e {
            OpenError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                let source = object_store::Error::NotFound {
                    path: path.display().to_string(),
                    source: Box::new(source),
                };
                store_error(StoreOperation::Get, StoreKey::from(*key), source)
            }
            OpenError::Io { path, source } => StoreError::Io { path, source },
            e => store_error(
                StoreOperation::Open,
                StoreKey::from(*key),
                object_store::Error::Generic {
                    store: "local",
                    source: Box::new(e),
                },
            ),
        })?;
        if !wire::is_enveloped(mapped.as_slice()) {
            return Ok(mapped);
        }
        let (bytes, _) =
            crate::blocking::cpu(|| wire::decode_slice(mapped.as_slice(), self.max_blob_bytes))
                .map_err(|source| StoreError::Wire {
                    key: StoreKey::from(*key),
                    source,
                })?;
        Ok(BlobBytes::from_vec(bytes))
    }

    /// Subscribes to the versions this process announces through this store (or a clone):
    /// consumers sharing the producer's `BlobStore` wake at once instead of at their next poll.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.announced.subscribe()
    }

    /// Reads a blob into memory (8-byte aligned), decoded.
    pub async fn get_blob(&self, key: &BlobKey) -> Result<BlobBytes, StoreError> {
        let (_, bytes) = self.download_blob(key, Vec::new()).await?;
        Ok(BlobBytes::from_vec(bytes))
    }

    /// Downloads a blob as it streams in, decoding it into `sink` (a raw blob passes through;
    /// an envelope is checked, bounded by [`BlobStore::with_max_blob_bytes`], decoded, and its
    /// length and checksum verified at the end). On an error `sink` holds a partial blob: the
    /// caller discards it. Returns the byte counts and the sink.
    pub async fn download_blob<W: Write + Send>(
        &self,
        key: &BlobKey,
        sink: W,
    ) -> Result<(Decoded, W), StoreError> {
        let relative = key.relative();
        let failed = |e| store_error(StoreOperation::Get, StoreKey::from(*key), e);
        let wire_error = |source| StoreError::Wire {
            key: StoreKey::from(*key),
            source,
        };
        debug!(key = %relative, "downloading blob");
        let result = self
            .store
            .get(&self.path(&relative))
            .await
            .map_err(failed)?;
        self.observe(DownloadEvent::Started {
            key: *key,
            wire_bytes: result.meta.size,
        });
        let mut stream = result.into_stream();
        let mut decoder = WireDecoder::new(sink, self.max_blob_bytes);
        let mut received = 0u64;
        while let Some(chunk) = stream.try_next().await.map_err(failed)? {
            received = received.saturating_add(chunk.len() as u64);
            decoder.feed(&chunk).map_err(wire_error)?;
            self.observe(DownloadEvent::Progress {
                key: *key,
                wire_bytes: received,
            });
        }
        let (decoded, sink) = decoder.finish().map_err(wire_error)?;
        debug!(key = %relative, wire_bytes = decoded.wire_bytes, bytes = decoded.bytes, "blob downloaded");
        self.observe(DownloadEvent::Finished {
            key: *key,
            wire_bytes: decoded.wire_bytes,
            bytes: decoded.bytes,
        });
        Ok((decoded, sink))
    }

    /// Every blob in the store, sorted.
    pub async fn list_blobs(&self) -> Result<Vec<BlobKey>, StoreError> {
        Ok(self
            .list_blob_sizes()
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// Every blob in the store with its stored size (as the listing says: compressed for an
    /// enveloped blob), sorted. Downloads nothing.
    pub async fn list_blob_sizes(&self) -> Result<Vec<(BlobKey, u64)>, StoreError> {
        Ok(self
            .list_blob_meta()
            .await?
            .into_iter()
            .map(|(k, size, _)| (k, size))
            .collect())
    }

    /// Every blob with its stored size and last-modified time (milliseconds since the epoch),
    /// sorted.
    pub(crate) async fn list_blob_meta(&self) -> Result<Vec<(BlobKey, u64, i64)>, StoreError> {
        let mut keys = Vec::new();
        for dir in ["snapshots", "deltas", "reverse-deltas"] {
            let prefix = self.path(dir);
            let metas: Vec<_> =
                self.store
                    .list(Some(&prefix))
                    .try_collect()
                    .await
                    .map_err(|e| {
                        store_error(StoreOperation::List, StoreKey::Other(dir.to_string()), e)
                    })?;
            for meta in metas {
                // Only objects directly in the directory: a blob name nested deeper is not a
                // blob of this dataset (its key would name an object that does not exist).
                let Some(mut rest) = meta.location.prefix_match(&prefix) else {
                    continue;
                };
                let (Some(name), None) = (rest.next(), rest.next()) else {
                    continue;
                };
                // Only the spelling `BlobKey::relative` writes: `parse` also reads other
                // spellings of the numbers (upper-case hex, a `+` sign), which name another
                // object than the key does.
                let relative = format!("{dir}/{}", name.as_ref());
                if let Some(key) = BlobKey::parse(&relative).filter(|k| k.relative() == relative) {
                    keys.push((key, meta.size, meta.last_modified.timestamp_millis()));
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// Finding datasets: `hollow ls`.
impl BlobStore {
    /// The store of the dataset at `relative` under this one's prefix (same options; its own
    /// announcement watch).
    pub fn at(&self, relative: &str) -> Result<BlobStore, StoreError> {
        let relative = relative.trim_matches('/');
        if relative.is_empty() {
            return Ok(self.clone());
        }
        let mut child = match &self.local_dir {
            Some(dir) => Self::local(dir.join(relative))?,
            None => Self::with_parts(self.store.clone(), self.path(relative), None),
        };
        child.encoding = self.encoding;
        child.max_blob_bytes = self.max_blob_bytes;
        child.observer = self.observer.clone();
        child.lock_wait = self.lock_wait;
        child.multipart_threshold = self.multipart_threshold;
        Ok(child)
    }

    /// The datasets under this store's prefix, sorted: the prefixes (relative to this one, `""`
    /// for the prefix itself) that hold an announcement, found by listing one level at a time
    /// (never inside a dataset, at most `max_depth` levels down). Reads no announcement.
    pub async fn list_datasets(&self, max_depth: usize) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        let mut pending = vec![(self.prefix.clone(), 0usize)];
        while let Some((prefix, depth)) = pending.pop() {
            let listing = self
                .store
                .list_with_delimiter(Some(&prefix))
                .await
                .map_err(|e| {
                    store_error(
                        StoreOperation::List,
                        StoreKey::Other(prefix.as_ref().to_string()),
                        e,
                    )
                })?;
            let relative = || {
                prefix
                    .prefix_match(&self.prefix)
                    .map(|parts| parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .join("/")
            };
            if listing
                .objects
                .iter()
                .any(|m| m.location.filename() == Some(ANNOUNCED))
            {
                found.push(relative());
                continue;
            }
            if depth < max_depth {
                pending.extend(listing.common_prefixes.into_iter().map(|p| (p, depth + 1)));
            }
        }
        found.sort();
        Ok(found)
    }
}

/// Raw access under the prefix for `crate::testing` (foreign objects, corrupt documents, the key
/// layout), bypassing what `BlobStore` checks.
#[cfg(any(test, feature = "testing"))]
impl BlobStore {
    pub(crate) async fn put_raw(&self, relative: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.store
            .put(&self.path(relative), PutPayload::from(bytes))
            .await
            .map_err(|e| {
                store_error(
                    StoreOperation::Put,
                    StoreKey::Other(relative.to_string()),
                    e,
                )
            })?;
        Ok(())
    }

    pub(crate) async fn get_raw(&self, relative: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.store.get(&self.path(relative)).await {
            Ok(r) => Ok(Some(
                r.bytes()
                    .await
                    .map_err(|e| {
                        store_error(
                            StoreOperation::Get,
                            StoreKey::Other(relative.to_string()),
                            e,
                        )
                    })?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(
                StoreOperation::Get,
                StoreKey::Other(relative.to_string()),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateId;

    async fn cas_contract(store: BlobStore) {
        let mut a = Announcement {
            dataset: "d".into(),
            version: 1,
            tag: 1,
            schema_fingerprint: 0,
            published_at_millis: 0,
            previous: None,
            snapshot: None,
            delta: None,
            reverse_delta: None,
            latest_snapshot: None,
        };
        assert!(store.announcement().await.expect("read").is_none());
        let v1 = store.announce(None, &a).await.expect("first announce");
        assert!(
            matches!(
                store.announce(None, &a).await,
                Err(StoreError::Conflict { .. })
            ),
            "create twice"
        );
        a.version = 2;
        let v2 = store.announce(Some(&v1), &a).await.expect("swap from v1");
        assert!(
            matches!(
                store.announce(Some(&v1), &a).await,
                Err(StoreError::Conflict { .. })
            ),
            "stale token"
        );
        let (read, token) = store.announcement().await.expect("read").expect("present");
        assert_eq!(read.version, 2);
        assert_eq!(token, v2);
        // Blobs are written once.
        let key = BlobKey::Snapshot {
            state: StateId::new(2, 2),
        };
        let bytes = BlobBytes::from_vec(vec![1, 2, 3]);
        store.put_blob(&key, &bytes).await.expect("put");
        assert!(matches!(
            store.put_blob(&key, &bytes).await,
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(
            store.get_blob(&key).await.expect("get").as_slice(),
            &[1, 2, 3]
        );
        assert_eq!(store.list_blobs().await.expect("list"), vec![key]);
    }

    #[tokio::test]
    async fn a_missing_blob_is_the_same_error_mapped_or_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = BlobKey::Snapshot {
            state: StateId::new(1, 1),
        };
        for store in [
            BlobStore::memory(),
            BlobStore::local(dir.path()).expect("local"),
        ] {
            for r in [store.get_blob(&key).await, store.open_blob(&key).await] {
                assert!(
                    matches!(
                        &r,
                        Err(StoreError::Failed {
                            operation,
                            source: object_store::Error::NotFound { .. },
                            ..
                        }) if *operation == StoreOperation::Get
                    ),
                    "{r:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn listing_skips_nested_objects_and_other_spellings_of_keys() {
        let store = BlobStore::memory();
        let key = BlobKey::Snapshot {
            state: StateId::new(1, 1),
        };
        let nested = format!(
            "snapshots/old/{}",
            key.relative().trim_start_matches("snapshots/")
        );
        store.put_raw(&nested, vec![1]).await.expect("put");
        assert_eq!(store.list_blobs().await.expect("list"), vec![]);
        for other_spelling in [
            "snapshots/00000000000000000001-000000000000000A.blob",
            "snapshots/+0000000000000000001-0000000000000001.blob",
            "snapshots/00000000000000000001-+000000000000001.blob",
        ] {
            assert!(BlobKey::parse(other_spelling).is_some(), "{other_spelling}");
            store.put_raw(other_spelling, vec![1]).await.expect("put");
        }
        assert_eq!(store.list_blobs().await.expect("list"), vec![]);
        store.put_raw(&key.relative(), vec![1]).await.expect("put");
        assert_eq!(store.list_blobs().await.expect("list"), vec![key]);
    }

    #[tokio::test]
    async fn datasets_are_prefixes_holding_an_announcement() {
        let dir = tempfile::tempdir().expect("tempdir");
        let memory = BlobStore::memory();
        for root in [memory, BlobStore::local(dir.path()).expect("local")] {
            for at in ["a", "b/c", "b/d/e"] {
                root.at(at)
                    .expect("at")
                    .put_raw("announced.json", b"{}".to_vec())
                    .await
                    .expect("put");
            }
            root.put_raw("b/readme.txt", b"x".to_vec())
                .await
                .expect("put");
            root.put_raw("a/x/announced.json", b"{}".to_vec())
                .await
                .expect("put");
            assert_eq!(
                root.list_datasets(8).await.expect("list"),
                vec!["a", "b/c", "b/d/e"],
                "never inside a dataset"
            );
            assert_eq!(root.list_datasets(2).await.expect("list"), vec!["a", "b/c"]);
            assert_eq!(
                root.at("b")
                    .expect("at")
                    .list_datasets(8)
                    .await
                    .expect("list"),
                vec!["c", "d/e"]
            );
            assert_eq!(
                root.at("a")
                    .expect("at")
                    .list_datasets(8)
                    .await
                    .expect("list"),
                vec![""]
            );
        }
    }

    #[test]
    fn url_options() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().display().to_string();
        let s = BlobStore::from_url_with_options(&path, [("hollow_wire_encoding", "zstd:9")])
            .expect("local");
        assert_eq!(s.wire_encoding(), WireEncoding::Zstd { level: 9 });
        assert_eq!(
            BlobStore::from_url(&path).expect("local").wire_encoding(),
            WireEncoding::Raw
        );
        for bad in [
            ("hollow_wire_encoding", "lz4"),
            ("hollow_nope", "1"),
            ("hollow_max_blob_bytes", "-1"),
            ("aws_region", "us-east-1"),
        ] {
            assert!(
                matches!(
                    BlobStore::from_url_with_options(&path, [bad]),
                    Err(StoreError::InvalidLocation { .. })
                ),
                "{bad:?}"
            );
        }
        #[cfg(feature = "s3")]
        {
            let s3 = BlobStore::from_url_with_options(
                "s3://bucket/a/b",
                [("aws_region", "eu-west-1"), ("hollow_max_blob_bytes", "10")],
            )
            .expect("s3");
            assert_eq!(s3.wire_encoding(), REMOTE_ENCODING);
            assert_eq!(s3.max_blob_bytes, 10);
            assert_eq!(
                s3.multipart_threshold, None,
                "no copy-if-not-exists configured"
            );
            let s3 = BlobStore::from_url_with_options(
                "s3://bucket/a",
                [("aws_copy_if_not_exists", "multipart")],
            )
            .expect("s3");
            assert_eq!(s3.multipart_threshold, Some(DEFAULT_MULTIPART_THRESHOLD));
            assert!(matches!(
                BlobStore::from_url_with_options("s3://bucket/a", [("not_a_key", "x")]),
                Err(StoreError::InvalidLocation { .. })
            ));
        }
    }

    /// gs:// and az:// open through their builders (nothing is contacted), with the URL's path as
    /// the prefix and compressed blobs.
    #[cfg(all(feature = "gcs", feature = "azure"))]
    #[test]
    fn cloud_urls_open_through_their_builders() {
        let gcs = BlobStore::from_url_with_options(
            "gs://bucket/datasets/movies",
            [("google_service_account_key", GCS_TEST_KEY)],
        )
        .expect("gs://");
        assert_eq!(gcs.prefix.as_ref(), "datasets/movies");
        assert_eq!(gcs.wire_encoding(), REMOTE_ENCODING);
        let azure = BlobStore::from_url_with_options(
            "az://container/datasets/movies",
            [("azure_storage_use_emulator", "true")],
        )
        .expect("az://");
        assert_eq!(azure.prefix.as_ref(), "datasets/movies");
        assert_eq!(azure.wire_encoding(), REMOTE_ENCODING);
        assert!(matches!(
            BlobStore::from_url_with_options("az://container/x", [("google_bucket", "b")]),
            Err(StoreError::InvalidLocation { .. })
        ));
    }

    /// A syntactically valid service account key (not a real one).
    #[cfg(all(feature = "gcs", feature = "azure"))]
    const GCS_TEST_KEY: &str = r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC\n-----END PRIVATE KEY-----\n", "private_key_id": "x", "client_email": "x@example.invalid", "disable_oauth": true}"#;

    #[tokio::test]
    async fn memory_store_honours_the_contract() {
        cas_contract(BlobStore::memory()).await;
    }

    #[tokio::test]
    async fn local_store_honours_the_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        cas_contract(
            BlobStore::from_url(&format!("file://{}", dir.path().display())).expect("local"),
        )
        .await;
    }
}
