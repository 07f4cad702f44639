//! Opening a snapshot: layout, manifest and schema verification, and per-type loading.

use std::sync::OnceLock;

use super::{LoadedType, ReadState, ReadType, StateType};
use crate::bytes::BlobBytes;
use crate::capnp_raw::{SegmentArena, ShardList};
use crate::error::{OpenError, Result};
use crate::format::{
    BlobKind, BlobLayout, HashIndex, Manifest, NO_TYPE, PopulatedBitmap, PrimaryKeyIndex,
    SectionEntry, SectionKind,
};
use crate::schema::{IndexPath, KeyPath, Schema, StructInfo};

fn single(layout: &BlobLayout, kind: SectionKind, name: &str) -> Result<SectionEntry, OpenError> {
    let mut found = layout
        .sections
        .iter()
        .filter(|s| s.kind == kind && s.type_index == NO_TYPE);
    match (found.next(), found.next()) {
        (Some(s), None) => Ok(*s),
        (None, _) => Err(OpenError::corrupt(name, kind.name(), "section is missing")),
        (Some(_), Some(_)) => Err(OpenError::corrupt(
            name,
            kind.name(),
            "section appears twice",
        )),
    }
}

/// What every blob kind shares: header and table, manifest, schema, and per type its manifest
/// entry and its sections.
pub(crate) struct ParsedBlob {
    pub(crate) layout: BlobLayout,
    pub(crate) dataset: String,
    pub(crate) header_tags: Vec<(String, String)>,
    pub(crate) schema: Schema,
    pub(crate) types: Vec<ManifestType>,
}

/// One type's manifest entry, resolved against the blob's schema, and its sections.
pub(crate) struct ManifestType {
    pub(crate) name: String,
    pub(crate) info: StructInfo,
    pub(crate) key: Option<KeyPath>,
    pub(crate) capacity: u32,
    pub(crate) record_count: u32,
    pub(crate) shard_bits: u8,
    pub(crate) record_parts: u32,
    pub(crate) checksum: u64,
    pub(crate) sections: Vec<SectionEntry>,
}

impl ManifestType {
    /// The records parts (shards) of the type, in part order, exactly `record_parts` of them.
    pub(crate) fn records_parts(&self, blob: &str) -> Result<Vec<SectionEntry>, OpenError> {
        let mut parts: Vec<Option<SectionEntry>> = vec![None; self.record_parts as usize];
        for s in self
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::Records)
        {
            match parts.get_mut(s.part as usize) {
                Some(slot @ None) => *slot = Some(*s),
                _ => {
                    return Err(self.corrupt(
                        blob,
                        format!("unexpected or repeated records part {}", s.part),
                    ));
                }
            }
        }
        parts
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.ok_or_else(|| self.corrupt(blob, format!("records part {i} is missing")))
            })
            .collect()
    }

    /// The one section of `kind`, if present (an error if repeated).
    pub(crate) fn single(
        &self,
        blob: &str,
        kind: SectionKind,
    ) -> Result<Option<SectionEntry>, OpenError> {
        let mut found = self.sections.iter().filter(|s| s.kind == kind);
        match (found.next(), found.next()) {
            (first, None) => Ok(first.copied()),
            _ => Err(self.corrupt(blob, format!("repeated {} section", kind.name()))),
        }
    }

    pub(crate) fn corrupt(&self, blob: &str, reason: String) -> OpenError {
        OpenError::corrupt(blob, format!("manifest entry of {}", self.name), reason)
    }
}

