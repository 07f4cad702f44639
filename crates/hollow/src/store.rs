//! Where a dataset lives: its blobs and its announcement, over `object_store`
//! (docs/FORMAT.md, "Key layout in a store").
//!
//! Blobs are immutable and written with `PutMode::Create`, so a key is never overwritten. The
//! announcement moves by compare-and-swap: `PutMode::Update` on stores that have it (memory,
//! S3), and on a local directory an exclusive file lock around read-compare-rename, so two
//! producers can never both announce.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde_json::{Value, json};

use crate::bytes::BlobBytes;
use crate::error::{Error, Result};

/// The name of a blob in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlobKey {
    /// The whole state `version` (with tag `tag`).
    Snapshot {
        /// Version.
        version: u64,
        /// Tag of that state.
        tag: u64,
    },
    /// The changes from state `(from, from_tag)` to the newer state `(to, to_tag)`.
    Delta {
        /// Older version.
        from: u64,
        /// Tag of the older state.
        from_tag: u64,
        /// Newer version.
        to: u64,
        /// Tag of the newer state.
        to_tag: u64,
    },
    /// The changes from the newer state `(from, from_tag)` back to `(to, to_tag)`.
    ReverseDelta {
        /// Newer version.
        from: u64,
        /// Tag of the newer state.
        from_tag: u64,
        /// Older version.
        to: u64,
        /// Tag of the older state.
        to_tag: u64,
    },
}

impl BlobKey {
    /// The key relative to the dataset prefix (`snapshots/…`, `deltas/…`, `reverse-deltas/…`).
    pub fn relative(&self) -> String {
        match self {
            BlobKey::Snapshot { version, tag } => {
                format!("snapshots/{version:020}-{tag:016x}.blob")
            }
            BlobKey::Delta {
                from,
                from_tag,
                to,
                to_tag,
            } => {
                format!("deltas/{from:020}-{from_tag:016x}-{to:020}-{to_tag:016x}.blob")
            }
            BlobKey::ReverseDelta {
                from,
                from_tag,
                to,
                to_tag,
            } => {
                format!("reverse-deltas/{from:020}-{from_tag:016x}-{to:020}-{to_tag:016x}.blob")
            }
        }
    }

    /// Parses a relative key written by [`BlobKey::relative`].
    pub fn parse(relative: &str) -> Option<Self> {
        let (dir, file) = relative.split_once('/')?;
        let stem = file.strip_suffix(".blob")?;
        let parts: Vec<&str> = stem.split('-').collect();
        let num = |s: &str| (s.len() == 20).then(|| s.parse::<u64>().ok()).flatten();
        let tag = |s: &str| {
            (s.len() == 16)
                .then(|| u64::from_str_radix(s, 16).ok())
                .flatten()
        };
        match (dir, parts.as_slice()) {
            ("snapshots", [v, t]) => Some(BlobKey::Snapshot {
                version: num(v)?,
                tag: tag(t)?,
            }),
            ("deltas", [f, ft, t, tt]) => Some(BlobKey::Delta {
                from: num(f)?,
                from_tag: tag(ft)?,
                to: num(t)?,
                to_tag: tag(tt)?,
            }),
            ("reverse-deltas", [f, ft, t, tt]) => Some(BlobKey::ReverseDelta {
                from: num(f)?,
                from_tag: tag(ft)?,
                to: num(t)?,
                to_tag: tag(tt)?,
            }),
            _ => None,
        }
    }
}

/// What a version's announcement says: the state, its schema, the blobs that reach it, and the
/// version before it on the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Dataset name.
    pub dataset: String,
    /// Version.
    pub version: u64,
    /// Random tag of the state.
    pub tag: u64,
    /// Fingerprint of the schema the state was written with.
    pub schema_fingerprint: u64,
    /// When the producer announced it (milliseconds since the Unix epoch).
    pub published_at_millis: u64,
    /// The previous version on the chain and its tag (`None` for the first version).
    pub previous: Option<(u64, u64)>,
    /// The snapshot of this version, if one was written.
    pub snapshot: Option<BlobKey>,
    /// The delta from the previous version.
    pub delta: Option<BlobKey>,
    /// The reverse delta back to the previous version.
    pub reverse_delta: Option<BlobKey>,
    /// The newest snapshot at or before this version.
    pub latest_snapshot: Option<BlobKey>,
}

