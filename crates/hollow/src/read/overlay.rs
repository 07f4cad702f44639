//! Deltas applied to a read state without copying it: per type, an overlay on the snapshot's
//! sections (DESIGN.md, decision 4).
//!
//! The overlay holds the ordinal → record mapping ([`RecordMap`]: one flat copy-on-write level,
//! so an unchanged record reads exactly like the snapshot's and a changed one costs one more
//! load, whatever the number of deltas), the keys added since the snapshot (one hash map keyed
//! by the key's hash); whether a record still has the snapshot's key at its ordinal (so the
//! snapshot's index entry for it holds) is a flag of its location in the map.
//! Records stay where they are: in the snapshot's mapping, or in the mapping of the delta that
//! brought them. The state the overlay was derived from is untouched, so readers holding it
//! keep reading it.
//!
//! Cost of applying a delta: its changed records, the chunks of the mapping it touches
//! (1 KiB of blocks plus their changed records' locations each) and one copy of the keys
//! added since the snapshot. The overlay before (one owner byte per
//! ordinal, each changed record found by binary search in its delta) scanned 5.6× slower than
//! a fresh snapshot after ten deltas at 1M (BENCHMARKS.md, "Reads after N deltas"). A snapshot
//! load starts over with no overlay; consumers compact by loading a newer snapshot once an
//! overlay holds `max_deltas` deltas (at most 255), or in the background with
//! `ConsumerBuilder::compact_after` (`ReadState::compacted`).

use std::collections::HashMap;
use std::sync::Arc;

use capnp::private::layout::StructReader;

use super::record_map::{REKEYED, RecordMap, Slot, loc_index, loc_source};
use super::{ReadDelta, ReadState, StateType};
use crate::error::{OpenError, Result};
use crate::format::PopulatedBitmap;

/// Most deltas one overlay can hold (a bound on the sources a state keeps mapped; the
/// consumer's `max_deltas` is lower).
pub(crate) const MAX_OVERLAY_DELTAS: usize = 255;

/// Hashes a key hash (already xxh3) by passing it through.
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHashHasher(u64);

impl std::hash::Hasher for KeyHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type KeyHashMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<KeyHashHasher>>;

/// Keys added since the snapshot: key hash → (inline key or 0, ordinal). Entries are plain
/// values, so copying the map for a new state is a flat copy of its table; the rare second key
/// with the same 64-bit hash goes to `collisions`.
#[derive(Clone, Default)]
struct AddedKeys {
    map: KeyHashMap<(u64, u32)>,
    collisions: Vec<(u64, u64, u32)>,
}

impl AddedKeys {
    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn insert(&mut self, hash: u64, inline_key: u64, ordinal: u32) {
        match self.map.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((inline_key, ordinal));
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.push((hash, inline_key, ordinal));
            }
        }
    }

    fn remove(&mut self, hash: u64, ordinal: u32) {
        if self.map.get(&hash).is_some_and(|(_, o)| *o == ordinal) {
            self.map.remove(&hash);
            // A colliding key takes the freed place.
            if let Some(i) = self.collisions.iter().position(|(h, _, _)| *h == hash) {
                let (h, k, o) = self.collisions.swap_remove(i);
                self.map.insert(h, (k, o));
            }
        } else {
            self.collisions
                .retain(|(h, _, o)| !(*h == hash && *o == ordinal));
        }
    }

    /// `(inline key, ordinal)` of every key added with `hash`.
    fn candidates(&self, hash: u64) -> impl Iterator<Item = (u64, u32)> + '_ {
        let first = self.map.get(&hash).copied();
        let rest = (!self.collisions.is_empty()).then(|| {
            self.collisions
                .iter()
                .filter(move |(h, _, _)| *h == hash)
                .map(|(_, k, o)| (*k, *o))
        });
        first.into_iter().chain(rest.into_iter().flatten())
    }
}

