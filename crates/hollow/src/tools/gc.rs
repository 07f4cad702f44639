//! Retention: which blobs of a store no retained version needs, and deleting them.
//!
//! Retained (the union of): the newest `keep_versions` versions of the announced chain; with
//! `keep_snapshots = Some(n)`, every version from the n-th newest snapshot of the chain on; with
//! `keep_since = Some(d)`, every version published within `d`; the pinned version; and every
//! version published within `min_age` (a consumer that read the announcement a moment ago may be
//! downloading its blobs). Kept: every blob of the announced chain from the newest
//! snapshot at or before the oldest retained version up to the head — so each retained version
//! stays reachable from a snapshot, every consumer at a retained version can move forward and
//! back, and the producer's restore (latest snapshot + forward deltas) is untouched. Deleted:
//! the chain's blobs before that snapshot, and blobs off the chain (failed cycles, another
//! lineage) — each only once it is older than `min_age`, so a cycle being published now never
//! loses a blob before it announces.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tracing::info;

use crate::StateId;
use crate::chain::Chain;
use crate::error::StoreError;
use crate::store::{BlobKey, BlobStore};

/// What [`gc`] keeps. The retention rules add up: a version is retained when any rule keeps it.
///
/// ```
/// use std::time::Duration;
/// use hollow::tools::GcOptions;
///
/// // Keep the three newest snapshots (and every version after the oldest of them) and
/// // everything published in the last day; report only.
/// let options = GcOptions {
///     keep_snapshots: Some(3),
///     keep_since: Some(Duration::from_secs(24 * 3600)),
///     ..GcOptions::default()
/// };
/// assert!(!options.delete);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// The newest versions of the announced chain to keep reachable (at least 1: the head).
    pub keep_versions: usize,
    /// Keep every version from the n-th newest snapshot of the announced chain on (at least 1),
    /// so consumers can start from any of the n newest snapshots.
    pub keep_snapshots: Option<usize>,
    /// Keep every version published within this long.
    pub keep_since: Option<Duration>,
    /// Blobs younger than this are never deleted, and versions published within it are
    /// retained.
    pub min_age: Duration,
    /// Delete (else only report what would be deleted).
    pub delete: bool,
}

impl Default for GcOptions {
    /// Keeps the head only (plus the pin and the grace period of an hour); reports only.
    fn default() -> Self {
        Self {
            keep_versions: 1,
            keep_snapshots: None,
            keep_since: None,
            min_age: Duration::from_secs(3600),
            delete: false,
        }
    }
}

/// Why a blob is not needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcReason {
    /// On the announced chain, older than the snapshot the oldest retained version needs.
    BeforeRetention,
    /// Not on the announced chain (a failed cycle's blob, another lineage).
    OffChain,
}

/// A blob [`gc`] found unneeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcBlob {
    /// The blob.
    pub key: BlobKey,
    /// Its stored size.
    pub bytes: u64,
    /// Why it is not needed.
    pub reason: GcReason,
    /// Younger than `min_age`: kept this time.
    pub too_young: bool,
}

/// What [`gc`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcReport {
    /// The announced state (None: nothing announced, nothing deleted).
    pub head: Option<StateId>,
    /// The oldest version kept reachable.
    pub oldest_retained: Option<u64>,
    /// The version of the snapshot the kept chain starts from.
    pub kept_from_snapshot: Option<u64>,
    /// Blobs kept (needed), with their stored sizes.
    pub kept: Vec<(BlobKey, u64)>,
    /// Blobs not needed (deleted when `delete` and not `too_young`).
    pub unneeded: Vec<GcBlob>,
    /// Whether the unneeded blobs (not too young) were deleted.
    pub deleted: bool,
    /// Why nothing was deleted although asked (the announcement moved, a pin off the chain).
    pub refused: Option<String>,
}

impl GcReport {
    /// The blobs that are (or would be) deleted.
    pub fn deletable(&self) -> impl Iterator<Item = &GcBlob> {
        self.unneeded.iter().filter(|b| !b.too_young)
    }
}