/// Parses and verifies what every blob has: header, table, manifest and schema.
pub(crate) fn parse_blob(blob: &[u8], name: &str) -> Result<ParsedBlob, OpenError> {
    let layout = BlobLayout::parse(blob, name)?;
    let manifest_entry = single(&layout, SectionKind::Manifest, name)?;
    let schema_entry = single(&layout, SectionKind::Schema, name)?;
    manifest_entry.verify(blob, name, None)?;
    schema_entry.verify(blob, name, None)?;

    let schema = Schema::from_segment(&blob[schema_entry.range()])
        .map_err(|e| OpenError::corrupt(name, "schema", e.to_string()))?;
    if schema.fingerprint() != layout.header.schema_fingerprint {
        return Err(OpenError::corrupt(
            name,
            "schema",
            "schema does not match the header's fingerprint",
        ));
    }

    let manifest = Manifest::from_bytes(&blob[manifest_entry.range()], name)?;
    let type_count = manifest.types.len();
    let stray = layout
        .sections
        .iter()
        .find(|s| s.type_index != NO_TYPE && s.type_index as usize >= type_count);
    if let Some(s) = stray {
        let reason = format!(
            "a {} section names type {} of {type_count}",
            s.kind.name(),
            s.type_index,
        );
        return Err(OpenError::corrupt(name, "section table", reason));
    }
    let mut types: Vec<ManifestType> = Vec::with_capacity(type_count);
    for (ti, t) in (0u32..).zip(manifest.types) {
        let type_name = t.name;
        let corrupt = |reason: String| {
            OpenError::corrupt(name, format!("manifest entry of {type_name}"), reason)
        };
        let info = schema
            .struct_by_id(t.type_id)
            .ok_or_else(|| corrupt(format!("type id {:#x} is not in the schema", t.type_id)))?
            .clone();
        if info.name != type_name {
            return Err(corrupt(format!(
                "schema calls type {:#x} {}",
                info.id, info.name
            )));
        }
        if types
            .iter()
            .any(|t| t.info.id == info.id || t.name == type_name)
        {
            return Err(corrupt("the type appears twice".into()));
        }
        let key_paths = t.primary_key;
        let key = if key_paths.is_empty() {
            None
        } else {
            Some(
                KeyPath::resolve(&schema, &info, &key_paths.join(","))
                    .map_err(|e| corrupt(e.to_string()))?,
            )
        };
        let shard_bits = t.shard_bits;
        let record_parts = t.shard_count;
        // Every part needs its own section: bound the count by the table before allocating.
        if record_parts as usize > layout.sections.len() {
            return Err(corrupt(format!(
                "{record_parts} record parts but only {} sections",
                layout.sections.len()
            )));
        }
        let sections = layout
            .sections
            .iter()
            .filter(|s| s.type_index == ti)
            .copied()
            .collect();
        types.push(ManifestType {
            name: type_name,
            info,
            key,
            capacity: t.ordinal_capacity,
            record_count: t.record_count,
            shard_bits,
            record_parts,
            checksum: t.state_checksum,
            sections,
        });
    }
    Ok(ParsedBlob {
        layout,
        dataset: manifest.dataset,
        header_tags: manifest.header_tags,
        schema,
        types,
    })
}

pub(super) fn open(bytes: BlobBytes, name: &str, trusted: bool) -> Result<ReadState, OpenError> {
    let blob = bytes.as_slice();
    let parsed = parse_blob(blob, name)?;
    if parsed.layout.header.kind != BlobKind::Snapshot {
        return Err(OpenError::corrupt(
            name,
            "header",
            format!(
                "expected a snapshot, found a {}",
                parsed.layout.header.kind.name()
            ),
        ));
    }
    let mut types = Vec::with_capacity(parsed.types.len());
    for t in parsed.types {
        if u64::from(t.record_parts) != u64::from(t.capacity).div_ceil(1 << t.shard_bits) {
            return Err(t.corrupt(
                name,
                format!(
                    "{} shards cannot hold {} ordinals",
                    t.record_parts, t.capacity
                ),
            ));
        }
        let shards = t.records_parts(name)?;
        let populated = t
            .single(name, SectionKind::Populated)?
            .ok_or_else(|| t.corrupt(name, "populated bitmap is missing".into()))?;
        let pk_index = t.single(name, SectionKind::PrimaryKeyIndex)?;
        if t.key.is_some() != pk_index.is_some() {
            return Err(t.corrupt(name, "primary-key index and primary key disagree".into()));
        }
        let indexes = index_sections(&parsed.schema, &t, name)?;
        types.push(ReadType {
            name: t.name,
            type_id: t.info.id,
            info: t.info,
            key: t.key,
            capacity: t.capacity,
            record_count: t.record_count,
            shard_bits: t.shard_bits,
            checksum: t.checksum,
            shards,
            populated,
            pk_index,
            indexes,
            blob: bytes.clone(),
            blob_name: name.to_string(),
            trusted,
            loaded: OnceLock::new(),
        });
    }
    tracing::debug!(
        blob = name,
        types = types.len(),
        bytes = blob.len(),
        "opened snapshot"
    );
    Ok(ReadState {
        name: name.to_string(),
        base_version: parsed.layout.header.to_version,
        header: parsed.layout.header,
        bytes,
        dataset: parsed.dataset,
        header_tags: parsed.header_tags,
        schema: parsed.schema,
        types: types
            .into_iter()
            .map(|t| StateType {
                capacity: t.capacity,
                record_count: t.record_count,
                checksum: t.checksum,
                base: std::sync::Arc::new(t),
                overlay: None,
            })
            .collect(),
    })
}

