//! The write state: the records of one version of a dataset, by type and ordinal.

mod cycle;
mod delta;
mod incremental;
mod index;
mod snapshot;
mod undo;

pub use cycle::Cycle;
pub(crate) use cycle::TypeChanges;
pub use incremental::Incremental;
pub(crate) use undo::Applied;
pub use undo::TypeChangeCounts;

use std::collections::{BTreeMap, HashMap};

use capnp::private::layout::StructReader;
use capnp::traits::{IntoInternalStructReader, OwnedStruct};
use xxhash_rust::xxh3::xxh3_64;

use crate::capnp_raw::{AnyStruct, AnyStructReader};
use crate::error::{CycleError, Result, SchemaError};
use crate::schema::{KeyBytes, KeyPath, Schema, StructInfo};
use crate::state_checksum::TypeChecksum;
use crate::state_id::StateId;

/// Default `log2` of the number of ordinals per record shard (65,536).
pub const DEFAULT_SHARD_BITS: u8 = 16;
/// Largest ordinal capacity of a type.
pub const MAX_ORDINALS: u32 = u32::MAX - 1;

/// Options of a [`WriteState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// `log2` of ordinals per shard (each shard is one Cap'n Proto segment).
    pub shard_bits: u8,
    /// Write identical sub-objects once and alias every pointer to them.
    pub dedup: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            shard_bits: DEFAULT_SHARD_BITS,
            dedup: true,
        }
    }
}

/// One record as the write state keeps it: its canonical message and content hash.
#[derive(Debug, Clone)]
pub(crate) struct StoredRecord {
    pub(crate) hash: u64,
    pub(crate) canonical: Box<[u64]>,
}

/// Per-type write state.
#[derive(Debug)]
pub(crate) struct TypeWriteState {
    pub(crate) info: StructInfo,
    pub(crate) key: Option<KeyPath>,
    /// Primary-key bytes → ordinal (keyed types).
    pub(crate) by_key: crate::identity::KeyMap,
    /// Content hash → ordinals with that hash (keyless types).
    pub(crate) by_content: crate::identity::ContentMap,
    pub(crate) records: Vec<Option<StoredRecord>>,
    /// Per ordinal: xxh3-64 of the primary key's canonical bytes, and the inline key.
    pub(crate) pk_entries: Vec<(u64, u64)>,
    pub(crate) populated: u32,
    /// State checksum of the type, kept up to date by every insert and removal.
    pub(crate) checksum: TypeChecksum,
    /// Secondary indexes, in the schema's order.
    pub(crate) indexes: Vec<index::WriteIndex>,
}

/// What a blob says of one type's state after the blob is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypeTarget {
    pub(crate) capacity: u32,
    pub(crate) record_count: u32,
    pub(crate) checksum: u64,
    /// Records sections (shards of a snapshot, parts of a delta's upserts).
    pub(crate) record_parts: u32,
}

/// A record prepared for a type (see [`WriteState::stage`]): canonical bytes, content hash and,
/// for keyed types, the key hash and canonical key bytes.
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    pub(crate) record: StoredRecord,
    pub(crate) key: Option<(u64, KeyBytes)>,
}

/// Builds a [`WriteState`].
pub struct WriteStateBuilder {
    dataset: String,
    schema: Option<Schema>,
    schema_builder: crate::schema::SchemaBuilder,
    type_ids: Vec<u64>,
    type_names: Vec<String>,
    options: WriteOptions,
    header_tags: BTreeMap<String, String>,
    indexes: Vec<(String, crate::schema::IndexKind, String)>,
}

impl WriteStateBuilder {
    /// Adds a secondary index on `type_name` over comma-separated field paths (as if the schema
    /// declared it with `$uniqueKey` / `$hashIndex`; the blobs' schema carries it).
    pub fn index(mut self, type_name: &str, kind: crate::schema::IndexKind, fields: &str) -> Self {
        self.indexes
            .push((type_name.to_string(), kind, fields.to_string()));
        self
    }

    /// Registers a generated type (and the types its fields use) as a type of the dataset.
    pub fn register<T: OwnedStruct>(mut self) -> Self {
        self.schema_builder = self.schema_builder.add::<T>();
        self.type_ids
            .extend(crate::capnp_raw::struct_type_id::<T>());
        self
    }

