//! Network faults between hollow and a real S3 server (SeaweedFS, started by `.ci/run`), through
//! a fault-injecting proxy (`network/proxy.rs`): the server stopped in the middle of a publish
//! and of a download, bursts of `503 SlowDown`, and slow responses. In each, nothing partial is
//! announced, a consumer keeps serving its state, and both recover when the server is back.
//! Skipped without `HOLLOW_CONFORMANCE_URL` (an `s3://` URL) and `AWS_ENDPOINT`, except under
//! CI, where they fail.

#[path = "network/proxy.rs"]
mod proxy;

use std::net::ToSocketAddrs;

use hollow::{BlobStore, Consumer, CycleError, CycleOutcome, Producer};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::movie;
use proxy::{Fault, FaultProxy};

/// The S3 URL and the server's address, or None (skipped) outside CI.
fn s3() -> Option<(String, std::net::SocketAddr)> {
    let url = std::env::var("HOLLOW_CONFORMANCE_URL").ok();
    let endpoint = std::env::var("AWS_ENDPOINT").ok();
    match (url, endpoint) {
        (Some(url), Some(endpoint)) if url.starts_with("s3://") => {
            let authority = endpoint
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
            let addr = authority
                .to_socket_addrs()
                .expect("AWS_ENDPOINT host:port")
                .next()
                .expect("an address");
            Some((url.trim_end_matches('/').to_string(), addr))
        }
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set HOLLOW_CONFORMANCE_URL=s3://… and AWS_ENDPOINT (.ci/run starts SeaweedFS)"
            );
            eprintln!("no S3 server (HOLLOW_CONFORMANCE_URL, AWS_ENDPOINT): skipped");
            None
        }
    }
}

/// A fresh dataset location under the S3 base.
fn fresh(base: &str, name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{base}/network-{name}-{nanos}")
}

/// The store at `url` reached through `proxy`, retrying a few times quickly.
fn through(proxy: &FaultProxy, url: &str, extra: &[(&str, &str)]) -> BlobStore {
    let mut options = vec![
        ("aws_endpoint".to_string(), proxy.url()),
        ("hollow_max_retries".to_string(), "3".to_string()),
        ("hollow_retry_timeout".to_string(), "20s".to_string()),
    ];
    options.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    BlobStore::from_url_with_options(url, options).expect("store through the proxy")
}

fn direct(url: &str) -> BlobStore {
    BlobStore::from_url(url).expect("store")
}

async fn producer(store: BlobStore) -> Producer {
    Producer::builder(store, "movies")
        .register::<movie::Owned>()
        .build()
        .await
        .expect("producer")
}

