//! Reading delta and reverse-delta blobs: the changes of each type, verified, with the records
//! they carry read in place.

use capnp::private::layout::StructReader;

use super::open::{ManifestType, parse_blob};
use crate::bytes::BlobBytes;
use crate::capnp_raw::{SegmentArena, ShardList};
use crate::error::{Error, Result};
use crate::format::{BlobHeader, BlobKind, SectionEntry, SectionKind};
use crate::schema::Schema;
use crate::write::KeyChange;

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

fn u32_list(
    bytes: &[u8],
    what: &str,
    section: &SectionEntry,
    blob: &str,
    type_name: &str,
) -> Result<Vec<u32>> {
    let fail = |reason: String| Error::corrupt(blob, section.describe(Some(type_name)), reason);
    // A count, the values, then zero padding to a multiple of 8 bytes.
    let count = bytes
        .get(..4)
        .map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])) as usize;
    let end = count
        .checked_mul(4)
        .and_then(|n| n.checked_add(4))
        .filter(|end| *end <= bytes.len());
    let Some(end) = end else {
        return Err(fail(format!(
            "{count} {what} do not fit {} bytes",
            bytes.len()
        )));
    };
    if bytes.len() - end >= 8 || bytes[end..].iter().any(|b| *b != 0) {
        return Err(fail(format!("bytes after the {what}")));
    }
    let values: Vec<u32> = bytes[4..end]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if values.windows(2).any(|w| w[0] >= w[1]) {
        return Err(fail(format!("{what} are not strictly ascending")));
    }
    Ok(values)
}

impl ReadDelta {
    /// Parses and verifies a delta or reverse-delta blob (every section; deltas are small).
    pub fn from_bytes(bytes: BlobBytes, name: &str) -> Result<Self> {
        let blob = bytes.as_slice();
        let parsed = parse_blob(blob, name)?;
        let header = parsed.layout.header;
        if header.kind == BlobKind::Snapshot {
            return Err(Error::corrupt(
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
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
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
    pub(crate) fn upserts(&self) -> impl Iterator<Item = Result<(u32, StructReader<'_>)>> + '_ {
        self.upserted.iter().enumerate().map(move |(i, o)| {
            self.record(i).map(|r| (*o, r)).ok_or_else(|| {
                Error::corrupt(
                    "<delta>",
                    format!("{} records", self.name),
                    format!("record {i} is missing"),
                )
            })
        })
    }
}

fn delta_type(bytes: &BlobBytes, blob: &str, t: ManifestType) -> Result<DeltaType> {
    let section_bytes = |s: &SectionEntry| {
        bytes
            .slice(s.range())
            .ok_or_else(|| t.corrupt(blob, "section out of bounds".into()))
    };
    let removed = match t.single(blob, SectionKind::DeltaRemoved)? {
        Some(s) => u32_list(
            section_bytes(&s)?.as_slice(),
            "removed ordinals",
            &s,
            blob,
            &t.name,
        )?,
        None => Vec::new(),
    };
    let upserted = match t.single(blob, SectionKind::DeltaUpserted)? {
        Some(s) => u32_list(
            section_bytes(&s)?.as_slice(),
            "upserted ordinals",
            &s,
            blob,
            &t.name,
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
    let mut key_changes = Vec::new();
    if let Some(s) = t.single(blob, SectionKind::KeyChanges)? {
        let b = section_bytes(&s)?;
        let b = b.as_slice();
        if b.len() % 24 != 0 {
            return Err(t.corrupt(blob, "key changes are not 24-byte entries".into()));
        }
        for e in b.chunks_exact(24) {
            let u64_at = |at: usize| u64::from_le_bytes(e[at..at + 8].try_into().unwrap_or([0; 8]));
            let u32_at = |at: usize| u32::from_le_bytes(e[at..at + 4].try_into().unwrap_or([0; 4]));
            let op = u32_at(20);
            if op > 1 {
                return Err(t.corrupt(blob, format!("key change operation {op}")));
            }
            key_changes.push(KeyChange {
                added: op == 1,
                hash: u64_at(0),
                inline_key: u64_at(8),
                ordinal: u32_at(16),
            });
        }
    }
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
