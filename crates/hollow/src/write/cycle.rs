//! Cycles: the changes from a write state to a new full population (or to a set of upserts and
//! deletes), applied in place with an undo log, and turned into a delta and a reverse delta.

use capnp::private::layout::StructReader;
use capnp::traits::{IntoInternalStructReader, OwnedStruct};

use super::delta::TypeDelta;
use super::{SnapshotInfo, Staged, TypeTarget, WriteState};
use crate::bytes::BlobBytes;
use crate::capnp_raw::AnyStructReader;
use crate::error::{Error, Result};
use crate::format::BlobKind;
use crate::format::KeyChange;
use crate::identity::{ContentMap, KeyMap};

/// The changes a cycle makes to one type.
#[derive(Debug, Default)]
pub(crate) struct TypeChanges {
    /// Ordinals to empty (ascending).
    pub(crate) removed: Vec<u32>,
    /// Same identity, new content: `(ordinal, new record)`.
    pub(crate) changed: Vec<(u32, Staged)>,
    /// New identities, to be given free ordinals.
    pub(crate) added: Vec<Staged>,
}

impl TypeChanges {
    fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.changed.is_empty() && self.added.is_empty()
    }
}

/// What applying changes did to one type: enough to undo it and to write both deltas.
#[derive(Debug, Default)]
pub(crate) struct TypeApplied {
    /// The type before the changes.
    pub(crate) before: Option<TypeTarget>,
    /// Records removed, with their old content.
    pub(crate) removed: Vec<(u32, Staged)>,
    /// Records replaced, with their old content.
    pub(crate) changed: Vec<(u32, Staged)>,
    /// Ordinals filled with new records (ascending).
    pub(crate) added: Vec<u32>,
    /// Ordinal capacity before the changes.
    pub(crate) old_capacity: usize,
}

/// The result of [`WriteState::apply_changes`].
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub(crate) types: Vec<TypeApplied>,
}

/// Counts of one type's changes in a cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeChangeCounts {
    /// Records added (new identities).
    pub added: u32,
    /// Records updated in place (same identity, new content).
    pub updated: u32,
    /// Records removed.
    pub removed: u32,
}

impl Applied {
    /// True when nothing changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.types
            .iter()
            .all(|t| t.removed.is_empty() && t.changed.is_empty() && t.added.is_empty())
    }

    /// Per-type counts.
    pub(crate) fn counts(&self) -> Vec<TypeChangeCounts> {
        self.types
            .iter()
            .map(|t| TypeChangeCounts {
                added: u32::try_from(t.added.len()).unwrap_or(u32::MAX),
                updated: u32::try_from(t.changed.len()).unwrap_or(u32::MAX),
                removed: u32::try_from(t.removed.len()).unwrap_or(u32::MAX),
            })
            .collect()
    }
}

/// Per-type bookkeeping of a full-population cycle.
#[derive(Default)]
struct TypeCycle {
    seen: Vec<u64>,
    changes: TypeChanges,
    added_keys: KeyMap,
    added_content: ContentMap,
}

/// A full-population cycle: every record of the new version is added; what the current state
/// holds and the cycle does not add is removed. Obtained from `Producer::run_cycle`.
pub struct Cycle<'w> {
    state: &'w mut WriteState,
    types: Vec<TypeCycle>,
}

impl<'w> Cycle<'w> {
    pub(crate) fn new(state: &'w mut WriteState) -> Self {
        let types = state
            .types
            .iter()
            .map(|t| TypeCycle {
                seen: vec![0; t.records.len().div_ceil(64)],
                ..TypeCycle::default()
            })
            .collect();
        Self { state, types }
    }

    /// Adds a record of a registered generated type.
    pub fn add<T: OwnedStruct>(&mut self, record: T::Reader<'_>) -> Result<()> {
        let index = self.state.type_index::<T>()?;
        self.add_struct(index, record.into_internal_struct_reader())
    }

    /// Adds a record of the registered type `type_name` from any struct reader.
    pub fn add_dynamic(
        &mut self,
        type_name: &str,
        record: capnp::any_pointer::Reader<'_>,
    ) -> Result<()> {
        let index = self.state.type_index_by_name(type_name)?;
        let reader: AnyStructReader<'_> = record
            .get_as()
            .map_err(|e| Error::capnp(format!("reading a {type_name} record"), e))?;
        self.add_struct(index, reader.raw())
    }

