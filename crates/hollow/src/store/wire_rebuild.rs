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
    build_pk_index,
};
use crate::read::open::{ManifestType, ParsedBlob, parse_blob};
use crate::schema::{KeyBytes, KeyPath};

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