    /// Uses a run-time schema (for example from `capnp compile -o-`).
    pub fn schema(mut self, schema: Schema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Registers a struct of the run-time schema by name as a type of the dataset.
    pub fn register_name(mut self, name: &str) -> Self {
        self.type_names.push(name.to_string());
        self
    }

    /// Sets the write options.
    pub fn options(mut self, options: WriteOptions) -> Self {
        self.options = options;
        self
    }

    /// Adds a user header tag carried in every blob's manifest.
    pub fn header_tag(mut self, key: &str, value: &str) -> Self {
        self.header_tags.insert(key.to_string(), value.to_string());
        self
    }

    /// Resolves the schema and the primary keys of every registered type.
    pub fn build(self) -> Result<WriteState, SchemaError> {
        let schema = match self.schema {
            Some(s) if self.type_ids.is_empty() => s,
            Some(_) => {
                return Err(SchemaError::Invalid {
                    reason: "register generated types or give a run-time schema, not both".into(),
                });
            }
            None => self.schema_builder.build()?,
        };
        let mut schema = schema;
        for (type_name, kind, fields) in &self.indexes {
            schema = match kind {
                crate::schema::IndexKind::Unique => schema.with_unique_index(type_name, fields)?,
                crate::schema::IndexKind::Hash => schema.with_hash_index(type_name, fields)?,
            };
        }
        let mut ids = self.type_ids;
        for name in &self.type_names {
            let info = schema
                .struct_by_name(name)
                .ok_or_else(|| SchemaError::UnknownType { name: name.clone() })?;
            ids.push(info.id);
        }
        if self.options.shard_bits > crate::format::MAX_SHARD_BITS {
            return Err(SchemaError::Invalid {
                reason: "shard_bits must be at most 28".into(),
            });
        }
        let mut types = Vec::new();
        let mut by_id = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for id in ids {
            if by_id.contains_key(&id) {
                continue;
            }
            let info = schema
                .struct_by_id(id)
                .ok_or_else(|| SchemaError::UnknownType {
                    name: format!("id {id:#x}"),
                })?
                .clone();
            if !names.insert(info.name.clone()) {
                return Err(SchemaError::Invalid {
                    reason: format!("two registered types are both named {}", info.name),
                });
            }
            let key = schema.primary_key(id)?;
            let indexes = schema
                .indexes(id)?
                .into_iter()
                .map(index::WriteIndex::new)
                .collect();
            by_id.insert(id, types.len());
            types.push(TypeWriteState {
                info,
                key,
                by_key: crate::identity::KeyMap::default(),
                by_content: crate::identity::ContentMap::default(),
                records: Vec::new(),
                pk_entries: Vec::new(),
                populated: 0,
                checksum: TypeChecksum::default(),
                indexes,
            });
        }
        Ok(WriteState {
            dataset: self.dataset,
            schema,
            types,
            by_id,
            options: self.options,
            header_tags: self.header_tags,
            scratch: Vec::new(),
            current: None,
        })
    }
}

/// The records of one version of a dataset, by type and ordinal; writes snapshots.
///
/// ```
/// # fn main() -> hollow::Result<()> {
/// use hollow::{ReadState, StateId, WriteState};
/// use hollow_movies::movies_capnp::movie;
///
/// let mut state = WriteState::builder("demo").register::<movie::Owned>().build()?;
/// let mut message = capnp::message::Builder::new_default();
/// let mut m = message.init_root::<movie::Builder>();
/// m.set_id(7);
/// m.set_title("Seven");
/// state.add::<movie::Owned>(m.into_reader())?;
///
/// let blob = state.write_snapshot(&StateId { version: 1, tag: 42 })?;
/// let read = ReadState::from_bytes(blob, "<memory>")?;
/// let movies = read.table::<movie::Owned>()?;
/// let seven = movies.get_by_key(7u64)?.expect("present");
/// assert_eq!(seven.get_title().ok().and_then(|t| t.to_str().ok()), Some("Seven"));
/// assert!(movies.get_by_key(8u64)?.is_none());
/// # Ok(()) }
/// ```
pub struct WriteState {
    dataset: String,
    schema: Schema,
    pub(crate) types: Vec<TypeWriteState>,
    by_id: HashMap<u64, usize>,
    options: WriteOptions,
    header_tags: BTreeMap<String, String>,
    scratch: Vec<capnp::Word>,
    current: Option<StateId>,
}

/// The name of [`StateId`] before it named states everywhere.
#[deprecated(note = "renamed to `StateId`")]
#[doc(hidden)]
pub type SnapshotInfo = StateId;

impl WriteState {
    /// Starts a write state for dataset `dataset`.
    pub fn builder(dataset: &str) -> WriteStateBuilder {
        WriteStateBuilder {
            dataset: dataset.to_string(),
            schema: None,
            schema_builder: Schema::builder(),
            type_ids: Vec::new(),
            type_names: Vec::new(),
            options: WriteOptions::default(),
            header_tags: BTreeMap::new(),
            indexes: Vec::new(),
        }
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Adds a record of a registered generated type; returns its ordinal.
    pub fn add<T: OwnedStruct>(&mut self, record: T::Reader<'_>) -> Result<u32, CycleError> {
        let index = self.type_index::<T>()?;
        self.add_struct(index, record.into_internal_struct_reader())
    }

    /// Adds a record of the registered type `type_name` from any struct reader (the root of a
    /// message built through a run-time schema, for example); returns its ordinal.
    pub fn add_dynamic(
        &mut self,
        type_name: &str,
        record: capnp::any_pointer::Reader<'_>,
    ) -> Result<u32, CycleError> {
        let index = self.type_index_by_name(type_name)?;
        let reader: AnyStructReader<'_> = record
            .get_as()
            .map_err(|e| CycleError::capnp(format!("reading a {type_name} record"), e))?;
        self.add_struct(index, reader.raw())
    }

    fn add_struct(&mut self, index: usize, record: StructReader<'_>) -> Result<u32, CycleError> {
        let staged = self.stage(index, record)?;
        if let Some(existing) = self.ordinal_of(index, &staged) {
            let ty = &self.types[index];
            return match (&ty.key, &staged.key) {
                (Some(key), Some((_, bytes))) => Err(CycleError::DuplicateKey {
                    type_name: ty.info.name.clone(),
                    key: key.render(bytes),
                }),
                // Identical keyless records share one ordinal.
                _ => Ok(existing),
            };
        }
        let ordinal = u32::try_from(self.types[index].records.len())
            .ok()
            .filter(|n| *n < MAX_ORDINALS)
            .ok_or_else(|| SchemaError::Invalid {
                reason: format!("type {} has too many records", self.types[index].info.name),
            })?;
        self.insert_at(index, ordinal, staged);
        if let Err(e) = self.types[index].check_unique([ordinal]) {
            self.remove_at(index, ordinal);
            self.types[index].records.truncate(ordinal as usize);
            return Err(e);
        }
        Ok(ordinal)
    }

    /// The dataset name.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// Names of the registered types, in registration order.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.types.iter().map(|t| t.info.name.as_str())
    }

