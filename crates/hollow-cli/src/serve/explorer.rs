//! The explorer's state: the live consumer following the announcements (its refreshes feed
//! the metrics and the server-sent events), a small LRU of states for versions named in URLs
//! (opened by a second consumer's refresh plans), caches of diffs and per-version change
//! counts, and readiness.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hollow::tools::{HistoryEntry, TypeChanges};
use hollow::{BlobKey, BlobStore, Consumer, ReadState, RefreshEvent, RefreshPolicy};
use lru::LruCache;
use tokio::sync::broadcast;
use tracing::{info, warn};

use super::error::PageError;
use super::metrics::ConsumerMetrics;
use super::{LOG_TARGET, ServeArgs};

/// Diffs kept for paging through them.
const DIFFS_KEPT: usize = 8;
/// Record histories kept (each walks the chain once).
const HISTORIES_KEPT: usize = 32;

/// Facets kept (per state, type, index and limit).
const FACETS_KEPT: usize = 64;

/// A facet request: the state, the type, the index (all one-field hash indexes when none)
/// and the limit.
type FacetKey = (hollow::StateId, String, Option<String>, usize);

/// A history's announced version, type and key.
type HistoryKey = (u64, String, Vec<String>);

/// A diff's versions and type filter.
type DiffKey = (u64, u64, Option<String>);

/// A computed diff: both states and the changes between them.
pub struct DiffData {
    pub a: Arc<ReadState>,
    pub b: Arc<ReadState>,
    pub changes: Vec<TypeChanges>,
    /// "deltas" or "full", as `hollow diff --json` says.
    pub via: &'static str,
}

/// Changes a delta brought to one type.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeltaCounts {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Records added or changed.
    pub upserted: usize,
    pub removed: usize,
}