/// Verifies and wraps the sections of one type. Errors are `(section, reason)`.
pub(super) fn load_type(
    bytes: &BlobBytes,
    name: &str,
    ty: &ReadType,
) -> Result<LoadedType, (String, String)> {
    let blob = bytes.as_slice();
    let fail = |s: &SectionEntry, reason: String| (s.describe(Some(&ty.name)), reason);
    let section = |s: &SectionEntry| -> Result<BlobBytes, (String, String)> {
        // Every section is verified before its first use, also in a blob a consumer's cache
        // verified before: a byte changed since (a disk error, another program) must be an
        // error, never a wrong answer.
        s.verify(blob, name, Some(&ty.name)).map_err(|e| match e {
            OpenError::Corrupt {
                section, reason, ..
            } => (section, reason),
            other => (s.describe(Some(&ty.name)), other.to_string()),
        })?;
        bytes
            .slice(s.range())
            .ok_or_else(|| fail(s, "out of bounds".into()))
    };
    let per_shard = 1u64 << ty.shard_bits;
    let mut shards = Vec::with_capacity(ty.shards.len());
    for (i, s) in ty.shards.iter().enumerate() {
        let arena = SegmentArena::new(section(s)?)
            .ok_or_else(|| fail(s, "segment is not whole words".into()))?;
        let list = ShardList::new(arena).map_err(|e| fail(s, format!("not a struct list: {e}")))?;
        let expected = (u64::from(ty.capacity) - i as u64 * per_shard).min(per_shard);
        if u64::from(list.len()) != expected {
            return Err(fail(
                s,
                format!("holds {} records, expected {expected}", list.len()),
            ));
        }
        shards.push(list);
    }
    let populated = PopulatedBitmap::from_bytes(
        section(&ty.populated)?.as_slice(),
        ty.capacity,
        name,
        &ty.populated.describe(Some(&ty.name)),
    )
    .map_err(|e| match e {
        OpenError::Corrupt {
            section, reason, ..
        } => (section, reason),
        other => (ty.populated.describe(Some(&ty.name)), other.to_string()),
    })?;
    if populated.count() != u64::from(ty.record_count) {
        return Err(fail(
            &ty.populated,
            format!(
                "{} ordinals populated, manifest says {}",
                populated.count(),
                ty.record_count
            ),
        ));
    }
    let pk_index = match &ty.pk_index {
        None => None,
        Some(s) => {
            let index = PrimaryKeyIndex::new(section(s)?)
                .ok_or_else(|| fail(s, "malformed table".into()))?;
            let inline = ty.key.as_ref().and_then(KeyPath::inline_width).is_some();
            if index.is_inline() != inline {
                return Err(fail(s, "slot layout does not fit the key's type".into()));
            }
            Some(index)
        }
    };
    let mut indexes = Vec::with_capacity(ty.indexes.len());
    for (_, s) in &ty.indexes {
        indexes.push(HashIndex::new(section(s)?).ok_or_else(|| fail(s, "malformed table".into()))?);
    }
    Ok(LoadedType {
        shards,
        populated,
        pk_index,
        indexes,
    })
}

/// The secondary index sections of a snapshot's type: exactly one per index its schema
/// declares, in declaration order.
fn index_sections(
    schema: &Schema,
    t: &ManifestType,
    name: &str,
) -> Result<Vec<(IndexPath, SectionEntry)>, OpenError> {
    let paths = schema.indexes(t.info.id)?;
    let mut sections: Vec<Option<SectionEntry>> = vec![None; paths.len()];
    for s in t
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::SecondaryIndex)
    {
        match sections.get_mut(s.part as usize) {
            Some(slot @ None) => *slot = Some(*s),
            _ => {
                return Err(t.corrupt(
                    name,
                    format!("unexpected or repeated secondary index {}", s.part),
                ));
            }
        }
    }
    paths
        .into_iter()
        .zip(sections)
        .map(|(p, s)| {
            let s = s.ok_or_else(|| {
                t.corrupt(
                    name,
                    format!("the section of index {} is missing", p.name()),
                )
            })?;
            Ok((p, s))
        })
        .collect()
}
