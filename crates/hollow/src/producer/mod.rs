//! The producer: turns each full population (or set of changes) into a new version, publishes
//! its blobs and announces it.
//!
//! A cycle runs in stages: **populate** (the caller adds records; nothing changes yet),
//! **apply** (the changes are applied to the write state with an undo log), **validate**,
//! **encode** (delta, reverse delta, and a snapshot on the cadence), **verify** (the integrity
//! check on the written bytes), **publish** (blobs, `PutMode::Create`) and **announce**
//! (compare-and-swap). Any failure after apply undoes the changes: the state is the last
//! announced one, nothing partial is announced, and the next cycle starts from there.

mod apply;
mod listener;
mod restore;
mod validate;
mod verify;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{Instrument, info, info_span, warn};

pub use listener::{CycleEvent, CycleListener};
pub use validate::{
    FnValidator, MaxChangeRatio, MinRecordCount, TypeValidation, ValidationInput, Validator,
};

use crate::StateId;
use crate::blocking;
use crate::bytes::BlobBytes;
use crate::error::{CycleError, Result};
use crate::limits::{LimitKind, Limits};
use crate::schema::Schema;
use crate::store::{Announcement, AnnouncementVersion, BlobKey, BlobStore};
use crate::write::{
    Cycle, Incremental, TypeChangeCounts, WriteOptions, WriteState, WriteStateBuilder,
};
use restore::restore;

/// Default number of cycles between snapshots.
pub const DEFAULT_SNAPSHOT_EVERY: u32 = 10;

/// Builds a [`Producer`].
pub struct ProducerBuilder {
    store: BlobStore,
    state: WriteStateBuilder,
    snapshot_every: u32,
    validators: Vec<Arc<dyn Validator>>,
    listeners: Vec<Arc<dyn CycleListener>>,
    limits: Limits,
    #[cfg(feature = "nats")]
    push: Option<crate::push::NatsAnnouncements>,
}

impl ProducerBuilder {
    /// Registers a generated type as a type of the dataset.
    pub fn register<T: capnp::traits::OwnedStruct>(mut self) -> Self {
        self.state = self.state.register::<T>();
        self
    }

    /// Uses a run-time schema; register its types with [`ProducerBuilder::register_name`].
    pub fn schema(mut self, schema: Schema) -> Self {
        self.state = self.state.schema(schema);
        self
    }

    /// Registers a struct of the run-time schema by name.
    pub fn register_name(mut self, name: &str) -> Self {
        self.state = self.state.register_name(name);
        self
    }

    /// Write options (shard size, dedup).
    pub fn options(mut self, options: WriteOptions) -> Self {
        self.state = self.state.options(options);
        self
    }

    /// Adds a unique index on `type_name` over comma-separated field paths, as if the schema
    /// declared `$Hollow.uniqueKey`: the blobs' schema carries it, so consumers see it too.
    pub fn unique_index(mut self, type_name: &str, fields: &str) -> Self {
        self.state = self
            .state
            .index(type_name, crate::schema::IndexKind::Unique, fields);
        self
    }

    /// Adds a hash index on `type_name` over comma-separated field paths, as if the schema
    /// declared `$Hollow.hashIndex`.
    pub fn hash_index(mut self, type_name: &str, fields: &str) -> Self {
        self.state = self
            .state
            .index(type_name, crate::schema::IndexKind::Hash, fields);
        self
    }

    /// A user header tag carried in every blob.
    pub fn header_tag(mut self, key: &str, value: &str) -> Self {
        self.state = self.state.header_tag(key, value);
        self
    }

    /// Writes a snapshot every `n` cycles (and always for the first version). At least 1.
    pub fn snapshot_every(mut self, n: u32) -> Self {
        self.snapshot_every = n.max(1);
        self
    }

