//! Incremental cycles: upserts and deletes by primary key; every other record stays. Costs
//! O(changes).

use capnp::private::layout::StructReader;
use capnp::traits::{IntoInternalStructReader, OwnedStruct};

use super::cycle::TypeChanges;
use super::{Staged, WriteState};
use crate::capnp_raw::AnyStructReader;
use crate::error::{CycleError, Result};
use crate::identity::KeyMap;

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
    pub fn upsert<T: OwnedStruct>(&mut self, record: T::Reader<'_>) -> Result<(), CycleError> {
        let index = self.state.type_index::<T>()?;
        self.upsert_struct(index, record.into_internal_struct_reader())
    }

    /// Adds or replaces a record of the registered type `type_name` from any struct reader.
    pub fn upsert_dynamic(
        &mut self,
        type_name: &str,
        record: capnp::any_pointer::Reader<'_>,
    ) -> Result<(), CycleError> {
        let index = self.state.type_index_by_name(type_name)?;
        let reader: AnyStructReader<'_> = record
            .get_as()
            .map_err(|e| CycleError::capnp(format!("reading a {type_name} record"), e))?;
        self.upsert_struct(index, reader.raw())
    }

    fn upsert_struct(&mut self, index: usize, record: StructReader<'_>) -> Result<(), CycleError> {
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
    ) -> Result<bool, CycleError> {
        let index = self.state.type_index::<T>()?;
        self.delete_at(index, &[key.into()])
    }

    /// Deletes the record of `type_name` whose primary key equals `values` (in key field order);
    /// returns whether there was one.
    pub fn delete_key(
        &mut self,
        type_name: &str,
        values: &[crate::schema::KeyValue<'_>],
    ) -> Result<bool, CycleError> {
        let index = self.state.type_index_by_name(type_name)?;
        self.delete_at(index, values)
    }

    fn delete_at(
        &mut self,
        index: usize,
        values: &[crate::schema::KeyValue<'_>],
    ) -> Result<bool, CycleError> {
        let ty = &self.state.types[index];
        let key = ty.key.as_ref().ok_or_else(|| CycleError::InvalidKey {
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
