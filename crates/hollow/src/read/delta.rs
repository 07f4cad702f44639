//! Reading delta and reverse-delta blobs: the changes of each type, verified, with the records
//! they carry read in place.

use capnp::private::layout::StructReader;

use super::open::{ManifestType, parse_blob};
use crate::bytes::BlobBytes;
use crate::capnp_raw::{SegmentArena, ShardList};
use crate::error::{OpenError, Result};
use crate::format::{
    BlobHeader, BlobKind, KeyChange, SectionEntry, SectionKind, decode_key_changes, decode_ordinals,
};
use crate::schema::Schema;

/// A delta or reverse-delta blob, verified and parsed.
pub struct ReadDelta {
    name: String,
    header: BlobHeader,
    dataset: String,
    schema: Schema,
    types: Vec<DeltaType>,
    _bytes: BlobBytes,
}

/// The changes one delta makes to one type.
pub struct DeltaType {
    /// Type name.
    pub name: String,
    /// Cap'n Proto type id.
    pub type_id: u64,
    /// Ordinal capacity after the delta.
    pub capacity: u32,
    /// Record count after the delta.
    pub record_count: u32,
    /// State checksum after the delta.
    pub checksum: u64,
    /// Ordinals the delta empties (ascending).
    pub removed: Vec<u32>,
    /// Ordinals the delta fills or replaces (ascending), in record order.
    pub upserted: Vec<u32>,
    /// Primary-key index changes.
    pub key_changes: Vec<KeyChange>,
    /// Secondary index additions: `(index number, (key tag, ordinal) pairs)`, the pairs the
    /// delta's target state has and its source state does not.
    pub(crate) index_additions: Vec<(u32, Vec<(u32, u32)>)>,
    parts: Vec<ShardList>,
    shard_bits: u8,
}

impl ReadDelta {
    /// Parses and verifies a delta or reverse-delta blob (every section; deltas are small).
    pub fn from_bytes(bytes: BlobBytes, name: &str) -> Result<Self, OpenError> {
        let blob = bytes.as_slice();
        let parsed = parse_blob(blob, name)?;
        let header = parsed.layout.header;
        if header.kind == BlobKind::Snapshot {
            return Err(OpenError::corrupt(
                name,
                "header",
                "expected a delta, found a snapshot",
            ));
        }
        for s in &parsed.layout.sections {
            s.verify(blob, name, None)?;
        }
        let mut types = Vec::with_capacity(parsed.types.len());
        for t in parsed.types {
            types.push(delta_type(&bytes, name, t)?);
        }
        Ok(Self {
            name: name.to_string(),
            header,
            dataset: parsed.dataset,
            schema: parsed.schema,
            types,
            _bytes: bytes,
        })
    }

    /// Opens (memory-maps) the delta blob at `path`.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, OpenError> {
        let path = path.as_ref();
        Self::from_bytes(BlobBytes::map_file(path)?, &path.display().to_string())
    }

    /// The blob's name.
    pub fn blob_name(&self) -> &str {
        &self.name
    }

    /// The header: kind, from and to versions and tags.
    pub fn header(&self) -> &BlobHeader {
        &self.header
    }

    /// The dataset name.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// The schema of the state the delta produces.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Per-type changes, in manifest order (every type of the target state, changed or not).
    pub fn types(&self) -> &[DeltaType] {
        &self.types
    }
}

impl DeltaType {
    /// The record the delta puts at `upserted[i]`.
    pub(crate) fn record(&self, i: usize) -> Option<StructReader<'_>> {
        let part = self.parts.get(i >> self.shard_bits)?;
        part.get(u32::try_from(i & ((1usize << self.shard_bits) - 1)).ok()?)
    }

    /// `(ordinal, record)` for every record the delta adds or replaces.
    pub(crate) fn upserts(
        &self,
    ) -> impl Iterator<Item = Result<(u32, StructReader<'_>), OpenError>> + '_ {
        self.upserted.iter().enumerate().map(move |(i, o)| {
            self.record(i).map(|r| (*o, r)).ok_or_else(|| {
                OpenError::corrupt(
                    "<delta>",
                    format!("{} records", self.name),
                    format!("record {i} is missing"),
                )
            })
        })
    }
}

fn delta_type(bytes: &BlobBytes, blob: &str, t: ManifestType) -> Result<DeltaType, OpenError> {
    let section_bytes = |s: &SectionEntry| {
        bytes
            .slice(s.range())
            .ok_or_else(|| t.corrupt(blob, "section out of bounds".into()))
    };
    let removed = match t.single(blob, SectionKind::DeltaRemoved)? {
        Some(s) => decode_ordinals(
            section_bytes(&s)?.as_slice(),
            "removed ordinals",
            blob,
            &s.describe(Some(&t.name)),
        )?,
        None => Vec::new(),
    };
    let upserted = match t.single(blob, SectionKind::DeltaUpserted)? {
        Some(s) => decode_ordinals(
            section_bytes(&s)?.as_slice(),
            "upserted ordinals",
            blob,
            &s.describe(Some(&t.name)),
        )?,
        None => Vec::new(),
    };
    let per_part = 1usize << t.shard_bits;
    if u64::from(t.record_parts) != (upserted.len() as u64).div_ceil(per_part as u64) {
        return Err(t.corrupt(
            blob,
            format!(
                "{} record parts for {} records",
                t.record_parts,
                upserted.len()
            ),
        ));
    }
    let mut parts = Vec::new();
    for (i, s) in t.records_parts(blob)?.iter().enumerate() {
        let arena = SegmentArena::new(section_bytes(s)?)
            .ok_or_else(|| t.corrupt(blob, "records part is not whole words".into()))?;
        let list =
            ShardList::new(arena).map_err(|e| t.corrupt(blob, format!("records part {i}: {e}")))?;
        let expected = (upserted.len() - i * per_part).min(per_part);
        if list.len() as usize != expected {
            return Err(t.corrupt(
                blob,
                format!(
                    "records part {i} holds {} records, expected {expected}",
                    list.len()
                ),
            ));
        }
        parts.push(list);
    }
    let key_changes = match t.single(blob, SectionKind::KeyChanges)? {
        Some(s) => decode_key_changes(
            section_bytes(&s)?.as_slice(),
            blob,
            &s.describe(Some(&t.name)),
        )?,
        None => Vec::new(),
    };
    let mut index_additions = Vec::new();
    for s in t
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::IndexAdditions)
    {
        if index_additions.iter().any(|(p, _)| *p == s.part) {
            return Err(t.corrupt(blob, format!("repeated index additions {}", s.part)));
        }
        let pairs = crate::format::decode_additions(section_bytes(s)?.as_slice())
            .ok_or_else(|| t.corrupt(blob, format!("index additions {} are malformed", s.part)))?;
        index_additions.push((s.part, pairs));
    }
    Ok(DeltaType {
        index_additions,
        name: t.name,
        type_id: t.info.id,
        capacity: t.capacity,
        record_count: t.record_count,
        checksum: t.checksum,
        removed,
        upserted,
        key_changes,
        parts,
        shard_bits: t.shard_bits,
    })
}