/// The changes to one type since its snapshot.
#[derive(Clone)]
pub(crate) struct TypeOverlay {
    /// Populated ordinals and where each one's record is.
    records: RecordMap,
    /// Deltas that records point into, with the index of this type in each (a location's
    /// source is an index in this list).
    deltas: Vec<(Arc<ReadDelta>, usize)>,
    /// Keys added since the snapshot: key hash → (inline key or 0, ordinal).
    added_keys: AddedKeys,
    /// Secondary indexes of the state, by name: what they gained since the snapshot.
    indexes: HashMap<String, IndexOverlay>,
}

/// What a secondary index gained since the snapshot.
#[derive(Clone, Default)]
pub(crate) struct IndexOverlay {
    /// `(key tag, ordinal)` pairs gained since the snapshot (candidates, confirmed on lookup).
    pub(crate) added: Additions,
    /// True when the snapshot's index plus `added` covers every key of the state; false when
    /// the snapshot or a delta on the way was written without this index (lookups then scan).
    pub(crate) complete: bool,
}

/// Runs are not merged beyond this many pairs (2 MiB), which bounds the work one delta can
/// trigger; past it runs accumulate (a lookup binary-searches each), until compaction.
const MAX_MERGED_RUN: usize = 1 << 18;

/// The index additions of the deltas since a snapshot: sorted runs of `(tag, ordinal)` pairs
/// packed as `tag << 32 | ordinal`, shared between states (a state derived from another clones
/// the list of runs, not the pairs). A delta's additions become a new run; runs are merged
/// while the newer is at least half the size of the one before it (and the result stays under
/// `MAX_MERGED_RUN`), so there are O(log n) runs and every pair is copied O(log n) times:
/// applying a delta costs O(its additions), amortized, and never more than one bounded merge
/// cascade.
#[derive(Clone, Default)]
pub(crate) struct Additions {
    runs: Vec<Arc<[u64]>>,
}

impl Additions {
    /// Adds a delta's pairs (strictly ascending by tag, then ordinal).
    fn push(&mut self, pairs: &[(u32, u32)]) {
        if pairs.is_empty() {
            return;
        }
        self.runs.push(
            pairs
                .iter()
                .map(|(t, o)| (u64::from(*t) << 32) | u64::from(*o))
                .collect(),
        );
        while let [.., older, newer] = self.runs.as_slice() {
            if older.len() > 2 * newer.len() || older.len() + newer.len() > MAX_MERGED_RUN {
                break;
            }
            let merged = merge_runs(older, newer);
            self.runs.truncate(self.runs.len() - 2);
            self.runs.push(merged.into());
        }
    }

    /// Ordinals paired with the tag of `hash` (unsorted, maybe repeated).
    pub(crate) fn ordinals(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        self.ordinals_of_tag(crate::format::hash_tag(hash))
    }

    /// The tag of every pair held (a tag repeats once per pair).
    pub(crate) fn tag_pairs(&self) -> impl Iterator<Item = u32> + '_ {
        self.runs.iter().flat_map(|run| {
            run.iter()
                .map(|p| u32::try_from(p >> 32).unwrap_or(u32::MAX))
        })
    }

    /// Ordinals paired with `tag` (unsorted, maybe repeated).
    pub(crate) fn ordinals_of_tag(&self, tag: u32) -> impl Iterator<Item = u32> + '_ {
        let tag = u64::from(tag);
        self.runs.iter().flat_map(move |run| {
            let start = run.partition_point(|p| p >> 32 < tag);
            run[start..]
                .iter()
                .take_while(move |p| *p >> 32 == tag)
                .map(|p| u32::try_from(p & 0xffff_ffff).unwrap_or(u32::MAX))
        })
    }
}

/// Merges two ascending runs, dropping repeats.
fn merge_runs(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        out.push(x.min(y));
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    out.extend_from_slice(&a[i.min(a.len())..]);
    out.extend_from_slice(&b[j.min(b.len())..]);
    out
}

impl TypeOverlay {
    /// Deltas this overlay holds records of.
    pub(crate) fn depth(&self) -> usize {
        self.deltas.len()
    }

    pub(crate) fn records(&self) -> &RecordMap {
        &self.records
    }

    /// The overlay of secondary index `name`; `None` when the state's deltas did not carry it.
    pub(crate) fn index(&self, name: &str) -> Option<&IndexOverlay> {
        self.indexes.get(name)
    }

