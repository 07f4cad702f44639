//! The consumer: follows a dataset's versions and serves the current one as an
//! `Arc<ReadState>`, swapped atomically on refresh.
//!
//! A refresh plans a path over the blobs in the store: from the current state forward by
//! deltas or backward by reverse deltas; from nothing, or when the chain is broken, a blob is
//! missing or failed before, or the path is longer than the limit, a snapshot (loaded beside
//! the current state: a double snapshot) and then deltas. The new state is built on the side
//! (deltas are overlaid on the snapshot's mapping, see `ReadState::apply_delta`) and swapped in
//! only when complete: a failed refresh leaves the current state serving.
//!
//! One job per module: this one holds the public types and orchestrates a refresh (read the
//! announcement and the pin, link the chain, plan, execute, swap, keep the cache's live set);
//! the chain itself is linked by [`crate::chain`], shared with the producer's restore.
//!
//! | module | job |
//! |---|---|
//! | `plan.rs` | the pure planner: chain, current state, target → steps |
//! | `execute.rs` | running the steps: open, check, verify, overlay, events |
//! | `cache.rs` | where bytes come from: local store, cache directory, verification markers |
//! | `watch.rs` | the announcement watcher of `RefreshPolicy::OnAnnouncement` |
//! | `compact.rs` | background compaction of a deep overlay (`ConsumerBuilder::compact_after`) |

mod cache;
mod compact;
mod execute;
mod plan;
mod watch;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tracing::{debug, info, warn};

use crate::chain::Chain;
use crate::error::{RefreshError, Result};
use crate::read::ReadState;
use crate::store::{BlobKey, BlobStore};
use cache::BlobCache;
use plan::{Current, Step};

/// Default longest delta path before a refresh prefers a snapshot.
pub const DEFAULT_MAX_DELTAS: usize = 32;

/// When a consumer refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshPolicy {
    /// Only when [`Consumer::refresh`] or [`Consumer::refresh_to`] is called.
    Manual,
    /// On every new announcement or pin: polled at `poll_interval`, and at once when a producer
    /// in this process announces through the same `BlobStore` (or a clone of it).
    OnAnnouncement {
        /// How often to read the announcement.
        poll_interval: Duration,
    },
}

/// Where a consumer's states live in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryMode {
    /// Blobs are mapped from files (the consumer's cache, or a local store on the opt-in):
    /// pages come from the page cache, are shared by every process mapping the same files, and
    /// are loaded on first touch. The default.
    #[default]
    Shared,
    /// Each blob is copied into this process's anonymous memory, with transparent huge pages
    /// where the kernel offers them: every page resident from the start and fewer TLB misses,
    /// for a latency-critical single-process consumer (Netflix Hollow's heap mode). Costs the
    /// copy at each load and the memory per process.
    Private,
}

/// What happened during a refresh, for [`RefreshListener`]s.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RefreshEvent {
    /// A refresh starts from `from` (None: no state yet) towards `to`.
    Started {
        /// Current version.
        from: Option<u64>,
        /// Target version.
        to: u64,
        /// The plan, e.g. `snapshot 1, delta 1→2, delta 2→3`.
        plan: String,
    },
    /// A snapshot was loaded.
    SnapshotLoaded {
        /// Its version.
        version: u64,
        /// How long it took.
        elapsed: Duration,
    },
    /// A delta (or reverse delta) was applied.
    DeltaApplied {
        /// From version.
        from: u64,
        /// To version.
        to: u64,
        /// How long it took.
        elapsed: Duration,
    },
    /// The new state is serving.
    Succeeded {
        /// Its version.
        version: u64,
        /// Whole refresh.
        elapsed: Duration,
    },
    /// Background compaction (`ConsumerBuilder::compact_after`) folded the serving state's
    /// overlaid deltas into a snapshot, which now serves the same version.
    Compacted {
        /// The version served.
        version: u64,
        /// Overlaid deltas folded away.
        deltas: usize,
        /// How long the compaction took.
        elapsed: Duration,
    },
    /// The refresh failed; the previous state keeps serving.
    Failed {
        /// The error and its causes on one line ([`crate::error_chain`]).
        error: String,
    },
}

