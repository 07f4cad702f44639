//! Prometheus metrics through `prometheus-client`: the explorer's consumer (fed by a
//! [`hollow::RefreshListener`] and a [`hollow::DownloadObserver`]) and `produce --watch`'s
//! producer (a [`hollow::CycleListener`]), each in a registry of its own, exposed as text at
//! `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use hollow::{CycleEvent, CycleListener, DownloadEvent, ReadState, RefreshEvent};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabel {
    r#type: String,
    change: &'static str,
}

fn seconds_histogram() -> Histogram {
    // 1 ms … about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The explorer's consumer metrics.
pub struct ConsumerMetrics {
    registry: Registry,
    version: Gauge,
    announced: Gauge,
    behind: Gauge,
    refreshes: Family<ResultLabel, Counter>,
    refresh_seconds: Histogram,
    fetched_bytes: Counter,
    cache_bytes: Gauge,
    records: Family<TypeLabel, Gauge>,
}

impl Default for ConsumerMetrics {
    fn default() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("hollow_consumer"),
            version: Gauge::default(),
            announced: Gauge::default(),
            behind: Gauge::default(),
            refreshes: Family::default(),
            refresh_seconds: seconds_histogram(),
            fetched_bytes: Counter::default(),
            cache_bytes: Gauge::default(),
            records: Family::default(),
        };
        let r = &mut m.registry;
        r.register("version", "The version served", m.version.clone());
        r.register(
            "announced_version",
            "The version the store announces (or is pinned to), read at each scrape",
            m.announced.clone(),
        );
        r.register(
            "versions_behind",
            "Announced (or pinned) version minus the version served",
            m.behind.clone(),
        );
        r.register(
            "refreshes",
            "Refreshes by result (succeeded, failed)",
            m.refreshes.clone(),
        );
        r.register_with_unit(
            "refresh_duration",
            "Duration of successful refreshes",
            Unit::Seconds,
            m.refresh_seconds.clone(),
        );
        r.register_with_unit(
            "fetched",
            "Blob bytes downloaded from the store (as stored, compressed or not)",
            Unit::Bytes,
            m.fetched_bytes.clone(),
        );
        r.register_with_unit(
            "cache",
            "Bytes of blob files in the local blob cache (0 without a cache)",
            Unit::Bytes,
            m.cache_bytes.clone(),
        );
        r.register(
            "records",
            "Records per type at the version served",
            m.records.clone(),
        );
        m
    }
}

impl ConsumerMetrics {
    /// Counts a refresh event.
    pub fn on_refresh(&self, event: &RefreshEvent) {
        match event {
            RefreshEvent::Succeeded { version, elapsed } => {
                self.refreshes
                    .get_or_create(&ResultLabel {
                        result: "succeeded",
                    })
                    .inc();
                self.refresh_seconds.observe(elapsed.as_secs_f64());
                self.version.set(gauge_value(*version));
            }
            RefreshEvent::Failed { .. } => {
                self.refreshes
                    .get_or_create(&ResultLabel { result: "failed" })
                    .inc();
            }
            _ => {}
        }
    }

    /// Counts downloaded bytes.
    pub fn on_download(&self, event: &DownloadEvent) {
        if let DownloadEvent::Finished { wire_bytes, .. } = event {
            self.fetched_bytes.inc_by(*wire_bytes);
        }
    }

