//! `BlobKey`: the name of a blob in a store, and the key layout under a dataset's prefix
//! (docs/FORMAT.md, "Key layout in a store").

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
}