fn hex(v: u64) -> String {
    format!("{v:#018x}")
}

fn parse_hex(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

impl Announcement {
    /// The JSON document.
    pub fn to_json(&self) -> Value {
        let key = |k: &Option<BlobKey>| k.map_or(Value::Null, |k| Value::from(k.relative()));
        json!({
            "dataset": self.dataset,
            "version": self.version,
            "tag": hex(self.tag),
            "schemaFingerprint": hex(self.schema_fingerprint),
            "publishedAtMillis": self.published_at_millis,
            "previous": self.previous.map_or(Value::Null, |(v, t)| json!({"version": v, "tag": hex(t)})),
            "snapshot": key(&self.snapshot),
            "delta": key(&self.delta),
            "reverseDelta": key(&self.reverse_delta),
            "latestSnapshot": key(&self.latest_snapshot),
        })
    }

    /// Parses the JSON document; `None` when it is not one.
    pub fn from_json(v: &Value) -> Option<Self> {
        let key = |name: &str| -> Option<Option<BlobKey>> {
            match v.get(name)? {
                Value::Null => Some(None),
                s => Some(Some(BlobKey::parse(s.as_str()?)?)),
            }
        };
        let previous = match v.get("previous")? {
            Value::Null => None,
            p => Some((p.get("version")?.as_u64()?, parse_hex(p.get("tag")?)?)),
        };
        Some(Self {
            dataset: v.get("dataset")?.as_str()?.to_string(),
            version: v.get("version")?.as_u64()?,
            tag: parse_hex(v.get("tag")?)?,
            schema_fingerprint: parse_hex(v.get("schemaFingerprint")?)?,
            published_at_millis: v.get("publishedAtMillis")?.as_u64()?,
            previous,
            snapshot: key("snapshot")?,
            delta: key("delta")?,
            reverse_delta: key("reverseDelta")?,
            latest_snapshot: key("latestSnapshot")?,
        })
    }
}

/// The store's token for the announcement it holds, for compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncementVersion(VersionToken);

#[derive(Debug, Clone, PartialEq, Eq)]
enum VersionToken {
    /// The store's own ETag / version (memory, S3, …).
    Store(UpdateVersion),
    /// xxh3-64 of the announcement bytes (local directories).
    Content(u64),
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
}

const ANNOUNCED: &str = "announced.json";
const PINNED: &str = "pinned.json";

fn watch() -> Arc<tokio::sync::watch::Sender<u64>> {
    Arc::new(tokio::sync::watch::Sender::new(0))
}

fn store_error(operation: &str, key: &str, source: object_store::Error) -> Error {
    Error::Store {
        operation: operation.to_string(),
        key: key.to_string(),
        source,
    }
}

impl BlobStore {
    /// A store for `location`: a local directory path, `file:///dir`, `memory://` (a fresh
    /// in-memory store), or a URL `object_store` understands in this build.
    pub fn from_url(location: &str) -> Result<Self> {
        if !location.contains("://") {
            return Self::local(location);
        }
        let url = url::Url::parse(location).map_err(|e| Error::InvalidLocation {
            location: location.to_string(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "file" => {
                let dir = url.to_file_path().map_err(|()| Error::InvalidLocation {
                    location: location.to_string(),
                    reason: "not a local file path".to_string(),
                })?;
                Self::local(dir)
            }
            "memory" => Ok(Self::memory()),
            _ => {
                let (store, prefix) =
                    object_store::parse_url(&url).map_err(|e| Error::InvalidLocation {
                        location: location.to_string(),
                        reason: e.to_string(),
                    })?;
                Ok(Self {
                    store: Arc::from(store),
                    prefix,
                    local_dir: None,
                    announced: watch(),
                })
            }
        }
    }

    /// A fresh in-memory store (tests, demos).
    pub fn memory() -> Self {
        Self::new(Arc::new(object_store::memory::InMemory::new()), "")
    }

    /// A local directory (created if missing).
    pub fn local(dir: impl AsRef<FsPath>) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| store_error("open", &dir.display().to_string(), e))?;
        Ok(Self {
            store: Arc::new(fs),
            prefix: Path::default(),
            local_dir: Some(dir),
            announced: watch(),
        })
    }

    /// Any `object_store` and a key prefix. Compare-and-swap of the announcement uses
    /// `PutMode::Update`, so the store must support it.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            store,
            prefix: Path::from(prefix),
            local_dir: None,
            announced: watch(),
        }
    }

    /// The local directory, when the store is one (blobs can then be mapped in place).
    pub fn local_dir(&self) -> Option<&FsPath> {
        self.local_dir.as_deref()
    }

    fn path(&self, relative: &str) -> Path {
        relative
            .split('/')
            .fold(self.prefix.clone(), |p, part| p.join(part))
    }

    /// Writes a blob; an existing key is an error (`Conflict`), never an overwrite.
    pub async fn put_blob(&self, key: &BlobKey, bytes: &BlobBytes) -> Result<()> {
        let relative = key.relative();
        let payload = PutPayload::from(bytes.as_slice().to_vec());
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path(&relative), payload, opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(Error::Conflict {
                reason: format!("blob {relative} already exists"),
            }),
            Err(e) => Err(store_error("put", &relative, e)),
        }
    }

    /// A blob's bytes for reading: mapped in place from a local directory, else read into
    /// memory.
    pub async fn open_blob(&self, key: &BlobKey) -> Result<BlobBytes> {
        match &self.local_dir {
            Some(dir) => BlobBytes::map_file(&dir.join(key.relative())),
            None => self.get_blob(key).await,
        }
    }

    /// Subscribes to the versions this process announces through this store (or a clone):
    /// consumers sharing the producer's `BlobStore` wake at once instead of at their next poll.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.announced.subscribe()
    }

    /// The pinned version and tag, if any.
    pub async fn pinned(&self) -> Result<Option<(u64, u64)>> {
        match self.store.get(&self.path(PINNED)).await {
            Ok(r) => {
                let bytes = r.bytes().await.map_err(|e| store_error("get", PINNED, e))?;
                let corrupt = |reason: &str| Error::corrupt(PINNED, "pin", reason.to_string());
                let v: Value =
                    serde_json::from_slice(&bytes).map_err(|e| corrupt(&e.to_string()))?;
                let version = v
                    .get("version")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| corrupt("no version"))?;
                let tag = v
                    .get("tag")
                    .and_then(parse_hex)
                    .ok_or_else(|| corrupt("no tag"))?;
                Ok(Some((version, tag)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error("get", PINNED, e)),
        }
    }

    /// Pins consumers to the state `(version, tag)`.
    pub async fn pin(&self, version: u64, tag: u64) -> Result<()> {
        let body = serde_json::to_vec_pretty(&json!({"version": version, "tag": hex(tag)}))
            .unwrap_or_default();
        self.store
            .put(&self.path(PINNED), PutPayload::from(body))
            .await
            .map_err(|e| store_error("put", PINNED, e))?;
        self.announced.send_modify(|_| {});
        Ok(())
    }

    /// Removes the pin: consumers follow the announced version again.
    pub async fn unpin(&self) -> Result<()> {
        match self.store.delete(&self.path(PINNED)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                self.announced.send_modify(|_| {});
                Ok(())
            }
            Err(e) => Err(store_error("delete", PINNED, e)),
        }
    }

    /// Reads a blob into memory (8-byte aligned).
    pub async fn get_blob(&self, key: &BlobKey) -> Result<BlobBytes> {
        let relative = key.relative();
        let result = self
            .store
            .get(&self.path(&relative))
            .await
            .map_err(|e| store_error("get", &relative, e))?;
        let bytes = result
            .bytes()
            .await
            .map_err(|e| store_error("get", &relative, e))?;
        Ok(BlobBytes::from_vec(bytes.to_vec()))
    }

    /// Every blob in the store, sorted.
    pub async fn list_blobs(&self) -> Result<Vec<BlobKey>> {
        let mut keys = Vec::new();
        for dir in ["snapshots", "deltas", "reverse-deltas"] {
            let prefix = self.path(dir);
            let metas: Vec<_> = self
                .store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| store_error("list", dir, e))?;
            for meta in metas {
                let name = meta.location.filename().unwrap_or_default();
                if let Some(key) = BlobKey::parse(&format!("{dir}/{name}")) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// The announced version, if any, with the token to compare-and-swap it against.
    pub async fn announcement(&self) -> Result<Option<(Announcement, AnnouncementVersion)>> {
        let result = match self.store.get(&self.path(ANNOUNCED)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error("get", ANNOUNCED, e)),
        };
        let meta = result.meta.clone();
        let bytes = result
            .bytes()
            .await
            .map_err(|e| store_error("get", ANNOUNCED, e))?;
        let token = if self.local_dir.is_some() {
            VersionToken::Content(xxhash_rust::xxh3::xxh3_64(&bytes))
        } else {
            VersionToken::Store(UpdateVersion {
                e_tag: meta.e_tag,
                version: meta.version,
            })
        };
        let announcement = parse_announcement(&bytes)?;
        Ok(Some((announcement, AnnouncementVersion(token))))
    }

    /// Whether the announcement differs from the one `seen` names, with a conditional GET
    /// (`If-None-Match` on the ETag) where the store supports it.
    pub async fn announcement_changed(&self, seen: Option<&AnnouncementVersion>) -> Result<bool> {
        let etag = match seen {
            Some(AnnouncementVersion(VersionToken::Store(v))) => v.e_tag.clone(),
            _ => None,
        };
        let Some(etag) = etag else {
            let now = self.announcement().await?.map(|(_, token)| token);
            return Ok(now.as_ref() != seen);
        };
        let options = object_store::GetOptions {
            if_none_match: Some(etag),
            ..object_store::GetOptions::default()
        };
        match self.store.get_opts(&self.path(ANNOUNCED), options).await {
            Err(object_store::Error::NotModified { .. }) => Ok(false),
            Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(e) => Err(store_error("get", ANNOUNCED, e)),
            Ok(_) => Ok(true),
        }
    }

    /// Moves the announcement to `next` if the store still holds `expected` (`None`: no
    /// announcement yet). Anything else is `Error::Conflict`.
    pub async fn announce(
        &self,
        expected: Option<&AnnouncementVersion>,
        next: &Announcement,
    ) -> Result<AnnouncementVersion> {
        let bytes = serde_json::to_vec_pretty(&next.to_json()).unwrap_or_default();
        let version = next.version;
        if let Some(dir) = &self.local_dir {
            let dir = dir.clone();
            let expected = expected.cloned();
            let token = tokio::task::spawn_blocking(move || {
                announce_local(&dir, expected.as_ref(), &bytes)
            })
            .await
            .map_err(|e| Error::io(ANNOUNCED, std::io::Error::other(e)))??;
            self.announced.send_replace(version);
            return Ok(token);
        }
        let mode = match expected {
            None => PutMode::Create,
            Some(AnnouncementVersion(VersionToken::Store(v))) => PutMode::Update(v.clone()),
            Some(AnnouncementVersion(VersionToken::Content(_))) => {
                return Err(Error::Conflict {
                    reason: "announcement token from another store".into(),
                });
            }
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path(ANNOUNCED), PutPayload::from(bytes), opts)
            .await
        {
            Ok(r) => {
                self.announced.send_replace(version);
                Ok(AnnouncementVersion(VersionToken::Store(UpdateVersion {
                    e_tag: r.e_tag,
                    version: r.version,
                })))
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(Error::Conflict {
                reason: "another producer announced first".into(),
            }),
            Err(e) => Err(store_error("announce", ANNOUNCED, e)),
        }
    }
}

fn parse_announcement(bytes: &[u8]) -> Result<Announcement> {
    let corrupt = |reason: String| Error::corrupt(ANNOUNCED, "announcement", reason);
    let value: Value = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    Announcement::from_json(&value).ok_or_else(|| corrupt("missing or malformed fields".into()))
}

/// Compare-and-swap on a local directory: an exclusive lock on `announced.lock` around reading,
/// comparing and atomically renaming the announcement.
fn announce_local(
    dir: &FsPath,
    expected: Option<&AnnouncementVersion>,
    bytes: &[u8],
) -> Result<AnnouncementVersion> {
    let lock_path = dir.join("announced.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    let path = dir.join(ANNOUNCED);
    let current = match std::fs::read(&path) {
        Ok(b) => Some(AnnouncementVersion(VersionToken::Content(
            xxhash_rust::xxh3::xxh3_64(&b),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&path, e)),
    };
    if current.as_ref() != expected {
        return Err(Error::Conflict {
            reason: "another producer announced first".into(),
        });
    }
    let tmp = dir.join(format!("{ANNOUNCED}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| Error::io(&path, e))?;
    drop(lock);
    Ok(AnnouncementVersion(VersionToken::Content(
        xxhash_rust::xxh3::xxh3_64(bytes),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_round_trip() {
        for key in [
            BlobKey::Snapshot {
                version: 7,
                tag: 0xabc,
            },
            BlobKey::Delta {
                from: 6,
                from_tag: 2,
                to: 7,
                to_tag: u64::MAX,
            },
            BlobKey::ReverseDelta {
                from: 7,
                from_tag: u64::MAX,
                to: 6,
                to_tag: 2,
            },
        ] {
            assert_eq!(BlobKey::parse(&key.relative()), Some(key));
        }
        assert_eq!(BlobKey::parse("snapshots/7-1.blob"), None);
        assert_eq!(
            BlobKey::parse("other/00000000000000000007-0000000000000001.blob"),
            None
        );
    }

    #[test]
    fn announcements_round_trip_through_json() {
        let a = Announcement {
            dataset: "movies".into(),
            version: 3,
            tag: 0xfeed,
            schema_fingerprint: 0x1234,
            published_at_millis: 99,
            previous: Some((2, 0xbeef)),
            snapshot: None,
            delta: Some(BlobKey::Delta {
                from: 2,
                from_tag: 0xbeef,
                to: 3,
                to_tag: 0xfeed,
            }),
            reverse_delta: Some(BlobKey::ReverseDelta {
                from: 3,
                from_tag: 0xfeed,
                to: 2,
                to_tag: 0xbeef,
            }),
            latest_snapshot: Some(BlobKey::Snapshot { version: 1, tag: 5 }),
        };
        assert_eq!(Announcement::from_json(&a.to_json()), Some(a));
        assert!(parse_announcement(b"{}").is_err());
    }

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
            matches!(store.announce(None, &a).await, Err(Error::Conflict { .. })),
            "create twice"
        );
        a.version = 2;
        let v2 = store.announce(Some(&v1), &a).await.expect("swap from v1");
        assert!(
            matches!(
                store.announce(Some(&v1), &a).await,
                Err(Error::Conflict { .. })
            ),
            "stale token"
        );
        let (read, token) = store.announcement().await.expect("read").expect("present");
        assert_eq!(read.version, 2);
        assert_eq!(token, v2);
        // Blobs are written once.
        let key = BlobKey::Snapshot { version: 2, tag: 2 };
        let bytes = BlobBytes::from_vec(vec![1, 2, 3]);
        store.put_blob(&key, &bytes).await.expect("put");
        assert!(matches!(
            store.put_blob(&key, &bytes).await,
            Err(Error::Conflict { .. })
        ));
        assert_eq!(
            store.get_blob(&key).await.expect("get").as_slice(),
            &[1, 2, 3]
        );
        assert_eq!(store.list_blobs().await.expect("list"), vec![key]);
    }

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
