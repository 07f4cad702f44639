//! The read state: a snapshot blob mapped in memory, verified, and served zero-copy.

mod delta;
mod dynamic;
mod index;
pub(crate) mod open;
mod overlay;
mod query;
mod record_map;

pub(crate) use overlay::MAX_OVERLAY_DELTAS;

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use capnp::private::layout::StructReader;
use capnp::traits::OwnedStruct;

pub use delta::{DeltaType, ReadDelta};
pub use dynamic::{DynRecord, DynTable};
pub use index::IndexSource;
pub use query::{DynIndex, FacetValue, Facets, QueryPlan, QueryResult};

use crate::bytes::BlobBytes;
use crate::capnp_raw::ShardList;
use crate::error::{LookupError, OpenError, Result};
use crate::format::{BlobHeader, HashIndex, PopulatedBitmap, PrimaryKeyIndex, SectionEntry};
use crate::schema::{IndexPath, KeyBytes, KeyPath, KeyValue, Schema, StructInfo};

/// A whole state of a dataset, read in place from a snapshot blob.
///
/// Opening verifies the header, the table of sections, the manifest and the schema. The sections
/// of a type (record shards, bitmap, index) are verified against their checksums the first time
/// the type is used ([`ReadState::table`], [`ReadState::dyn_table`]); a byte is never read before
/// its section is verified. `ReadState` is `Send + Sync`: share it in an `Arc` and read from any
/// number of threads without locks.
pub struct ReadState {
    name: String,
    bytes: BlobBytes,
    header: BlobHeader,
    dataset: String,
    header_tags: Vec<(String, String)>,
    schema: Schema,
    types: Vec<StateType>,
    base_version: u64,
}

/// One type as a state sees it: the snapshot's sections, shared by every state derived from
/// the snapshot, and the overlay of the deltas applied since.
#[derive(Clone)]
pub(crate) struct StateType {
    pub(crate) base: Arc<ReadType>,
    pub(crate) overlay: Option<Arc<overlay::TypeOverlay>>,
    pub(crate) capacity: u32,
    pub(crate) record_count: u32,
    pub(crate) checksum: u64,
}

/// What a state knows of one type before its sections are loaded.
pub(crate) struct ReadType {
    pub(crate) name: String,
    pub(crate) type_id: u64,
    pub(crate) info: StructInfo,
    pub(crate) key: Option<KeyPath>,
    pub(crate) capacity: u32,
    pub(crate) record_count: u32,
    pub(crate) shard_bits: u8,
    pub(crate) checksum: u64,
    pub(crate) shards: Vec<SectionEntry>,
    pub(crate) populated: SectionEntry,
    pub(crate) pk_index: Option<SectionEntry>,
    /// Secondary indexes of the snapshot's schema, with their sections (same order).
    pub(crate) indexes: Vec<(IndexPath, SectionEntry)>,
    pub(crate) blob: BlobBytes,
    pub(crate) blob_name: String,
    /// Sections were verified when the blob entered the consumer's cache.
    pub(crate) trusted: bool,
    pub(crate) loaded: OnceLock<Result<LoadedType, (String, String)>>,
}

/// The verified sections of a type.
pub(crate) struct LoadedType {
    pub(crate) shards: Vec<ShardList>,
    pub(crate) populated: PopulatedBitmap,
    pub(crate) pk_index: Option<PrimaryKeyIndex>,
    /// Secondary indexes, in the order of `ReadType::indexes`.
    pub(crate) indexes: Vec<HashIndex>,
}

/// Summary of one type of a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeSummary {
    /// Type name.
    pub name: String,
    /// Cap'n Proto type id.
    pub type_id: u64,
    /// Populated records.
    pub record_count: u32,
    /// Ordinal capacity (every ordinal is below it).
    pub ordinal_capacity: u32,
    /// Primary-key field paths ("id"), empty when keyless.
    pub primary_key: Vec<String>,
    /// State checksum of the type.
    pub checksum: u64,
    /// Bytes of its record shards.
    pub record_bytes: u64,
    /// Bytes of its primary-key index.
    pub index_bytes: u64,
    /// Its secondary indexes in the snapshot: `(name, kind, bytes)`.
    pub secondary_indexes: Vec<(String, crate::schema::IndexKind, u64)>,
}