fn states_of(key: &BlobKey) -> Vec<StateId> {
    match key {
        BlobKey::Snapshot { state } => vec![*state],
        BlobKey::Delta { from, to } | BlobKey::ReverseDelta { from, to } => vec![*from, *to],
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Plans retention for `store` and, with `options.delete`, deletes what no retained version
/// needs (see the module documentation). Reads the announcement again before deleting and
/// deletes nothing if it moved (run again).
pub async fn gc(store: &BlobStore, options: &GcOptions) -> Result<GcReport, StoreError> {
    let mut report = plan(store, options, now_millis()).await?;
    if !options.delete || report.refused.is_some() || report.head.is_none() {
        return Ok(report);
    }
    let now = store.announcement().await?.map(|(a, _)| a.state());
    if now != report.head {
        report.refused = Some("the announcement moved while planning; run gc again".into());
        return Ok(report);
    }
    for blob in report.deletable() {
        info!(key = %blob.key.relative(), bytes = blob.bytes, reason = ?blob.reason, "gc: deleting");
        store.delete_blob(&blob.key).await?;
    }
    report.deleted = true;
    Ok(report)
}

async fn plan(
    store: &BlobStore,
    options: &GcOptions,
    now_millis: i64,
) -> Result<GcReport, StoreError> {
    let Some((announcement, _)) = store.announcement().await? else {
        return Ok(GcReport::default());
    };
    let head = announcement.state();
    let blobs = store.list_blob_meta().await?;
    let chain = Chain::link(blobs.iter().map(|(k, _, _)| *k), head, &HashSet::new());
    let on_chain: HashSet<StateId> = chain.states.iter().copied().collect();
    let min_age = i64::try_from(options.min_age.as_millis()).unwrap_or(i64::MAX);
    let young = |modified: i64| now_millis.saturating_sub(modified) < min_age;
    let keep_since = options
        .keep_since
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let recent = |published: i64| {
        now_millis.saturating_sub(published) < min_age
            || keep_since.is_some_and(|since| now_millis.saturating_sub(published) < since)
    };

    // When each state was published: its snapshot's or the delta into it's write time.
    let mut published: HashMap<StateId, i64> = HashMap::new();
    for (key, _, modified) in &blobs {
        if let BlobKey::Snapshot { state } | BlobKey::Delta { to: state, .. } = key {
            let t = published.entry(*state).or_insert(*modified);
            *t = (*t).min(*modified);
        }
    }
    let mut report = GcReport {
        head: Some(head),
        ..GcReport::default()
    };
    let mut retained: Vec<u64> = chain
        .states
        .iter()
        .rev()
        .take(options.keep_versions.max(1))
        .map(|s| s.version)
        .collect();
    retained.extend(
        chain
            .states
            .iter()
            .filter(|s| published.get(s).is_some_and(|t| recent(*t)))
            .map(|s| s.version),
    );
    if let Some(n) = options.keep_snapshots {
        // The n-th newest snapshot on the chain (the oldest one when there are fewer).
        let nth = chain
            .states
            .iter()
            .rev()
            .filter(|s| chain.snapshots.contains_key(s))
            .take(n.max(1))
            .last();
        if let Some(s) = nth {
            retained.push(s.version);
        }
    }
    if let Some(pin) = store.pinned().await? {
        if on_chain.contains(&pin) {
            retained.push(pin.version);
        } else {
            report.refused = Some(format!(
                "the pin ({}) is not on the announced chain; gc deletes nothing",
                pin.version
            ));
        }
    }
    let oldest = retained.iter().copied().min().unwrap_or(head.version);
    // The newest snapshot on the chain at or before the oldest retained version; without one
    // the whole chain is kept.
    let floor = chain
        .states
        .iter()
        .filter(|s| s.version <= oldest && chain.snapshots.contains_key(s))
        .map(|s| s.version)
        .max()
        .or_else(|| chain.states.first().map(|s| s.version))
        .unwrap_or(head.version);
    report.oldest_retained = Some(oldest);
    report.kept_from_snapshot = Some(floor);
    for (key, bytes, modified) in blobs {
        let states = states_of(&key);
        let reason = if !states.iter().all(|s| on_chain.contains(s)) {
            Some(GcReason::OffChain)
        } else if states.iter().any(|s| s.version < floor) {
            Some(GcReason::BeforeRetention)
        } else {
            None
        };
        match reason {
            None => report.kept.push((key, bytes)),
            Some(reason) => report.unneeded.push(GcBlob {
                key,
                bytes,
                reason,
                too_young: young(modified),
            }),
        }
    }
    Ok(report)
}