    /// Index of the registered generated type `T`.
    pub(crate) fn type_index<T: OwnedStruct>(&self) -> Result<usize, CycleError> {
        let id = crate::capnp_raw::struct_type_id::<T>().unwrap_or(0);
        self.by_id.get(&id).copied().ok_or_else(|| {
            SchemaError::UnknownType {
                name: format!("id {id:#x} (not registered)"),
            }
            .into()
        })
    }

    /// Index of the registered type called `name`.
    pub(crate) fn type_index_by_name(&self, name: &str) -> Result<usize, CycleError> {
        self.types
            .iter()
            .position(|t| t.info.name == name)
            .ok_or_else(|| {
                SchemaError::UnknownType {
                    name: name.to_string(),
                }
                .into()
            })
    }

    /// Canonicalizes `record`, hashes it and extracts its key, without assigning an ordinal.
    pub(crate) fn stage(
        &mut self,
        index: usize,
        record: StructReader<'_>,
    ) -> Result<Staged, CycleError> {
        let canonical = self.canonicalize(index, record)?;
        let hash = xxh3_64(bytemuck::cast_slice(&canonical));
        let key = match &self.types[index].key {
            Some(key) => {
                let mut bytes = KeyBytes::new();
                key.encode_record(record, &mut bytes)?;
                Some((xxh3_64(&bytes), bytes))
            }
            None => None,
        };
        Ok(Staged {
            record: StoredRecord { hash, canonical },
            key,
        })
    }

    /// The ordinal that holds the identity of `staged`: the same key (keyed types) or the same
    /// content (keyless types).
    pub(crate) fn ordinal_of(&self, index: usize, staged: &Staged) -> Option<u32> {
        let ty = &self.types[index];
        match &staged.key {
            Some((hash, bytes)) => ty.by_key.get(*hash, bytes),
            None => {
                let records = &ty.records;
                let same = |o: u32| {
                    records
                        .get(o as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|r| r.canonical == staged.record.canonical)
                };
                ty.by_content.find(staged.record.hash, same)
            }
        }
    }

    /// Puts `staged` at the empty `ordinal`.
    pub(crate) fn insert_at(&mut self, index: usize, ordinal: u32, staged: Staged) {
        let ty = &mut self.types[index];
        let at = ordinal as usize;
        if ty.records.len() <= at {
            ty.records.resize_with(at + 1, || None);
        }
        match &staged.key {
            Some((hash, bytes)) => {
                ty.by_key.insert(*hash, bytes, ordinal);
                if ty.pk_entries.len() <= at {
                    ty.pk_entries.resize(at + 1, (0, 0));
                }
                ty.pk_entries[at] = (*hash, crate::schema::inline_key(bytes));
            }
            None => ty.by_content.insert(staged.record.hash, ordinal),
        }
        ty.checksum.add(ordinal, staged.record.hash);
        ty.populated += 1;
        if ty.indexes.iter().any(|i| i.unique.is_some()) {
            ty.track_unique(ordinal, &staged.record.canonical, true);
        }
        ty.records[at] = Some(staged.record);
    }