impl ReadState {
    /// Memory-maps the snapshot at `path` and verifies its header, manifest and schema.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, OpenError> {
        let path = path.as_ref();
        let bytes = BlobBytes::map_file(path)?;
        Self::from_bytes(bytes, &path.display().to_string())
    }

    /// Reads a snapshot from bytes; `name` names the blob in errors.
    pub fn from_bytes(bytes: BlobBytes, name: &str) -> Result<Self, OpenError> {
        open::open(bytes, name, false)
    }

    /// Reads a snapshot whose every section was verified against its checksum when it entered
    /// a consumer's local cache (same length and header checksum since): opened like
    /// [`ReadState::from_bytes`] — each type's sections are still verified on the type's first
    /// use, so a byte changed since is an error, never a wrong answer — and marked
    /// ([`ReadState::reopened_verified`]) so the consumer skips the eager whole-blob check a
    /// fresh download gets.
    pub(crate) fn from_verified_cache(bytes: BlobBytes, name: &str) -> Result<Self, OpenError> {
        open::open(bytes, name, true)
    }

    /// The blob's name (its path, or the name given to [`ReadState::from_bytes`]).
    pub fn blob_name(&self) -> &str {
        &self.name
    }

    /// The dataset name.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// The version of this state.
    pub fn version(&self) -> u64 {
        self.header.to_version
    }

    /// The random tag of this state.
    pub fn tag(&self) -> u64 {
        self.header.to_tag
    }

    /// The identity of this state: version and tag.
    pub fn state_id(&self) -> crate::StateId {
        self.header.to_state()
    }

    /// The blob header.
    pub fn header(&self) -> &BlobHeader {
        &self.header
    }

    /// User header tags.
    pub fn header_tags(&self) -> &[(String, String)] {
        &self.header_tags
    }

    /// The schema the state was written with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Keeps only the types for which `keep(name)` holds; the others are never loaded,
    /// verified or mapped in by this state (a consumer's type filter).
    pub fn retain_types(mut self, keep: impl Fn(&str) -> bool) -> Self {
        self.types.retain(|t| keep(&t.base.name));
        self
    }

    /// True when a consumer opened this state's snapshot from its local cache on a recorded
    /// verification, skipping the eager check of every section (sections are still verified on
    /// their type's first use).
    pub fn reopened_verified(&self) -> bool {
        self.types
            .iter()
            .any(|t| t.base.trusted && !t.base.shards.is_empty())
    }

    /// Deltas overlaid on the snapshot this state was opened from (the most of any type): 0
    /// for a state read straight from a snapshot.
    pub fn overlay_depth(&self) -> usize {
        self.types
            .iter()
            .filter_map(|t| t.overlay.as_ref())
            .map(|o| o.depth())
            .max()
            .unwrap_or(0)
    }

    /// Version of the snapshot this state's records come from (before any overlaid delta).
    pub fn base_version(&self) -> u64 {
        self.base_version
    }

    /// Shard bits of the snapshot's first type with records (`None` without one).
    pub(crate) fn shard_bits(&self) -> Option<u8> {
        self.types
            .iter()
            .find(|t| !t.base.shards.is_empty())
            .map(|t| t.base.shard_bits)
    }

    /// Size of the blob in bytes.
    pub fn blob_len(&self) -> usize {
        self.bytes.len()
    }

    /// The dataset's types: [`ReadState::types`] without the empty, keyless structs that the
    /// schema uses only as field types (a producer that registered every top-level struct
    /// made `Address` a type beside `Customer`; it never holds records of its own).
    pub fn dataset_types(&self) -> Vec<TypeSummary> {
        let nested = self.schema().field_type_structs();
        self.types()
            .into_iter()
            .filter(|t| {
                t.record_count > 0 || !t.primary_key.is_empty() || !nested.contains(&t.type_id)
            })
            .collect()
    }

    /// The types of the state.
    pub fn types(&self) -> Vec<TypeSummary> {
        self.types
            .iter()
            .map(|st| (st, &st.base))
            .map(|(st, t)| TypeSummary {
                name: t.name.clone(),
                type_id: t.type_id,
                record_count: st.record_count,
                ordinal_capacity: st.capacity,
                primary_key: t
                    .key
                    .iter()
                    .flat_map(|k| k.fields.iter().map(|f| f.path.clone()))
                    .collect(),
                checksum: st.checksum,
                record_bytes: t.shards.iter().map(|s| s.len).sum(),
                index_bytes: t.pk_index.map_or(0, |s| s.len),
                secondary_indexes: t
                    .indexes
                    .iter()
                    .map(|(p, s)| (p.name().to_string(), p.kind(), s.len))
                    .collect(),
            })
            .collect()
    }

    /// Typed access to the records of the generated type `T`, verifying its sections on first use.
    pub fn table<T: OwnedStruct>(&self) -> Result<Table<'_, T>, LookupError> {
        let id = crate::capnp_raw::struct_type_id::<T>().unwrap_or(0);
        let ty = self
            .types
            .iter()
            .find(|t| t.base.type_id == id)
            .ok_or_else(|| LookupError::UnknownType {
                name: format!("id {id:#x}"),
            })?;
        // Generated code older or newer than the data is fine; code that disagrees with it about
        // a field's type or place is not (docs/SCHEMA-EVOLUTION.md).
        let info = self.schema.struct_by_id(id).unwrap_or(&ty.base.info);
        crate::schema::check_generated::<T>(info)?;
        Ok(Table {
            view: self.view(ty)?,
            _type: PhantomData,
        })
    }

    /// Schema-driven access to the records of the type called `name`.
    pub fn dyn_table(&self, name: &str) -> Result<DynTable<'_>, LookupError> {
        let ty = self
            .types
            .iter()
            .find(|t| t.base.name == name)
            .ok_or_else(|| LookupError::UnknownType {
                name: name.to_string(),
            })?;
        Ok(DynTable::new(self.view(ty)?, &self.schema))
    }

    /// Verifies every section of every type (the whole blob).
    pub fn verify_all(&self) -> Result<(), OpenError> {
        for ty in &self.types {
            self.view(ty)?;
        }
        Ok(())
    }

    fn view<'s>(&'s self, st: &'s StateType) -> Result<TypeView<'s>, OpenError> {
        let ty = &*st.base;
        let loaded = ty
            .loaded
            .get_or_init(|| open::load_type(&ty.blob, &ty.blob_name, ty));
        match loaded {
            Ok(loaded) => Ok(TypeView {
                ty,
                schema: &self.schema,
                loaded,
                overlay: st.overlay.as_deref(),
                capacity: st.capacity,
                record_count: st.record_count,
            }),
            Err((section, reason)) => Err(OpenError::corrupt(&ty.blob_name, section, reason)),
        }
    }
}

