//! The delta writer: the changes from one state to another, as a delta or reverse delta blob
//! (docs/FORMAT.md, "Delta blobs").

use super::{SnapshotInfo, TypeTarget, WriteState};
use crate::bytes::BlobBytes;
use crate::error::Result;
use crate::format::{
    BlobHeader, BlobKind, BlobWriter, FORMAT_VERSION, KeyChange, NO_TYPE, SectionKind,
    encode_key_changes, encode_ordinals,
};

/// The changes of one type that a delta carries (ordinals ascending).
#[derive(Debug, Default)]
pub(crate) struct TypeDelta<'a> {
    /// Ordinals populated before the blob and empty after it.
    pub(crate) removed: Vec<u32>,
    /// Ordinals whose record the blob adds or replaces, with the new canonical record.
    pub(crate) upserts: Vec<(u32, &'a [u64])>,
    /// Primary-key index changes (removals first).
    pub(crate) key_changes: Vec<KeyChange>,
    /// Per secondary index: `(key hash, ordinal)` pairs the target state has and the source
    /// state does not.
    pub(crate) index_additions: Vec<Vec<(u64, u32)>>,
}

impl TypeDelta<'_> {
    /// True when the type does not change.
    pub(crate) fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.upserts.is_empty()
    }
}

impl WriteState {
    /// Writes a delta (`kind` Delta or ReverseDelta) from state `from` to state `to`.
    /// `targets[i]` describes type `i` in state `to`; `changes[i]` its changes.
    pub(crate) fn write_delta(
        &self,
        kind: BlobKind,
        from: SnapshotInfo,
        to: SnapshotInfo,
        targets: &[TypeTarget],
        changes: &[TypeDelta<'_>],
    ) -> Result<BlobBytes> {
        let per_part = 1usize << self.options.shard_bits;
        let targets: Vec<TypeTarget> = targets
            .iter()
            .zip(changes)
            .map(|(t, c)| TypeTarget {
                record_parts: u32::try_from(c.upserts.len().div_ceil(per_part)).unwrap_or(u32::MAX),
                ..*t
            })
            .collect();
        let mut writer = BlobWriter::new();
        writer.add(
            SectionKind::Manifest,
            NO_TYPE,
            0,
            self.manifest_bytes(&targets)?,
        );
        writer.add(
            SectionKind::Schema,
            NO_TYPE,
            0,
            self.schema.segment_bytes().to_vec(),
        );
        for ((ti, ty), change) in (0u32..).zip(&self.types).zip(changes) {
            if change.is_empty() {
                continue;
            }
            writer.add(
                SectionKind::DeltaRemoved,
                ti,
                0,
                encode_ordinals(&change.removed),
            );
            let ordinals: Vec<u32> = change.upserts.iter().map(|(o, _)| *o).collect();
            writer.add(
                SectionKind::DeltaUpserted,
                ti,
                0,
                encode_ordinals(&ordinals),
            );
            for (part, chunk) in (0u32..).zip(change.upserts.chunks(per_part)) {
                let slots = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
                let words =
                    self.encode_records(ty, chunk.iter().map(|(o, r)| (*o, Some(*r))), slots)?;
                writer.add_words(SectionKind::Records, ti, part, words);
            }
            if ty.key.is_some() {
                writer.add(
                    SectionKind::KeyChanges,
                    ti,
                    0,
                    encode_key_changes(&change.key_changes),
                );
            }
            for (part, pairs) in (0u32..).zip(&change.index_additions) {
                if !pairs.is_empty() {
                    writer.add(
                        SectionKind::IndexAdditions,
                        ti,
                        part,
                        crate::format::encode_additions(pairs),
                    );
                }
            }
        }
        writer.finish(&BlobHeader {
            kind,
            format_version: FORMAT_VERSION,
            compat_version: FORMAT_VERSION,
            from_version: from.version,
            from_tag: from.tag,
            to_version: to.version,
            to_tag: to.tag,
            schema_fingerprint: self.schema.fingerprint(),
        })
    }
}