    /// The text exposition, after updating what is read at scrape time: the announced
    /// version, the lag, the cache size and the records per type of `state`.
    pub fn render(
        &self,
        state: Option<&ReadState>,
        target: Option<u64>,
        cache_bytes: u64,
    ) -> Result<String, std::fmt::Error> {
        let served = state.map(ReadState::version);
        if let Some(s) = state {
            self.version.set(gauge_value(s.version()));
            for t in s.dataset_types() {
                self.records
                    .get_or_create(&TypeLabel { r#type: t.name })
                    .set(i64::from(t.record_count));
            }
        }
        if let Some(t) = target {
            self.announced.set(gauge_value(t));
            self.behind
                .set(gauge_value(t.saturating_sub(served.unwrap_or(0))));
        }
        self.cache_bytes.set(gauge_value(cache_bytes));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// A producer's metrics (`hollow produce --watch --metrics-bind`), fed as a
/// [`CycleListener`].
pub struct ProducerMetrics {
    registry: Registry,
    version: Gauge,
    cycles: Family<ResultLabel, Counter>,
    stage_seconds: Family<StageLabel, Histogram, fn() -> Histogram>,
    blob_bytes: Family<KindLabel, Counter>,
    records: Family<ChangeLabel, Counter>,
}

impl Default for ProducerMetrics {
    fn default() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("hollow_producer"),
            version: Gauge::default(),
            cycles: Family::default(),
            stage_seconds: Family::new_with_constructor(seconds_histogram),
            blob_bytes: Family::default(),
            records: Family::default(),
        };
        let r = &mut m.registry;
        r.register("version", "The version last announced", m.version.clone());
        r.register(
            "cycles",
            "Cycles by result (published, unchanged, failed)",
            m.cycles.clone(),
        );
        r.register_with_unit(
            "stage_duration",
            "Duration of each stage of published cycles",
            Unit::Seconds,
            m.stage_seconds.clone(),
        );
        r.register_with_unit(
            "blob",
            "Bytes of blobs written, by kind (snapshot, delta, reverse_delta)",
            Unit::Bytes,
            m.blob_bytes.clone(),
        );
        r.register(
            "records",
            "Records added, changed and removed, by type",
            m.records.clone(),
        );
        m
    }
}

impl ProducerMetrics {
    /// The text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl CycleListener for ProducerMetrics {
    fn on_cycle(&self, event: &CycleEvent<'_>) {
        let result = match event {
            CycleEvent::Published(report) => {
                self.version.set(gauge_value(report.version));
                let t = &report.timings;
                for (stage, d) in [
                    ("populate", t.populate),
                    ("validate", t.validate),
                    ("encode", t.encode),
                    ("verify", t.verify),
                    ("publish", t.publish),
                    ("announce", t.announce),
                ] {
                    self.stage_seconds
                        .get_or_create(&StageLabel { stage })
                        .observe(d.as_secs_f64());
                }
                for (kind, bytes) in [
                    ("snapshot", report.snapshot_bytes),
                    ("delta", report.delta_bytes),
                    ("reverse_delta", report.reverse_delta_bytes),
                ] {
                    if let Some(b) = bytes {
                        self.blob_bytes.get_or_create(&KindLabel { kind }).inc_by(b);
                    }
                }
                for (name, counts) in &report.types {
                    for (change, n) in [
                        ("added", counts.added),
                        ("changed", counts.updated),
                        ("removed", counts.removed),
                    ] {
                        self.records
                            .get_or_create(&ChangeLabel {
                                r#type: name.clone(),
                                change,
                            })
                            .inc_by(u64::from(n));
                    }
                }
                "published"
            }
            CycleEvent::Unchanged { version } => {
                self.version.set(gauge_value(*version));
                "unchanged"
            }
            _ => "failed",
        };
        self.cycles.get_or_create(&ResultLabel { result }).inc();
    }
}

/// Serves `/metrics` (and `/healthz`) of a producer on `bind` until the process ends; the
/// bound address is logged and printed on stderr ("metrics on http://…").
pub async fn serve_producer(bind: SocketAddr, metrics: Arc<ProducerMetrics>) -> Result<()> {
    use axum::http::header::CONTENT_TYPE as CT;
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("--metrics-bind {bind}"))?;
    let address = listener.local_addr()?;
    eprintln!("metrics on http://{address}/metrics");
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move {
                    match metrics.render() {
                        Ok(text) => ([(CT, CONTENT_TYPE)], text).into_response(),
                        Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    }
                }
            }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok\n" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(())
}