    /// Adds a record of the registered type `type_name` from a raw struct reader (the tools'
    /// way in: records read from other states).
    pub(crate) fn add_raw(&mut self, type_name: &str, record: StructReader<'_>) -> Result<()> {
        let index = self.state.type_index_by_name(type_name)?;
        self.add_struct(index, record)
    }

    /// The registered types: name and primary key.
    pub(crate) fn types(&self) -> impl Iterator<Item = (&str, Option<&crate::schema::KeyPath>)> {
        self.state
            .types
            .iter()
            .map(|t| (t.info.name.as_str(), t.key.as_ref()))
    }

    fn add_struct(&mut self, index: usize, record: StructReader<'_>) -> Result<()> {
        let staged = self.state.stage(index, record)?;
        let ty = &self.state.types[index];
        let cycle = &mut self.types[index];
        let duplicate = |staged: &Staged| match (&ty.key, &staged.key) {
            (Some(key), Some((_, bytes))) => Error::DuplicateKey {
                type_name: ty.info.name.clone(),
                key: key.render(bytes),
            },
            _ => Error::InvalidSchema {
                reason: "duplicate without a key".into(),
            },
        };
        if let Some(o) = self.state.ordinal_of(index, &staged) {
            let (word, bit) = ((o / 64) as usize, 1u64 << (o % 64));
            let seen = cycle.seen.get(word).is_some_and(|w| w & bit != 0);
            if seen && ty.key.is_some() {
                return Err(duplicate(&staged));
            }
            if let Some(w) = cycle.seen.get_mut(word) {
                *w |= bit;
            }
            let unchanged = ty
                .records
                .get(o as usize)
                .and_then(Option::as_ref)
                .is_some_and(|r| {
                    r.hash == staged.record.hash && r.canonical == staged.record.canonical
                });
            if !unchanged && !seen {
                cycle.changes.changed.push((o, staged));
            }
            return Ok(());
        }
        let next = u32::try_from(cycle.changes.added.len()).unwrap_or(u32::MAX);
        match &staged.key {
            Some((hash, bytes)) => {
                if cycle.added_keys.get(*hash, bytes).is_some() {
                    return Err(duplicate(&staged));
                }
                cycle.added_keys.insert(*hash, bytes, next);
            }
            None => {
                let added = &cycle.changes.added;
                let same = |i: u32| {
                    added
                        .get(i as usize)
                        .is_some_and(|a| a.record.canonical == staged.record.canonical)
                };
                if cycle.added_content.find(staged.record.hash, same).is_some() {
                    return Ok(()); // identical keyless records are one record
                }
                cycle.added_content.insert(staged.record.hash, next);
            }
        }
        cycle.changes.added.push(staged);
        Ok(())
    }

    /// The changes: records of the current state the cycle did not add are removed.
    pub(crate) fn finish(self) -> Vec<TypeChanges> {
        let state = self.state;
        self.types
            .into_iter()
            .zip(&state.types)
            .map(|(mut cycle, ty)| {
                cycle.changes.removed = (0u32..)
                    .zip(&ty.records)
                    .filter(|(o, r)| {
                        r.is_some()
                            && cycle
                                .seen
                                .get((o / 64) as usize)
                                .is_none_or(|w| w & (1 << (o % 64)) == 0)
                    })
                    .map(|(o, _)| o)
                    .collect();
                cycle.changes.changed.sort_by_key(|(o, _)| *o);
                cycle.changes
            })
            .collect()
    }
}

impl WriteState {
    /// The current target of type `index` (capacity, count, checksum).
    pub(crate) fn target(&self, index: usize) -> TypeTarget {
        let ty = &self.types[index];
        TypeTarget {
            capacity: u32::try_from(ty.records.len()).unwrap_or(u32::MAX),
            record_count: ty.populated,
            checksum: ty.checksum.value(),
            record_parts: 0,
        }
    }

