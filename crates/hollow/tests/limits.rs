//! Configurable caps (`hollow::Limits`), each tested at the cap and one past it, on every side
//! that applies it: the JSON encoder (list length, nesting), the producer (records per type, blob
//! size: the cycle is refused and the producer continues) and the consumer (blob size, records per
//! type: the refresh fails and the current state keeps serving).

use hollow::encode::{EncodeErrorKind, RecordEncoder};
use hollow::{
    BlobStore, Consumer, CycleError, CycleOutcome, LimitKind, Limits, OpenError, Producer,
    RefreshError, Schema,
};
use hollow_movies::movies_capnp::movie;
use serde_json::json;

fn movie_schema() -> Schema {
    Schema::builder()
        .add::<movie::Owned>()
        .build()
        .expect("schema")
}

#[test]
fn the_encoder_takes_lists_up_to_the_cap_and_refuses_one_element_more() {
    let schema = movie_schema();
    let limits = Limits::default().max_list_len(3);
    let encoder = RecordEncoder::new(&schema, "Movie")
        .expect("encoder")
        .with_limits(limits);
    encoder
        .encode(&json!({"id": 1, "castIds": [1, 2, 3]}))
        .expect("three elements: at the cap");
    let e = encoder
        .encode(&json!({"id": 1, "castIds": [1, 2, 3, 4]}))
        .err()
        .expect("four elements: past it");
    assert_eq!(e.kind, EncodeErrorKind::TooLong { len: 4, limit: 3 });
    assert_eq!(e.path, "castIds");
    assert!(e.to_string().contains("the limit is 3"), "{e}");
    // The default cap is far above any list a test writes.
    RecordEncoder::new(&schema, "Movie")
        .expect("encoder")
        .encode(&json!({"id": 1, "castIds": (0..1000).collect::<Vec<u32>>()}))
        .expect("default limits");
}

#[test]
fn the_encoder_refuses_values_nested_past_a_lowered_nesting_cap() {
    let schema = movie_schema();
    // A Movie's text field sits at pointer level 1, a list's elements of Text at level 2.
    let encoder = RecordEncoder::new(&schema, "Movie")
        .expect("encoder")
        .with_limits(Limits::default().max_nesting(1));
    encoder
        .encode(&json!({"id": 1, "title": "at level one"}))
        .expect("level 1: at the cap");
    let e = encoder
        .encode(&json!({"id": 1, "genres": ["Drama"]}))
        .err()
        .expect("level 2: past it");
    assert_eq!(e.kind, EncodeErrorKind::TooDeep { level: 2, limit: 1 });
}

async fn producer(store: &BlobStore, limits: Limits) -> Producer {
    Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .limits(limits)
        .build()
        .await
        .expect("producer")
}

async fn cycle(producer: &Producer, ids: std::ops::Range<u64>) -> Result<CycleOutcome, CycleError> {
    producer
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
}

#[tokio::test]
async fn a_cycle_past_the_records_cap_is_refused_and_the_producer_continues() {
    let store = BlobStore::memory();
    let p = producer(&store, Limits::default().max_records_per_type(3)).await;
    cycle(&p, 0..3).await.expect("three records: at the cap");
    let e = cycle(&p, 0..4).await.expect_err("four records: past it");
    let CycleError::LimitExceeded(limit) = &e else {
        panic!("expected LimitExceeded, got {e}")
    };
    assert_eq!(limit.kind, LimitKind::RecordsPerType);
    assert_eq!((limit.limit, limit.actual), (3, 4));
    assert!(e.to_string().contains("type Movie"), "{e}");
    assert!(!e.is_retryable());
    assert_eq!(p.version().await, Some(1), "nothing was announced");
    // The producer rolled back and goes on. (The cap is on ordinal capacity, what a consumer
    // allocates for: a cycle replacing a record with a new one also grows it, as removed
    // ordinals are reused only by later cycles.)
    let next = cycle(&p, 1..3).await.expect("the next cycle");
    assert_eq!(next.version(), 2);
}

