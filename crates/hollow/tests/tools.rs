//! The diff and history tools over a small dataset with known changes.

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/test_types_capnp.rs"]
mod test_types_capnp;

use hollow::tools::{HistoryEvent, diff, history};
use hollow::{BlobStore, Consumer, Producer};
use serde_json::json;
use test_types_capnp::place;

type Places = &'static [(&'static str, u32, &'static str)];

async fn publish(store: &BlobStore, versions: &[Places]) {
    let producer = Producer::builder(store.clone(), "places")
        .register::<place::Owned>()
        .build()
        .await
        .expect("p");
    for places in versions {
        producer
            .run_cycle(|c| {
                let mut message = capnp::message::Builder::new_default();
                for (country, code, name) in *places {
                    let mut p = message.init_root::<place::Builder>();
                    p.set_country(*country);
                    p.set_code(*code);
                    p.set_name(*name);
                    c.add::<place::Owned>(message.get_root_as_reader()?)?;
                }
                Ok(())
            })
            .await
            .expect("cycle");
    }
}

const V1: Places = &[("US", 1, "one"), ("US", 2, "two"), ("FR", 1, "un")];
const V2: Places = &[("US", 2, "two"), ("FR", 1, "un!"), ("DE", 5, "fünf")];
const V3: Places = &[("US", 2, "two"), ("FR", 1, "un!"), ("US", 1, "one again")];

#[tokio::test]
async fn diff_lists_added_removed_and_changed_fields_by_key() {
    let store = BlobStore::memory();
    publish(&store, &[V1, V2, V3]).await;
    let consumer = Consumer::builder(store.clone()).build().await.expect("c");
    consumer.refresh_to(1).await.expect("1");
    let a = consumer.state().expect("v1");
    consumer.refresh_to(2).await.expect("2");
    let b = consumer.state().expect("v2");
    let d = diff(&a, &b, None).expect("diff");
    assert_eq!(d.len(), 1);
    let places = &d[0];
    assert_eq!(
        places.added,
        vec![json!({"country": "DE", "code": 5, "name": "fünf"})]
    );
    assert_eq!(
        places.removed,
        vec![json!({"country": "US", "code": 1, "name": "one"})]
    );
    assert_eq!(places.changed.len(), 1);
    assert_eq!(places.changed[0].key, ["FR", "1"]);
    assert_eq!(places.changed[0].fields[0].field, "name");
    assert_eq!(
        (
            places.changed[0].fields[0].before.clone(),
            places.changed[0].fields[0].after.clone()
        ),
        (json!("un"), json!("un!"))
    );
    assert!(diff(&b, &b, None).expect("same")[0].changed.is_empty());
}

#[tokio::test]
async fn history_follows_a_record_through_the_deltas() {
    let store = BlobStore::memory();
    publish(&store, &[V1, V2, V3]).await;
    let us1 = history(&store, "Place", &["US", "1"])
        .await
        .expect("history");
    let versions: Vec<(u64, &str)> = us1
        .iter()
        .map(|e| {
            (
                e.version,
                match e.event {
                    HistoryEvent::Added(_) => "added",
                    HistoryEvent::Changed(_) => "changed",
                    HistoryEvent::Removed => "removed",
                },
            )
        })
        .collect();
    assert_eq!(versions, [(1, "added"), (2, "removed"), (3, "added")]);
    let fr1 = history(&store, "Place", &["FR", "1"])
        .await
        .expect("history");
    assert_eq!(fr1.len(), 2);
    match &fr1[1].event {
        HistoryEvent::Changed(fields) => assert_eq!(fields[0].after, json!("un!")),
        other => panic!("expected a change, got {other:?}"),
    }
    assert!(
        history(&store, "Place", &["XX", "0"])
            .await
            .expect("history")
            .is_empty()
    );
}