    /// Applies `changes` in place. Removed ordinals are not reused by this call's additions;
    /// additions fill ordinals that were already empty, lowest first, then grow the type.
    pub(crate) fn apply_changes(&mut self, changes: Vec<TypeChanges>) -> Applied {
        let mut applied = Applied::default();
        for (index, change) in changes.into_iter().enumerate() {
            let mut t = TypeApplied {
                before: Some(self.target(index)),
                old_capacity: self.types[index].records.len(),
                ..TypeApplied::default()
            };
            if change.is_empty() {
                applied.types.push(t);
                continue;
            }
            // Ordinals that were already empty before this cycle (scanned only when needed).
            let holes: Vec<u32> = if change.added.is_empty() {
                Vec::new()
            } else {
                (0u32..)
                    .zip(&self.types[index].records)
                    .filter(|(_, r)| r.is_none())
                    .map(|(o, _)| o)
                    .collect()
            };
            for o in change.removed {
                if let Some(old) = self.remove_at(index, o) {
                    t.removed.push((o, old));
                }
            }
            for (o, new) in change.changed {
                if let Some(old) = self.remove_at(index, o) {
                    t.changed.push((o, old));
                }
                self.insert_at(index, o, new);
            }
            let mut holes = holes.into_iter();
            let mut next = u32::try_from(t.old_capacity).unwrap_or(u32::MAX);
            for new in change.added {
                let o = holes.next().unwrap_or_else(|| {
                    next += 1;
                    next - 1
                });
                self.insert_at(index, o, new);
                t.added.push(o);
            }
            t.added.sort_unstable();
            applied.types.push(t);
        }
        applied
    }

    /// Reverts [`WriteState::apply_changes`].
    pub(crate) fn undo(&mut self, applied: Applied) {
        for (index, t) in applied.types.into_iter().enumerate() {
            for o in t.added {
                self.remove_at(index, o);
            }
            for (o, old) in t.changed {
                self.remove_at(index, o);
                self.insert_at(index, o, old);
            }
            for (o, old) in t.removed {
                self.insert_at(index, o, old);
            }
            self.types[index].records.truncate(t.old_capacity);
        }
    }

    /// The delta (`from` → `to`) and reverse delta (`to` → `from`) of `applied`, with the state
    /// already at `to`.
    pub(crate) fn write_deltas(
        &self,
        applied: &Applied,
        from: SnapshotInfo,
        to: SnapshotInfo,
    ) -> Result<(BlobBytes, BlobBytes)> {
        let mut forward = Vec::with_capacity(applied.types.len());
        let mut reverse = Vec::with_capacity(applied.types.len());
        let mut forward_targets = Vec::with_capacity(applied.types.len());
        let mut reverse_targets = Vec::with_capacity(applied.types.len());
        for (index, t) in applied.types.iter().enumerate() {
            let ty = &self.types[index];
            forward_targets.push(self.target(index));
            reverse_targets.push(t.before.unwrap_or_else(|| self.target(index)));
            let current = |o: u32| {
                ty.records
                    .get(o as usize)
                    .and_then(Option::as_ref)
                    .map(|r| &r.canonical[..])
            };
            let key_change = |added: bool, o: u32, staged: Option<&Staged>| {
                let (hash, inline_key) = match staged.and_then(|s| s.key.as_ref()) {
                    Some((hash, bytes)) => (*hash, crate::schema::inline_key(bytes)),
                    None => ty.pk_entries.get(o as usize).copied().unwrap_or((0, 0)),
                };
                KeyChange {
                    added,
                    hash,
                    inline_key,
                    ordinal: o,
                }
            };
            let keyed = ty.key.is_some();

            let mut f = TypeDelta {
                removed: t.removed.iter().map(|(o, _)| *o).collect(),
                ..TypeDelta::default()
            };
            let mut upserts: Vec<u32> = t
                .changed
                .iter()
                .map(|(o, _)| *o)
                .chain(t.added.iter().copied())
                .collect();
            upserts.sort_unstable();
            f.upserts = upserts
                .iter()
                .filter_map(|o| current(*o).map(|r| (*o, r)))
                .collect();
            if keyed {
                f.key_changes.extend(
                    t.removed
                        .iter()
                        .map(|(o, old)| key_change(false, *o, Some(old))),
                );
                f.key_changes
                    .extend(t.added.iter().map(|o| key_change(true, *o, None)));
            }

            let mut r = TypeDelta {
                removed: t.added.clone(),
                ..TypeDelta::default()
            };
            let mut olds: Vec<(u32, &[u64])> = t
                .removed
                .iter()
                .chain(&t.changed)
                .map(|(o, old)| (*o, &old.record.canonical[..]))
                .collect();
            olds.sort_unstable_by_key(|(o, _)| *o);
            r.upserts = olds;
            if keyed {
                r.key_changes
                    .extend(t.added.iter().map(|o| key_change(false, *o, None)));
                r.key_changes.extend(
                    t.removed
                        .iter()
                        .map(|(o, old)| key_change(true, *o, Some(old))),
                );
            }
            if !ty.indexes.is_empty() {
                f.index_additions = vec![Vec::new(); ty.indexes.len()];
                r.index_additions = vec![Vec::new(); ty.indexes.len()];
                for (o, old) in &t.changed {
                    let old = Some(&old.record.canonical[..]);
                    ty.index_additions(*o, old, current(*o), &mut f.index_additions)?;
                    ty.index_additions(*o, current(*o), old, &mut r.index_additions)?;
                }
                for o in &t.added {
                    ty.index_additions(*o, None, current(*o), &mut f.index_additions)?;
                }
                for (o, old) in &t.removed {
                    let old = Some(&old.record.canonical[..]);
                    ty.index_additions(*o, None, old, &mut r.index_additions)?;
                }
            }
            forward.push(f);
            reverse.push(r);
        }
        let delta = self.write_delta(BlobKind::Delta, from, to, &forward_targets, &forward)?;
        let reverse =
            self.write_delta(BlobKind::ReverseDelta, to, from, &reverse_targets, &reverse)?;
        Ok((delta, reverse))
    }
}