#[tokio::test]
async fn a_cycle_whose_blob_is_past_the_size_cap_is_refused() {
    let store = BlobStore::memory();
    let p = producer(&store, Limits::default().max_blob_bytes(4096)).await;
    let e = cycle(&p, 0..2000)
        .await
        .expect_err("a snapshot far past 4 KiB");
    let CycleError::LimitExceeded(limit) = &e else {
        panic!("expected LimitExceeded, got {e}")
    };
    assert_eq!(limit.kind, LimitKind::BlobBytes);
    assert!(limit.actual > 4096);
    assert!(e.to_string().contains("the snapshot of version 1"), "{e}");
    assert_eq!(p.version().await, None, "nothing was announced");
    assert!(store.list_blobs().await.expect("list").is_empty());
    cycle(&p, 0..10).await.expect("a small cycle fits");
}

fn limit_of(e: &RefreshError) -> &hollow::LimitExceeded {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(OpenError::LimitExceeded { source, .. }) = err.downcast_ref::<OpenError>() {
            return source;
        }
        if let Some(limit) = err.downcast_ref::<hollow::LimitExceeded>() {
            return limit;
        }
        source = err.source();
    }
    panic!("no LimitExceeded in {}", hollow::error_chain(e))
}

#[tokio::test]
async fn a_consumer_refuses_blobs_past_its_caps_and_keeps_serving() {
    let store = BlobStore::memory();
    let p = producer(&store, Limits::default()).await;
    cycle(&p, 0..3).await.expect("v1");

    // Records: a consumer capped at 3 reads v1, then refuses v2 (5 records) and stays at v1.
    let capped = Consumer::builder(store.clone())
        .limits(Limits::default().max_records_per_type(3))
        .build()
        .await
        .expect("consumer");
    capped.refresh().await.expect("v1 is at the cap");
    cycle(&p, 0..5).await.expect("v2");
    let e = capped.refresh().await.expect_err("v2 is past the cap");
    let limit = limit_of(&e);
    assert_eq!(limit.kind, LimitKind::RecordsPerType);
    assert_eq!((limit.limit, limit.actual), (3, 5));
    assert_eq!(capped.version(), Some(1), "still serving v1");
    let state = capped.state().expect("state");
    assert_eq!(state.table::<movie::Owned>().expect("table").len(), 3);

    // Blob size: a consumer whose cap is below the snapshot's size opens nothing.
    let tiny = Consumer::builder(store.clone())
        .limits(Limits::default().max_blob_bytes(64))
        .build()
        .await
        .expect("consumer");
    let e = tiny
        .refresh()
        .await
        .expect_err("every blob is past 64 bytes");
    assert_eq!(limit_of(&e).kind, LimitKind::BlobBytes);
    assert!(
        hollow::error_chain(&e).contains("over the blob-bytes limit of 64"),
        "{}",
        hollow::error_chain(&e)
    );
    assert_eq!(tiny.version(), None);

    // A consumer with the defaults reads everything.
    let plain = Consumer::builder(store).build().await.expect("consumer");
    plain.refresh().await.expect("defaults");
    assert_eq!(plain.version(), Some(2));
}

#[tokio::test]
async fn a_consumer_cap_bounds_what_a_compressed_blob_may_decode_to() {
    let store = BlobStore::memory().with_wire_encoding(hollow::WireEncoding::Zstd { level: 3 });
    let p = producer(&store, Limits::default()).await;
    cycle(&p, 0..500).await.expect("v1");
    let blob_len = {
        let plain = Consumer::builder(store.clone())
            .build()
            .await
            .expect("consumer");
        plain.refresh().await.expect("defaults");
        plain.state().expect("state").blob_len() as u64
    };
    // Capped below the snapshot's decoded size: the envelope is refused before decoding.
    let capped = Consumer::builder(store.clone())
        .limits(Limits::default().max_blob_bytes(blob_len - 1))
        .build()
        .await
        .expect("consumer");
    let e = capped.refresh().await.expect_err("past the cap");
    let chain = hollow::error_chain(&e);
    assert!(chain.contains("beyond the limit of"), "{chain}");
    assert_eq!(capped.version(), None);
    // At the cap it reads.
    let at_cap = Consumer::builder(store)
        .limits(Limits::default().max_blob_bytes(blob_len))
        .build()
        .await
        .expect("consumer");
    at_cap.refresh().await.expect("at the cap");
    assert_eq!(at_cap.version(), Some(1));
}