/// A loaded type: the shared machinery under [`Table`] and [`DynTable`].
#[derive(Clone, Copy)]
pub(crate) struct TypeView<'s> {
    pub(crate) ty: &'s ReadType,
    /// The state's schema (the types and indexes it declares now).
    pub(crate) schema: &'s Schema,
    loaded: &'s LoadedType,
    overlay: Option<&'s overlay::TypeOverlay>,
    pub(crate) capacity: u32,
    pub(crate) record_count: u32,
}

impl<'s> TypeView<'s> {
    #[inline]
    pub(crate) fn get(&self, ordinal: u32) -> Option<StructReader<'s>> {
        if let Some(overlay) = self.overlay {
            return overlay.get(ordinal, |o| self.base_record(o));
        }
        if !self.loaded.populated.contains(ordinal) {
            return None;
        }
        self.base_record(ordinal)
    }

    /// Whether `ordinal` holds the snapshot's record (no delta since touched it): what the
    /// snapshot's index sections say about it still holds.
    pub(crate) fn is_snapshot_record(&self, ordinal: u32) -> bool {
        match self.overlay {
            Some(overlay) => overlay.is_snapshot_record(ordinal),
            None => self.loaded.populated.contains(ordinal),
        }
    }

    /// The record at `ordinal` in the snapshot's shards (no populated check).
    #[inline]
    fn base_record(&self, ordinal: u32) -> Option<StructReader<'s>> {
        let shard = (ordinal >> self.ty.shard_bits) as usize;
        let index = ordinal & ((1u32 << self.ty.shard_bits) - 1);
        self.loaded.shards.get(shard)?.get(index)
    }

    /// Populated records in ordinal order: one bitmap word per 64 ordinals, no per-record
    /// bitmap probe.
    pub(crate) fn records(self) -> RecordIter<'s> {
        RecordIter {
            view: self,
            word_index: 0,
            bits: 0,
            changed: 0,
            locs: &[],
        }
    }

    pub(crate) fn index_bytes(&self) -> usize {
        self.loaded
            .pk_index
            .as_ref()
            .map_or(0, PrimaryKeyIndex::byte_len)
    }

    fn key(&self) -> Result<&'s KeyPath, LookupError> {
        self.ty.key.as_ref().ok_or_else(|| LookupError::InvalidKey {
            type_name: self.ty.name.clone(),
            reason: "the type has no primary key".to_string(),
        })
    }

    /// Looks up the ordinal whose primary key has the canonical bytes `encoded`.
    #[inline]
    fn find_encoded(&self, key: &KeyPath, encoded: &[u8]) -> Option<u32> {
        self.find_hashed(key, encoded, xxhash_rust::xxh3::xxh3_64(encoded))
    }

    /// [`TypeView::find_encoded`] with the key's hash already computed.
    #[inline]
    fn find_hashed(&self, key: &KeyPath, encoded: &[u8], hash: u64) -> Option<u32> {
        let mut record_key = KeyBytes::new();
        // Inline layout: whole keys compare, no record is read. Tagged layout: a hash match is
        // only a candidate; confirm it against the record's own key. Callers fetch the record
        // with `get`, which checks that the ordinal is populated.
        let mut confirm = |ordinal: u32| {
            self.get(ordinal).is_some_and(|r| {
                key.encode_record(r, &mut record_key).is_ok() && record_key.as_slice() == encoded
            })
        };
        let index = self.loaded.pk_index.as_ref();
        let Some(overlay) = self.overlay else {
            return index?.find(hash, crate::schema::inline_key(encoded), confirm);
        };
        // With deltas: the snapshot's index first (most keys are still where it says: an
        // unchanged ordinal's entry holds without reading anything more than `get` does), then
        // the one map of keys added since the snapshot. At most one populated ordinal has the
        // key, so the order does not change the answer.
        let inline = key.inline_width().is_some();
        if let Some(index) = index {
            let found = index.find(hash, crate::schema::inline_key(encoded), |o| {
                overlay.base_key_holds(o) && (inline || confirm(o))
            });
            if let Some(o) = found.filter(|o| overlay.base_key_holds(*o)) {
                return Some(o);
            }
        }
        overlay.find_added(hash, encoded, inline, confirm)
    }

    pub(crate) fn ordinal_by_values(
        &self,
        values: &[KeyValue<'_>],
    ) -> Result<Option<u32>, LookupError> {
        let key = self.key()?;
        let mut query = KeyBytes::new();
        key.encode_values(values, &mut query)?;
        Ok(self.find_encoded(key, &query))
    }

    /// The records of many single-field keys, appended to `out` in key order (`None` for a
    /// key no record has). Keys go in groups of [`LOOKUP_GROUP`]: a group's keys are encoded
    /// and hashed, their index slots loaded together, then probed, then their records loaded
    /// together — independent loads the CPU keeps in flight at once, as a hash join's
    /// prefetches do, where one lookup after another waits for each miss in turn.
    pub(crate) fn records_by_keys<'k>(
        &self,
        keys: impl IntoIterator<Item = KeyValue<'k>>,
        out: &mut Vec<Option<StructReader<'s>>>,
    ) -> Result<(), LookupError> {
        let key = self.key()?;
        let index = self.loaded.pk_index.as_ref();
        let mut encoded: [KeyBytes; LOOKUP_GROUP] = std::array::from_fn(|_| KeyBytes::new());
        let mut hashes = [0u64; LOOKUP_GROUP];
        let mut keys = keys.into_iter().peekable();
        while keys.peek().is_some() {
            let mut n = 0;
            // The group's arrays first: `zip` stops on them without taking one key too many.
            for ((bytes, hash), value) in
                encoded.iter_mut().zip(hashes.iter_mut()).zip(keys.by_ref())
            {
                key.encode_values(&[value], bytes)?;
                *hash = xxhash_rust::xxh3::xxh3_64(bytes);
                n += 1;
            }
            if let Some(index) = index {
                let touched = hashes[..n]
                    .iter()
                    .fold(0u64, |acc, h| acc ^ index.touch(*h));
                std::hint::black_box(touched);
            }
            let start = out.len();
            for (bytes, hash) in encoded.iter().zip(hashes).take(n) {
                let record = self.find_hashed(key, bytes, hash).and_then(|o| self.get(o));
                out.push(record);
            }
            // The group's records, loaded together before the caller reads them.
            let touched = out[start..]
                .iter()
                .flatten()
                .fold(0u64, |acc, r| acc ^ r.get_data_field::<u64>(0));
            std::hint::black_box(touched);
        }
        Ok(())
    }

    pub(crate) fn ordinal_by_strings(&self, values: &[&str]) -> Result<Option<u32>, LookupError> {
        let key = self.key()?;
        let mut query = KeyBytes::new();
        key.encode_strings(values, &mut query)?;
        Ok(self.find_encoded(key, &query))
    }
}