    /// Caps on what a cycle may publish: a type's ordinal capacity
    /// ([`Limits::max_records_per_type`]) and a blob's size ([`Limits::max_blob_bytes`]). A cycle
    /// past either fails with [`CycleError::LimitExceeded`] and is rolled back. Default:
    /// [`Limits::default`]; give consumers the same limits or larger.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Publishes every announcement on NATS too (feature `nats`), right after the
    /// compare-and-swap succeeds, so consumers subscribed to it refresh at once (best-effort:
    /// see [`crate::push`]).
    #[cfg(feature = "nats")]
    pub fn push(mut self, push: crate::push::NatsAnnouncements) -> Self {
        self.push = Some(push);
        self
    }

    /// Adds a validator run before every announcement.
    pub fn validator(mut self, validator: impl Validator + 'static) -> Self {
        self.validators.push(Arc::new(validator));
        self
    }

    /// Tells `listener` what every cycle did ([`CycleEvent`]): published (with its report),
    /// unchanged, or failed. Listeners are called in the order added.
    pub fn listener(mut self, listener: impl CycleListener + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Builds the producer, restoring the announced version from the store if there is one
    /// (latest snapshot, then deltas along the announced chain; ordinals are kept).
    pub async fn build(self) -> Result<Producer, CycleError> {
        let mut state = self.state.build()?;
        self.store
            .remove_stale_staging(crate::store::BLOB_STAGING_MAX_AGE);
        let announced = self.store.announcement().await?;
        let mut since_snapshot = 0;
        if let Some((announcement, _)) = &announced {
            since_snapshot = restore(&self.store, &mut state, announcement).await?;
            info!(
                version = announcement.version,
                "restored producer state from the announced version"
            );
        }
        Ok(Producer {
            store: self.store,
            snapshot_every: self.snapshot_every,
            validators: self.validators,
            listeners: self.listeners,
            limits: self.limits,
            #[cfg(feature = "nats")]
            push: self.push,
            inner: tokio::sync::Mutex::new(ProducerInner {
                state,
                announced,
                since_snapshot,
                stale: false,
            }),
        })
    }
}

/// A cycle's blobs before publishing: the snapshot (on the cadence) and the delta pair (forward,
/// reverse) when there is a previous version.
type EncodedBlobs = (Option<BlobBytes>, Option<(BlobBytes, BlobBytes)>);

struct ProducerInner {
    state: WriteState,
    announced: Option<(Announcement, AnnouncementVersion)>,
    since_snapshot: u32,
    /// The state may no longer be the store's announced version (an announcement failed or
    /// lost a race, or a restore failed half-way): resync before the next cycle.
    stale: bool,
}

/// Publishes versions of a dataset to a [`BlobStore`]. Cycles on one producer are serialised.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> hollow::Result<()> {
/// use hollow::{BlobStore, CycleOutcome, Producer};
/// use hollow_movies::movies_capnp::movie;
///
/// let producer = Producer::builder(BlobStore::memory(), "movies").register::<movie::Owned>().build().await?;
/// let outcome = producer
///     .run_cycle(|cycle| {
///         let mut message = capnp::message::Builder::new_default();
///         let mut m = message.init_root::<movie::Builder>();
///         m.set_id(1);
///         m.set_title("One");
///         cycle.add::<movie::Owned>(m.into_reader())
///     })
///     .await?;
/// assert!(matches!(outcome, CycleOutcome::Published(ref r) if r.version == 1));
/// # Ok(()) }
/// ```
pub struct Producer {
    store: BlobStore,
    snapshot_every: u32,
    validators: Vec<Arc<dyn Validator>>,
    listeners: Vec<Arc<dyn CycleListener>>,
    limits: Limits,
    #[cfg(feature = "nats")]
    push: Option<crate::push::NatsAnnouncements>,
    inner: tokio::sync::Mutex<ProducerInner>,
}

/// What a cycle did.
#[derive(Debug, Clone, PartialEq)]
pub enum CycleOutcome {
    /// A new version was announced.
    Published(CycleReport),
    /// Nothing changed: no blob, no announcement.
    Unchanged {
        /// The current (announced) version.
        version: u64,
    },
}

impl CycleOutcome {
    /// The version announced after the cycle (the new one, or the unchanged current one).
    pub fn version(&self) -> u64 {
        match self {
            CycleOutcome::Published(report) => report.version,
            CycleOutcome::Unchanged { version } => *version,
        }
    }
}

/// The report of a published cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleReport {
    /// The announced version.
    pub version: u64,
    /// Its tag.
    pub tag: u64,
    /// Per type: name and counts.
    pub types: Vec<(String, TypeChangeCounts)>,
    /// Bytes of the snapshot, if one was written.
    pub snapshot_bytes: Option<u64>,
    /// Bytes of the delta, if one was written.
    pub delta_bytes: Option<u64>,
    /// Bytes of the reverse delta, if one was written.
    pub reverse_delta_bytes: Option<u64>,
    /// Bytes this cycle's blobs take in the store, as written there (after the store's wire
    /// encoding: compressed on remote stores, the same as the sizes above on local ones).
    pub stored_bytes: u64,
    /// Stage timings.
    pub timings: CycleTimings,
}

