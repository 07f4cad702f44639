//! Opening a snapshot: layout, manifest and schema verification, and per-type loading.

use std::sync::OnceLock;

use super::{LoadedType, ReadState, ReadType};
use crate::bytes::BlobBytes;
use crate::capnp_raw::{SegmentArena, ShardList};
use crate::error::{Error, Result};
use crate::format::{
    BlobKind, BlobLayout, NO_TYPE, PopulatedBitmap, PrimaryKeyIndex, SectionEntry, SectionKind,
    bitmap_words,
};
use crate::generated::hollow_format_capnp::blob_manifest;
use crate::schema::{KeyPath, Schema};

fn single(layout: &BlobLayout, kind: SectionKind, name: &str) -> Result<SectionEntry> {
    let mut found = layout
        .sections
        .iter()
        .filter(|s| s.kind == kind && s.type_index == NO_TYPE);
    match (found.next(), found.next()) {
        (Some(s), None) => Ok(*s),
        (None, _) => Err(Error::corrupt(name, kind.name(), "section is missing")),
        (Some(_), Some(_)) => Err(Error::corrupt(name, kind.name(), "section appears twice")),
    }
}

fn text(r: capnp::Result<capnp::text::Reader<'_>>, name: &str, what: &str) -> Result<String> {
    let t = r.map_err(|e| Error::corrupt(name, "manifest", format!("{what}: {e}")))?;
    t.to_str()
        .map(str::to_string)
        .map_err(|e| Error::corrupt(name, "manifest", format!("{what} is not UTF-8: {e}")))
}