    /// Whether `ordinal` holds its snapshot record (populated, untouched by every delta since).
    pub(crate) fn is_snapshot_record(&self, ordinal: u32) -> bool {
        self.records.slot(ordinal) == Slot::Base
    }

    /// The record a delta brought, at location `loc` (see [`Slot::Changed`]).
    #[inline]
    pub(crate) fn changed_record(&self, loc: u64) -> Option<StructReader<'_>> {
        let (delta, type_index) = self.deltas.get(loc_source(loc))?;
        let change = delta.types().get(*type_index)?;
        change.record(loc_index(loc))
    }

    /// The record of `ordinal`: `base` reads the snapshot's.
    #[inline]
    pub(crate) fn get<'s>(
        &'s self,
        ordinal: u32,
        base: impl FnOnce(u32) -> Option<StructReader<'s>>,
    ) -> Option<StructReader<'s>> {
        match self.records.slot(ordinal) {
            Slot::Empty => None,
            Slot::Base => base(ordinal),
            Slot::Changed(loc) => self.changed_record(loc),
        }
    }

    /// True when the snapshot index's entry for `ordinal` still holds: the ordinal is populated
    /// and its record is the snapshot's, or a record updated in place from it (same key; see
    /// [`REKEYED`]).
    #[inline]
    pub(crate) fn base_key_holds(&self, ordinal: u32) -> bool {
        match self.records.slot(ordinal) {
            Slot::Empty => false,
            Slot::Base => true,
            Slot::Changed(loc) => loc & REKEYED == 0,
        }
    }

    /// Finds a key among the keys added since the snapshot (the snapshot's index is probed
    /// first by the caller, through [`TypeOverlay::base_key_holds`]).
    #[inline]
    pub(crate) fn find_added(
        &self,
        hash: u64,
        encoded: &[u8],
        inline: bool,
        mut confirm: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        if self.added_keys.is_empty() {
            return None;
        }
        let inline_key = crate::schema::inline_key(encoded);
        self.added_keys.candidates(hash).find_map(|(k, o)| {
            let matches = if inline {
                k == inline_key && self.records.contains(o)
            } else {
                confirm(o)
            };
            matches.then_some(o)
        })
    }
}

impl ReadState {
    /// The state this one becomes with `delta` (or a reverse delta) applied. This state is not
    /// changed: readers holding it keep reading it, and both share the snapshot's mapping and
    /// every unchanged record. The delta must start from exactly this state (version and tag).
    pub fn apply_delta(&self, delta: Arc<ReadDelta>) -> Result<ReadState, OpenError> {
        let header = *delta.header();
        if header.from_state() != self.state_id() {
            return Err(OpenError::WrongState {
                blob: delta.blob_name().to_string(),
                expected: header.from_state(),
                actual: Some(self.state_id()),
            });
        }
        // Schemas only grow along a chain: a delta may carry a grown schema (the state adopts
        // it), a reverse delta the older schema of the state it returns to (the state adopts
        // that too, and drops types that did not exist then, which must be empty by now).
        let reverse = header.kind == crate::format::BlobKind::ReverseDelta;
        if reverse {
            let ids: Vec<u64> = delta.types().iter().map(|t| t.type_id).collect();
            crate::schema::check_compatible(delta.schema(), &self.schema, &ids)?;
        } else {
            let ids: Vec<u64> = self.types.iter().map(|t| t.base.type_id).collect();
            crate::schema::check_compatible(&self.schema, delta.schema(), &ids)?;
        }
        let mut types = Vec::with_capacity(self.types.len());
        for st in &self.types {
            let Some(type_index) = delta
                .types()
                .iter()
                .position(|t| t.type_id == st.base.type_id)
            else {
                if reverse && delta.schema().struct_by_id(st.base.type_id).is_none() {
                    if st.record_count > 0 {
                        return Err(OpenError::corrupt(
                            delta.blob_name(),
                            "manifest",
                            format!(
                                "returns to a schema without {} while it holds records",
                                st.base.name
                            ),
                        ));
                    }
                    continue;
                }
                types.push(st.clone());
                continue;
            };
            types.push(apply_type(self, st, &delta, type_index)?);
        }
        // Types that first appear in this delta (a grown schema): an empty base, the delta's
        // records as the overlay.
        for (type_index, change) in delta.types().iter().enumerate() {
            if self.types.iter().any(|t| t.base.type_id == change.type_id)
                || change.upserted.is_empty()
            {
                continue;
            }
            let empty = new_type(&delta, change)?;
            types.push(apply_type(self, &empty, &delta, type_index)?);
        }
        let mut next = ReadState {
            name: self.name.clone(),
            bytes: self.bytes.clone(),
            header: self.header,
            dataset: self.dataset.clone(),
            header_tags: self.header_tags.clone(),
            schema: delta.schema().clone(),
            types,
            base_version: self.base_version,
        };
        next.header.to_version = header.to_version;
        next.header.to_tag = header.to_tag;
        Ok(next)
    }
}

