//! Full-population cycles: every record of the new version is added, and what the state holds
//! and the cycle does not add is removed. The result is a list of changes per type, applied by
//! `undo.rs`.

use capnp::private::layout::StructReader;
use capnp::traits::{IntoInternalStructReader, OwnedStruct};

use super::{Staged, WriteState};
use crate::capnp_raw::AnyStructReader;
use crate::error::{CycleError, Result, SchemaError};
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
    pub(super) fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.changed.is_empty() && self.added.is_empty()
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
    pub fn add<T: OwnedStruct>(&mut self, record: T::Reader<'_>) -> Result<(), CycleError> {
        let index = self.state.type_index::<T>()?;
        self.add_struct(index, record.into_internal_struct_reader())
    }

    /// Adds a record of the registered type `type_name` from any struct reader.
    pub fn add_dynamic(
        &mut self,
        type_name: &str,
        record: capnp::any_pointer::Reader<'_>,
    ) -> Result<(), CycleError> {
        let index = self.state.type_index_by_name(type_name)?;
        let reader: AnyStructReader<'_> = record
            .get_as()
            .map_err(|e| CycleError::capnp(format!("reading a {type_name} record"), e))?;
        self.add_struct(index, reader.raw())
    }

    /// Adds a record of the registered type `type_name` from a raw struct reader (the tools'
    /// way in: records read from other states).
    pub(crate) fn add_raw(
        &mut self,
        type_name: &str,
        record: StructReader<'_>,
    ) -> Result<(), CycleError> {
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

    fn add_struct(&mut self, index: usize, record: StructReader<'_>) -> Result<(), CycleError> {
        let staged = self.state.stage(index, record)?;
        let ty = &self.state.types[index];
        let cycle = &mut self.types[index];
        let duplicate = |staged: &Staged| match (&ty.key, &staged.key) {
            (Some(key), Some((_, bytes))) => CycleError::DuplicateKey {
                type_name: ty.info.name.clone(),
                key: key.render(bytes),
            },
            _ => SchemaError::Invalid {
                reason: "duplicate without a key".into(),
            }
            .into(),
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