impl WriteState {
    /// The integrity check before announcement: proves, from the bytes of the written blobs
    /// and content hashes alone, that `prev + delta = new` and `new + reverse = prev` (the state
    /// is at `new`). Every record a blob carries is re-canonicalized and hashed; the resulting
    /// state checksums and counts must equal the states' own and what the blobs promise.
    pub(crate) fn verify_deltas(
        &self,
        applied: &Applied,
        delta: &BlobBytes,
        reverse: &BlobBytes,
    ) -> Result<()> {
        let forward = crate::read::ReadDelta::from_bytes(delta.clone(), "<new delta>")?;
        let backward = crate::read::ReadDelta::from_bytes(reverse.clone(), "<new reverse delta>")?;
        for (index, t) in applied.types.iter().enumerate() {
            let ty = &self.types[index];
            let before = t.before.unwrap_or_else(|| self.target(index));
            let after = self.target(index);
            let olds: std::collections::HashMap<u32, u64> = t
                .removed
                .iter()
                .chain(&t.changed)
                .map(|(o, s)| (*o, s.record.hash))
                .collect();
            let added: std::collections::HashSet<u32> = t.added.iter().copied().collect();
            let current = |o: u32| {
                ty.records
                    .get(o as usize)
                    .and_then(Option::as_ref)
                    .map(|r| r.hash)
            };
            // Hash of ordinal `o` in the previous state and in the new state.
            let prev_hash = |o: u32| {
                olds.get(&o)
                    .copied()
                    .or_else(|| if added.contains(&o) { None } else { current(o) })
            };
            let new_hash = current;
            self.check_one(&forward, index, before, after, prev_hash)?;
            self.check_one(&backward, index, after, before, new_hash)?;
        }
        Ok(())
    }

    fn check_one(
        &self,
        delta: &crate::read::ReadDelta,
        index: usize,
        from: TypeTarget,
        to: TypeTarget,
        hash_in_from: impl Fn(u32) -> Option<u64>,
    ) -> Result<()> {
        let ty = &self.types[index];
        let fail = |reason: String| Error::Integrity {
            type_name: ty.info.name.clone(),
            reason,
        };
        let Some(change) = delta.types().iter().find(|c| c.type_id == ty.info.id) else {
            return Err(fail(format!(
                "{} has no entry for the type",
                delta.blob_name()
            )));
        };
        let mut checksum = crate::state_checksum::TypeChecksum::from_value(from.checksum);
        let mut count = i64::from(from.record_count);
        for &o in &change.removed {
            let h = hash_in_from(o)
                .ok_or_else(|| fail(format!("{} removes empty ordinal {o}", delta.blob_name())))?;
            checksum.remove(o, h);
            count -= 1;
        }
        for upsert in change.upserts() {
            let (o, record) = upsert?;
            match hash_in_from(o) {
                Some(h) => checksum.remove(o, h),
                None => count += 1,
            }
            let size = record
                .total_size()
                .map_err(|e| Error::capnp("measuring a delta record", e))?
                .word_count;
            let words = crate::capnp_raw::canonical_words::<crate::capnp_raw::AnyStruct, _>(
                AnyStructReader::from(record),
                size,
            )
            .map_err(|e| Error::capnp("canonicalizing a delta record", e))?;
            checksum.add(
                o,
                xxhash_rust::xxh3::xxh3_64(capnp::Word::words_to_bytes(&words)),
            );
        }
        let promised = (change.record_count, change.checksum);
        let computed = (u32::try_from(count).unwrap_or(u32::MAX), checksum.value());
        if computed != (to.record_count, to.checksum) || promised != computed {
            return Err(fail(format!(
                "{} applied to {} records (checksum {:#x}) gives {} records (checksum {:#x}); the state has {} ({:#x}) and the blob promises {} ({:#x})",
                delta.blob_name(),
                from.record_count,
                from.checksum,
                computed.0,
                computed.1,
                to.record_count,
                to.checksum,
                promised.0,
                promised.1
            )));
        }
        Ok(())
    }
}

