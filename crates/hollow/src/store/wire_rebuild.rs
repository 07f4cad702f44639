//! Index sections rebuilt from a snapshot's records instead of shipped (docs/FORMAT.md §19b):
//! the primary-key index (§13) and the secondary indexes (§13a) of a type are a function of its
//! records, its populated bitmap and the schema, computed here exactly as the snapshot writer
//! computes them. The encoder rebuilds every index section of a blob and leaves out only those
//! it reproduces byte for byte; the decoder rebuilds them and checks each against its section
//! checksum, then the whole blob against the envelope's.
//!
//! The decoder runs this on untrusted bytes: the manifest and schema are verified by their
//! checksums first (they come from the same stream, so that only vouches for the transfer),
//! every record is read through bounds-checked readers, and the work is bounded by the section
//! being rebuilt (an index of `len` bytes holds at most `len` keys).

use xxhash_rust::xxh3::xxh3_64;

use crate::bytes::BlobBytes;
use crate::capnp_raw::{SegmentArena, ShardList};
use crate::format::{
    BlobKind, IndexEntry, PopulatedBitmap, SectionEntry, SectionKind, build_hash_index,
    build_pk_index, decode_ordinals, hash_tag,
};
use crate::read::open::{ManifestType, ParsedBlob, parse_blob};
use crate::schema::{KeyBytes, KeyPath};

/// The most key combinations the decoder computes for a selection over `count` candidates in a
/// blob of `blob_len` bytes: the candidates, plus duplicates (a list repeating a value) up to
/// 8 per byte of the blob (a `List(Bool)` element takes a bit).
pub(crate) fn candidate_bound(count: u64, blob_len: u64) -> u64 {
    count.saturating_add(blob_len.saturating_mul(8))
}

/// The selection bitmap of `additions` (a delta's index additions section: sorted distinct
/// 8-byte `(tag, ordinal)` entries) over `candidates`: bit `i` (of byte `i / 8`, low bit first)
/// set when candidate `i` is an addition. `None` when an addition is not a candidate or the
/// section is not such entries.
pub(crate) fn select(candidates: &[(u32, u32)], additions: &[u8]) -> Option<Vec<u8>> {
    let additions = crate::format::decode_additions(additions)?;
    let mut bits = vec![0u8; candidates.len().div_ceil(8)];
    let mut at = 0;
    for a in additions {
        while candidates.get(at).is_some_and(|c| *c < a) {
            at += 1;
        }
        if candidates.get(at) != Some(&a) {
            return None;
        }
        bits[at / 8] |= 1 << (at % 8);
        at += 1;
    }
    Some(bits)
}

/// The index additions section the selection `bits` picks from `candidates` ([`select`]).
pub(crate) fn selected(candidates: &[(u32, u32)], bits: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (tag, ordinal)) in candidates.iter().enumerate() {
        if bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0) {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&ordinal.to_le_bytes());
        }
    }
    out
}

/// Why an index section could not be rebuilt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// The blob around the section is not a readable snapshot (manifest, schema, records).
    #[error("the blob cannot be read: {reason}")]
    Blob {
        /// What is wrong.
        reason: String,
    },
    /// The section is not an index this encoding rebuilds.
    #[error("section {section} is not a rebuildable index of a snapshot")]
    NotAnIndex {
        /// Position of the section in the table.
        section: usize,
    },
    /// The records give more keys than a section of its length can hold.
    #[error("the records give more than {limit} keys for a {limit}-byte index section")]
    TooManyKeys {
        /// The section's length.
        limit: u64,
    },
    /// The rebuilt section is not the one the table describes.
    #[error("the rebuilt section {section} does not match its length or checksum")]
    Mismatch {
        /// Position of the section in the table.
        section: usize,
    },
}

fn blob_error(e: impl std::fmt::Display) -> RebuildError {
    RebuildError::Blob {
        reason: e.to_string(),
    }
}

/// Whether a table entry is a delta's index additions: a subset of the keys of the records the
/// delta upserts, so it travels as a selection bitmap over them.
pub(crate) fn selectable(kind: BlobKind, entry: &SectionEntry) -> bool {
    matches!(kind, BlobKind::Delta | BlobKind::ReverseDelta)
        && entry.kind == SectionKind::IndexAdditions
}

/// Whether a table entry is an index section a snapshot's records determine.
pub(crate) fn rebuildable(kind: BlobKind, entry: &SectionEntry) -> bool {
    kind == BlobKind::Snapshot
        && matches!(
            entry.kind,
            SectionKind::PrimaryKeyIndex | SectionKind::SecondaryIndex
        )
}

