//! Push announcements over a real NATS server (`nats-server`, installed by `.ci/run`; each test
//! starts its own on a free port and stops it): a consumer whose poll interval is an hour still
//! follows a producer in another process's store handle at once, and when the broker goes away
//! the producer keeps publishing and consumers converge by polling.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hollow::push::{NatsAnnouncements, default_subject};
use hollow::{BlobStore, Consumer, CycleOutcome, Producer, RefreshEvent, RefreshPolicy};
use hollow_movies::movies_capnp::movie;
use tokio::sync::mpsc;

/// A `nats-server` on a free loopback port, killed on drop.
struct Broker {
    child: Child,
    url: String,
}

impl Broker {
    fn start() -> Option<Broker> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = match Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must install nats-server: {e}"
                );
                eprintln!("skipping: nats-server is not installed ({e}); .ci/run installs it");
                return None;
            }
        };
        // Ready when it says so on stderr (an event, not a sleep); the rest of its log is
        // drained so the pipe never fills.
        let log = child.stderr.take().expect("piped stderr");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(log));
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.contains("Server is ready"));
        assert!(ready, "nats-server exited before it was ready");
        std::thread::spawn(move || lines.for_each(drop));
        Some(Broker {
            child,
            url: format!("nats://127.0.0.1:{port}"),
        })
    }

    /// A producer of "movies" in `dir` that pushes its announcements through this broker.
    async fn producer(&self, dir: &std::path::Path) -> Producer {
        Producer::builder(BlobStore::local(dir).expect("store"), "movies")
            .register::<movie::Owned>()
            .push(self.connect().await)
            .build()
            .await
            .expect("producer")
    }

    async fn connect(&self) -> NatsAnnouncements {
        NatsAnnouncements::connect(&self.url, &default_subject("movies"))
            .await
            .expect("connect to the broker")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn cycle(producer: &Producer, ids: std::ops::Range<u64>) -> u64 {
    let outcome = producer
        .run_cycle(|c| {
            for id in ids {
                let mut message = capnp::message::Builder::new_default();
                let mut m = message.init_root::<movie::Builder>();
                m.set_id(id);
                m.set_title(format!("movie {id}"));
                c.add::<movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await
        .expect("cycle");
    match outcome {
        CycleOutcome::Published(r) => r.version,
        other => panic!("expected a publish, got {other:?}"),
    }
}

/// A consumer that reports each version it starts serving on a channel.
async fn consumer(
    store: BlobStore,
    poll: Duration,
    push: Option<NatsAnnouncements>,
) -> (Consumer, mpsc::UnboundedReceiver<u64>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut builder = Consumer::builder(store)
        .refresh_policy(RefreshPolicy::OnAnnouncement {
            poll_interval: poll,
        })
        .listener(move |e: &RefreshEvent| {
            if let RefreshEvent::Succeeded { version, .. } = e {
                let _ = tx.send(*version);
            }
        });
    if let Some(push) = push {
        builder = builder.push(push);
    }
    (builder.build().await.expect("consumer"), rx)
}

async fn serves(rx: &mut mpsc::UnboundedReceiver<u64>, version: u64) {
    // A guard against hanging forever, not a timing assertion.
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(v) = rx.recv().await {
            if v == version {
                return;
            }
        }
        panic!("the consumer stopped");
    })
    .await
    .unwrap_or_else(|_| panic!("version {version} never arrived"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_announcement_refreshes_a_consumer_that_polls_hourly() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Separate store handles, as on separate machines: no in-process wake-up between them.
    let producer = broker.producer(dir.path()).await;
    assert_eq!(cycle(&producer, 0..10).await, 1);
    let (consumer, mut versions) = consumer(
        BlobStore::local(dir.path()).expect("store"),
        Duration::from_secs(3600),
        Some(broker.connect().await),
    )
    .await;
    serves(&mut versions, 1).await;
    for v in 2..=4 {
        assert_eq!(cycle(&producer, 0..(10 + v)).await, v);
        serves(&mut versions, v).await;
    }
    let state = consumer.state().expect("state");
    assert_eq!(state.table::<movie::Owned>().expect("t").len(), 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_broker_the_producer_publishes_and_consumers_converge_by_polling() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let producer = broker.producer(dir.path()).await;
    assert_eq!(cycle(&producer, 0..5).await, 1);
    let (_consumer, mut versions) = consumer(
        BlobStore::local(dir.path()).expect("store"),
        Duration::from_millis(200),
        Some(broker.connect().await),
    )
    .await;
    serves(&mut versions, 1).await;
    drop(broker);
    // The broker is gone: announcing still succeeds (the push is best-effort) …
    assert_eq!(cycle(&producer, 0..6).await, 2);
    // … and the consumer reaches the version through its poll.
    serves(&mut versions, 2).await;
}

#[tokio::test]
async fn connecting_names_the_broker_and_bad_subjects_are_refused() {
    let e = NatsAnnouncements::connect("nats://127.0.0.1:1", "hollow.announced.x")
        .await
        .expect_err("nothing listens on port 1");
    assert!(e.to_string().contains("nats://127.0.0.1:1"), "{e}");
    let e = NatsAnnouncements::connect("nats://127.0.0.1:1", "hollow.*")
        .await
        .expect_err("a wildcard");
    assert!(e.to_string().contains("wildcards"), "{e}");
}
