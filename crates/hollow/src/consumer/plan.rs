//! Refresh planning: a pure function from a [`Chain`], the current state and a target to the
//! blobs to load, in order.
//!
//! From the current state: forward by deltas or backward by reverse deltas, at most
//! `max_deltas` of them. Otherwise (no current state, the current state off the chain, a
//! missing link, a path too long, or a current state that carries `max_deltas` overlaid deltas
//! already and so is compacted) a snapshot, then deltas: the nearest snapshot at or before the
//! target and deltas forward, else the nearest after it and reverse deltas back.

use crate::chain::{Chain, State};
use crate::store::BlobKey;

/// One step of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Load this snapshot (beside the current state).
    Snapshot(BlobKey),
    /// Apply this delta or reverse delta to the state so far.
    Delta(BlobKey),
}

impl Step {
    /// The blob of the step.
    pub(crate) fn key(&self) -> BlobKey {
        match self {
            Step::Snapshot(k) | Step::Delta(k) => *k,
        }
    }
}

/// What planning needs to know of the state a consumer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Current {
    /// Its version and tag.
    pub(crate) state: State,
    /// Deltas overlaid on its snapshot (`ReadState::overlay_depth`).
    pub(crate) overlay_depth: usize,
    /// Version of its snapshot (`ReadState::base_version`).
    pub(crate) base_version: u64,
}

/// The steps from `current` to the state at `target` on `chain`; `None` when there is no path.
pub(crate) fn plan(
    chain: &Chain,
    current: Option<&Current>,
    target: usize,
    max_deltas: usize,
) -> Option<Vec<Step>> {
    let position = current.and_then(|c| chain.position(c.state));
    // Compaction: a state already carrying max_deltas overlaid deltas is rebuilt from a
    // snapshot (a newer one when the chain has one on the way), which resets its overlay.
    if let Some(c) = current
        && c.overlay_depth + 1 > max_deltas
        && let Some(plan) = snapshot_plan(chain, target, Some(c.base_version), max_deltas)
            .or_else(|| snapshot_plan(chain, target, None, max_deltas))
    {
        return Some(plan);
    }
    // From the current state, along the chain.
    if let Some(at) = position {
        if at <= target
            && target - at <= max_deltas
            && let Some(deltas) = chain.forward(at, target)
        {
            return Some(deltas.into_iter().map(Step::Delta).collect());
        }
        if at > target
            && at - target <= max_deltas
            && let Some(reverses) = chain.backward(at, target)
        {
            return Some(reverses.into_iter().map(Step::Delta).collect());
        }
    }
    snapshot_plan(chain, target, None, max_deltas)
}

/// A snapshot at or before the target then deltas, else one after it then reverse deltas;
/// with `newer_than`, only snapshots of a later version count.
fn snapshot_plan(
    chain: &Chain,
    target: usize,
    newer_than: Option<u64>,
    max_deltas: usize,
) -> Option<Vec<Step>> {
    let newer = |snap: &usize| newer_than.is_none_or(|v| chain.states[*snap].0 > v);
    let with_snapshot = |snapshot: BlobKey, deltas: Vec<BlobKey>| {
        std::iter::once(Step::Snapshot(snapshot))
            .chain(deltas.into_iter().map(Step::Delta))
            .collect()
    };
    for snap in (0..=target).rev().take(max_deltas + 1).filter(newer) {
        if let Some(key) = chain.snapshot(snap)
            && let Some(deltas) = chain.forward(snap, target)
        {
            return Some(with_snapshot(key, deltas));
        }
    }
    for snap in (target + 1..chain.states.len().min(target + 1 + max_deltas)).filter(newer) {
        if let Some(key) = chain.snapshot(snap)
            && let Some(reverses) = chain.backward(snap, target)
        {
            return Some(with_snapshot(key, reverses));
        }
    }
    None
}

/// A plan for people: `snapshot 1, delta 1→2, delta 2→3`.
pub(crate) fn describe(steps: &[Step]) -> String {
    let describe: Vec<String> = steps
        .iter()
        .map(|s| match s {
            Step::Snapshot(BlobKey::Snapshot { version, .. }) => format!("snapshot {version}"),
            Step::Delta(
                BlobKey::Delta { from, to, .. } | BlobKey::ReverseDelta { from, to, .. },
            ) => {
                format!("delta {from}→{to}")
            }
            _ => String::new(),
        })
        .collect();
    describe.join(", ")
}