/// A snapshot opened for rebuilding its index sections.
pub(crate) struct Rebuilder {
    bytes: BlobBytes,
    parsed: ParsedBlob,
}

impl Rebuilder {
    /// Parses `blob` (every section but the ones to rebuild in place; those may hold anything).
    pub(crate) fn new(bytes: BlobBytes) -> Result<Self, RebuildError> {
        let parsed = parse_blob(bytes.as_slice(), "<wire>").map_err(blob_error)?;
        Ok(Self { bytes, parsed })
    }

    /// The blob's table of sections.
    pub(crate) fn sections(&self) -> &[SectionEntry] {
        &self.parsed.layout.sections
    }

    /// The blob's kind.
    pub(crate) fn kind(&self) -> BlobKind {
        self.parsed.layout.header.kind
    }

    /// The bytes of section `index` (an index section), computed from the records.
    pub(crate) fn rebuild(&self, index: usize) -> Result<Vec<u8>, RebuildError> {
        let not_index = || RebuildError::NotAnIndex { section: index };
        let entry = *self.sections().get(index).ok_or_else(not_index)?;
        if !rebuildable(self.kind(), &entry) {
            return Err(not_index());
        }
        let ty = self
            .parsed
            .types
            .get(entry.type_index as usize)
            .ok_or_else(not_index)?;
        let records = self.records(ty)?;
        match entry.kind {
            SectionKind::PrimaryKeyIndex => {
                let key = ty.key.as_ref().ok_or_else(not_index)?;
                pk_index(&records, key, entry.len)
            }
            _ => {
                let paths = self.parsed.schema.indexes(ty.info.id).map_err(blob_error)?;
                let path = paths.get(entry.part as usize).ok_or_else(not_index)?;
                let limit = entry.len;
                let max = usize::try_from(limit).unwrap_or(usize::MAX);
                let mut pairs = Vec::new();
                let mut keys = Vec::new();
                records.each(|o, record| {
                    let fits = path
                        .record_keys_within(record, &mut keys, max.saturating_sub(pairs.len()))
                        .map_err(blob_error)?;
                    if !fits {
                        return Err(RebuildError::TooManyKeys { limit });
                    }
                    pairs.extend(keys.iter().map(|k| (xxh3_64(k), o)));
                    Ok(())
                })?;
                build_hash_index(pairs).ok_or(RebuildError::TooManyKeys { limit })
            }
        }
    }

    /// The candidates of a delta's index additions section `index`: every `(tag, ordinal)` of
    /// the keys (under the section's index) of the records the delta upserts, sorted and
    /// distinct; stops beyond `max` key combinations (before duplicates are removed).
    pub(crate) fn addition_candidates(
        &self,
        index: usize,
        max: u64,
    ) -> Result<Vec<(u32, u32)>, RebuildError> {
        let name = "<wire>";
        let not_index = || RebuildError::NotAnIndex { section: index };
        let entry = *self.sections().get(index).ok_or_else(not_index)?;
        if !selectable(self.kind(), &entry) {
            return Err(not_index());
        }
        let ty = self
            .parsed
            .types
            .get(entry.type_index as usize)
            .ok_or_else(not_index)?;
        let paths = self.parsed.schema.indexes(ty.info.id).map_err(blob_error)?;
        let path = paths.get(entry.part as usize).ok_or_else(not_index)?;
        let upserted = ty
            .single(name, SectionKind::DeltaUpserted)
            .map_err(blob_error)?
            .ok_or_else(|| blob_error(format!("{} has additions but no upserts", ty.name)))?;
        let upserted = decode_ordinals(
            self.section(ty, &upserted)?.as_slice(),
            "upserted ordinals",
            name,
            "upserted",
        )
        .map_err(blob_error)?;
        let bits = ty.shard_bits.min(31);
        let per_part = 1usize << bits;
        let mut parts = Vec::new();
        for s in ty.records_parts(name).map_err(blob_error)? {
            let arena = SegmentArena::new(self.section(ty, &s)?)
                .ok_or_else(|| blob_error("a records part is not whole words"))?;
            parts.push(ShardList::new(arena).map_err(blob_error)?);
        }
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let mut candidates = Vec::new();
        let mut keys = Vec::new();
        for (i, &o) in upserted.iter().enumerate() {
            let record = parts
                .get(i / per_part)
                .and_then(|p| p.get(u32::try_from(i % per_part).ok()?))
                .ok_or_else(|| blob_error(format!("upsert {i} has no record")))?;
            let fits = path
                .record_keys_within(record, &mut keys, max.saturating_sub(candidates.len()))
                .map_err(blob_error)?;
            if !fits {
                return Err(RebuildError::TooManyKeys { limit: max as u64 });
            }
            candidates.extend(keys.iter().map(|k| (hash_tag(xxh3_64(k)), o)));
        }
        candidates.sort_unstable();
        candidates.dedup();
        Ok(candidates)
    }

