//! The delta writer: the changes from one state to another, as a delta or reverse delta blob
//! (docs/FORMAT.md, "Delta blobs").

use super::undo::Applied;
use super::{Staged, StateId, TypeTarget, WriteState};
use crate::bytes::BlobBytes;
use crate::error::{CycleError, Result};
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
        from: StateId,
        to: StateId,
        targets: &[TypeTarget],
        changes: &[TypeDelta<'_>],
    ) -> Result<BlobBytes, CycleError> {
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
        writer
            .finish(&BlobHeader {
                kind,
                format_version: FORMAT_VERSION,
                compat_version: FORMAT_VERSION,
                from_version: from.version,
                from_tag: from.tag,
                to_version: to.version,
                to_tag: to.tag,
                schema_fingerprint: self.schema.fingerprint(),
            })
            .map_err(CycleError::from)
    }
}

impl WriteState {
    /// The delta (`from` → `to`) and reverse delta (`to` → `from`) of `applied`, with the state
    /// already at `to`.
    pub(crate) fn write_deltas(
        &self,
        applied: &Applied,
        from: StateId,
        to: StateId,
    ) -> Result<(BlobBytes, BlobBytes), CycleError> {
        let mut forward = Vec::with_capacity(applied.types.len());
        let mut reverse = Vec::with_capacity(applied.types.len());
        let mut forward_targets = Vec::with_capacity(applied.types.len());
        let mut reverse_targets = Vec::with_capacity(applied.types.len());
        for (index, t) in applied.types.iter().enumerate() {
            let ty = &self.types[index];
            forward_targets.push(self.target(index));
            reverse_targets.push(t.before.unwrap_or_else(|| self.target(index)));
            let current = |o: u32| {
                ty.records
                    .get(o as usize)
                    .and_then(Option::as_ref)
                    .map(|r| &r.canonical[..])
            };
            let key_change = |added: bool, o: u32, staged: Option<&Staged>| {
                let (hash, inline_key) = match staged.and_then(|s| s.key.as_ref()) {
                    Some((hash, bytes)) => (*hash, crate::schema::inline_key(bytes)),
                    None => ty.pk_entries.get(o as usize).copied().unwrap_or((0, 0)),
                };
                KeyChange {
                    added,
                    hash,
                    inline_key,
                    ordinal: o,
                }
            };
            let keyed = ty.key.is_some();

            let mut f = TypeDelta {
                removed: t.removed.iter().map(|(o, _)| *o).collect(),
                ..TypeDelta::default()
            };
            let mut upserts: Vec<u32> = t
                .changed
                .iter()
                .map(|(o, _)| *o)
                .chain(t.added.iter().copied())
                .collect();
            upserts.sort_unstable();
            f.upserts = upserts
                .iter()
                .filter_map(|o| current(*o).map(|r| (*o, r)))
                .collect();
            if keyed {
                f.key_changes.extend(
                    t.removed
                        .iter()
                        .map(|(o, old)| key_change(false, *o, Some(old))),
                );
                f.key_changes
                    .extend(t.added.iter().map(|o| key_change(true, *o, None)));
            }

            let mut r = TypeDelta {
                removed: t.added.clone(),
                ..TypeDelta::default()
            };
            let mut olds: Vec<(u32, &[u64])> = t
                .removed
                .iter()
                .chain(&t.changed)
                .map(|(o, old)| (*o, &old.record.canonical[..]))
                .collect();
            olds.sort_unstable_by_key(|(o, _)| *o);
            r.upserts = olds;
            if keyed {
                r.key_changes
                    .extend(t.added.iter().map(|o| key_change(false, *o, None)));
                r.key_changes.extend(
                    t.removed
                        .iter()
                        .map(|(o, old)| key_change(true, *o, Some(old))),
                );
            }
            if !ty.indexes.is_empty() {
                f.index_additions = vec![Vec::new(); ty.indexes.len()];
                r.index_additions = vec![Vec::new(); ty.indexes.len()];
                for (o, old) in &t.changed {
                    let old = Some(&old.record.canonical[..]);
                    ty.index_additions(*o, old, current(*o), &mut f.index_additions)?;
                    ty.index_additions(*o, current(*o), old, &mut r.index_additions)?;
                }
                for o in &t.added {
                    ty.index_additions(*o, None, current(*o), &mut f.index_additions)?;
                }
                for (o, old) in &t.removed {
                    let old = Some(&old.record.canonical[..]);
                    ty.index_additions(*o, None, old, &mut r.index_additions)?;
                }
            }
            forward.push(f);
            reverse.push(r);
        }
        let delta = self.write_delta(BlobKind::Delta, from, to, &forward_targets, &forward)?;
        let reverse =
            self.write_delta(BlobKind::ReverseDelta, to, from, &reverse_targets, &reverse)?;
        Ok((delta, reverse))
    }
}
