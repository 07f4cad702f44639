//! Secondary indexes on the write side: the keys of stored records, the unique-key maps that
//! make a duplicate fail its cycle, the index sections of a snapshot and the index additions of
//! a delta (docs/FORMAT.md, "Secondary index").

use std::collections::HashMap;

use smallvec::SmallVec;
use xxhash_rust::xxh3::xxh3_64;

use super::undo::Applied;
use super::{TypeWriteState, WriteState};
use crate::capnp_raw::AnyStructReader;
use crate::error::{CycleError, Result};
use crate::schema::{IndexKind, IndexPath, KeyBytes};

/// One secondary index of a type, as the write state keeps it.
#[derive(Debug)]
pub(crate) struct WriteIndex {
    pub(crate) path: IndexPath,
    /// Unique indexes: key hash → ordinals with a key of that hash (usually one).
    pub(crate) unique: Option<HashMap<u64, SmallVec<[u32; 1]>>>,
}

impl WriteIndex {
    pub(crate) fn new(path: IndexPath) -> Self {
        let unique = (path.kind() == IndexKind::Unique).then(HashMap::new);
        Self { path, unique }
    }
}

/// The keys of a canonical record under `path` (sorted, distinct).
pub(crate) fn canonical_keys(
    type_name: &str,
    path: &IndexPath,
    canonical: &[u64],
) -> Result<Vec<KeyBytes>, CycleError> {
    let bytes: &[u8] = bytemuck::cast_slice(canonical);
    let segments = [bytes];
    let message = capnp::message::Reader::new(
        capnp::message::SegmentArray::new(&segments),
        capnp::message::ReaderOptions {
            traversal_limit_in_words: None,
            nesting_limit: 128,
        },
    );
    let ctx = || format!("reading index {} of a {type_name} record", path.name());
    let root: AnyStructReader<'_> = message
        .get_root()
        .map_err(|e| CycleError::capnp(ctx(), e))?;
    let mut keys = Vec::new();
    path.record_keys(root.raw(), &mut keys)
        .map_err(|e| CycleError::capnp(ctx(), e))?;
    Ok(keys)
}

impl TypeWriteState {
    fn record_keys(&self, index: usize, ordinal: u32) -> Result<Vec<KeyBytes>, CycleError> {
        match self.records.get(ordinal as usize).and_then(Option::as_ref) {
            Some(r) => canonical_keys(&self.info.name, &self.indexes[index].path, &r.canonical),
            None => Ok(Vec::new()),
        }
    }

    /// Adds (or removes) the unique keys of `canonical` at `ordinal` to the unique maps.
    pub(crate) fn track_unique(&mut self, ordinal: u32, canonical: &[u64], add: bool) {
        let name = &self.info.name;
        for index in &mut self.indexes {
            let Some(map) = &mut index.unique else {
                continue;
            };
            // A record whose key cannot be read was refused when staged; nothing to track.
            let Ok(keys) = canonical_keys(name, &index.path, canonical) else {
                continue;
            };
            for k in keys {
                let hash = xxh3_64(&k);
                if add {
                    let list = map.entry(hash).or_default();
                    if !list.contains(&ordinal) {
                        list.push(ordinal);
                    }
                } else if let Some(list) = map.get_mut(&hash) {
                    list.retain(|o| *o != ordinal);
                    if list.is_empty() {
                        map.remove(&hash);
                    }
                }
            }
        }
    }

    /// Fails when a unique index gives one of `ordinals`' keys to another record too.
    pub(crate) fn check_unique(
        &self,
        ordinals: impl IntoIterator<Item = u32> + Clone,
    ) -> Result<(), CycleError> {
        for (i, index) in self.indexes.iter().enumerate() {
            let Some(map) = &index.unique else { continue };
            for o in ordinals.clone() {
                for k in self.record_keys(i, o)? {
                    let Some(list) = map.get(&xxh3_64(&k)) else {
                        continue;
                    };
                    for &other in list.iter().filter(|other| **other != o) {
                        if self.record_keys(i, other)?.contains(&k) {
                            return Err(CycleError::UniqueViolation {
                                type_name: self.info.name.clone(),
                                index: index.path.name().to_string(),
                                key: index.path.render(&k),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `(hash, ordinal)` of every key of every record under index `index` (a snapshot's index).
    pub(crate) fn index_pairs(&self, index: usize) -> Result<Vec<(u64, u32)>, CycleError> {
        let mut pairs = Vec::with_capacity(self.records.len());
        for (o, r) in (0u32..).zip(&self.records) {
            if let Some(r) = r {
                for k in canonical_keys(&self.info.name, &self.indexes[index].path, &r.canonical)? {
                    pairs.push((xxh3_64(&k), o));
                }
            }
        }
        Ok(pairs)
    }

    /// `(hash, ordinal)` pairs for keys `after` has and `before` does not, per index: the index
    /// additions of a delta that replaces `before` by `after` at `ordinal`.
    pub(crate) fn index_additions(
        &self,
        ordinal: u32,
        before: Option<&[u64]>,
        after: Option<&[u64]>,
        out: &mut [Vec<(u64, u32)>],
    ) -> Result<(), CycleError> {
        let Some(after) = after else { return Ok(()) };
        for (index, additions) in self.indexes.iter().zip(out.iter_mut()) {
            let new = canonical_keys(&self.info.name, &index.path, after)?;
            let old = match before {
                Some(b) => canonical_keys(&self.info.name, &index.path, b)?,
                None => Vec::new(),
            };
            for k in new {
                if old.binary_search(&k).is_err() {
                    additions.push((xxh3_64(&k), ordinal));
                }
            }
        }
        Ok(())
    }
}

impl WriteState {
    /// Fails when the records a cycle added or changed break a unique index.
    pub(crate) fn check_unique(&self, applied: &Applied) -> Result<(), CycleError> {
        for (ty, t) in self.types.iter().zip(&applied.types) {
            if ty.indexes.iter().all(|i| i.unique.is_none()) {
                continue;
            }
            let ordinals = t
                .added
                .iter()
                .copied()
                .chain(t.changed.iter().map(|(o, _)| *o));
            ty.check_unique(ordinals)?;
        }
        Ok(())
    }
}