/// What the explorer serves from.
pub struct Explorer {
    pub store: BlobStore,
    pub location: String,
    live: Consumer,
    loader: tokio::sync::Mutex<Consumer>,
    pinned: Mutex<LruCache<u64, Arc<ReadState>>>,
    diffs: Mutex<LruCache<DiffKey, Arc<DiffData>>>,
    delta_counts: Mutex<HashMap<BlobKey, Arc<Vec<DeltaCounts>>>>,
    histories: Mutex<LruCache<HistoryKey, Arc<Vec<HistoryEntry>>>>,
    facets: Mutex<LruCache<FacetKey, Arc<Vec<hollow::Facets>>>>,
    /// New versions served, for `/events`.
    pub events: broadcast::Sender<u64>,
    pub metrics: Arc<ConsumerMetrics>,
    /// When this server first served each version (Unix milliseconds).
    seen: Arc<Mutex<BTreeMap<u64, u64>>>,
    cache_dir: Option<PathBuf>,
    ready_max_lag: Duration,
    behind_since: Mutex<Option<(u64, Instant)>>,
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Explorer {
    /// Opens the store and starts following it.
    pub async fn start(args: &ServeArgs) -> Result<Self> {
        let location = args.store.location().to_string();
        let metrics = Arc::new(ConsumerMetrics::default());
        let downloads = metrics.clone();
        let store = args
            .store
            .open_for(crate::data::Access::Read, "serve")?
            .with_download_observer(move |e: &hollow::DownloadEvent| downloads.on_download(e));
        let (events, _) = broadcast::channel(64);
        let seen: Arc<Mutex<BTreeMap<u64, u64>>> = Arc::default();
        let listener = {
            let (metrics, events, seen) = (metrics.clone(), events.clone(), seen.clone());
            move |event: &RefreshEvent| {
                metrics.on_refresh(event);
                match event {
                    RefreshEvent::Succeeded { version, elapsed } => {
                        if let Ok(mut s) = seen.lock() {
                            s.entry(*version).or_insert_with(now_millis);
                        }
                        info!(
                            target: LOG_TARGET,
                            version,
                            duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                            "serving"
                        );
                        // No page open is not an error.
                        let _ = events.send(*version);
                    }
                    RefreshEvent::Failed { error } => {
                        warn!(target: LOG_TARGET, %error, "refresh failed; the current version keeps serving");
                    }
                    _ => {}
                }
            }
        };
        let dataset = store
            .announcement()
            .await
            .context("reading the announcement")?
            .map(|(a, _)| a.dataset);
        let push = args.push.connect(dataset.as_deref()).await?;
        // A local store's blobs are mapped where the producer wrote them (read-only files it
        // never rewrites) rather than copied into memory per consumer.
        let mut builder = crate::remote::consumer(store.clone()).map_local_store_in_place(true);
        if let Some(push) = push {
            builder = builder.push(push);
        }
        let live = builder
            .refresh_policy(RefreshPolicy::OnAnnouncement {
                poll_interval: args.poll_interval,
            })
            .listener(listener)
            .build()
            .await
            .context("starting the consumer")?;
        let loader = crate::remote::consumer(store.clone())
            .map_local_store_in_place(true)
            .build()
            .await
            .context("starting the consumer of pinned versions")?;
        let kept = NonZeroUsize::new(args.pinned_states.max(1)).unwrap_or(NonZeroUsize::MIN);
        let diffs = NonZeroUsize::new(DIFFS_KEPT).unwrap_or(NonZeroUsize::MIN);
        Ok(Self {
            cache_dir: crate::remote::cache_dir(&location, &args.store.remote),
            store,
            location,
            live,
            loader: tokio::sync::Mutex::new(loader),
            pinned: Mutex::new(LruCache::new(kept)),
            diffs: Mutex::new(LruCache::new(diffs)),
            delta_counts: Mutex::default(),
            facets: Mutex::new(LruCache::new(
                NonZeroUsize::new(FACETS_KEPT).unwrap_or(NonZeroUsize::MIN),
            )),
            histories: Mutex::new(LruCache::new(
                NonZeroUsize::new(HISTORIES_KEPT).unwrap_or(NonZeroUsize::MIN),
            )),
            events,
            metrics,
            seen,
            ready_max_lag: args.ready_max_lag,
            behind_since: Mutex::new(None),
        })
    }

    /// Computes, for each version the live consumer serves, what its first page views would
    /// otherwise wait for: the type pages' facets and the diff from the previous version of
    /// the chain (the home page links it). Runs until the explorer is dropped.
    pub fn warm_up(self: &Arc<Self>) {
        let explorer = Arc::downgrade(self);
        let mut versions = self.events.subscribe();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let Some(ex) = explorer.upgrade() else { return };
                if let Some(state) = ex.live().filter(|s| Some(s.version()) != last) {
                    last = Some(state.version());
                    ex.warm(&state).await;
                }
                drop(ex);
                match versions.recv().await {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    async fn warm(&self, state: &Arc<ReadState>) {
        let started = Instant::now();
        for t in state.dataset_types() {
            if let Err(e) = self
                .facets(state, &t.name, None, super::model::FACET_LIMIT)
                .await
            {
                warn!(target: LOG_TARGET, r#type = t.name, error = %e, "facets not precomputed");
            }
        }
        let previous = match hollow::tools::announced_chain(&self.store).await {
            Ok(chain) => chain
                .iter()
                .map(|s| s.version)
                .filter(|v| *v < state.version())
                .max(),
            Err(_) => None,
        };
        if let Some(p) = previous
            && let Err(e) = self.diff(p, state.version(), None).await
        {
            warn!(target: LOG_TARGET, from = p, to = state.version(), error = %e, "diff not precomputed");
        }
        info!(
            target: LOG_TARGET,
            version = state.version(),
            millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "facets and the diff from the previous version computed"
        );
    }

    /// The live state (`None` before the first version arrived).
    pub fn live(&self) -> Option<Arc<ReadState>> {
        self.live.state()
    }

    /// The state a request reads: the live one, or `version` (the live one when it is that
    /// version, else from the LRU, else opened by refreshing the loader to it).
    pub async fn state_for(&self, version: Option<u64>) -> Result<Arc<ReadState>, PageError> {
        let live = self.live.state();
        let Some(v) = version else {
            return live.ok_or_else(|| {
                PageError::Unavailable(format!(
                    "no version is served yet: nothing has been announced in {}",
                    self.location
                ))
            });
        };
        if let Some(s) = live.filter(|s| s.version() == v) {
            return Ok(s);
        }
        if let Some(s) = self.pinned.lock().ok().and_then(|mut p| p.get(&v).cloned()) {
            return Ok(s);
        }
        let loader = self.loader.lock().await;
        // Another request may have opened it while this one waited.
        if let Some(s) = self.pinned.lock().ok().and_then(|mut p| p.get(&v).cloned()) {
            return Ok(s);
        }
        loader.refresh_to(v).await.map_err(|e| match e {
            hollow::RefreshError::NoSuchVersion { .. } => PageError::NotFound(format!(
                "version {v} is not on the announced chain of {}",
                self.location
            )),
            other => other.into(),
        })?;
        let state = loader
            .state()
            .ok_or_else(|| PageError::NotFound(format!("version {v} could not be opened")))?;
        if let Ok(mut p) = self.pinned.lock() {
            p.put(v, state.clone());
        }
        Ok(state)
    }

    /// When this server first served `version` (Unix milliseconds).
    pub fn seen_at(&self, version: u64) -> Option<u64> {
        self.seen.lock().ok()?.get(&version).copied()
    }

    /// The changes between versions `a` and `b` (only type `only`), computed through the
    /// deltas between them when both are on the announced chain; kept for paging.
    pub async fn diff(
        &self,
        a: u64,
        b: u64,
        only: Option<&str>,
    ) -> Result<Arc<DiffData>, PageError> {
        let key = (a, b, only.map(str::to_string));
        if let Some(d) = self
            .diffs
            .lock()
            .ok()
            .and_then(|mut d| d.get(&key).cloned())
        {
            return Ok(d);
        }
        let sa = self.state_for(Some(a)).await?;
        let sb = self.state_for(Some(b)).await?;
        if let Some(t) = only {
            sb.dyn_table(t)?;
        }
        let touched = hollow::tools::touched_between(&self.store, a, b).await?;
        let only = only.map(str::to_string);
        let data = tokio::task::spawn_blocking(move || {
            let via = if touched.is_some() { "deltas" } else { "full" };
            let mut changes = hollow::tools::changes(
                &sa,
                &sb,
                only.as_deref(),
                touched.as_ref().map(|(t, _)| t),
            )?;
            changes.retain(|c| !c.is_empty());
            Ok::<_, PageError>(DiffData {
                a: sa,
                b: sb,
                changes,
                via,
            })
        })
        .await
        .map_err(|e| PageError::Unavailable(format!("the diff stopped: {e}")))??;
        let data = Arc::new(data);
        if let Ok(mut d) = self.diffs.lock() {
            d.put(key, data.clone());
        }
        Ok(data)
    }

    /// Facets of `type_name` at `state` (`super::model::facets`), computed off the async
    /// workers once per state and kept.
    pub async fn facets(
        &self,
        state: &Arc<ReadState>,
        type_name: &str,
        index: Option<&str>,
        limit: usize,
    ) -> Result<Arc<Vec<hollow::Facets>>, PageError> {
        let id = (
            state.state_id(),
            type_name.to_string(),
            index.map(str::to_string),
            limit,
        );
        if let Some(f) = self
            .facets
            .lock()
            .ok()
            .and_then(|mut f| f.get(&id).cloned())
        {
            return Ok(f);
        }
        let (state, type_name, index) = (
            state.clone(),
            type_name.to_string(),
            index.map(str::to_string),
        );
        let facets = tokio::task::spawn_blocking(move || {
            super::model::facets(&state, &type_name, index.as_deref(), limit)
        })
        .await
        .map_err(|e| PageError::Unavailable(format!("the facets stopped: {e}")))??;
        let facets = Arc::new(facets);
        if let Ok(mut f) = self.facets.lock() {
            f.put(id, facets.clone());
        }
        Ok(facets)
    }

    /// The history of a record over the announced chain (`hollow::tools::history`), kept
    /// until a new version is announced.
    pub async fn history(
        &self,
        type_name: &str,
        key: &[String],
    ) -> Result<Arc<Vec<HistoryEntry>>, PageError> {
        let head = self
            .store
            .announcement()
            .await?
            .map_or(0, |(a, _)| a.version);
        let id = (head, type_name.to_string(), key.to_vec());
        if let Some(h) = self
            .histories
            .lock()
            .ok()
            .and_then(|mut h| h.get(&id).cloned())
        {
            return Ok(h);
        }
        let refs: Vec<&str> = key.iter().map(String::as_str).collect();
        let walker = crate::remote::consumer(self.store.clone()).map_local_store_in_place(true);
        let entries =
            Arc::new(hollow::tools::history_with(walker, &self.store, type_name, &refs).await?);
        if let Ok(mut h) = self.histories.lock() {
            h.put(id, entries.clone());
        }
        Ok(entries)
    }

    /// Records upserted and removed per type by the delta `key` (read once, then kept).
    pub async fn delta_counts(&self, key: &BlobKey) -> Result<Arc<Vec<DeltaCounts>>, PageError> {
        if let Some(c) = self
            .delta_counts
            .lock()
            .ok()
            .and_then(|c| c.get(key).cloned())
        {
            return Ok(c);
        }
        let bytes = self
            .store
            .get_blob(key)
            .await
            .map_err(hollow::Error::from)?;
        let delta =
            hollow::ReadDelta::from_bytes(bytes, &key.relative()).map_err(hollow::Error::from)?;
        let counts: Arc<Vec<DeltaCounts>> = Arc::new(
            delta
                .types()
                .iter()
                .filter(|t| !t.removed.is_empty() || !t.upserted.is_empty())
                .map(|t| DeltaCounts {
                    type_name: t.name.clone(),
                    upserted: t.upserted.len(),
                    removed: t.removed.len(),
                })
                .collect(),
        );
        if let Ok(mut c) = self.delta_counts.lock() {
            c.insert(*key, counts.clone());
        }
        Ok(counts)
    }

    /// The version consumers should serve: the pinned one, else the announced one.
    pub async fn target_version(&self) -> Result<Option<u64>, PageError> {
        if let Some(pin) = self.store.pinned().await.map_err(hollow::Error::from)? {
            return Ok(Some(pin.version));
        }
        Ok(self
            .store
            .announcement()
            .await
            .map_err(hollow::Error::from)?
            .map(|(a, _)| a.version))
    }

    /// `/readyz`: ready when a version is served and the target has not been ahead of it for
    /// longer than `--ready-max-lag`. The message says why not.
    pub async fn readiness(&self) -> (bool, String) {
        let Some(served) = self.live.version() else {
            return (false, "no version served yet".to_string());
        };
        let target = match self.target_version().await {
            Ok(t) => t.unwrap_or(served),
            Err(e) => return (false, format!("version {served} served; {e}")),
        };
        let Ok(mut behind) = self.behind_since.lock() else {
            return (false, "internal lock poisoned".to_string());
        };
        if target == served {
            *behind = None;
            return (true, format!("serving version {served}"));
        }
        let since = match *behind {
            Some((t, since)) if t == target => since,
            _ => {
                let now = Instant::now();
                *behind = Some((target, now));
                now
            }
        };
        let lag = since.elapsed();
        if lag > self.ready_max_lag {
            (
                false,
                format!(
                    "serving version {served}, but version {target} has been announced for {} ms (--ready-max-lag {} ms)",
                    lag.as_millis(),
                    self.ready_max_lag.as_millis()
                ),
            )
        } else {
            (
                true,
                format!("serving version {served}; version {target} is on its way"),
            )
        }
    }

    /// Bytes of files in the blob cache (0 without a cache).
    pub fn cache_bytes(&self) -> u64 {
        fn walk(dir: &std::path::Path) -> u64 {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => walk(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
        }
        self.cache_dir.as_deref().map_or(0, walk)
    }
}
