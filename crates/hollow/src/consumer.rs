//! The consumer: follows a dataset's versions and serves the current one as an
//! `Arc<ReadState>`, swapped atomically on refresh.
//!
//! A refresh plans a path over the blobs in the store: from the current state forward by
//! deltas or backward by reverse deltas; from nothing, or when the chain is broken, a blob is
//! missing or failed before, or the path is longer than the limit, a snapshot (loaded beside
//! the current state: a double snapshot) and then deltas. The new state is built on the side
//! (deltas are overlaid on the snapshot's mapping, see `ReadState::apply_delta`) and swapped in
//! only when complete: a failed refresh leaves the current state serving.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::read::{ReadDelta, ReadState};
use crate::store::{BlobKey, BlobStore};

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
    /// The refresh failed; the previous state keeps serving.
    Failed {
        /// The error, rendered.
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

    /// A directory where blobs of a remote store are kept after their first download (written
    /// under a temporary name, then renamed) and mapped from. Files the current state no longer
    /// uses are removed after each refresh. Local directory stores are mapped in place instead.
    pub fn local_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cache = Some(dir.into());
        self
    }

    /// Loads only the types for which `keep(name)` holds; others are never mapped or verified.
    pub fn type_filter(mut self, keep: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.type_filter = Some(Arc::new(keep));
        self
    }

    /// Longest delta path before a refresh loads a snapshot instead, and most deltas a state
    /// carries before the consumer compacts it onto a newer snapshot (default 32, at most 255).
    pub fn max_deltas(mut self, n: usize) -> Self {
        self.max_deltas = n.clamp(1, crate::read::MAX_OVERLAY_DELTAS);
        self
    }

    /// Builds the consumer. With [`RefreshPolicy::OnAnnouncement`] it refreshes at once and
    /// then watches (the watcher stops when the consumer is dropped); with `Manual` it holds
    /// no state until the first refresh.
    pub async fn build(self) -> Result<Consumer> {
        if let Some(dir) = &self.cache {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let inner = Arc::new(Inner {
            store: self.store,
            current: ArcSwapOption::empty(),
            refreshing: tokio::sync::Mutex::new(Failures::default()),
            listeners: self.listeners,
            max_deltas: self.max_deltas,
            cache: self.cache,
            type_filter: self.type_filter,
        });
        let watcher = match self.policy {
            RefreshPolicy::Manual => None,
            RefreshPolicy::OnAnnouncement { poll_interval } => {
                // Subscribe before the first refresh, so no announcement falls in between.
                let announced = inner.store.subscribe();
                if let Err(e) = inner.refresh(None).await {
                    warn!(error = %e, "initial refresh failed; the watcher retries");
                }
                Some(tokio::spawn(watch(
                    Arc::downgrade(&inner),
                    announced,
                    poll_interval,
                )))
            }
        };
        Ok(Consumer { inner, watcher })
    }
}

#[derive(Default)]
struct Failures {
    /// Blobs that failed to load or apply: plans avoid them.
    blobs: HashSet<BlobKey>,
    /// Blobs the current state is built from (what the cache must keep).
    live: Vec<BlobKey>,
}