/// Keys a batched lookup ([`Table::get_many_by_key`]) works on at once: enough independent
/// misses to fill a core's miss buffers, few enough that a group's slots and records stay in
/// L1 until they are read.
const LOOKUP_GROUP: usize = 16;

/// Iterator over the populated records of a type (see [`TypeView::records`]).
pub(crate) struct RecordIter<'s> {
    view: TypeView<'s>,
    word_index: usize,
    bits: u64,
    /// The bits of `bits` whose record a delta brought (with an overlay).
    changed: u64,
    /// Locations of the changed records of the current block still to come, in order.
    locs: &'s [u64],
}

impl<'s> Iterator for RecordIter<'s> {
    type Item = (u32, StructReader<'s>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            while self.bits == 0 {
                match self.view.overlay {
                    Some(overlay) => {
                        let records = overlay.records();
                        if self.word_index >= records.block_count() {
                            return None;
                        }
                        let (block, locs) = records.block_with_locs(self.word_index);
                        self.bits = block.populated;
                        self.changed = block.changed;
                        self.locs = locs;
                    }
                    None => {
                        let populated = &self.view.loaded.populated;
                        if self.word_index >= populated.word_count() {
                            return None;
                        }
                        self.bits = populated.word(self.word_index);
                    }
                }
                self.word_index += 1;
            }
            let bit = self.bits & self.bits.wrapping_neg();
            let ordinal =
                u32::try_from((self.word_index - 1) * 64).ok()? + self.bits.trailing_zeros();
            self.bits ^= bit;
            let record = match self.view.overlay {
                Some(overlay) if self.changed & bit != 0 => {
                    let (&loc, rest) = self.locs.split_first()?;
                    self.locs = rest;
                    overlay.changed_record(loc)
                }
                _ => self.view.base_record(ordinal),
            };
            // Load and apply checked that every populated ordinal has a record.
            if let Some(r) = record {
                return Some((ordinal, r));
            }
        }
    }
}