    /// Removes and returns the record at `ordinal`, with its key.
    pub(crate) fn remove_at(&mut self, index: usize, ordinal: u32) -> Option<Staged> {
        let ty = &mut self.types[index];
        let record = ty.records.get_mut(ordinal as usize)?.take()?;
        let key = if ty.key.is_some() {
            let (hash, _) = ty
                .pk_entries
                .get(ordinal as usize)
                .copied()
                .unwrap_or((0, 0));
            let bytes = KeyBytes::from_slice(ty.by_key.key_of(ordinal));
            ty.by_key.remove(hash, ordinal);
            Some((hash, bytes))
        } else {
            ty.by_content.remove(record.hash, ordinal);
            None
        };
        ty.checksum.remove(ordinal, record.hash);
        ty.populated -= 1;
        if ty.indexes.iter().any(|i| i.unique.is_some()) {
            ty.track_unique(ordinal, &record.canonical, false);
        }
        Some(Staged { record, key })
    }

    fn canonicalize(
        &mut self,
        index: usize,
        record: StructReader<'_>,
    ) -> Result<Box<[u64]>, CycleError> {
        let name = &self.types[index].info.name;
        let size = record
            .total_size()
            .map_err(|e| CycleError::capnp(format!("measuring a {name} record"), e))?;
        // The canonical copy is never larger than the record's total size plus the root pointer;
        // sizing the scratch to that keeps it in one segment.
        let words = usize::try_from(size.word_count)
            .unwrap_or(usize::MAX)
            .saturating_add(2);
        if self.scratch.len() < words {
            self.scratch = capnp::Word::allocate_zeroed_vec(words);
        }
        let scratch = capnp::Word::words_to_bytes_mut(&mut self.scratch[..words]);
        let mut message =
            capnp::message::Builder::new(capnp::message::ScratchSpaceHeapAllocator::new(scratch));
        message
            .set_root_canonical::<AnyStruct>(AnyStructReader::from(record))
            .map_err(|e| CycleError::capnp(format!("canonicalizing a {name} record"), e))?;
        let segments = message.get_segments_for_output();
        let bytes = segments.first().copied().unwrap_or(&[]);
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect())
    }

    /// The version and tag of the state this write state holds, once it was loaded from or
    /// written to a blob.
    pub fn current(&self) -> Option<StateId> {
        self.current
    }

    pub(crate) fn set_current(&mut self, current: Option<StateId>) {
        self.current = current;
    }

    /// The index of the registered type whose Cap'n Proto id is `type_id`.
    pub(crate) fn type_index_by_id(&self, type_id: u64) -> Option<usize> {
        self.by_id.get(&type_id).copied()
    }

    /// Empties type `index`: no records, no keys, no ordinals, checksum 0.
    /// Empties every type and forgets the current state.
    pub(crate) fn clear(&mut self) {
        for index in 0..self.types.len() {
            self.clear_type(index);
        }
        self.current = None;
    }

    pub(crate) fn clear_type(&mut self, index: usize) {
        let ty = &mut self.types[index];
        ty.records.clear();
        ty.by_key = crate::identity::KeyMap::default();
        ty.by_content = crate::identity::ContentMap::default();
        ty.pk_entries.clear();
        ty.populated = 0;
        ty.checksum = TypeChecksum::default();
    }

    /// Sets the ordinal capacity of type `index`; false (and nothing changes) when a record
    /// lies at or beyond `capacity`.
    pub(crate) fn set_capacity(&mut self, index: usize, capacity: u32) -> bool {
        let ty = &mut self.types[index];
        let capacity = capacity as usize;
        if ty
            .records
            .get(capacity..)
            .is_some_and(|r| r.iter().any(Option::is_some))
        {
            return false;
        }
        ty.records.resize_with(capacity, || None);
        true
    }

    /// Number of records of `type_name`.
    pub fn record_count(&self, type_name: &str) -> Option<u32> {
        self.types
            .iter()
            .find(|t| t.info.name == type_name)
            .map(|t| t.populated)
    }
}

pub(crate) fn shard_count(capacity: u32, bits: u8) -> u32 {
    u32::try_from(u64::from(capacity).div_ceil(1u64 << bits)).unwrap_or(u32::MAX)
}