/// How long each stage of a cycle took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CycleTimings {
    /// The caller adding records and change detection.
    pub populate: Duration,
    /// Validators.
    pub validate: Duration,
    /// Writing the blobs in memory.
    pub encode: Duration,
    /// The integrity check.
    pub verify: Duration,
    /// Writing the blobs to the store.
    pub publish: Duration,
    /// The compare-and-swap of the announcement.
    pub announce: Duration,
}

fn new_tag() -> u64 {
    use std::hash::BuildHasher;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // RandomState is seeded from the OS per process: tags differ across producers.
    std::collections::hash_map::RandomState::new().hash_one((nanos, n, std::process::id())) | 1
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Producer {
    /// Starts a producer for dataset `dataset` in `store`.
    pub fn builder(store: BlobStore, dataset: &str) -> ProducerBuilder {
        ProducerBuilder {
            store,
            state: WriteState::builder(dataset),
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            validators: Vec::new(),
            listeners: Vec::new(),
            limits: Limits::default(),
            #[cfg(feature = "nats")]
            push: None,
        }
    }

    /// The store.
    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    /// The announced version, if any.
    pub async fn version(&self) -> Option<u64> {
        self.inner
            .lock()
            .await
            .announced
            .as_ref()
            .map(|(a, _)| a.version)
    }

    /// Runs a full-population cycle: `populate` adds every record of the new version; records
    /// of keyed types it does not add are deleted.
    ///
    /// Inside `populate`, `?` works on Cap'n Proto calls and on any hollow call (they convert
    /// into [`CycleError`]); to give up on an error of your own, return
    /// [`CycleError::aborted`]`(your_error)`: it is kept as the source, and nothing is
    /// published. [`CycleError::is_retryable`] says whether running the cycle again may help.
    ///
    /// The future is `Send` when `populate` is, so a cycle can be `tokio::spawn`ed; populate,
    /// encode and verify run as blocking sections (see the crate's `blocking` module) so a
    /// multi-threaded runtime keeps serving other tasks meanwhile.
    pub async fn run_cycle(
        &self,
        populate: impl FnOnce(&mut Cycle<'_>) -> Result<(), CycleError>,
    ) -> Result<CycleOutcome, CycleError> {
        let mut inner = self.inner.lock().await;
        if inner.stale
            && let Err(e) = self.resync_inner(&mut inner).await
        {
            let failed = Err(e);
            self.tell_listeners(&failed);
            return failed;
        }
        let started = Instant::now();
        let changes = blocking::cpu(|| {
            let _span = info_span!("populate").entered();
            let mut cycle = Cycle::new(&mut inner.state);
            populate(&mut cycle)?;
            Ok::<_, CycleError>(cycle.finish())
        });
        let outcome = match changes {
            Ok(changes) => self.finish_cycle(&mut inner, changes, started).await,
            Err(e) => Err(e),
        };
        self.tell_listeners(&outcome);
        outcome
    }

    /// Runs an incremental cycle: `change` upserts and deletes records by primary key; every
    /// other record stays. Costs O(changes). Errors as for [`Producer::run_cycle`]; `Send` when
    /// `change` is.
    pub async fn run_incremental(
        &self,
        change: impl FnOnce(&mut Incremental<'_>) -> Result<(), CycleError>,
    ) -> Result<CycleOutcome, CycleError> {
        let mut inner = self.inner.lock().await;
        if inner.stale
            && let Err(e) = self.resync_inner(&mut inner).await
        {
            let failed = Err(e);
            self.tell_listeners(&failed);
            return failed;
        }
        let started = Instant::now();
        let changes = blocking::cpu(|| {
            let _span = info_span!("populate").entered();
            let mut inc = Incremental::new(&mut inner.state);
            change(&mut inc)?;
            Ok::<_, CycleError>(inc.finish())
        });
        let outcome = match changes {
            Ok(changes) => self.finish_cycle(&mut inner, changes, started).await,
            Err(e) => Err(e),
        };
        self.tell_listeners(&outcome);
        outcome
    }

    fn tell_listeners(&self, outcome: &Result<CycleOutcome, CycleError>) {
        if self.listeners.is_empty() {
            return;
        }
        let event = match outcome {
            Ok(CycleOutcome::Published(report)) => CycleEvent::Published(report),
            Ok(CycleOutcome::Unchanged { version }) => CycleEvent::Unchanged { version: *version },
            Err(e) => CycleEvent::Failed(e),
        };
        for l in &self.listeners {
            l.on_cycle(&event);
        }
    }

    async fn finish_cycle(
        &self,
        inner: &mut ProducerInner,
        changes: Vec<crate::write::TypeChanges>,
        started: Instant,
    ) -> Result<CycleOutcome, CycleError> {
        let applied = blocking::cpu(|| inner.state.apply_changes(changes));
        if let Err(e) = inner.state.check_unique(&applied) {
            warn!(error = %e, "cycle refused: rolled back to the announced version");
            inner.state.undo(applied);
            return Err(e);
        }
        let populate = started.elapsed();
        if applied.is_empty()
            && let Some((a, _)) = &inner.announced
        {
            info!(version = a.version, "cycle unchanged: nothing published");
            return Ok(CycleOutcome::Unchanged { version: a.version });
        }
        match self.publish(inner, &applied, populate).await {
            Ok(report) => Ok(CycleOutcome::Published(report)),
            Err(e) => {
                warn!(error = %e, "cycle failed: rolled back to the announced version");
                inner.state.undo(applied);
                if inner.stale {
                    // Another producer may have announced: follow it now, so the next cycle
                    // continues the store's chain (if this fails, the next cycle tries again).
                    if let Err(resync) = self.resync_inner(inner).await {
                        warn!(
                            error = %crate::error::error_chain(&resync),
                            "resync with the announced version failed; the next cycle retries"
                        );
                    }
                }
                Err(e)
            }
        }
    }

    /// Best-effort removal of blobs a failed cycle wrote and nothing announced names.
    async fn remove_orphans(&self, keys: &[BlobKey]) {
        for key in keys {
            match self.store.delete_blob(key).await {
                Ok(()) => info!(key = %key.relative(), "removed a blob of the failed cycle"),
                Err(e) => warn!(
                    key = %key.relative(),
                    error = %crate::error::error_chain(&e),
                    "could not remove a blob of the failed cycle; it stays as an orphan"
                ),
            }
        }
    }

    /// Brings this producer to the store's announced version when it is no longer there
    /// (another producer announced, or an announcement of this one failed): restores that
    /// version as [`ProducerBuilder::build`] does. Costs one read of the announcement when the
    /// producer is in step. Cycles do this on their own after a failed announcement; call it
    /// after learning of another producer by other means. Returns the announced version.
    pub async fn resync(&self) -> Result<Option<u64>, CycleError> {
        let mut inner = self.inner.lock().await;
        inner.stale = true;
        self.resync_inner(&mut inner).await?;
        Ok(inner.announced.as_ref().map(|(a, _)| a.version))
    }

    async fn resync_inner(&self, inner: &mut ProducerInner) -> Result<(), CycleError> {
        let current = self.store.announcement().await?;
        let in_step = match (&current, &inner.announced) {
            (Some((now, _)), Some((ours, _))) => now.state() == ours.state(),
            (None, None) => true,
            _ => false,
        };
        if in_step && inner.state.current() == inner.announced.as_ref().map(|(a, _)| a.state()) {
            inner.announced = current;
            inner.stale = false;
            return Ok(());
        }
        inner.stale = true;
        match &current {
            Some((announcement, _)) => {
                inner.since_snapshot = restore(&self.store, &mut inner.state, announcement).await?;
                info!(
                    version = announcement.version,
                    "resynced: restored the announced version"
                );
            }
            None => {
                inner.state.clear();
                inner.since_snapshot = 0;
                info!("resynced: the store announces nothing; the state is empty");
            }
        }
        inner.announced = current;
        inner.stale = false;
        Ok(())
    }

    async fn publish(
        &self,
        inner: &mut ProducerInner,
        applied: &crate::write::Applied,
        populate: Duration,
    ) -> Result<CycleReport, CycleError> {
        let mut timings = CycleTimings {
            populate,
            ..CycleTimings::default()
        };
        let prev = inner.announced.as_ref().map(|(a, _)| a.state());
        let version = prev.map_or(1, |p| p.version + 1);
        let to = StateId {
            version,
            tag: new_tag(),
        };
        let counts = applied.counts();
        let names: Vec<String> = inner.state.type_names().map(str::to_string).collect();

        let write_snapshot = prev.is_none() || inner.since_snapshot + 1 >= self.snapshot_every;
        let (snapshot, deltas) = blocking::cpu(|| {
            self.validate_encode_verify(
                inner,
                applied,
                &names,
                &counts,
                prev,
                to,
                write_snapshot,
                &mut timings,
            )
        })?;

        let t = Instant::now();
        let snapshot_key = snapshot.as_ref().map(|_| BlobKey::Snapshot { state: to });
        let (delta_key, reverse_key) = match prev {
            Some(from) => (
                Some(BlobKey::Delta { from, to }),
                Some(BlobKey::ReverseDelta { from: to, to: from }),
            ),
            None => (None, None),
        };
        let blobs: Vec<(BlobKey, &BlobBytes)> = snapshot_key
            .iter()
            .copied()
            .zip(snapshot.iter())
            .chain(delta_key.iter().copied().zip(deltas.iter().map(|d| &d.0)))
            .chain(reverse_key.iter().copied().zip(deltas.iter().map(|d| &d.1)))
            .collect();
        let mut put: Vec<BlobKey> = Vec::with_capacity(blobs.len());
        let mut stored_bytes = 0u64;
        for (key, bytes) in &blobs {
            let result = self
                .store
                .put_blob(key, bytes)
                .instrument(info_span!("publish", key = %key.relative(), bytes = bytes.len()))
                .await;
            match result {
                Ok(stored) => stored_bytes += stored,
                Err(e) => {
                    // Nothing was announced: the blobs already written are orphans.
                    self.remove_orphans(&put).await;
                    return Err(e.into());
                }
            }
            put.push(*key);
        }
        timings.publish = t.elapsed();

        let t = Instant::now();
        let announcement = Announcement {
            dataset: inner.state.dataset().to_string(),
            version,
            tag: to.tag,
            schema_fingerprint: inner.state.schema().fingerprint(),
            published_at_millis: now_millis(),
            previous: prev,
            snapshot: snapshot_key,
            delta: delta_key,
            reverse_delta: reverse_key,
            latest_snapshot: snapshot_key.or_else(|| {
                inner
                    .announced
                    .as_ref()
                    .and_then(|(a, _)| a.latest_snapshot)
            }),
        };
        let expected = inner.announced.as_ref().map(|(_, token)| token);
        let token = match self
            .store
            .announce(expected, &announcement)
            .instrument(info_span!("announce", version))
            .await
        {
            Ok(token) => token,
            // The announcement may have taken effect and only its response been lost (a
            // timeout, a dropped connection): then the store names this very state, and the
            // cycle is published. Anything else fails the cycle.
            Err(e) => match self.store.announcement().await {
                Ok(Some((current, token)))
                    if (current.version, current.tag) == (version, to.tag) =>
                {
                    warn!(error = %e, version, "announce reported an error but took effect");
                    token
                }
                _ => {
                    inner.stale = true;
                    if matches!(e, crate::StoreError::Conflict { .. }) {
                        // The compare-and-swap refused this announcement: it never takes
                        // effect, and nothing names this cycle's blobs (their keys carry its
                        // fresh tag). After an error of unknown outcome they stay.
                        self.remove_orphans(&put).await;
                    }
                    return Err(e.into());
                }
            },
        };
        timings.announce = t.elapsed();

        inner.state.set_current(Some(to));
        inner.since_snapshot = if write_snapshot {
            0
        } else {
            inner.since_snapshot + 1
        };
        #[cfg(feature = "nats")]
        if let Some(push) = &self.push {
            push.announced(&announcement.dataset, to).await;
        }
        inner.announced = Some((announcement, token));
        info!(version, "announced");
        Ok(CycleReport {
            version,
            tag: to.tag,
            types: names.into_iter().zip(counts).collect(),
            snapshot_bytes: snapshot.as_ref().map(|b| b.len() as u64),
            delta_bytes: deltas.as_ref().map(|d| d.0.len() as u64),
            reverse_delta_bytes: deltas.as_ref().map(|d| d.1.len() as u64),
            stored_bytes,
            timings,
        })
    }

    /// The CPU-heavy middle of a publish: validators, then the snapshot (on the cadence) and the
    /// delta pair, then the integrity check of the delta pair against the write state.
    #[allow(clippy::too_many_arguments)]
    fn validate_encode_verify(
        &self,
        inner: &ProducerInner,
        applied: &crate::write::Applied,
        names: &[String],
        counts: &[crate::write::TypeChangeCounts],
        prev: Option<StateId>,
        to: StateId,
        write_snapshot: bool,
        timings: &mut CycleTimings,
    ) -> Result<EncodedBlobs, CycleError> {
        let version = to.version;
        let t = Instant::now();
        let span = info_span!("validate", version).entered();
        for (i, name) in names.iter().enumerate() {
            let capacity = inner.state.target(i).capacity;
            self.limits.check(
                LimitKind::RecordsPerType,
                || format!("the ordinal capacity of type {name}"),
                u64::from(capacity),
            )?;
        }
        let input = ValidationInput {
            version,
            types: names
                .iter()
                .zip(counts)
                .enumerate()
                .map(|(i, (name, c))| TypeValidation {
                    name: name.clone(),
                    before: applied.types[i].before.map_or(0, |b| b.record_count),
                    after: inner.state.target(i).record_count,
                    changes: *c,
                })
                .collect(),
        };
        for v in &self.validators {
            v.validate(&input)
                .map_err(|reason| CycleError::Validation {
                    validator: v.name().to_string(),
                    reason,
                })?;
        }
        drop(span);
        timings.validate = t.elapsed();

        let t = Instant::now();
        let span = info_span!("encode", version).entered();
        let snapshot = if write_snapshot {
            Some(inner.state.write_snapshot(&to)?)
        } else {
            None
        };
        let deltas = match prev {
            Some(from) => Some(inner.state.write_deltas(applied, from, to)?),
            None => None,
        };
        drop(span);
        timings.encode = t.elapsed();
        let blobs = snapshot.iter().map(|b| ("snapshot", b)).chain(
            deltas
                .iter()
                .flat_map(|(d, r)| [("delta", d), ("reverse delta", r)]),
        );
        for (kind, bytes) in blobs {
            self.limits.check(
                LimitKind::BlobBytes,
                || format!("the {kind} of version {version}"),
                bytes.len() as u64,
            )?;
        }

        let t = Instant::now();
        if let Some((delta, reverse)) = &deltas {
            let _span = info_span!("verify", version).entered();
            verify::verify_deltas(&inner.state, applied, delta, reverse)?;
        }
        timings.verify = t.elapsed();

        Ok((snapshot, deltas))
    }
}