fn apply_type(
    state: &ReadState,
    st: &StateType,
    delta: &Arc<ReadDelta>,
    type_index: usize,
) -> Result<StateType, OpenError> {
    let change = &delta.types()[type_index];
    let corrupt = |reason: String| {
        OpenError::corrupt(
            delta.blob_name(),
            format!("{} changes", change.name),
            reason,
        )
    };
    let view = state.view(st)?;
    let mut overlay = match &st.overlay {
        Some(o) => (**o).clone(),
        None => TypeOverlay {
            records: RecordMap::from_base(st.capacity, |w| view.loaded.populated.word(w)),
            deltas: Vec::new(),
            added_keys: AddedKeys::default(),
            indexes: HashMap::new(),
        },
    };
    // Secondary indexes: those of the delta's schema, each extended by the delta's additions.
    // An index absent from the overlay is complete only on a fresh overlay whose snapshot has
    // it (or holds no records of the type).
    let fresh = st.overlay.is_none();
    let mut indexes = HashMap::new();
    for (position, path) in (0u32..).zip(delta.schema().indexes(change.type_id)?) {
        let name = path.name().to_string();
        let mut index = overlay
            .indexes
            .remove(&name)
            .unwrap_or_else(|| IndexOverlay {
                added: Additions::default(),
                complete: fresh
                    && (st.base.capacity == 0
                        || st.base.indexes.iter().any(|(p, _)| p.name() == name)),
            });
        if let Some((_, pairs)) = change.index_additions.iter().find(|(p, _)| *p == position) {
            index.added.push(pairs);
        }
        indexes.insert(name, index);
    }
    overlay.indexes = indexes;
    for k in change.key_changes.iter().filter(|k| !k.added) {
        overlay.added_keys.remove(k.hash, k.ordinal);
    }
    for k in change.key_changes.iter().filter(|k| k.added) {
        overlay.added_keys.insert(k.hash, k.inline_key, k.ordinal);
    }
    // Records that come from this delta point at the next source.
    let source = overlay.deltas.len();
    if !change.upserted.is_empty() {
        if source >= MAX_OVERLAY_DELTAS {
            return Err(OpenError::TooManyDeltas {
                limit: MAX_OVERLAY_DELTAS,
            });
        }
        overlay.deltas.push((Arc::clone(delta), type_index));
    }
    // Ordinals whose key this delta adds: their records do not have the snapshot's key there.
    let mut rekeyed: Vec<u32> = change
        .key_changes
        .iter()
        .filter(|k| k.added)
        .map(|k| k.ordinal)
        .collect();
    rekeyed.sort_unstable();
    rekeyed.dedup();
    overlay.records = overlay
        .records
        .apply(
            &change.removed,
            &change.upserted,
            &rekeyed,
            u32::try_from(source).unwrap_or(u32::MAX),
            change.capacity,
        )
        .map_err(corrupt)?;
    if overlay.records.count() != u64::from(change.record_count) {
        return Err(corrupt(format!(
            "the result has {} records; the delta promises {}",
            overlay.records.count(),
            change.record_count
        )));
    }
    Ok(StateType {
        base: Arc::clone(&st.base),
        overlay: Some(Arc::new(overlay)),
        capacity: change.capacity,
        record_count: change.record_count,
        checksum: change.checksum,
    })
}

