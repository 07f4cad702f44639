//! The announcement: which state a dataset is at (JSON at `announced.json`), the token it is
//! compared-and-swapped against, and `BlobStore`'s reads and moves of it.

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde_json::{Value, json};

use super::key::BlobKey;
use super::{ANNOUNCED, BlobStore, local_cas, store_error};
use crate::StateId;
use crate::error::{Result, StoreError, StoreKey, StoreOperation};

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
    pub previous: Option<StateId>,
    /// The snapshot of this version, if one was written.
    pub snapshot: Option<BlobKey>,
    /// The delta from the previous version.
    pub delta: Option<BlobKey>,
    /// The reverse delta back to the previous version.
    pub reverse_delta: Option<BlobKey>,
    /// The newest snapshot at or before this version.
    pub latest_snapshot: Option<BlobKey>,
}
pub(super) fn hex(v: u64) -> String {
    format!("{v:#018x}")
}

pub(super) fn parse_hex(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

impl Announcement {
    /// The announced state: `version` with `tag`.
    pub fn state(&self) -> StateId {
        StateId::new(self.version, self.tag)
    }

    /// The JSON document.
    pub fn to_json(&self) -> Value {
        let key = |k: &Option<BlobKey>| k.map_or(Value::Null, |k| Value::from(k.relative()));
        json!({
            "dataset": self.dataset,
            "version": self.version,
            "tag": hex(self.tag),
            "schemaFingerprint": hex(self.schema_fingerprint),
            "publishedAtMillis": self.published_at_millis,
            "previous": self.previous.map_or(Value::Null, |p| json!({"version": p.version, "tag": hex(p.tag)})),
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
            p => Some(StateId::new(
                p.get("version")?.as_u64()?,
                parse_hex(p.get("tag")?)?,
            )),
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
pub struct AnnouncementVersion(pub(super) VersionToken);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum VersionToken {
    /// The store's own ETag / version (memory, S3, …).
    Store(UpdateVersion),
    /// xxh3-64 of the announcement bytes (local directories).
    Content(u64),
}

impl BlobStore {
    /// The announced version, if any, with the token to compare-and-swap it against.
    pub async fn announcement(
        &self,
    ) -> Result<Option<(Announcement, AnnouncementVersion)>, StoreError> {
        let result = match self.store.get(&self.path(ANNOUNCED)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(StoreOperation::Get, StoreKey::Announcement, e)),
        };
        let meta = result.meta.clone();
        let bytes = result
            .bytes()
            .await
            .map_err(|e| store_error(StoreOperation::Get, StoreKey::Announcement, e))?;
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
    pub async fn announcement_changed(
        &self,
        seen: Option<&AnnouncementVersion>,
    ) -> Result<bool, StoreError> {
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
            Err(e) => Err(store_error(StoreOperation::Get, StoreKey::Announcement, e)),
            Ok(_) => Ok(true),
        }
    }

    /// Moves the announcement to `next` if the store still holds `expected` (`None`: no
    /// announcement yet). Anything else is `StoreError::Conflict`.
    pub async fn announce(
        &self,
        expected: Option<&AnnouncementVersion>,
        next: &Announcement,
    ) -> Result<AnnouncementVersion, StoreError> {
        let bytes = serde_json::to_vec_pretty(&next.to_json()).unwrap_or_default();
        let version = next.version;
        if let Some(dir) = &self.local_dir {
            let dir = dir.clone();
            let expected = expected.cloned();
            let wait = self.lock_wait;
            let token = tokio::task::spawn_blocking(move || {
                local_cas::announce_local(&dir, expected.as_ref(), &bytes, wait)
            })
            .await
            .map_err(|e| StoreError::io(ANNOUNCED, std::io::Error::other(e)))??;
            self.announced.send_replace(version);
            return Ok(token);
        }
        let mode = match expected {
            None => PutMode::Create,
            Some(AnnouncementVersion(VersionToken::Store(v))) => PutMode::Update(v.clone()),
            Some(AnnouncementVersion(VersionToken::Content(_))) => {
                return Err(StoreError::Conflict {
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
            ) => Err(StoreError::Conflict {
                reason: "another producer announced first".into(),
            }),
            Err(e) => Err(store_error(
                StoreOperation::Announce,
                StoreKey::Announcement,
                e,
            )),
        }
    }
}

pub(crate) fn parse_announcement(bytes: &[u8]) -> Result<Announcement, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: StoreKey::Announcement,
        reason,
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    Announcement::from_json(&value).ok_or_else(|| corrupt("missing or malformed fields".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_round_trip_through_json() {
        let a = Announcement {
            dataset: "movies".into(),
            version: 3,
            tag: 0xfeed,
            schema_fingerprint: 0x1234,
            published_at_millis: 99,
            previous: Some(StateId::new(2, 0xbeef)),
            snapshot: None,
            delta: Some(BlobKey::Delta {
                from: StateId::new(2, 0xbeef),
                to: StateId::new(3, 0xfeed),
            }),
            reverse_delta: Some(BlobKey::ReverseDelta {
                from: StateId::new(3, 0xfeed),
                to: StateId::new(2, 0xbeef),
            }),
            latest_snapshot: Some(BlobKey::Snapshot {
                state: StateId::new(1, 5),
            }),
        };
        assert_eq!(Announcement::from_json(&a.to_json()), Some(a));
        assert!(parse_announcement(b"{}").is_err());
    }
}