/// Per-type bookkeeping of an incremental cycle.
#[derive(Default)]
struct TypeIncremental {
    removed: std::collections::BTreeSet<u32>,
    changed: std::collections::BTreeMap<u32, Staged>,
    added: Vec<Option<Staged>>,
    added_keys: KeyMap,
}

/// An incremental cycle: upserts and deletes by primary key; every other record stays. Obtained
/// from `Producer::run_incremental`; costs O(changes).
pub struct Incremental<'w> {
    state: &'w mut WriteState,
    types: Vec<TypeIncremental>,
}

impl<'w> Incremental<'w> {
    pub(crate) fn new(state: &'w mut WriteState) -> Self {
        let types = state
            .types
            .iter()
            .map(|_| TypeIncremental::default())
            .collect();
        Self { state, types }
    }

    /// Adds or replaces a record of a registered generated type (by primary key; a keyless type
    /// gains the record unless an identical one exists).
    pub fn upsert<T: OwnedStruct>(&mut self, record: T::Reader<'_>) -> Result<()> {
        let index = self.state.type_index::<T>()?;
        self.upsert_struct(index, record.into_internal_struct_reader())
    }

    /// Adds or replaces a record of the registered type `type_name` from any struct reader.
    pub fn upsert_dynamic(
        &mut self,
        type_name: &str,
        record: capnp::any_pointer::Reader<'_>,
    ) -> Result<()> {
        let index = self.state.type_index_by_name(type_name)?;
        let reader: AnyStructReader<'_> = record
            .get_as()
            .map_err(|e| Error::capnp(format!("reading a {type_name} record"), e))?;
        self.upsert_struct(index, reader.raw())
    }

    fn upsert_struct(&mut self, index: usize, record: StructReader<'_>) -> Result<()> {
        let staged = self.state.stage(index, record)?;
        let inc = &mut self.types[index];
        if let Some(o) = self.state.ordinal_of(index, &staged) {
            inc.removed.remove(&o);
            let ty = &self.state.types[index];
            let same = ty
                .records
                .get(o as usize)
                .and_then(Option::as_ref)
                .is_some_and(|r| r.canonical == staged.record.canonical);
            if same {
                inc.changed.remove(&o);
            } else {
                inc.changed.insert(o, staged);
            }
            return Ok(());
        }
        match &staged.key {
            Some((hash, bytes)) => {
                if let Some(i) = inc.added_keys.get(*hash, bytes) {
                    inc.added[i as usize] = Some(staged); // a later upsert of a new key wins
                } else {
                    let next = u32::try_from(inc.added.len()).unwrap_or(u32::MAX);
                    inc.added_keys.insert(*hash, bytes, next);
                    inc.added.push(Some(staged));
                }
            }
            None => {
                let exists = inc
                    .added
                    .iter()
                    .flatten()
                    .any(|a| a.record.canonical == staged.record.canonical);
                if !exists {
                    inc.added.push(Some(staged));
                }
            }
        }
        Ok(())
    }

