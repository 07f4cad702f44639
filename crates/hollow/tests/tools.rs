//! The diff and history tools over a small dataset with known changes.

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/test_types_capnp.rs"]
mod test_types_capnp;

use hollow::StateId;
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

async fn state_of(places: Places) -> std::sync::Arc<hollow::ReadState> {
    let store = BlobStore::memory();
    publish(&store, &[places]).await;
    let consumer = Consumer::builder(store).build().await.expect("c");
    consumer.refresh().await.expect("refresh");
    consumer.state().expect("state")
}

fn rows(state: &hollow::ReadState) -> Vec<(String, u32, String)> {
    let mut out: Vec<(String, u32, String)> = state
        .table::<place::Owned>()
        .expect("places")
        .iter()
        .map(|(_, p)| {
            let s = |r: capnp::Result<capnp::text::Reader<'_>>| {
                r.expect("t").to_str().expect("s").to_string()
            };
            (s(p.get_country()), p.get_code(), s(p.get_name()))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn combine_merges_states_by_key_and_the_last_state_wins() {
    let east = state_of(V1).await;
    let west = state_of(V2).await;
    let store = BlobStore::memory();
    let producer = Producer::builder(store.clone(), "combined")
        .register::<place::Owned>()
        .build()
        .await
        .expect("p");
    let mut report = None;
    producer
        .run_cycle(|c| {
            report = Some(hollow::tools::combine(&[&east, &west], c)?);
            Ok(())
        })
        .await
        .expect("cycle");
    let report = report.expect("report");
    // US/2 and FR/1 are in both: west's records win and east's are shadowed.
    assert_eq!(
        report["Place"],
        hollow::tools::CombinedType {
            records: 4,
            shadowed: 2
        }
    );
    let consumer = Consumer::builder(store).build().await.expect("c");
    consumer.refresh().await.expect("refresh");
    let combined = consumer.state().expect("state");
    let s = |c: &str, n: u32, t: &str| (c.to_string(), n, t.to_string());
    assert_eq!(
        rows(&combined),
        vec![
            s("DE", 5, "fünf"),
            s("FR", 1, "un!"),
            s("US", 1, "one"),
            s("US", 2, "two")
        ]
    );
}

#[tokio::test]
async fn filter_keeps_some_types_with_their_ordinals_and_checksums() {
    use hollow_movies::movies_capnp::{actor, movie};
    let data = hollow_movies::Dataset::new(300);
    let mut state = hollow::WriteState::builder("movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .header_tag("source", "test")
        .build()
        .expect("state");
    let mut message = capnp::message::Builder::new_default();
    for a in data.actors(0) {
        a.build(message.init_root::<actor::Builder>());
        state
            .add::<actor::Owned>(message.get_root_as_reader().expect("r"))
            .expect("add");
    }
    for m in data.movies(0) {
        m.build(message.init_root::<movie::Builder>());
        state
            .add::<movie::Owned>(message.get_root_as_reader().expect("r"))
            .expect("add");
    }
    let full = hollow::ReadState::from_bytes(
        state
            .write_snapshot(&StateId { version: 7, tag: 9 })
            .expect("snapshot"),
        "full",
    )
    .expect("open");
    let only = hollow::ReadState::from_bytes(
        hollow::tools::filter(&full, |t| t == "Movie").expect("filter"),
        "filtered",
    )
    .expect("open");
    assert_eq!((only.version(), only.tag()), (7, 9));
    assert_eq!(only.header_tags(), full.header_tags());
    let (kept, dropped): (Vec<_>, Vec<_>) =
        full.types().into_iter().partition(|t| t.name == "Movie");
    let filtered = only.types();
    assert_eq!(filtered.len(), 1);
    assert_eq!(
        (
            filtered[0].record_count,
            filtered[0].ordinal_capacity,
            filtered[0].checksum
        ),
        (
            kept[0].record_count,
            kept[0].ordinal_capacity,
            kept[0].checksum
        )
    );
    assert_eq!(dropped.len(), 1);
    assert!(only.dyn_table("Actor").is_err());
    // Same records at the same ordinals; the indexes came along.
    let a = full.dyn_table("Movie").expect("a");
    let b = only.dyn_table("Movie").expect("b");
    for ((oa, ra), (ob, rb)) in a.iter().zip(b.iter()) {
        assert_eq!(oa, ob);
        assert_eq!(ra.to_json().expect("a"), rb.to_json().expect("b"));
        // The text streams in schema order; parsed back it is the same value.
        let text = ra.to_json_string(false).expect("compact");
        assert!(text.starts_with(r#"{"id":"#), "{text}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).expect("parse"),
            ra.to_json().expect("a")
        );
    }
    let movies = only.table::<movie::Owned>().expect("movies");
    assert!(movies.matching("genres", "Drama").expect("index").count() > 0);
}

/// `impl Serialize for DynRecord`: members in schema order with the key first, Float32 in its
/// shortest round-trip form, streamed by serde_json; `to_json` agrees on every value.
#[test]
fn dynamic_records_serialize_in_schema_order_with_shortest_floats() {
    use hollow::{ReadState, WriteState};
    use hollow_movies::movies_capnp::movie;
    let mut state = WriteState::builder("movies")
        .register::<movie::Owned>()
        .build()
        .expect("state");
    let mut message = capnp::message::Builder::new_default();
    let mut m = message.init_root::<movie::Builder>();
    m.set_id(42);
    m.set_title("Answer");
    m.set_year(1999);
    m.set_rating(8.56);
    {
        let mut g = m.reborrow().init_genres(2);
        g.set(0, "Drama");
        g.set(1, "Sport");
    }
    state.add::<movie::Owned>(m.into_reader()).expect("add");
    let read = ReadState::from_bytes(
        state
            .write_snapshot(&StateId { version: 1, tag: 1 })
            .expect("snapshot"),
        "<mem>",
    )
    .expect("read");
    let movies = read.dyn_table("Movie").expect("Movie");
    let (_, record) = movies
        .get_by_key_strings(&["42"])
        .expect("lookup")
        .expect("present");
    let text = serde_json::to_string(&record).expect("serialize");
    assert_eq!(
        text,
        r#"{"id":42,"title":"Answer","year":1999,"runtimeMin":0,"rating":8.56,"genres":["Drama","Sport"],"castIds":null,"countryCode":null}"#
    );
    let value = record.to_json().expect("json");
    assert_eq!(value["rating"], json!(8.56));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).expect("parse"),
        value
    );
}

/// Through the deltas between two versions (either order, adjacent or not), `changes` reads
/// only the touched ordinals and finds exactly what comparing every record finds; the
/// movies dataset adds, removes and changes records each cycle.
#[tokio::test]
async fn changes_through_the_deltas_equal_a_full_comparison() {
    use hollow::tools::{changes, touched_between};
    use hollow_movies::movies_capnp::{actor, movie};
    let data = hollow_movies::Dataset::new(400);
    let store = BlobStore::memory();
    let producer = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .build()
        .await
        .expect("producer");
    for cycle in 0..4 {
        let movies: Vec<_> = data.movies(cycle).collect();
        let actors: Vec<_> = data.actors(cycle).collect();
        producer
            .run_cycle(|c| {
                for m in &movies {
                    let mut message = capnp::message::Builder::new_default();
                    m.build(message.init_root::<movie::Builder>());
                    c.add::<movie::Owned>(message.get_root_as_reader()?)?;
                }
                for a in &actors {
                    let mut message = capnp::message::Builder::new_default();
                    a.build(message.init_root::<actor::Builder>());
                    c.add::<actor::Owned>(message.get_root_as_reader()?)?;
                }
                Ok(())
            })
            .await
            .expect("cycle");
    }
    let mut states = Vec::new();
    for v in 1..=4 {
        let consumer = Consumer::builder(store.clone()).build().await.expect("c");
        consumer.refresh_to(v).await.expect("refresh");
        states.push(consumer.state().expect("state"));
    }
    let mut nonempty = 0;
    for (i, a) in states.iter().enumerate() {
        for (j, b) in states.iter().enumerate() {
            let (va, vb) = (i as u64 + 1, j as u64 + 1);
            let (touched, deltas) = touched_between(&store, va, vb)
                .await
                .expect("touched")
                .expect("on the chain");
            assert_eq!(deltas, i.abs_diff(j));
            let fast = changes(a, b, None, Some(&touched)).expect("fast");
            let full = changes(a, b, None, None).expect("full");
            assert_eq!(fast, full, "{va} → {vb}");
            nonempty += usize::from(fast.iter().any(|c| !c.is_empty()));
            if i != j {
                let touched_records: usize = touched.values().map(|s| s.len()).sum();
                let records: usize = b.types().iter().map(|t| t.record_count as usize).sum();
                assert!(
                    touched_records * 4 < records,
                    "{va} → {vb}: {touched_records} touched"
                );
            }
        }
    }
    assert_eq!(nonempty, 12, "every pair of distinct versions differs");
}