/// Typed, zero-copy access to the records of one type.
///
/// Records are generated Cap'n Proto `Reader`s pointing into the blob's memory: no decode, no
/// copy, no allocation per read. They borrow from the [`ReadState`], so they cannot outlive it.
pub struct Table<'s, T> {
    view: TypeView<'s>,
    _type: PhantomData<fn() -> T>,
}

impl<'s, T: OwnedStruct> Table<'s, T> {
    /// Number of records.
    pub fn len(&self) -> u32 {
        self.view.record_count
    }

    /// True when the type has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every ordinal is below this bound.
    pub fn ordinal_capacity(&self) -> u32 {
        self.view.capacity
    }

    /// The record at `ordinal`, or `None` when the ordinal holds no record.
    #[inline]
    pub fn get(&self, ordinal: u32) -> Option<T::Reader<'s>> {
        self.view.get(ordinal).map(T::Reader::from)
    }

    /// Records with their ordinals, in ordinal order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, T::Reader<'s>)> + 's {
        self.view.records().map(|(o, r)| (o, T::Reader::from(r)))
    }

    /// The record whose single-field primary key equals `key`, through the shipped index.
    #[inline]
    pub fn get_by_key<'k>(
        &self,
        key: impl Into<KeyValue<'k>>,
    ) -> Result<Option<T::Reader<'s>>, LookupError> {
        self.get_by_key_values(&[key.into()])
    }

    /// The record whose (composite) primary key equals `values`, in key field order.
    pub fn get_by_key_values(
        &self,
        values: &[KeyValue<'_>],
    ) -> Result<Option<T::Reader<'s>>, LookupError> {
        Ok(self
            .view
            .ordinal_by_values(values)?
            .and_then(|o| self.get(o)))
    }

    /// The records of many single-field primary keys, in key order (`None` where no record
    /// has the key): [`Table::get_by_key`] for each, but the keys are worked on in groups whose
    /// index slots and records are loaded together, so their cache misses overlap instead of
    /// following one another (BENCHMARKS.md: batched lookups).
    ///
    /// ```
    /// # fn main() -> hollow::Result<()> {
    /// use hollow::{ReadState, StateId, WriteState};
    /// use hollow_movies::movies_capnp::movie;
    ///
    /// let mut state = WriteState::builder("demo").register::<movie::Owned>().build()?;
    /// for (id, title) in [(1u64, "Alien"), (2, "Heat"), (3, "Ran")] {
    ///     let mut message = capnp::message::Builder::new_default();
    ///     let mut m = message.init_root::<movie::Builder>();
    ///     m.set_id(id);
    ///     m.set_title(title);
    ///     state.add::<movie::Owned>(message.get_root_as_reader()?)?;
    /// }
    /// let read = ReadState::from_bytes(state.write_snapshot(&StateId { version: 1, tag: 7 })?, "<memory>")?;
    /// let movies = read.table::<movie::Owned>()?;
    /// let found = movies.get_many_by_key([3u64, 9, 1])?;
    /// let titles: Vec<Option<&str>> = found
    ///     .iter()
    ///     .map(|m| m.as_ref().and_then(|m| m.get_title().ok()?.to_str().ok()))
    ///     .collect();
    /// assert_eq!(titles, [Some("Ran"), None, Some("Alien")]);
    /// # Ok(()) }
    /// ```
    pub fn get_many_by_key<'k, K: Into<KeyValue<'k>>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<T::Reader<'s>>>, LookupError> {
        let keys = keys.into_iter();
        let mut records = Vec::with_capacity(keys.size_hint().0);
        self.view
            .records_by_keys(keys.map(Into::into), &mut records)?;
        Ok(records
            .into_iter()
            .map(|r| r.map(T::Reader::from))
            .collect())
    }

    /// The ordinal of the record whose primary key equals `values`.
    pub fn ordinal_of_key(&self, values: &[KeyValue<'_>]) -> Result<Option<u32>, LookupError> {
        self.view.ordinal_by_values(values)
    }

    /// Bytes of the type's primary-key index.
    pub fn index_bytes(&self) -> usize {
        self.view.index_bytes()
    }

    /// The record whose single-field primary key equals `key` (same as [`Table::get_by_key`]).
    #[inline]
    pub fn by_key<'k>(
        &self,
        key: impl Into<KeyValue<'k>>,
    ) -> Result<Option<T::Reader<'s>>, LookupError> {
        self.get_by_key(key)
    }

    /// The secondary index called `name` (its field paths joined by commas: `"genres"`,
    /// `"title,year"`), resolved once for many lookups.
    ///
    /// ```
    /// # fn main() -> hollow::Result<()> {
    /// use hollow::{ReadState, StateId, WriteState};
    /// use hollow_movies::movies_capnp::movie;
    ///
    /// let schema = hollow::Schema::builder().add::<movie::Owned>().build()?;
    /// let schema = schema.with_hash_index("Movie", "genres")?.with_unique_index("Movie", "title")?;
    /// let mut state = WriteState::builder("demo").schema(schema).register_name("Movie").build()?;
    /// for (id, title, genres) in [(1, "Alien", ["Horror", "SciFi"]), (2, "Heat", ["Crime", "Drama"])] {
    ///     let mut message = capnp::message::Builder::new_default();
    ///     let mut m = message.init_root::<movie::Builder>();
    ///     m.set_id(id);
    ///     m.set_title(title);
    ///     let mut g = m.init_genres(2);
    ///     g.set(0, genres[0]);
    ///     g.set(1, genres[1]);
    ///     state.add_dynamic("Movie", message.get_root_as_reader()?)?;
    /// }
    /// let read = ReadState::from_bytes(state.write_snapshot(&StateId { version: 1, tag: 7 })?, "<memory>")?;
    /// let movies = read.table::<movie::Owned>()?;
    /// let drama = movies.index("genres")?;
    /// let titles: Vec<String> = drama
    ///     .matching("Drama")?
    ///     .map(|m| m.get_title().ok().and_then(|t| t.to_str().ok()).unwrap_or("").to_string())
    ///     .collect();
    /// assert_eq!(titles, ["Heat"]);
    /// assert_eq!(movies.unique("title", "Alien")?.map(|m| m.get_id()), Some(1));
    /// assert!(movies.unique("title", "Brazil")?.is_none());
    /// // The issue's spelling: by_key(&id), matching(&index, key).
    /// assert_eq!(movies.by_key(&2u64)?.map(|m| m.get_id()), Some(2));
    /// assert_eq!(movies.matching(&drama, "Horror")?.count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn index(&self, name: &str) -> Result<Index<'s, T>, LookupError> {
        Ok(Index {
            index: index::IndexView::new(self.view, name)?,
            _type: PhantomData,
        })
    }

    /// The record whose key under the unique index `index` (a name such as `"title"`, or an
    /// [`Index`]) equals `key`. A name is resolved on every call: keep an [`Index`] for many
    /// lookups.
    pub fn unique<'k>(
        &self,
        index: &(impl IndexSelector + ?Sized),
        key: impl Into<KeyValue<'k>>,
    ) -> Result<Option<T::Reader<'s>>, LookupError> {
        self.index(index.index_name())?.get(key)
    }

    /// The records whose key under the index `index` (a name such as `"genres"`, or an
    /// [`Index`]) equals `key`, in ordinal order.
    pub fn matching<'k>(
        &self,
        index: &(impl IndexSelector + ?Sized),
        key: impl Into<KeyValue<'k>>,
    ) -> Result<Matches<'s, T>, LookupError> {
        self.index(index.index_name())?.matching(key)
    }
}

