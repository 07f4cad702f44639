//! Executing a plan: open each blob, check it is the one its key names, load the snapshot
//! (verified, or trusted from the cache's record) or overlay the delta, all on the side of the
//! serving state.

use std::sync::Arc;
use std::time::Instant;

use super::plan::Step;
use super::{Inner, RefreshEvent};
use crate::error::{OpenError, RefreshError};
use crate::limits::LimitKind;
use crate::read::{ReadDelta, ReadState};
use crate::store::BlobKey;

impl Inner {
    /// Builds the state `steps` lead to from `current`. On failure, the blob to blame (if one
    /// is) and the error.
    pub(super) async fn execute(
        &self,
        steps: &[Step],
        current: Option<Arc<ReadState>>,
    ) -> Result<ReadState, (Option<BlobKey>, RefreshError)> {
        let mut state: Option<ReadState> = None;
        for step in steps {
            let t = Instant::now();
            match step {
                Step::Snapshot(key) => {
                    let bytes = self.cache.open(key).await.map_err(|e| (Some(*key), e))?;
                    let bytes = self
                        .in_memory_mode(bytes)
                        .map_err(|e| (Some(*key), e.into()))?;
                    self.check_blob_len(bytes.len())
                        .map_err(|e| limit_error(key, e))?;
                    let trusted = self.cache.was_verified(key, bytes.as_slice());
                    let mut snapshot = if trusted {
                        ReadState::from_verified_cache(bytes.clone(), &key.relative())
                    } else {
                        ReadState::from_bytes(bytes.clone(), &key.relative())
                    }
                    .map_err(|e| (Some(*key), e.into()))?;
                    if let Some(keep) = &self.type_filter {
                        snapshot = snapshot.retain_types(|name| keep(name));
                    }
                    let named = match key {
                        BlobKey::Snapshot { state } => Some(*state),
                        BlobKey::Delta { .. } | BlobKey::ReverseDelta { .. } => None,
                    };
                    if named != Some(snapshot.state_id()) {
                        let reason =
                            format!("holds {}, not the state its key names", snapshot.state_id());
                        return Err((
                            Some(*key),
                            OpenError::corrupt(key.relative(), "header", reason).into(),
                        ));
                    }
                    if !trusted {
                        crate::blocking::cpu(|| snapshot.verify_all())
                            .map_err(|e| (Some(*key), e.into()))?;
                        self.cache.record_verified(key, bytes.as_slice());
                    }
                    self.check_capacities(&snapshot)
                        .map_err(|e| limit_error(key, e))?;
                    self.emit(&RefreshEvent::SnapshotLoaded {
                        version: snapshot.version(),
                        elapsed: t.elapsed(),
                    });
                    state = Some(snapshot);
                }
                Step::Delta(key) => {
                    let bytes = self.cache.open(key).await.map_err(|e| (Some(*key), e))?;
                    let bytes = self
                        .in_memory_mode(bytes)
                        .map_err(|e| (Some(*key), e.into()))?;
                    self.check_blob_len(bytes.len())
                        .map_err(|e| limit_error(key, e))?;
                    let delta = Arc::new(
                        ReadDelta::from_bytes(bytes, &key.relative())
                            .map_err(|e| (Some(*key), e.into()))?,
                    );
                    let h = delta.header();
                    let joins = match key {
                        BlobKey::Delta { from, to } | BlobKey::ReverseDelta { from, to } => {
                            Some((*from, *to))
                        }
                        BlobKey::Snapshot { .. } => None,
                    };
                    if joins != Some((h.from_state(), h.to_state())) {
                        let reason = "joins other states than its key names".to_string();
                        return Err((
                            Some(*key),
                            OpenError::corrupt(key.relative(), "header", reason).into(),
                        ));
                    }
                    let base = match (&state, &current) {
                        (Some(s), _) => s,
                        (None, Some(c)) => c.as_ref(),
                        (None, None) => {
                            return Err((
                                None,
                                RefreshError::NoPath {
                                    from: None,
                                    to: delta.header().to_version,
                                },
                            ));
                        }
                    };
                    let next = crate::blocking::cpu(|| base.apply_delta(Arc::clone(&delta)))
                        .map_err(|e| (Some(*key), e.into()))?;
                    self.check_capacities(&next)
                        .map_err(|e| limit_error(key, e))?;
                    self.emit(&RefreshEvent::DeltaApplied {
                        from: delta.header().from_version,
                        to: delta.header().to_version,
                        elapsed: t.elapsed(),
                    });
                    state = Some(next);
                }
            }
        }
        state.ok_or((None, RefreshError::NoPath { from: None, to: 0 }))
    }

    /// The bytes where the consumer's [`super::MemoryMode`] wants them.
    fn in_memory_mode(&self, bytes: crate::BlobBytes) -> Result<crate::BlobBytes, OpenError> {
        match self.memory_mode {
            super::MemoryMode::Shared => Ok(bytes),
            super::MemoryMode::Private => crate::blocking::cpu(|| bytes.private_copy()),
        }
    }

    /// A blob past [`crate::Limits::max_blob_bytes`] is not opened.
    fn check_blob_len(&self, len: usize) -> Result<(), crate::LimitExceeded> {
        self.limits
            .check(LimitKind::BlobBytes, || "its size".to_string(), len as u64)
    }

    /// A state with a type past [`crate::Limits::max_records_per_type`] is not served.
    fn check_capacities(&self, state: &ReadState) -> Result<(), crate::LimitExceeded> {
        for ty in state.types() {
            self.limits.check(
                LimitKind::RecordsPerType,
                || format!("the ordinal capacity of type {}", ty.name),
                u64::from(ty.ordinal_capacity),
            )?;
        }
        Ok(())
    }
}

fn limit_error(key: &BlobKey, source: crate::LimitExceeded) -> (Option<BlobKey>, RefreshError) {
    let blob = key.relative();
    (Some(*key), OpenError::LimitExceeded { blob, source }.into())
}
