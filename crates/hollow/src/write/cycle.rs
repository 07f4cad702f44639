//! Cycles: the changes from a write state to a new full population (or to a set of upserts and
//! deletes), applied in place with an undo log, and turned into a delta and a reverse delta.

use capnp::private::layout::StructReader;
use capnp::traits::{IntoInternalStructReader, OwnedStruct};

use super::delta::{KeyChange, TypeDelta};
use super::{SnapshotInfo, Staged, TypeTarget, WriteState};
use crate::bytes::BlobBytes;
use crate::capnp_raw::AnyStructReader;
use crate::error::{Error, Result};
use crate::format::BlobKind;
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
        self.types.iter().all(|t| t.removed.is_empty() && t.changed.is_empty() && t.added.is_empty())
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
            .map(|t| TypeCycle { seen: vec![0; t.records.len().div_ceil(64)], ..TypeCycle::default() })
            .collect();
        Self { state, types }
    }

    /// Adds a record of a registered generated type.
    pub fn add<T: OwnedStruct>(&mut self, record: T::Reader<'_>) -> Result<()> {
        let index = self.state.type_index::<T>()?;
        self.add_struct(index, record.into_internal_struct_reader())
    }

    /// Adds a record of the registered type `type_name` from any struct reader.
    pub fn add_dynamic(&mut self, type_name: &str, record: capnp::any_pointer::Reader<'_>) -> Result<()> {
        let index = self.state.type_index_by_name(type_name)?;
        let reader: AnyStructReader<'_> =
            record.get_as().map_err(|e| Error::capnp(format!("reading a {type_name} record"), e))?;
        self.add_struct(index, reader.raw())
    }

    fn add_struct(&mut self, index: usize, record: StructReader<'_>) -> Result<()> {
        let staged = self.state.stage(index, record)?;
        let ty = &self.state.types[index];
        let cycle = &mut self.types[index];
        let duplicate = |staged: &Staged| match (&ty.key, &staged.key) {
            (Some(key), Some((_, bytes))) => {
                Error::DuplicateKey { type_name: ty.info.name.clone(), key: key.render(bytes) }
            }
            _ => Error::InvalidSchema { reason: "duplicate without a key".into() },
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
            let unchanged = ty.records.get(o as usize).and_then(Option::as_ref).is_some_and(|r| {
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
                let same = |i: u32| added.get(i as usize).is_some_and(|a| a.record.canonical == staged.record.canonical);
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
                        r.is_some() && cycle.seen.get((o / 64) as usize).is_none_or(|w| w & (1 << (o % 64)) == 0)
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
            let holes: Vec<u32> = (0u32..)
                .zip(&self.types[index].records)
                .filter(|(_, r)| r.is_none())
                .map(|(o, _)| o)
                .collect();
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
            let current = |o: u32| ty.records.get(o as usize).and_then(Option::as_ref).map(|r| &r.canonical[..]);
            let key_change = |added: bool, o: u32, staged: Option<&Staged>| {
                let (hash, inline_key) = match staged.and_then(|s| s.key.as_ref()) {
                    Some((hash, bytes)) => (*hash, crate::schema::inline_key(bytes)),
                    None => ty.pk_entries.get(o as usize).copied().unwrap_or((0, 0)),
                };
                KeyChange { added, hash, inline_key, ordinal: o }
            };
            let keyed = ty.key.is_some();

            let mut f = TypeDelta { removed: t.removed.iter().map(|(o, _)| *o).collect(), ..TypeDelta::default() };
            let mut upserts: Vec<u32> = t.changed.iter().map(|(o, _)| *o).chain(t.added.iter().copied()).collect();
            upserts.sort_unstable();
            f.upserts = upserts.iter().filter_map(|o| current(*o).map(|r| (*o, r))).collect();
            if keyed {
                f.key_changes.extend(t.removed.iter().map(|(o, old)| key_change(false, *o, Some(old))));
                f.key_changes.extend(t.added.iter().map(|o| key_change(true, *o, None)));
            }

            let mut r = TypeDelta { removed: t.added.clone(), ..TypeDelta::default() };
            let mut olds: Vec<(u32, &[u64])> =
                t.removed.iter().chain(&t.changed).map(|(o, old)| (*o, &old.record.canonical[..])).collect();
            olds.sort_unstable_by_key(|(o, _)| *o);
            r.upserts = olds;
            if keyed {
                r.key_changes.extend(t.added.iter().map(|o| key_change(false, *o, None)));
                r.key_changes.extend(t.removed.iter().map(|(o, old)| key_change(true, *o, Some(old))));
            }
            forward.push(f);
            reverse.push(r);
        }
        let delta = self.write_delta(BlobKind::Delta, from, to, &forward_targets, &forward)?;
        let reverse = self.write_delta(BlobKind::ReverseDelta, to, from, &reverse_targets, &reverse)?;
        Ok((delta, reverse))
    }
}