async fn cycle(producer: &Producer, data: &Dataset, c: u64) -> Result<CycleOutcome, CycleError> {
    producer
        .run_cycle(|cycle| {
            let mut message = capnp::message::Builder::new_default();
            for m in data.movies(c) {
                m.build(message.init_root::<movie::Builder>());
                cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await
}

fn published(outcome: Result<CycleOutcome, CycleError>) -> u64 {
    match outcome {
        Ok(CycleOutcome::Published(report)) => report.version,
        other => panic!("expected a published cycle: {other:?}"),
    }
}

/// What a state holds, per type: name, record count and state checksum.
fn summary(consumer: &Consumer) -> Vec<(String, u32, u64)> {
    let state = consumer.state().expect("a state");
    state
        .types()
        .into_iter()
        .map(|t| (t.name.to_string(), t.record_count, t.checksum))
        .collect()
}

async fn announced_version(url: &str) -> Option<u64> {
    direct(url)
        .announcement()
        .await
        .expect("announcement")
        .map(|(a, _)| a.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_publish_announces_nothing_and_the_producer_recovers() {
    let Some((base, server)) = s3() else { return };
    let url = fresh(&base, "publish");
    let proxy = FaultProxy::start(server).await;
    let data = Dataset::new(2_000);
    let producer = producer(through(&proxy, &url, &[])).await;
    match cycle(&producer, &data, 0).await {
        Ok(CycleOutcome::Published(report)) => {
            assert_eq!(report.version, 1);
            let raw = report.snapshot_bytes.expect("a snapshot");
            assert!(
                report.stored_bytes > 0 && report.stored_bytes < raw,
                "compressed on S3: {} of {raw} bytes stored",
                report.stored_bytes
            );
        }
        other => panic!("{other:?}"),
    }

    // The server stops halfway through the delta's upload.
    proxy.on("PUT", "/deltas/", Fault::DownAfterRequestBytes(512));
    let failed = cycle(&producer, &data, 1).await;
    assert!(proxy.is_down(), "the fault fired");
    match failed {
        Err(CycleError::Store(e)) => {
            let message = e.to_string();
            assert!(message.contains("delta"), "names the blob: {message}");
        }
        other => panic!("expected a store error: {other:?}"),
    }
    assert_eq!(announced_version(&url).await, Some(1), "nothing announced");

    // While it is down, cycles fail the same way and announce nothing.
    assert!(cycle(&producer, &data, 1).await.is_err());
    assert_eq!(announced_version(&url).await, Some(1));

    // The server is back: the same producer publishes the next version.
    proxy.up();
    let v = published(cycle(&producer, &data, 1).await);
    assert_eq!(v, 2);
    assert_eq!(announced_version(&url).await, Some(2));
    let consumer = Consumer::builder(direct(&url))
        .build()
        .await
        .expect("consumer");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(2));
    let expected = data.movies(1).count() as u64;
    assert_eq!(u64::from(summary(&consumer)[0].1), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_download_keeps_the_old_state_and_resumes() {
    let Some((base, server)) = s3() else { return };
    let url = fresh(&base, "download");
    let proxy = FaultProxy::start(server).await;
    let data = Dataset::new(2_000);
    let producer = producer(direct(&url)).await;
    assert_eq!(published(cycle(&producer, &data, 0).await), 1);

    let consumer = Consumer::builder(through(&proxy, &url, &[]))
        .build()
        .await
        .expect("consumer");
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(1));
    let at_1 = summary(&consumer);
    assert_eq!(published(cycle(&producer, &data, 1).await), 2);

    // The server stops 200 bytes into the delta's response.
    proxy.on("GET", "/deltas/", Fault::DownAfterResponseBytes(200));
    let failed = consumer.refresh().await;
    assert!(proxy.is_down(), "the fault fired");
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(consumer.version(), Some(1), "the old state keeps serving");
    assert_eq!(summary(&consumer), at_1);
    let state = consumer.state().expect("state");
    let movies = state.table::<movie::Owned>().expect("movies");
    let first = data.movies(0).next().expect("a movie").id;
    assert!(movies.get_by_key(first).expect("lookup").is_some());

    // The server is back: the next refresh resumes and lands on the producer's state.
    proxy.up();
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(2));
    let reference = Consumer::builder(direct(&url))
        .build()
        .await
        .expect("consumer");
    reference.refresh().await.expect("refresh");
    assert_eq!(summary(&consumer), summary(&reference));
    let delta_gets = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/deltas/"))
        .count();
    assert!(
        delta_gets >= 2,
        "the same delta, downloaded again: {delta_gets}"
    );

    // Down between refreshes: the refresh fails at once, the state keeps serving; back up, the
    // consumer moves on.
    proxy.down();
    assert_eq!(published(cycle(&producer, &data, 2).await), 3);
    assert!(consumer.refresh().await.is_err());
    assert_eq!(consumer.version(), Some(2));
    proxy.up();
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_5xx_are_retried_with_backoff_and_bounded() {
    let Some((base, server)) = s3() else { return };
    let url = fresh(&base, "5xx");
    let proxy = FaultProxy::start(server).await;
    let data = Dataset::new(1_000);
    let producer = producer(through(&proxy, &url, &[])).await;

    // A burst shorter than the retry budget (3) is absorbed: the cycle publishes.
    proxy.fail_next(3);
    assert_eq!(published(cycle(&producer, &data, 0).await), 1);
    assert_eq!(proxy.served_5xx(), 3);

    let consumer = Consumer::builder(through(&proxy, &url, &[]))
        .build()
        .await
        .expect("consumer");
    proxy.fail_next(2);
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(1));
    assert_eq!(proxy.served_5xx(), 5);

    // A burst longer than the budget fails the cycle after a bounded number of attempts.
    proxy.fail_next(1_000);
    let failed = cycle(&producer, &data, 1).await;
    assert!(failed.is_err(), "{failed:?}");
    let served = proxy.served_5xx() - 5;
    assert!(
        (4..=1_000).contains(&served),
        "bounded retries: {served} 503s"
    );
    assert_eq!(announced_version(&url).await, Some(1), "nothing announced");
    // And the producer carries on when the store recovers.
    proxy.fail_next(0);
    assert_eq!(published(cycle(&producer, &data, 1).await), 2);
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_downloads_are_not_cut_by_a_timeout() {
    let Some((base, server)) = s3() else { return };
    let url = fresh(&base, "slow");
    let proxy = FaultProxy::start(server).await;
    // A snapshot of a few hundred KB on the wire.
    let data = Dataset::new(5_000);
    let producer = producer(direct(&url)).await;
    assert_eq!(published(cycle(&producer, &data, 0).await), 1);
    let snapshot_bytes: u64 = direct(&url)
        .list_blob_sizes()
        .await
        .expect("sizes")
        .into_iter()
        .map(|(_, n)| n)
        .sum();
    // Throttled so the download takes about 2 s.
    proxy.throttle(Some(snapshot_bytes / 2));

    // hollow's defaults, with a stall detector shorter than the whole download: the bytes keep
    // coming, so it never fires.
    let consumer = Consumer::builder(through(&proxy, &url, &[("read_timeout", "1s")]))
        .build()
        .await
        .expect("consumer");
    assert_eq!(consumer.refresh().await.expect("a slow refresh"), Some(1));

    // object_store's kind of limit on a whole request (30 s there, 1 s here) cuts the same
    // download on every attempt: the refresh fails after its retries, and nothing is served.
    let cut = Consumer::builder(through(
        &proxy,
        &url,
        &[("timeout", "1s"), ("hollow_max_retries", "1")],
    ))
    .build()
    .await
    .expect("consumer");
    assert!(cut.refresh().await.is_err());
    assert_eq!(cut.version(), None);
}