    /// Deletes the record of the generated type `T` whose single-field primary key is `key`;
    /// returns whether there was one.
    pub fn delete<'k, T: OwnedStruct>(
        &mut self,
        key: impl Into<crate::schema::KeyValue<'k>>,
    ) -> Result<bool> {
        let index = self.state.type_index::<T>()?;
        self.delete_at(index, &[key.into()])
    }

    /// Deletes the record of `type_name` whose primary key equals `values` (in key field order);
    /// returns whether there was one.
    pub fn delete_key(
        &mut self,
        type_name: &str,
        values: &[crate::schema::KeyValue<'_>],
    ) -> Result<bool> {
        let index = self.state.type_index_by_name(type_name)?;
        self.delete_at(index, values)
    }

    fn delete_at(&mut self, index: usize, values: &[crate::schema::KeyValue<'_>]) -> Result<bool> {
        let ty = &self.state.types[index];
        let key = ty.key.as_ref().ok_or_else(|| Error::InvalidKey {
            type_name: ty.info.name.clone(),
            reason: "the type has no primary key: delete by omission in a full cycle".into(),
        })?;
        let mut bytes = crate::schema::KeyBytes::new();
        key.encode_values(values, &mut bytes)?;
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        let inc = &mut self.types[index];
        if let Some(i) = inc.added_keys.get(hash, &bytes) {
            let had = inc
                .added
                .get_mut(i as usize)
                .and_then(Option::take)
                .is_some();
            return Ok(had);
        }
        match ty.by_key.get(hash, &bytes) {
            Some(o) => {
                inc.changed.remove(&o);
                Ok(inc.removed.insert(o))
            }
            None => Ok(false),
        }
    }

    pub(crate) fn finish(self) -> Vec<TypeChanges> {
        self.types
            .into_iter()
            .map(|t| TypeChanges {
                removed: t.removed.into_iter().collect(),
                changed: t.changed.into_iter().collect(),
                added: t.added.into_iter().flatten().collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use hollow_movies::movies_capnp::movie;

    use super::*;

    fn state_with(titles: &[(u64, &str)]) -> (WriteState, Vec<TypeChanges>) {
        let mut state = WriteState::builder("t")
            .register::<movie::Owned>()
            .build()
            .expect("state");
        let mut message = capnp::message::Builder::new_default();
        for id in 1..=3u64 {
            let mut m = message.init_root::<movie::Builder>();
            m.set_id(id);
            m.set_title("original");
            state.add::<movie::Owned>(m.into_reader()).expect("add");
        }
        state.set_current(Some(SnapshotInfo { version: 1, tag: 1 }));
        let mut cycle = Cycle::new(&mut state);
        for (id, title) in titles {
            let mut m = message.init_root::<movie::Builder>();
            m.set_id(*id);
            m.set_title(*title);
            cycle.add::<movie::Owned>(m.into_reader()).expect("add");
        }
        let changes = cycle.finish();
        (state, changes)
    }

    #[test]
    fn verify_deltas_accepts_its_own_blobs_and_refuses_foreign_ones() {
        let edits = [(1, "original"), (2, "changed"), (4, "new")];
        let (mut state, changes) = state_with(&edits);
        let applied = state.apply_changes(changes);
        assert_eq!(
            applied.counts()[0],
            TypeChangeCounts {
                added: 1,
                updated: 1,
                removed: 1
            }
        );
        let (from, to) = (
            SnapshotInfo { version: 1, tag: 1 },
            SnapshotInfo { version: 2, tag: 2 },
        );
        let (delta, reverse) = state.write_deltas(&applied, from, to).expect("deltas");
        state
            .verify_deltas(&applied, &delta, &reverse)
            .expect("its own deltas verify");

        // Blobs of a different change (record 2 got another title) must not verify.
        let (mut other, other_changes) =
            state_with(&[(1, "original"), (2, "something else"), (4, "new")]);
        let other_applied = other.apply_changes(other_changes);
        let (bad_delta, bad_reverse) = other
            .write_deltas(&other_applied, from, to)
            .expect("deltas");
        assert!(matches!(
            state.verify_deltas(&applied, &bad_delta, &reverse),
            Err(Error::Integrity { .. })
        ));
        // The other reverse delta restores the same old records, so it is a valid reverse here;
        // a forward delta passed as the reverse is not.
        state
            .verify_deltas(&applied, &delta, &bad_reverse)
            .expect("same old records");
        assert!(matches!(
            state.verify_deltas(&applied, &delta, &delta),
            Err(Error::Integrity { .. })
        ));

        // Undo restores the previous state exactly.
        let before = state.types[0].checksum;
        state.undo(applied);
        assert_ne!(state.types[0].checksum, before);
        assert_eq!(state.types[0].populated, 3);
        let (fresh, _) = state_with(&[]);
        assert_eq!(state.types[0].checksum, fresh.types[0].checksum);
        assert_eq!(state.types[0].records.len(), 3);
    }
}
