//! Every public future of the library is `Send`, so producers and consumers can be spawned on a
//! multi-threaded runtime (`tokio::spawn`). The first test is checked by the compiler; the
//! second runs a producer cycle and a consumer refresh as spawned tasks.

use hollow::{BlobKey, BlobStore, Consumer, Producer, StateId};
use hollow_movies::movies_capnp::movie;

fn assert_send<T: Send>(_: &T) {}

#[allow(dead_code, clippy::needless_pass_by_value)]
fn every_public_future_is_send(producer: &Producer, consumer: &Consumer, store: BlobStore) {
    let key = BlobKey::Snapshot {
        state: StateId { version: 1, tag: 2 },
    };
    assert_send(&Producer::builder(store.clone(), "d").build());
    assert_send(&producer.version());
    assert_send(&producer.run_cycle(|_| Ok(())));
    assert_send(&producer.run_incremental(|_| Ok(())));
    assert_send(&Consumer::builder(store.clone()).build());
    assert_send(&consumer.refresh());
    assert_send(&consumer.refresh_to(3));
    assert_send(&store.announcement());
    assert_send(&store.announcement_changed(None));
    assert_send(&store.put_blob(&key, &hollow::BlobBytes::from_vec(Vec::new())));
    assert_send(&store.open_blob(&key));
    assert_send(&store.get_blob(&key));
    assert_send(&store.list_blobs());
    assert_send(&store.pinned());
    assert_send(&store.pin(StateId { version: 1, tag: 2 }));
    assert_send(&store.unpin());
    assert_send(&hollow::tools::history(&store, "Movie", &["1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_and_a_refresh_run_as_spawned_tasks() {
    let store = BlobStore::memory();
    let producer = std::sync::Arc::new(
        Producer::builder(store.clone(), "movies")
            .register::<movie::Owned>()
            .build()
            .await
            .expect("producer"),
    );
    let p = std::sync::Arc::clone(&producer);
    let outcome = tokio::spawn(async move {
        p.run_cycle(|cycle| {
            let mut message = capnp::message::Builder::new_default();
            for id in 0..1000u64 {
                let mut m = message.init_root::<movie::Builder>();
                m.set_id(id);
                m.set_title(format!("Movie {id}"));
                cycle.add::<movie::Owned>(m.into_reader())?;
            }
            Ok(())
        })
        .await
    })
    .await
    .expect("task")
    .expect("cycle");
    assert_eq!(outcome.version(), 1);
    let consumer = Consumer::builder(store).build().await.expect("consumer");
    let version = tokio::spawn(async move {
        consumer.refresh().await.expect("refresh");
        consumer
            .state()
            .map(|s| (s.version(), s.table::<movie::Owned>().map(|t| t.len()).ok()))
    })
    .await
    .expect("task");
    assert_eq!(version, Some((1, Some(1000))));
}