    fn section(&self, ty: &ManifestType, s: &SectionEntry) -> Result<BlobBytes, RebuildError> {
        s.verify(self.bytes.as_slice(), "<wire>", Some(&ty.name))
            .map_err(blob_error)?;
        self.bytes
            .slice(s.range())
            .ok_or_else(|| blob_error("a section lies outside the blob"))
    }

    /// The records of `ty`: its shards and populated bitmap, as the reader checks them.
    fn records(&self, ty: &ManifestType) -> Result<TypeRecords, RebuildError> {
        let name = "<wire>";
        let per_shard = 1u64 << ty.shard_bits.min(31);
        if u64::from(ty.record_parts) != u64::from(ty.capacity).div_ceil(per_shard) {
            return Err(blob_error(format!(
                "{} shards cannot hold {} ordinals of {}",
                ty.record_parts, ty.capacity, ty.name
            )));
        }
        let section = |s: &SectionEntry| {
            s.verify(self.bytes.as_slice(), name, Some(&ty.name))
                .map_err(blob_error)?;
            self.bytes
                .slice(s.range())
                .ok_or_else(|| blob_error("a section lies outside the blob"))
        };
        let mut shards = Vec::new();
        for (i, s) in ty
            .records_parts(name)
            .map_err(blob_error)?
            .iter()
            .enumerate()
        {
            let arena = SegmentArena::new(section(s)?)
                .ok_or_else(|| blob_error("a records shard is not whole words"))?;
            let list = ShardList::new(arena).map_err(blob_error)?;
            let expected = (u64::from(ty.capacity) - i as u64 * per_shard).min(per_shard);
            if u64::from(list.len()) != expected {
                return Err(blob_error(format!(
                    "shard {i} of {} holds {} records, expected {expected}",
                    ty.name,
                    list.len()
                )));
            }
            shards.push(list);
        }
        let populated = ty
            .single(name, SectionKind::Populated)
            .map_err(blob_error)?
            .ok_or_else(|| blob_error(format!("{} has no populated bitmap", ty.name)))?;
        let populated = PopulatedBitmap::from_bytes(
            section(&populated)?.as_slice(),
            ty.capacity,
            name,
            "populated",
        )
        .map_err(blob_error)?;
        Ok(TypeRecords {
            shards,
            populated,
            shard_bits: ty.shard_bits.min(31),
        })
    }
}

/// The verified shards and bitmap of one type.
struct TypeRecords {
    shards: Vec<ShardList>,
    populated: PopulatedBitmap,
    shard_bits: u8,
}

impl TypeRecords {
    /// Calls `f` with every populated ordinal, ascending, and its record.
    fn each(
        &self,
        mut f: impl FnMut(u32, capnp::private::layout::StructReader<'_>) -> Result<(), RebuildError>,
    ) -> Result<(), RebuildError> {
        let mask = (1u32 << self.shard_bits) - 1;
        for w in 0..self.populated.word_count() {
            let mut bits = self.populated.word(w);
            while bits != 0 {
                let o = u32::try_from(w * 64).unwrap_or(u32::MAX) + bits.trailing_zeros();
                bits &= bits - 1;
                let record = self
                    .shards
                    .get((o >> self.shard_bits) as usize)
                    .and_then(|s| s.get(o & mask))
                    .ok_or_else(|| blob_error(format!("ordinal {o} has no slot")))?;
                f(o, record)?;
            }
        }
        Ok(())
    }
}

/// The primary-key index of `records` under `key`, refused beyond what `limit` bytes can hold.
fn pk_index(records: &TypeRecords, key: &KeyPath, limit: u64) -> Result<Vec<u8>, RebuildError> {
    // A table of S slots holds at most S − 1 entries and takes at least 8·S bytes.
    let max = usize::try_from(limit / 8).unwrap_or(usize::MAX);
    let mut entries = Vec::new();
    let mut bytes = KeyBytes::new();
    records.each(|o, record| {
        if entries.len() >= max {
            return Err(RebuildError::TooManyKeys { limit });
        }
        key.encode_record(record, &mut bytes).map_err(blob_error)?;
        entries.push(IndexEntry {
            hash: xxh3_64(&bytes),
            inline_key: crate::schema::inline_key(&bytes),
            ordinal: o,
        });
        Ok(())
    })?;
    Ok(build_pk_index(&entries, key.inline_width().is_some()))
}
