//! The snapshot writer: manifest, schema, record shards (encoded on every core), populated
//! bitmap and primary-key index of a whole state.

use super::{StateId, TypeTarget, TypeWriteState, WriteState, shard_count};
use crate::bytes::BlobBytes;
use crate::error::{CycleError, Result, SchemaError};
use crate::format::{
    BlobHeader, BlobKind, BlobWriter, FORMAT_VERSION, IndexEntry, Manifest, NO_TYPE,
    PopulatedBitmap, SectionKind, ShardEncoder, TypeManifest, build_pk_index,
};
use crate::schema::KeyPath;

impl WriteState {
    /// Writes a snapshot blob of the whole state.
    pub fn write_snapshot(&self, info: &StateId) -> Result<BlobBytes, CycleError> {
        let mut writer = BlobWriter::new();
        let targets: Vec<TypeTarget> = self
            .types
            .iter()
            .map(|ty| {
                let capacity = u32::try_from(ty.records.len()).unwrap_or(u32::MAX);
                TypeTarget {
                    capacity,
                    record_count: ty.populated,
                    checksum: ty.checksum.value(),
                    record_parts: shard_count(capacity, self.options.shard_bits),
                }
            })
            .collect();
        let manifest = self.manifest_bytes(&targets)?;
        writer.add(SectionKind::Manifest, NO_TYPE, 0, manifest);
        writer.add(
            SectionKind::Schema,
            NO_TYPE,
            0,
            self.schema.segment_bytes().to_vec(),
        );
        for (ti, ty) in (0u32..).zip(&self.types) {
            self.write_type(&mut writer, ti, ty)?;
        }
        writer
            .finish(&BlobHeader {
                kind: BlobKind::Snapshot,
                format_version: FORMAT_VERSION,
                compat_version: FORMAT_VERSION,
                from_version: 0,
                from_tag: 0,
                to_version: info.version,
                to_tag: info.tag,
                schema_fingerprint: self.schema.fingerprint(),
            })
            .map_err(CycleError::from)
    }

    /// The manifest section: dataset, header tags and, per type, the state the blob produces.
    pub(super) fn manifest_bytes(&self, targets: &[TypeTarget]) -> Result<Vec<u8>, CycleError> {
        Manifest {
            dataset: self.dataset.clone(),
            header_tags: self
                .header_tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            types: self
                .types
                .iter()
                .zip(targets)
                .map(|(ty, target)| TypeManifest {
                    name: ty.info.name.clone(),
                    type_id: ty.info.id,
                    ordinal_capacity: target.capacity,
                    record_count: target.record_count,
                    shard_bits: self.options.shard_bits,
                    primary_key: ty
                        .key
                        .iter()
                        .flat_map(|k| k.fields.iter().map(|f| f.path.clone()))
                        .collect(),
                    state_checksum: target.checksum,
                    shard_count: target.record_parts,
                })
                .collect(),
        }
        .to_bytes()
        .map_err(|e| CycleError::capnp("encoding the manifest", e))
    }