/// What names a secondary index in [`Table::matching`] and [`Table::unique`]: its name (`str`,
/// `String`) or an [`Index`] handle.
pub trait IndexSelector {
    /// The index's name (its field paths joined by commas).
    fn index_name(&self) -> &str;
}

impl IndexSelector for str {
    fn index_name(&self) -> &str {
        self
    }
}

impl IndexSelector for String {
    fn index_name(&self) -> &str {
        self
    }
}

impl<T> IndexSelector for Index<'_, T> {
    fn index_name(&self) -> &str {
        self.index.path().name()
    }
}

/// The records of one index lookup, in ordinal order; see [`Index::matching`].
pub struct Matches<'s, T> {
    ordinals: index::IndexMatches<'s>,
    _type: PhantomData<fn() -> T>,
}

impl<'s, T: OwnedStruct> Matches<'s, T> {
    /// The next match with its ordinal.
    pub fn next_with_ordinal(&mut self) -> Option<(u32, T::Reader<'s>)> {
        self.ordinals.next().map(|(o, r)| (o, T::Reader::from(r)))
    }
}

impl<'s, T: OwnedStruct> Iterator for Matches<'s, T> {
    type Item = T::Reader<'s>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_ordinal().map(|(_, r)| r)
    }
}

/// A secondary (unique or hash) index of a typed table; see [`Table::index`].
pub struct Index<'s, T> {
    index: index::IndexView<'s>,
    _type: PhantomData<fn() -> T>,
}

