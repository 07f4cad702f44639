//! `BlobKey`: the name of a blob in a store, and the key layout under a dataset's prefix
//! (docs/FORMAT.md, "Key layout in a store").

use crate::StateId;

/// The directories (key prefixes) blobs live in, one per kind.
pub(crate) const BLOB_DIRS: [&str; 3] = ["snapshots", "deltas", "reverse-deltas"];

/// The name of a blob in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlobKey {
    /// The whole state `state`.
    Snapshot {
        /// The state the snapshot holds.
        state: StateId,
    },
    /// The changes from the older state `from` to the newer state `to`.
    Delta {
        /// The older state.
        from: StateId,
        /// The newer state.
        to: StateId,
    },
    /// The changes from the newer state `from` back to the older state `to`.
    ReverseDelta {
        /// The newer state.
        from: StateId,
        /// The older state.
        to: StateId,
    },
}

impl BlobKey {
    /// The state the blob produces: a snapshot's state, a delta's `to`.
    pub fn to_state(&self) -> StateId {
        match *self {
            BlobKey::Snapshot { state } => state,
            BlobKey::Delta { to, .. } | BlobKey::ReverseDelta { to, .. } => to,
        }
    }

    /// The state the blob applies to: a delta's `from`; `None` for a snapshot.
    pub fn from_state(&self) -> Option<StateId> {
        match *self {
            BlobKey::Snapshot { .. } => None,
            BlobKey::Delta { from, .. } | BlobKey::ReverseDelta { from, .. } => Some(from),
        }
    }

    /// The key relative to the dataset prefix (`snapshots/…`, `deltas/…`, `reverse-deltas/…`).
    pub fn relative(&self) -> String {
        match self {
            BlobKey::Snapshot { state } => {
                format!("snapshots/{:020}-{:016x}.blob", state.version, state.tag)
            }
            BlobKey::Delta { from, to } => format!(
                "deltas/{:020}-{:016x}-{:020}-{:016x}.blob",
                from.version, from.tag, to.version, to.tag
            ),
            BlobKey::ReverseDelta { from, to } => format!(
                "reverse-deltas/{:020}-{:016x}-{:020}-{:016x}.blob",
                from.version, from.tag, to.version, to.tag
            ),
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
        let state = |v: &str, t: &str| Some(StateId::new(num(v)?, tag(t)?));
        match (dir, parts.as_slice()) {
            ("snapshots", [v, t]) => Some(BlobKey::Snapshot {
                state: state(v, t)?,
            }),
            ("deltas", [f, ft, t, tt]) => Some(BlobKey::Delta {
                from: state(f, ft)?,
                to: state(t, tt)?,
            }),
            ("reverse-deltas", [f, ft, t, tt]) => Some(BlobKey::ReverseDelta {
                from: state(f, ft)?,
                to: state(t, tt)?,
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.relative())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_round_trip() {
        for key in [
            BlobKey::Snapshot {
                state: StateId::new(7, 0xabc),
            },
            BlobKey::Delta {
                from: StateId::new(6, 2),
                to: StateId::new(7, u64::MAX),
            },
            BlobKey::ReverseDelta {
                from: StateId::new(7, u64::MAX),
                to: StateId::new(6, 2),
            },
        ] {
            assert_eq!(BlobKey::parse(&key.relative()), Some(key));
        }
        assert_eq!(
            BlobKey::parse("deltas/00000000000000000006-0000000000000002-00000000000000000007-ffffffffffffffff.blob")
                .map(|k| k.relative()),
            Some("deltas/00000000000000000006-0000000000000002-00000000000000000007-ffffffffffffffff.blob".to_string())
        );
        assert_eq!(BlobKey::parse("snapshots/7-1.blob"), None);
        assert_eq!(
            BlobKey::parse("other/00000000000000000007-0000000000000001.blob"),
            None
        );
    }
}