pub(super) fn open(bytes: BlobBytes, name: &str) -> Result<ReadState> {
    let blob = bytes.as_slice();
    let layout = BlobLayout::parse(blob, name)?;
    if layout.header.kind != BlobKind::Snapshot {
        return Err(Error::corrupt(
            name,
            "header",
            format!("expected a snapshot, found a {}", layout.header.kind.name()),
        ));
    }
    let manifest_entry = single(&layout, SectionKind::Manifest, name)?;
    let schema_entry = single(&layout, SectionKind::Schema, name)?;
    manifest_entry.verify(blob, name, None)?;
    schema_entry.verify(blob, name, None)?;

    let schema = Schema::from_segment(&blob[schema_entry.range()])
        .map_err(|e| Error::corrupt(name, "schema", e.to_string()))?;
    if schema.fingerprint() != layout.header.schema_fingerprint {
        return Err(Error::corrupt(
            name,
            "schema",
            "schema does not match the header's fingerprint",
        ));
    }

    let manifest_bytes = bytes
        .slice(manifest_entry.range())
        .ok_or_else(|| Error::corrupt(name, "manifest", "out of bounds"))?;
    let arena_bytes = manifest_bytes.as_slice();
    let segments = [arena_bytes];
    let message = capnp::message::Reader::new(
        capnp::message::SegmentArray::new(&segments),
        capnp::message::ReaderOptions::new(),
    );
    let bad = |e: capnp::Error| Error::corrupt(name, "manifest", e.to_string());
    let manifest: blob_manifest::Reader<'_> = message.get_root().map_err(bad)?;
    let dataset = text(manifest.get_dataset(), name, "dataset")?;
    let mut header_tags = Vec::new();
    for t in manifest.get_header_tags().map_err(bad)?.iter() {
        header_tags.push((
            text(t.get_key(), name, "tag key")?,
            text(t.get_value(), name, "tag value")?,
        ));
    }

    if header_tags.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(Error::corrupt(
            name,
            "manifest",
            "header tags are not sorted by unique key",
        ));
    }

    let manifest_types = manifest.get_types().map_err(bad)?;
    let stray = layout
        .sections
        .iter()
        .find(|s| s.type_index != NO_TYPE && s.type_index >= manifest_types.len());
    if let Some(s) = stray {
        let reason = format!(
            "a {} section names type {} of {}",
            s.kind.name(),
            s.type_index,
            manifest_types.len()
        );
        return Err(Error::corrupt(name, "section table", reason));
    }
    let mut types = Vec::with_capacity(manifest_types.len() as usize);
    for (ti, t) in (0u32..).zip(manifest_types.iter()) {
        let type_name = text(t.get_name(), name, "type name")?;
        let corrupt =
            |reason: String| Error::corrupt(name, format!("manifest entry of {type_name}"), reason);
        let info = schema
            .struct_by_id(t.get_type_id())
            .ok_or_else(|| {
                corrupt(format!(
                    "type id {:#x} is not in the schema",
                    t.get_type_id()
                ))
            })?
            .clone();
        if info.name != type_name {
            return Err(corrupt(format!(
                "schema calls type {:#x} {}",
                info.id, info.name
            )));
        }
        let key_paths: Vec<String> = t
            .get_primary_key()
            .map_err(bad)?
            .iter()
            .map(|p| text(p, name, "key path"))
            .collect::<Result<_>>()?;
        let key = if key_paths.is_empty() {
            None
        } else {
            Some(
                KeyPath::resolve(&schema, &info, &key_paths.join(","))
                    .map_err(|e| corrupt(e.to_string()))?,
            )
        };
        let shard_bits = t.get_shard_bits();
        if shard_bits > 28 {
            return Err(corrupt(format!("shard bits {shard_bits} out of range")));
        }
        let capacity = t.get_ordinal_capacity();
        let shard_count = t.get_shard_count();
        if u64::from(shard_count) != u64::from(capacity).div_ceil(1 << shard_bits) {
            return Err(corrupt(format!(
                "{shard_count} shards cannot hold {capacity} ordinals"
            )));
        }
        // Every shard needs its own section: bound the count by the table before allocating.
        if shard_count as usize > layout.sections.len() {
            return Err(corrupt(format!(
                "{shard_count} shards but only {} sections",
                layout.sections.len()
            )));
        }
        let mut shards: Vec<Option<SectionEntry>> = vec![None; shard_count as usize];
        let mut populated = None;
        let mut pk_index = None;
        for s in layout.sections.iter().filter(|s| s.type_index == ti) {
            let slot = match s.kind {
                SectionKind::Records => shards.get_mut(s.part as usize),
                SectionKind::Populated => Some(&mut populated),
                SectionKind::PrimaryKeyIndex => Some(&mut pk_index),
                _ => continue,
            };
            match slot {
                Some(slot @ None) => *slot = Some(*s),
                _ => {
                    return Err(corrupt(format!(
                        "unexpected or repeated section {}",
                        s.describe(Some(&type_name))
                    )));
                }
            }
        }
        let shards: Vec<SectionEntry> = shards
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.ok_or_else(|| corrupt(format!("records shard {i} is missing"))))
            .collect::<Result<_>>()?;
        let populated = populated.ok_or_else(|| corrupt("populated bitmap is missing".into()))?;
        if key.is_some() != pk_index.is_some() {
            return Err(corrupt("primary-key index and primary key disagree".into()));
        }
        if types
            .iter()
            .any(|t: &ReadType| t.type_id == info.id || t.name == type_name)
        {
            return Err(corrupt("the type appears twice".into()));
        }
        types.push(ReadType {
            name: type_name,
            type_id: info.id,
            info,
            key,
            capacity,
            record_count: t.get_record_count(),
            shard_bits,
            checksum: t.get_state_checksum(),
            shards,
            populated,
            pk_index,
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
        header: layout.header,
        bytes,
        dataset,
        header_tags,
        schema,
        types,
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
        s.verify(blob, name, Some(&ty.name)).map_err(|e| match e {
            Error::Corrupt {
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
    let populated = PopulatedBitmap::new(section(&ty.populated)?);
    if ty.populated.len != (bitmap_words(ty.capacity) * 8) as u64 {
        return Err(fail(
            &ty.populated,
            format!("{} bytes for {} ordinals", ty.populated.len, ty.capacity),
        ));
    }
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
    if let Some(last) = ty.capacity.checked_sub(1) {
        let word = populated.word((last / 64) as usize);
        let used = last % 64 + 1;
        if used < 64 && word >> used != 0 {
            return Err(fail(
                &ty.populated,
                "bits set beyond the ordinal capacity".into(),
            ));
        }
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
    Ok(LoadedType {
        shards,
        populated,
        pk_index,
    })
}