/// Receives [`RefreshEvent`]s. Called on the refreshing task: keep it quick.
pub trait RefreshListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: &RefreshEvent);
}

impl<F: Fn(&RefreshEvent) + Send + Sync> RefreshListener for F {
    fn on_event(&self, event: &RefreshEvent) {
        self(event);
    }
}

/// Builds a [`Consumer`].
pub struct ConsumerBuilder {
    store: BlobStore,
    policy: RefreshPolicy,
    listeners: Vec<Arc<dyn RefreshListener>>,
    max_deltas: usize,
    cache: Option<std::path::PathBuf>,
    type_filter: Option<TypeFilter>,
    retry: RetryBackoff,
    map_in_place: bool,
    limits: crate::Limits,
    memory_mode: MemoryMode,
    #[cfg(feature = "nats")]
    push: Option<crate::push::NatsAnnouncements>,
    cache_keep_bytes: u64,
    compact_after: Option<usize>,
}

/// How long a blob that failed to load or apply is avoided before a refresh tries it again:
/// `initial` after the first failure, doubling with each further failure up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    /// Wait after the first failure.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for RetryBackoff {
    /// 1 s, doubling up to 5 minutes.
    fn default() -> Self {
        RetryBackoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryBackoff {
    fn after(self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

type TypeFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl ConsumerBuilder {
    /// When to refresh (default: manual).
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Adds a listener.
    pub fn listener(mut self, listener: impl RefreshListener + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// A directory where blobs are kept after their first download or copy (written under a
    /// temporary name, made read-only, then renamed) and mapped from: the consumer's own
    /// immutable copies, shared through the page cache by every process using the directory.
    /// Files the current state no longer uses are removed after each refresh. Without a cache,
    /// blobs are read into memory (unless [`ConsumerBuilder::map_local_store_in_place`]).
    pub fn local_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cache = Some(dir.into());
        self
    }

    /// How many bytes of cached blobs the current state does not use stay in the
    /// [`ConsumerBuilder::local_cache`] after a refresh, most recently downloaded first (default
    /// 0: only what the current state uses stays). A cache shared across runs (the CLI's) keeps
    /// some so going back to a version, or the next run, downloads nothing again.
    pub fn cache_keep_bytes(mut self, bytes: u64) -> Self {
        self.cache_keep_bytes = bytes;
        self
    }

    /// Opt-in: map a local directory store's blob files where the producer wrote them (no copy,
    /// the page cache shared with the producer and every such consumer). Precondition: nothing
    /// truncates or rewrites a published blob while it is mapped (the producer never does, and
    /// writes blobs read-only); a program that does crashes this process with SIGBUS or changes
    /// what it reads. Off by default: a local store's blobs then go through the
    /// [`ConsumerBuilder::local_cache`] (or memory) like a remote store's. No effect on remote
    /// stores.
    pub fn map_local_store_in_place(mut self, in_place: bool) -> Self {
        self.map_in_place = in_place;
        self
    }

    /// Loads only the types for which `keep(name)` holds; others are never mapped or verified.
    pub fn type_filter(mut self, keep: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.type_filter = Some(Arc::new(keep));
        self
    }

    /// How long a blob that failed (a timed-out download, a briefly truncated file, a corrupt
    /// copy) is avoided before refreshes try it again (default [`RetryBackoff::default`]).
    /// Meanwhile plans go around it (through a snapshot) when they can; once it reads well,
    /// the chain is followed through it again.
    pub fn retry_backoff(mut self, backoff: RetryBackoff) -> Self {
        self.retry = backoff;
        self
    }

    /// Caps on the blobs this consumer opens: a blob larger than
    /// [`Limits::max_blob_bytes`](crate::Limits::max_blob_bytes), or a state with a type whose
    /// ordinal capacity is past [`Limits::max_records_per_type`](crate::Limits::max_records_per_type),
    /// fails the refresh with [`OpenError::LimitExceeded`](crate::OpenError::LimitExceeded) and
    /// the current state keeps serving. Default: [`Limits::default`](crate::Limits::default), the
    /// producer's default too.
    pub fn limits(mut self, limits: crate::Limits) -> Self {
        self.limits = limits;
        self
    }

    /// With [`RefreshPolicy::OnAnnouncement`]: also refresh as soon as a producer pushes an
    /// announcement on NATS (feature `nats`); the poll interval stays the fallback for missed
    /// messages. [`ConsumerBuilder::build`] subscribes (and fails if it cannot).
    #[cfg(feature = "nats")]
    pub fn push(mut self, push: crate::push::NatsAnnouncements) -> Self {
        self.push = Some(push);
        self
    }

    /// Where states live: mapped from files and shared through the page cache
    /// ([`MemoryMode::Shared`], the default) or copied into private anonymous memory with
    /// transparent huge pages ([`MemoryMode::Private`]).
    pub fn memory_mode(mut self, mode: MemoryMode) -> Self {
        self.memory_mode = mode;
        self
    }

    /// Longest delta path before a refresh loads a snapshot instead, and most deltas a state
    /// carries before the consumer compacts it onto a newer snapshot (default 32, at most 255).
    pub fn max_deltas(mut self, n: usize) -> Self {
        self.max_deltas = n.clamp(1, crate::read::MAX_OVERLAY_DELTAS);
        self
    }

    /// Folds the serving state into an in-memory snapshot in the background once it carries
    /// `n` overlaid deltas (at least 1): reads then run at a fresh snapshot's speed again
    /// instead of paying for changed records that live in the deltas (docs/ARCHITECTURE.md,
    /// "Reads after deltas"). A compaction costs about a snapshot write of the state (O(records),
    /// one core while it runs) and its bytes are private memory, not the shared page cache; a
    /// refresh that lands while it runs wins and the next refresh starts it again. Off by
    /// default.
    pub fn compact_after(mut self, n: usize) -> Self {
        self.compact_after = Some(n.max(1));
        self
    }

    /// Builds the consumer. With [`RefreshPolicy::OnAnnouncement`] it refreshes at once and
    /// then watches (the watcher stops when the consumer is dropped); with `Manual` it holds
    /// no state until the first refresh.
    pub async fn build(self) -> Result<Consumer, RefreshError> {
        // The consumer's blob-size cap also bounds what a download may decode to, so a hostile
        // envelope is refused before anything is written or allocated (the stricter of the two).
        let store = if self.limits.blob_bytes() < self.store.max_blob_bytes() {
            self.store.with_max_blob_bytes(self.limits.blob_bytes())
        } else {
            self.store
        };
        let cache = BlobCache::new(store.clone(), self.cache, self.map_in_place)?;
        let inner = Arc::new(Inner {
            store,
            current: ArcSwapOption::empty(),
            refreshing: tokio::sync::Mutex::new(Failures::default()),
            listeners: self.listeners,
            max_deltas: self.max_deltas,
            cache,
            type_filter: self.type_filter,
            retry: self.retry,
            limits: self.limits,
            memory_mode: self.memory_mode,
            cache_keep_bytes: self.cache_keep_bytes,
            compact_after: self.compact_after,
            compacting: std::sync::atomic::AtomicBool::new(false),
        });
        #[cfg(feature = "nats")]
        let mut push_task = None;
        let watcher = match self.policy {
            RefreshPolicy::Manual => None,
            RefreshPolicy::OnAnnouncement { poll_interval } => {
                // Subscribe before the first refresh, so no announcement falls in between.
                let announced = inner.store.subscribe();
                #[cfg(feature = "nats")]
                if let Some(push) = &self.push {
                    push_task = Some(push.wake_on_messages(inner.store.clone()).await?);
                }
                if let Err(e) = inner.refresh(None).await {
                    warn!(
                        error = %crate::error::error_chain(&e),
                        "initial refresh failed; the watcher retries"
                    );
                }
                Some(tokio::spawn(watch::watch(
                    Arc::downgrade(&inner),
                    announced,
                    poll_interval,
                )))
            }
        };
        Ok(Consumer {
            inner,
            watcher,
            #[cfg(feature = "nats")]
            push_task,
        })
    }
}

/// What refreshes remember between them (held under the refresh lock).
#[derive(Default)]
struct Failures {
    /// Blobs that failed to load or apply: plans avoid them until their retry time, and a
    /// blob that reads well again is forgotten.
    blobs: HashMap<BlobKey, FailedBlob>,
    /// Blobs the current state is built from (what the cache must keep).
    live: Vec<BlobKey>,
}

/// A blob that failed: how often in a row, and when it may be tried again.
struct FailedBlob {
    failures: u32,
    retry_at: Instant,
}

impl Failures {
    /// The blobs plans must avoid now.
    fn avoided(&self, now: Instant) -> HashSet<BlobKey> {
        self.blobs
            .iter()
            .filter(|(_, f)| f.retry_at > now)
            .map(|(k, _)| *k)
            .collect()
    }

    fn failed(&mut self, key: BlobKey, backoff: RetryBackoff) {
        let entry = self.blobs.entry(key).or_insert(FailedBlob {
            failures: 0,
            retry_at: Instant::now(),
        });
        entry.failures = entry.failures.saturating_add(1);
        entry.retry_at = Instant::now() + backoff.after(entry.failures);
    }
}

struct Inner {
    store: BlobStore,
    current: ArcSwapOption<ReadState>,
    refreshing: tokio::sync::Mutex<Failures>,
    listeners: Vec<Arc<dyn RefreshListener>>,
    max_deltas: usize,
    cache: BlobCache,
    type_filter: Option<TypeFilter>,
    retry: RetryBackoff,
    limits: crate::Limits,
    memory_mode: MemoryMode,
    cache_keep_bytes: u64,
    /// Compact the serving state in the background at this overlay depth.
    compact_after: Option<usize>,
    /// A compaction is running.
    compacting: std::sync::atomic::AtomicBool,
}

/// Follows a dataset and serves its current state.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> hollow::Result<()> {
/// use hollow::{BlobStore, Consumer, Producer};
/// use hollow_movies::movies_capnp::movie;
///
/// let store = BlobStore::memory();
/// let producer = Producer::builder(store.clone(), "movies").register::<movie::Owned>().build().await?;
/// producer.run_cycle(|cycle| {
///     let mut message = capnp::message::Builder::new_default();
///     message.init_root::<movie::Builder>().set_id(7);
///     cycle.add::<movie::Owned>(message.get_root_as_reader()?)
/// }).await?;
///
/// let consumer = Consumer::builder(store).build().await?;
/// consumer.refresh().await?;
/// let state = consumer.state().expect("refreshed");
/// assert!(state.table::<movie::Owned>()?.get_by_key(7u64)?.is_some());
/// # Ok(()) }
/// ```
pub struct Consumer {
    inner: Arc<Inner>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// Forwards pushed announcements to the watcher (feature `nats`).
    #[cfg(feature = "nats")]
    push_task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Some(w) = &self.watcher {
            w.abort();
        }
        #[cfg(feature = "nats")]
        if let Some(p) = &self.push_task {
            p.abort();
        }
    }
}

impl Consumer {
    /// Starts a consumer of the dataset in `store`.
    pub fn builder(store: BlobStore) -> ConsumerBuilder {
        ConsumerBuilder {
            store,
            policy: RefreshPolicy::Manual,
            listeners: Vec::new(),
            max_deltas: DEFAULT_MAX_DELTAS,
            cache: None,
            type_filter: None,
            retry: RetryBackoff::default(),
            map_in_place: false,
            limits: crate::Limits::default(),
            memory_mode: MemoryMode::Shared,
            #[cfg(feature = "nats")]
            push: None,
            cache_keep_bytes: 0,
            compact_after: None,
        }
    }

    /// The current state: consistent for as long as the caller holds it (lock-free).
    pub fn state(&self) -> Option<Arc<ReadState>> {
        self.inner.current.load_full()
    }

    /// The current version.
    pub fn version(&self) -> Option<u64> {
        self.inner.current.load().as_ref().map(|s| s.version())
    }

    /// Refreshes to the pinned version if there is a pin, else to the announced one. Returns
    /// the version now served (`None` when nothing was ever announced).
    pub async fn refresh(&self) -> Result<Option<u64>, RefreshError> {
        self.inner.refresh(None).await
    }

    /// Refreshes to `version`, forward or backward, on the announced chain.
    pub async fn refresh_to(&self, version: u64) -> Result<u64, RefreshError> {
        self.inner
            .refresh(Some(version))
            .await?
            .ok_or_else(|| RefreshError::NoSuchVersion { version })
    }
}

impl Inner {
    fn emit(&self, event: &RefreshEvent) {
        for l in &self.listeners {
            l.on_event(event);
        }
    }

    /// Refreshes, then starts a background compaction when one is due.
    async fn refresh(self: &Arc<Self>, version: Option<u64>) -> Result<Option<u64>, RefreshError> {
        let served = self.refresh_once(version).await?;
        self.maybe_compact();
        Ok(served)
    }

    async fn refresh_once(&self, version: Option<u64>) -> Result<Option<u64>, RefreshError> {
        let mut failures = self.refreshing.lock().await;
        let started = Instant::now();
        let Some((announcement, _)) = self.store.announcement().await? else {
            return Ok(None);
        };
        let head = announcement.state();
        let avoided = failures.avoided(started);
        let pin = match version {
            Some(_) => None,
            None => self.store.pinned().await?,
        };
        let current = self.current.load_full();
        let current_at = current.as_ref().map(|s| s.state_id());
        let serving = current.as_deref().map(|c| Current {
            state: c.state_id(),
            overlay_depth: c.overlay_depth(),
            base_version: c.base_version(),
        });
        // The common refresh, following the head one version behind: the announcement names
        // the delta, and the store is not listed.
        let announced = if version.is_none() && pin.is_none() {
            if current_at == Some(head) {
                return Ok(Some(head.version));
            }
            plan::announced_delta(&announcement, serving.as_ref(), self.max_deltas, &avoided)
        } else {
            None
        };
        let (steps, target_version) = match announced {
            Some(steps) => (steps, head.version),
            None => {
                let mut chain = Chain::list(&self.store, head, &avoided).await?;
                let mut target = match (version, pin) {
                    (Some(v), _) => chain
                        .states
                        .iter()
                        .position(|s| s.version == v)
                        .ok_or(RefreshError::NoSuchVersion { version: v })?,
                    (None, Some(pin)) => {
                        chain.position(pin).ok_or(RefreshError::NoSuchVersion {
                            version: pin.version,
                        })?
                    }
                    (None, None) => chain.states.len() - 1,
                };
                if current_at == Some(chain.states[target]) {
                    return Ok(current_at.map(|c| c.version));
                }
                let mut steps = plan::plan(&chain, serving.as_ref(), target, self.max_deltas);
                if steps.is_none() && !avoided.is_empty() {
                    // Recently failed blobs are avoided only while another path exists: with
                    // none, try them again (a store that was unreachable a moment ago may be
                    // back).
                    debug!(
                        avoided = avoided.len(),
                        "no path around failed blobs: trying them again"
                    );
                    let wanted = chain.states[target];
                    let all = Chain::list(&self.store, head, &HashSet::new()).await?;
                    if let Some(position) = all.states.iter().position(|s| *s == wanted) {
                        steps = plan::plan(&all, serving.as_ref(), position, self.max_deltas);
                        chain = all;
                        target = position;
                    }
                }
                let steps = steps.ok_or_else(|| RefreshError::NoPath {
                    from: current_at.map(|c| c.version),
                    to: chain.states[target].version,
                })?;
                (steps, chain.states[target].version)
            }
        };
        let plan = plan::describe(&steps);
        info!(from = ?current_at.map(|c| c.version), to = target_version, %plan, "refresh");
        self.emit(&RefreshEvent::Started {
            from: current_at.map(|c| c.version),
            to: target_version,
            plan,
        });
        match self.execute(&steps, current).await {
            Ok(state) => {
                let version = state.version();
                self.current.store(Some(Arc::new(state)));
                for step in &steps {
                    failures.blobs.remove(&step.key());
                }
                let keys = steps.iter().map(Step::key);
                if matches!(steps.first(), Some(Step::Snapshot(_))) {
                    failures.live = keys.collect();
                } else {
                    failures.live.extend(keys);
                }
                self.cache.clean(&failures.live, self.cache_keep_bytes);
                self.emit(&RefreshEvent::Succeeded {
                    version,
                    elapsed: started.elapsed(),
                });
                Ok(Some(version))
            }
            Err((key, e)) => {
                if let Some(key) = key {
                    failures.failed(key, self.retry);
                }
                self.emit(&RefreshEvent::Failed {
                    error: crate::error::error_chain(&e),
                });
                Err(e)
            }
        }
    }
}
