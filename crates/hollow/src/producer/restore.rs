//! Restore: a producer built on a store with an announcement continues the announced version.
//! Latest snapshot → `WriteState::load_snapshot`, then the forward deltas along the announced
//! chain (linked by [`crate::chain`], the walker the consumer plans over) →
//! `WriteState::apply_delta`; every ordinal is kept, so the next cycle publishes a normal delta.

use std::collections::HashSet;

use crate::StateId;
use crate::chain::Chain;
use crate::error::{CycleError, OpenError, Result, SchemaError};
use crate::read::{ReadDelta, ReadState};
use crate::store::{Announcement, BlobKey, BlobStore};
use crate::write::WriteState;

/// Loads the announced version into `state`; returns how many deltas were applied since its
/// snapshot.
pub(super) async fn restore(
    store: &BlobStore,
    state: &mut WriteState,
    announcement: &Announcement,
) -> Result<u32, CycleError> {
    let snapshot_key = announcement.latest_snapshot.ok_or_else(|| {
        OpenError::corrupt(
            "announced.json",
            "announcement",
            "the announced version names no snapshot",
        )
    })?;
    let BlobKey::Snapshot {
        state: snapshot_state,
    } = snapshot_key
    else {
        return Err(OpenError::corrupt(
            "announced.json",
            "announcement",
            "latestSnapshot is not a snapshot",
        )
        .into());
    };
    let chain = Chain::list(store, announcement.state(), &HashSet::new()).await?;
    // Walk the chain back from the announced version to the snapshot, by forward deltas.
    let mut path = Vec::new();
    let mut at = chain.states.len() - 1;
    while chain.states[at] != snapshot_state {
        let StateId { version, tag } = chain.states[at];
        if version <= snapshot_state.version {
            return Err(OpenError::corrupt(
                snapshot_key.relative(),
                "chain",
                "the announced chain does not reach the latest snapshot",
            )
            .into());
        }
        let key = at
            .checked_sub(1)
            .and_then(|prev| chain.forward(prev, at))
            .and_then(|keys| keys.first().copied())
            .ok_or_else(|| {
                OpenError::corrupt(
                    format!("deltas/*-{version:020}-{tag:016x}"),
                    "chain",
                    "a delta of the announced chain is missing",
                )
            })?;
        path.push(key);
        at -= 1;
    }
    let mut deltas = Vec::with_capacity(path.len());
    for key in &path {
        let delta = ReadDelta::from_bytes(store.get_blob(key).await?, &key.relative())?;
        let h = delta.header();
        // Versions strictly decrease walking back; a delta that says otherwise ends the walk.
        let joins_named = match key {
            BlobKey::Delta { from, to } => {
                h.from_state() == *from && h.to_state() == *to && from.version < to.version
            }
            BlobKey::Snapshot { .. } | BlobKey::ReverseDelta { .. } => false,
        };
        if !joins_named {
            return Err(OpenError::corrupt(
                key.relative(),
                "header",
                "the delta does not join the states its key names",
            )
            .into());
        }
        deltas.push(delta);
    }
    let snapshot = ReadState::from_bytes(
        store.get_blob(&snapshot_key).await?,
        &snapshot_key.relative(),
    )?;
    // The producer's schema must be able to continue the dataset (docs/SCHEMA-EVOLUTION.md).
    let registered: Vec<String> = state.type_names().map(str::to_string).collect();
    for t in snapshot.types() {
        if t.record_count > 0 && !registered.contains(&t.name) {
            return Err(SchemaError::Incompatible {
                type_name: t.name,
                field: String::new(),
                rule: "the dataset holds records of this type: register it".into(),
            }
            .into());
        }
    }
    let ids: Vec<u64> = snapshot.types().iter().map(|t| t.type_id).collect();
    crate::schema::check_compatible(snapshot.schema(), state.schema(), &ids)?;
    crate::blocking::cpu(|| {
        state.load_snapshot(&snapshot)?;
        for delta in deltas.iter().rev() {
            state.apply_delta(delta)?;
        }
        Ok::<_, CycleError>(())
    })?;
    Ok(u32::try_from(deltas.len()).unwrap_or(u32::MAX))
}