struct Inner {
    store: BlobStore,
    current: ArcSwapOption<ReadState>,
    refreshing: tokio::sync::Mutex<Failures>,
    listeners: Vec<Arc<dyn RefreshListener>>,
    max_deltas: usize,
    cache: Option<std::path::PathBuf>,
    type_filter: Option<TypeFilter>,
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
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Some(w) = &self.watcher {
            w.abort();
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
    pub async fn refresh(&self) -> Result<Option<u64>> {
        self.inner.refresh(None).await
    }

    /// Refreshes to `version`, forward or backward, on the announced chain.
    pub async fn refresh_to(&self, version: u64) -> Result<u64> {
        self.inner
            .refresh(Some(version))
            .await?
            .ok_or_else(|| Error::NoSuchVersion { version })
    }
}

/// What identifies a verified blob: its length and its header checksum, which covers the
/// header and every section checksum.
fn blob_identity(bytes: &[u8]) -> Option<String> {
    let checksum = crate::format::header::checksum_bytes(bytes)?;
    Some(format!(
        "{} {}",
        bytes.len(),
        checksum
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

fn verified_before(marker: &std::path::Path, bytes: &[u8]) -> bool {
    std::fs::read_to_string(marker)
        .ok()
        .zip(blob_identity(bytes))
        .is_some_and(|(m, id)| m.trim() == id)
}

fn remember_verified(marker: &std::path::Path, bytes: &[u8]) {
    if let Some(id) = blob_identity(bytes) {
        let tmp = marker.with_extension("verified.tmp");
        if std::fs::write(&tmp, id)
            .and_then(|()| std::fs::rename(&tmp, marker))
            .is_err()
        {
            warn!(marker = %marker.display(), "could not record a verified blob; it will be verified again");
        }
    }
}

async fn watch(
    inner: Weak<Inner>,
    mut announced: tokio::sync::watch::Receiver<u64>,
    poll_interval: Duration,
) {
    let mut seen: Option<(crate::store::AnnouncementVersion, Option<(u64, u64)>)> = None;
    loop {
        // The poll timer of RefreshPolicy::OnAnnouncement (a remote store cannot push), raced
        // with the in-process announcement channel.
        let woken = tokio::select! {
            _ = tokio::time::sleep(poll_interval) => false,
            changed = announced.changed() => if changed.is_err() { return } else { true },
        };
        let Some(inner) = inner.upgrade() else { return };
        // A poll reads the announcement with a conditional GET, and the pin; when neither
        // changed (and the last refresh did not fail) there is nothing to do.
        if !woken && let Some((token, pin)) = &seen {
            let changed = inner
                .store
                .announcement_changed(Some(token))
                .await
                .unwrap_or(true);
            let pin_now = inner.store.pinned().await.unwrap_or(None);
            if !changed && pin_now == *pin {
                continue;
            }
        }
        match inner.refresh(None).await {
            Ok(_) => {
                let token = inner
                    .store
                    .announcement()
                    .await
                    .ok()
                    .flatten()
                    .map(|(_, t)| t);
                let pin = inner.store.pinned().await.unwrap_or(None);
                seen = token.map(|t| (t, pin));
            }
            Err(e) => {
                seen = None;
                warn!(error = %e, "refresh on announcement failed; the current state keeps serving");
            }
        }
    }
}

/// The versions of the announced chain and the blobs that join them.
struct Chain {
    /// `(version, tag)` from the oldest reachable to the announced one.
    states: Vec<(u64, u64)>,
    snapshots: HashMap<(u64, u64), BlobKey>,
    deltas: HashMap<(u64, u64), BlobKey>,
    reverse: HashMap<(u64, u64), BlobKey>,
}

enum Step {
    Snapshot(BlobKey),
    Delta(BlobKey),
}

impl Inner {
    fn emit(&self, event: &RefreshEvent) {
        for l in &self.listeners {
            l.on_event(event);
        }
    }

    async fn chain(&self, head: (u64, u64), failed: &HashSet<BlobKey>) -> Result<Chain> {
        let keys = self.store.list_blobs().await?;
        let mut snapshots = HashMap::new();
        let mut deltas = HashMap::new();
        let mut reverse = HashMap::new();
        // Each state's predecessor, from forward deltas (to → from) and reverse deltas
        // (from → to): either is enough to link the chain.
        let mut back: HashMap<(u64, u64), (u64, u64)> = HashMap::new();
        for k in keys.into_iter().filter(|k| !failed.contains(k)) {
            match k {
                BlobKey::Snapshot { version, tag } => {
                    snapshots.insert((version, tag), k);
                }
                BlobKey::Delta {
                    from,
                    from_tag,
                    to,
                    to_tag,
                } => {
                    deltas.insert(((from, from_tag), (to, to_tag)), k);
                    back.insert((to, to_tag), (from, from_tag));
                }
                BlobKey::ReverseDelta {
                    from,
                    from_tag,
                    to,
                    to_tag,
                } => {
                    reverse.insert((from, from_tag), k);
                    back.entry((from, from_tag)).or_insert((to, to_tag));
                }
            }
        }
        let mut states = vec![head];
        let mut at = head;
        while let Some(prev) = back.get(&at) {
            if prev.0 >= at.0 {
                break; // versions only grow along a chain; anything else is not one
            }
            states.push(*prev);
            at = *prev;
        }
        states.reverse();
        // The forward delta out of each state on the chain, when it exists (failed attempts may
        // have left other deltas out of the same state).
        let deltas: HashMap<(u64, u64), BlobKey> = states
            .windows(2)
            .filter_map(|w| deltas.get(&(w[0], w[1])).map(|k| (w[0], *k)))
            .collect();
        // Reverse deltas must lead to the previous state on the chain.
        let previous: HashMap<(u64, u64), (u64, u64)> =
            states.windows(2).map(|w| (w[1], w[0])).collect();
        reverse.retain(|from, k| {
            matches!(k, BlobKey::ReverseDelta { to, to_tag, .. } if previous.get(from) == Some(&(*to, *to_tag)))
        });
        Ok(Chain {
            states,
            snapshots,
            deltas,
            reverse,
        })
    }

    fn plan(&self, chain: &Chain, current: Option<&ReadState>, target: usize) -> Option<Vec<Step>> {
        let position = current.and_then(|c| {
            chain
                .states
                .iter()
                .position(|s| *s == (c.version(), c.tag()))
        });
        // Compaction: a state already carrying max_deltas overlaid deltas is rebuilt from a
        // snapshot (a newer one when the chain has one on the way), which resets its overlay.
        if let Some(c) = current
            && c.overlay_depth() + 1 > self.max_deltas
            && let Some(plan) = self
                .snapshot_plan(chain, target, Some(c.base_version()))
                .or_else(|| self.snapshot_plan(chain, target, None))
        {
            return Some(plan);
        }
        // From the current state, along the chain.
        if let Some(at) = position {
            if at <= target && target - at <= self.max_deltas {
                let steps: Option<Vec<Step>> = chain.states[at..target]
                    .iter()
                    .map(|s| chain.deltas.get(s).copied().map(Step::Delta))
                    .collect();
                if steps.is_some() {
                    return steps;
                }
            }
            if at > target && at - target <= self.max_deltas {
                let steps: Option<Vec<Step>> = chain.states[target + 1..=at]
                    .iter()
                    .rev()
                    .map(|s| chain.reverse.get(s).copied().map(Step::Delta))
                    .collect();
                if steps.is_some() {
                    return steps;
                }
            }
        }
        self.snapshot_plan(chain, target, None)
    }

    /// A snapshot at or before the target then deltas, else one after it then reverse deltas;
    /// with `newer_than`, only snapshots of a later version count.
    fn snapshot_plan(
        &self,
        chain: &Chain,
        target: usize,
        newer_than: Option<u64>,
    ) -> Option<Vec<Step>> {
        let newer = |snap: &usize| newer_than.is_none_or(|v| chain.states[*snap].0 > v);
        for snap in (0..=target).rev().take(self.max_deltas + 1).filter(newer) {
            if let Some(key) = chain.snapshots.get(&chain.states[snap]) {
                let deltas: Option<Vec<Step>> = chain.states[snap..target]
                    .iter()
                    .map(|s| chain.deltas.get(s).copied().map(Step::Delta))
                    .collect();
                if let Some(deltas) = deltas {
                    return Some(
                        std::iter::once(Step::Snapshot(*key))
                            .chain(deltas)
                            .collect(),
                    );
                }
            }
        }
        for snap in (target + 1..chain.states.len().min(target + 1 + self.max_deltas)).filter(newer)
        {
            if let Some(key) = chain.snapshots.get(&chain.states[snap]) {
                let reverses: Option<Vec<Step>> = chain.states[target + 1..=snap]
                    .iter()
                    .rev()
                    .map(|s| chain.reverse.get(s).copied().map(Step::Delta))
                    .collect();
                if let Some(reverses) = reverses {
                    return Some(
                        std::iter::once(Step::Snapshot(*key))
                            .chain(reverses)
                            .collect(),
                    );
                }
            }
        }
        None
    }

    async fn refresh(&self, version: Option<u64>) -> Result<Option<u64>> {
        let mut failures = self.refreshing.lock().await;
        let started = Instant::now();
        let Some((announcement, _)) = self.store.announcement().await? else {
            return Ok(None);
        };
        let head = (announcement.version, announcement.tag);
        let chain = self.chain(head, &failures.blobs).await?;
        let target = match version {
            Some(v) => chain
                .states
                .iter()
                .position(|s| s.0 == v)
                .ok_or(Error::NoSuchVersion { version: v })?,
            None => match self.store.pinned().await? {
                Some(pin) => chain
                    .states
                    .iter()
                    .position(|s| *s == pin)
                    .ok_or(Error::NoSuchVersion { version: pin.0 })?,
                None => chain.states.len() - 1,
            },
        };
        let current = self.current.load_full();
        let current_at = current.as_ref().map(|s| (s.version(), s.tag()));
        if current_at == Some(chain.states[target]) {
            return Ok(current_at.map(|c| c.0));
        }
        let steps = self
            .plan(&chain, current.as_deref(), target)
            .ok_or_else(|| Error::NoPath {
                from: current_at.map(|c| c.0),
                to: chain.states[target].0,
            })?;
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
        let plan = describe.join(", ");
        info!(from = ?current_at.map(|c| c.0), to = chain.states[target].0, %plan, "refresh");
        self.emit(&RefreshEvent::Started {
            from: current_at.map(|c| c.0),
            to: chain.states[target].0,
            plan,
        });
        match self.execute(&steps, current).await {
            Ok(state) => {
                let version = state.version();
                self.current.store(Some(Arc::new(state)));
                let keys = steps.iter().map(|s| match s {
                    Step::Snapshot(k) | Step::Delta(k) => *k,
                });
                if matches!(steps.first(), Some(Step::Snapshot(_))) {
                    failures.live = keys.collect();
                } else {
                    failures.live.extend(keys);
                }
                self.clean_cache(&failures.live);
                self.emit(&RefreshEvent::Succeeded {
                    version,
                    elapsed: started.elapsed(),
                });
                Ok(Some(version))
            }
            Err((key, e)) => {
                if let Some(key) = key {
                    failures.blobs.insert(key);
                }
                self.emit(&RefreshEvent::Failed {
                    error: e.to_string(),
                });
                Err(e)
            }
        }
    }

    /// A blob's bytes: mapped in place from a local store, mapped from the cache (downloading
    /// it once), or read into memory.
    async fn open(&self, key: &BlobKey) -> Result<crate::bytes::BlobBytes> {
        let Some(dir) = self
            .cache
            .as_ref()
            .filter(|_| self.store.local_dir().is_none())
        else {
            return self.store.open_blob(key).await;
        };
        let path = dir.join(key.relative().replace('/', "_"));
        if !path.exists() {
            let bytes = self.store.get_blob(key).await?;
            let tmp = dir.join(format!(
                ".{}.{}.tmp",
                key.relative().replace('/', "_"),
                std::process::id()
            ));
            std::fs::write(&tmp, bytes.as_slice()).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        }
        crate::bytes::BlobBytes::map_file(&path)
    }

    /// Where the verification record of a cached snapshot lives (only for remote stores with a
    /// cache: a local store's files belong to the producer).
    fn verified_marker(&self, key: &BlobKey) -> Option<std::path::PathBuf> {
        let dir = self
            .cache
            .as_ref()
            .filter(|_| self.store.local_dir().is_none())?;
        Some(dir.join(format!("{}.verified", key.relative().replace('/', "_"))))
    }

    /// Removes cached blobs the current state does not use. States still held by readers keep
    /// their mappings (an unlinked file stays mapped until its last mapping goes).
    fn clean_cache(&self, live: &[BlobKey]) {
        let Some(dir) = &self.cache else { return };
        let keep: HashSet<String> = live
            .iter()
            .map(|k| k.relative().replace('/', "_"))
            .collect();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let blob_name = name.strip_suffix(".verified").unwrap_or(&name);
            if blob_name.ends_with(".blob") && !keep.contains(blob_name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    async fn execute(
        &self,
        steps: &[Step],
        current: Option<Arc<ReadState>>,
    ) -> Result<ReadState, (Option<BlobKey>, Error)> {
        let mut state: Option<ReadState> = None;
        for step in steps {
            let t = Instant::now();
            match step {
                Step::Snapshot(key) => {
                    let bytes = self.open(key).await.map_err(|e| (Some(*key), e))?;
                    let marker = self.verified_marker(key);
                    let trusted = marker
                        .as_ref()
                        .is_some_and(|m| verified_before(m, bytes.as_slice()));
                    let mut snapshot = if trusted {
                        ReadState::from_verified_cache(bytes.clone(), &key.relative())
                    } else {
                        ReadState::from_bytes(bytes.clone(), &key.relative())
                    }
                    .map_err(|e| (Some(*key), e))?;
                    if let Some(keep) = &self.type_filter {
                        snapshot = snapshot.retain_types(|name| keep(name));
                    }
                    let named = match key {
                        BlobKey::Snapshot { version, tag } => (*version, *tag),
                        _ => (0, 0),
                    };
                    if (snapshot.version(), snapshot.tag()) != named {
                        let reason = format!(
                            "holds version {} (tag {:#x}), not the one its key names",
                            snapshot.version(),
                            snapshot.tag()
                        );
                        return Err((Some(*key), Error::corrupt(key.relative(), "header", reason)));
                    }
                    if !trusted {
                        snapshot.verify_all().map_err(|e| (Some(*key), e))?;
                        // Remember the verification next to the cached blob, so reopening it
                        // (this process or the next) skips the section checksums.
                        if let Some(marker) = &marker {
                            remember_verified(marker, bytes.as_slice());
                        }
                    }
                    self.emit(&RefreshEvent::SnapshotLoaded {
                        version: snapshot.version(),
                        elapsed: t.elapsed(),
                    });
                    state = Some(snapshot);
                }
                Step::Delta(key) => {
                    let bytes = self.open(key).await.map_err(|e| (Some(*key), e))?;
                    let delta = Arc::new(
                        ReadDelta::from_bytes(bytes, &key.relative())
                            .map_err(|e| (Some(*key), e))?,
                    );
                    let h = delta.header();
                    let joins = match key {
                        BlobKey::Delta {
                            from,
                            from_tag,
                            to,
                            to_tag,
                        }
                        | BlobKey::ReverseDelta {
                            from,
                            from_tag,
                            to,
                            to_tag,
                        } => (*from, *from_tag, *to, *to_tag),
                        BlobKey::Snapshot { .. } => (0, 0, 0, 0),
                    };
                    if (h.from_version, h.from_tag, h.to_version, h.to_tag) != joins {
                        let reason = "joins other states than its key names".to_string();
                        return Err((Some(*key), Error::corrupt(key.relative(), "header", reason)));
                    }
                    let base = match (&state, &current) {
                        (Some(s), _) => s,
                        (None, Some(c)) => c.as_ref(),
                        (None, None) => {
                            return Err((
                                None,
                                Error::NoPath {
                                    from: None,
                                    to: delta.header().to_version,
                                },
                            ));
                        }
                    };
                    let next = base
                        .apply_delta(Arc::clone(&delta))
                        .map_err(|e| (Some(*key), e))?;
                    self.emit(&RefreshEvent::DeltaApplied {
                        from: delta.header().from_version,
                        to: delta.header().to_version,
                        elapsed: t.elapsed(),
                    });
                    state = Some(next);
                }
            }
        }
        state.ok_or((None, Error::NoPath { from: None, to: 0 }))
    }
}