impl<'s, T: OwnedStruct> Index<'s, T> {
    /// The index's name (its field paths joined by commas).
    pub fn name(&self) -> &str {
        self.index.path().name()
    }

    /// Unique or hash.
    pub fn kind(&self) -> crate::schema::IndexKind {
        self.index.kind()
    }

    /// Whether lookups go through the shipped index or scan (an index declared after the
    /// snapshot this state was loaded from).
    pub fn source(&self) -> IndexSource {
        self.index.source()
    }

    /// The records whose single-field key equals `key`, in ordinal order.
    pub fn matching<'k>(
        &self,
        key: impl Into<KeyValue<'k>>,
    ) -> Result<Matches<'s, T>, LookupError> {
        self.matching_values(&[key.into()])
    }

    /// The records whose (composite) key equals `values`, in index field order.
    pub fn matching_values(&self, values: &[KeyValue<'_>]) -> Result<Matches<'s, T>, LookupError> {
        let encoded = self.index.path().encode_values(values)?;
        Ok(Matches {
            ordinals: self.index.ordinals(encoded),
            _type: PhantomData,
        })
    }

    /// The first record whose single-field key equals `key` (the only one, for a unique index).
    pub fn get<'k>(
        &self,
        key: impl Into<KeyValue<'k>>,
    ) -> Result<Option<T::Reader<'s>>, LookupError> {
        self.get_values(&[key.into()])
    }

    /// The first record whose (composite) key equals `values`.
    pub fn get_values(
        &self,
        values: &[KeyValue<'_>],
    ) -> Result<Option<T::Reader<'s>>, LookupError> {
        let encoded = self.index.path().encode_values(values)?;
        Ok(self.index.first(encoded).map(|(_, r)| T::Reader::from(r)))
    }
}