    fn write_type(
        &self,
        writer: &mut BlobWriter,
        ti: u32,
        ty: &TypeWriteState,
    ) -> Result<(), CycleError> {
        let capacity = u32::try_from(ty.records.len()).unwrap_or(u32::MAX);
        let shards = shard_count(capacity, self.options.shard_bits);
        // Shards are independent segments: encode them on every core, keep them in order.
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let workers = workers.min(shards as usize).max(1);
        let mut encoded: Vec<Option<Result<Vec<u64>, CycleError>>> =
            (0..shards).map(|_| None).collect();
        std::thread::scope(|scope| {
            let chunks = encoded.chunks_mut((shards as usize).div_ceil(workers).max(1));
            let mut first = 0u32;
            for chunk in chunks {
                let base = first;
                first += u32::try_from(chunk.len()).unwrap_or(0);
                scope.spawn(move || {
                    for (i, out) in (base..).zip(chunk.iter_mut()) {
                        *out = Some(self.encode_shard(ty, i));
                    }
                });
            }
        });
        for (shard, words) in (0u32..).zip(encoded) {
            let words = words.unwrap_or_else(|| Ok(Vec::new()))?;
            writer.add_words(SectionKind::Records, ti, shard, words);
        }
        let populated = (0u32..)
            .zip(&ty.records)
            .filter(|(_, r)| r.is_some())
            .map(|(o, _)| o);
        writer.add(
            SectionKind::Populated,
            ti,
            0,
            PopulatedBitmap::from_ordinals(capacity, populated).to_bytes(),
        );
        if ty.key.is_some() {
            let entries: Vec<IndexEntry> = (0u32..)
                .zip(&ty.records)
                .filter(|(_, r)| r.is_some())
                .map(|(o, _)| {
                    let (hash, inline_key) = ty.pk_entries[o as usize];
                    IndexEntry {
                        hash,
                        inline_key,
                        ordinal: o,
                    }
                })
                .collect();
            writer.add(
                SectionKind::PrimaryKeyIndex,
                ti,
                0,
                build_pk_index(
                    &entries,
                    ty.key.as_ref().and_then(KeyPath::inline_width).is_some(),
                ),
            );
        }
        for (part, index) in (0u32..).zip(0..ty.indexes.len()) {
            let pairs = ty.index_pairs(index)?;
            let section =
                crate::format::build_hash_index(pairs).ok_or_else(|| SchemaError::Invalid {
                    reason: format!(
                        "index {} of {} holds more than 4 GiB of postings",
                        ty.indexes[index].path.name(),
                        ty.info.name
                    ),
                })?;
            writer.add(SectionKind::SecondaryIndex, ti, part, section);
        }
        Ok(())
    }
}

impl WriteState {
    /// Encodes `records` (canonical messages, `None` for empty slots) as one shard of `ty`.
    pub(super) fn encode_records<'r>(
        &self,
        ty: &TypeWriteState,
        records: impl Iterator<Item = (u32, Option<&'r [u64]>)> + Clone,
        slots: u32,
    ) -> Result<Vec<u64>, CycleError> {
        let step = usize::from(ty.info.data_words) + usize::from(ty.info.pointer_count);
        let capacity = 2
            + slots as usize * step
            + records
                .clone()
                .filter_map(|(_, r)| r.map(<[u64]>::len))
                .sum::<usize>();
        let mismatch = |reason: String| SchemaError::Mismatch {
            type_name: ty.info.name.clone(),
            reason,
        };
        let mut enc = ShardEncoder::new(
            slots,
            ty.info.data_words,
            ty.info.pointer_count,
            self.options.dedup,
            capacity,
        )
        .map_err(|e| mismatch(e.to_string()))?;
        for (slot, (o, r)) in (0u32..).zip(records) {
            if let Some(r) = r {
                enc.set(slot, r)
                    .map_err(|e| mismatch(format!("ordinal {o}: {e}")))?;
            }
        }
        Ok(enc.finish())
    }

    /// Encodes shard `shard` of `ty` into its segment words.
    fn encode_shard(&self, ty: &TypeWriteState, shard: u32) -> Result<Vec<u64>, CycleError> {
        let capacity = u64::try_from(ty.records.len()).unwrap_or(u64::MAX);
        let per_shard = 1u64 << self.options.shard_bits;
        let start = u64::from(shard) * per_shard;
        let end = (start + per_shard).min(capacity);
        let slots = u32::try_from(end - start).unwrap_or(0);
        let range = usize::try_from(start).unwrap_or(0)..usize::try_from(end).unwrap_or(0);
        let records = ty.records.get(range).unwrap_or(&[]);
        let first = u32::try_from(start).unwrap_or(u32::MAX);
        self.encode_records(
            ty,
            (first..)
                .zip(records)
                .map(|(o, r)| (o, r.as_ref().map(|r| &r.canonical[..]))),
            slots,
        )
    }
}