/// A type the state has no snapshot sections for: empty, with nothing to load.
fn new_type(delta: &ReadDelta, change: &super::DeltaType) -> Result<StateType, OpenError> {
    let schema = delta.schema();
    let info = schema
        .struct_by_id(change.type_id)
        .ok_or_else(|| {
            OpenError::corrupt(
                delta.blob_name(),
                "schema",
                format!("type {} is not in the schema", change.name),
            )
        })?
        .clone();
    let key = match &info.primary_key_annotation {
        Some(text) => Some(crate::schema::KeyPath::resolve(schema, &info, text)?),
        None => None,
    };
    let loaded = std::sync::OnceLock::new();
    let _ = loaded.set(Ok(super::LoadedType {
        shards: Vec::new(),
        populated: PopulatedBitmap::empty(0),
        pk_index: None,
        indexes: Vec::new(),
    }));
    let empty_section = crate::format::SectionEntry {
        kind: crate::format::SectionKind::Populated,
        type_index: 0,
        part: 0,
        offset: 0,
        len: 0,
        checksum: 0,
    };
    let base = super::ReadType {
        name: change.name.clone(),
        type_id: change.type_id,
        info,
        key,
        capacity: 0,
        record_count: 0,
        shard_bits: 0,
        checksum: 0,
        shards: Vec::new(),
        populated: empty_section,
        pk_index: None,
        indexes: Vec::new(),
        blob: crate::bytes::BlobBytes::from_vec(Vec::new()),
        blob_name: delta.blob_name().to_string(),
        trusted: true,
        loaded,
    };
    Ok(StateType {
        base: Arc::new(base),
        overlay: None,
        capacity: 0,
        record_count: 0,
        checksum: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additions_find_every_pair_across_runs_and_merge_to_few_runs() {
        let mut additions = Additions::default();
        let mut all: Vec<(u32, u32)> = Vec::new();
        for delta in 0..40u32 {
            let mut pairs: Vec<(u32, u32)> = (0..500u32)
                .map(|i| ((i * 7 + delta) % 97, delta * 1000 + i))
                .collect();
            pairs.sort_unstable();
            additions.push(&pairs);
            all.extend(pairs);
        }
        assert!(additions.runs.len() <= 8, "{} runs", additions.runs.len());
        for tag in 0..100u32 {
            let hash = u64::from(tag) | (0xabcd << 40);
            let mut got: Vec<u32> = additions.ordinals(hash).collect();
            got.sort_unstable();
            let mut want: Vec<u32> = all
                .iter()
                .filter(|(t, _)| *t == tag)
                .map(|(_, o)| *o)
                .collect();
            want.sort_unstable();
            assert_eq!(got, want, "tag {tag}");
        }
        additions.push(&[]);
        assert!(additions.runs.iter().all(|r| !r.is_empty()));
    }

    #[test]
    fn added_keys_keep_colliding_keys_apart_and_remove_by_ordinal() {
        let mut keys = AddedKeys::default();
        keys.insert(7, 70, 1);
        keys.insert(7, 71, 2); // another key, same hash
        keys.insert(8, 80, 3);
        let of = |k: &AddedKeys, h| {
            let mut v: Vec<(u64, u32)> = k.candidates(h).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(of(&keys, 7), [(70, 1), (71, 2)]);
        keys.remove(7, 1);
        assert_eq!(of(&keys, 7), [(71, 2)]);
        assert!(
            keys.collisions.is_empty(),
            "the colliding key moved into the map"
        );
        keys.remove(7, 9); // not there: nothing happens
        assert_eq!(of(&keys, 7), [(71, 2)]);
        keys.remove(7, 2);
        assert!(of(&keys, 7).is_empty());
        assert_eq!(of(&keys, 8), [(80, 3)]);
    }

    #[test]
    fn merged_runs_stay_sorted_and_drop_repeats() {
        assert_eq!(
            merge_runs(&[1, 5, 9], &[1, 3, 10, 11]),
            vec![1, 3, 5, 9, 10, 11]
        );
        assert_eq!(merge_runs(&[], &[2]), vec![2]);
        assert_eq!(merge_runs(&[2], &[]), vec![2]);
    }
}
