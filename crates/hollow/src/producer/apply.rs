//! Rebuilding a write state from blobs: a snapshot ([`WriteState::load_snapshot`]) and deltas
//! ([`WriteState::apply_delta`]). This is the producer's restore path and the reference applier
//! the tests check every delta with. It joins the two sides (records read with `read/`, put
//! into the state with `write/`'s own operations), so it lives in the producer, and `write/`
//! never imports `read/`.

use crate::error::{CycleError, LookupError, OpenError, Result, SchemaError};
use crate::read::{ReadDelta, ReadState};
use crate::write::WriteState;

/// A record of blob `blob` that the write state refuses (a duplicate key, a missing key
/// field…): the blob is corrupt, or its schema does not fit.
fn refused(blob: &str, section: &str, e: CycleError) -> OpenError {
    match e {
        CycleError::Schema(e) => e.into(),
        e => OpenError::corrupt(blob, section, e.to_string()),
    }
}

impl WriteState {
    /// Replaces the content of every registered type with the records of `snapshot` (types of
    /// the snapshot that are not registered are skipped; registered types it lacks end empty).
    /// Ordinals are kept; the state checksums must match the snapshot's.
    pub fn load_snapshot(&mut self, snapshot: &ReadState) -> Result<(), OpenError> {
        for index in 0..self.types.len() {
            self.clear_type(index);
            let ty = &self.types[index];
            let (id, name) = (ty.info.id, ty.info.name.clone());
            let Some(summary) = snapshot.types().into_iter().find(|t| t.type_id == id) else {
                continue;
            };
            let section = format!("{name} records");
            let table = snapshot.dyn_table(&name).map_err(|e| match e {
                LookupError::Open(e) => e,
                LookupError::Schema(e) => e.into(),
                e => OpenError::corrupt(snapshot.blob_name(), &section, e.to_string()),
            })?;
            for (ordinal, record) in table.iter() {
                let staged = self
                    .stage(index, record.raw())
                    .map_err(|e| refused(snapshot.blob_name(), &section, e))?;
                self.insert_at(index, ordinal, staged);
            }
            if !self.set_capacity(index, summary.ordinal_capacity) {
                return Err(OpenError::corrupt(
                    snapshot.blob_name(),
                    format!("{name} records"),
                    "records beyond the ordinal capacity",
                ));
            }
            let checksum = self.target(index).checksum;
            if checksum != summary.checksum {
                return Err(OpenError::corrupt(
                    snapshot.blob_name(),
                    format!("{name} records"),
                    format!(
                        "records hash to state checksum {checksum:#x}, the manifest says {:#x}",
                        summary.checksum
                    ),
                ));
            }
        }
        self.set_current(Some(snapshot.state_id()));
        Ok(())
    }

    /// Applies a delta or reverse delta to this state. The blob must start from exactly this
    /// state (version and tag); afterwards every type's count and checksum must equal what the
    /// blob says the target state holds. On error the state is unspecified: reload it.
    pub fn apply_delta(&mut self, delta: &ReadDelta) -> Result<(), OpenError> {
        let header = delta.header();
        let at = self.current();
        if at != Some(header.from_state()) {
            return Err(OpenError::WrongState {
                blob: delta.blob_name().to_string(),
                expected: header.from_state(),
                actual: at,
            });
        }
        let blob = delta.blob_name();
        for change in delta.types() {
            let Some(index) = self.type_index_by_id(change.type_id) else {
                if change.removed.is_empty() && change.upserted.is_empty() {
                    continue;
                }
                return Err(SchemaError::Mismatch {
                    type_name: change.name.clone(),
                    reason: "the delta changes a type this state does not register".into(),
                }
                .into());
            };
            let section = format!("{} changes", change.name);
            for &o in &change.removed {
                if self.remove_at(index, o).is_none() {
                    return Err(OpenError::corrupt(
                        blob,
                        &section,
                        format!("removes empty ordinal {o}"),
                    ));
                }
            }
            for upsert in change.upserts() {
                let (o, record) = upsert?;
                let staged = self
                    .stage(index, record)
                    .map_err(|e| refused(blob, &section, e))?;
                if let Some(old) = self.remove_at(index, o)
                    && old.key.as_ref().map(|k| &k.1) != staged.key.as_ref().map(|k| &k.1)
                {
                    return Err(OpenError::corrupt(
                        blob,
                        &section,
                        format!("replaces ordinal {o} with a different key"),
                    ));
                }
                if staged.key.is_some() && self.ordinal_of(index, &staged).is_some() {
                    return Err(OpenError::corrupt(
                        blob,
                        &section,
                        format!("ordinal {o} duplicates a key"),
                    ));
                }
                self.insert_at(index, o, staged);
            }
            if !self.set_capacity(index, change.capacity) {
                return Err(OpenError::corrupt(
                    blob,
                    &section,
                    "records beyond the target capacity",
                ));
            }
            let result = self.target(index);
            if result.record_count != change.record_count || result.checksum != change.checksum {
                return Err(OpenError::corrupt(
                    blob,
                    &section,
                    format!(
                        "the result has {} records with checksum {:#x}; the delta promises {} with {:#x}",
                        result.record_count, result.checksum, change.record_count, change.checksum
                    ),
                ));
            }
        }
        self.set_current(Some(header.to_state()));
        Ok(())
    }
}

impl ReadState {
    /// This state folded into a fresh snapshot, written in memory and opened: the same version,
    /// tag, schema, records, ordinals and state checksums, with no overlay, so it reads exactly
    /// like the producer's snapshot of the version (an overlaid state's changed records live in
    /// the deltas that brought them, one load further away and scattered; see
    /// docs/ARCHITECTURE.md, "Reads after deltas").
    ///
    /// Costs a whole snapshot write (O(records): at 1M movies about as much as a producer's
    /// snapshot), so run it off the read path — `tokio::task::spawn_blocking` or a thread —
    /// and serve the result in place of the state it came from once it is ready; this state is
    /// not changed and stays readable for as long as its readers hold it. The compacted state's
    /// bytes are private memory, not a shared page-cache mapping.
    pub fn compacted(&self) -> Result<ReadState, CycleError> {
        let mut builder = WriteState::builder(self.dataset()).schema(self.schema().clone());
        let types = self.types();
        for t in &types {
            builder = builder.register_name(&t.name);
        }
        for (k, v) in self.header_tags() {
            builder = builder.header_tag(k, v);
        }
        let shard_bits = self.shard_bits().unwrap_or(crate::DEFAULT_SHARD_BITS);
        let mut state = builder
            .options(crate::WriteOptions {
                shard_bits,
                ..crate::WriteOptions::default()
            })
            .build()?;
        state.load_snapshot(self)?;
        let blob = state.write_snapshot(&self.state_id())?;
        let name = format!("{} compacted at {}", self.blob_name(), self.version());
        Ok(ReadState::from_bytes(blob, &name)?)
    }
}
