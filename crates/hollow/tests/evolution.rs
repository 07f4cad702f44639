//! Schema evolution: compatible growth continues a live chain for producers and consumers;
//! breaking changes are refused with the type, the field and the rule.

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/evo_v1_capnp.rs"]
mod evo_v1_capnp;
#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/evo_v2_capnp.rs"]
mod evo_v2_capnp;
#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/evo_retype_capnp.rs"]
mod evo_retype_capnp;
#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/evo_removed_capnp.rs"]
mod evo_removed_capnp;
#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/evo_pk_capnp.rs"]
mod evo_pk_capnp;
#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/evo_enum_shrink_capnp.rs"]
mod evo_enum_shrink_capnp;

use hollow::schema::check_compatible;
use hollow::{BlobStore, Consumer, CycleOutcome, Error, Producer, Schema};

fn schema_of<T: capnp::introspect::Introspect>() -> Schema {
    Schema::builder().add::<T>().build().expect("schema")
}

fn movie_id() -> u64 {
    schema_of::<evo_v1_capnp::movie::Owned>()
        .struct_by_name("Movie")
        .expect("Movie")
        .id
}

fn refused(result: hollow::Result<()>) -> (String, String) {
    match result {
        Err(Error::IncompatibleSchema {
            type_name, field, ..
        }) => (type_name, field),
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
}

#[test]
fn growth_is_compatible_and_breaking_changes_name_type_and_field() {
    let v1 = schema_of::<evo_v1_capnp::movie::Owned>();
    let ids = [movie_id()];
    check_compatible(&v1, &schema_of::<evo_v2_capnp::movie::Owned>(), &ids).expect("v2 grows v1");
    check_compatible(&v1, &v1, &ids).expect("same schema");
    let shrink = refused(check_compatible(
        &schema_of::<evo_v2_capnp::movie::Owned>(),
        &v1,
        &ids,
    ));
    assert_eq!(shrink.0, "Movie", "going back to v1 drops fields");
    assert_eq!(
        refused(check_compatible(
            &v1,
            &schema_of::<evo_retype_capnp::movie::Owned>(),
            &ids
        )),
        ("Movie".into(), "title".into())
    );
    assert_eq!(
        refused(check_compatible(
            &v1,
            &schema_of::<evo_removed_capnp::movie::Owned>(),
            &ids
        )),
        ("Movie".into(), "genre".into())
    );
    assert_eq!(
        refused(check_compatible(
            &v1,
            &schema_of::<evo_pk_capnp::movie::Owned>(),
            &ids
        )),
        ("Movie".into(), String::new())
    );
    assert_eq!(
        refused(check_compatible(
            &v1,
            &schema_of::<evo_enum_shrink_capnp::movie::Owned>(),
            &ids
        ))
        .0,
        "Genre"
    );
}

fn v1_movies(cycle: &mut hollow::Cycle<'_>, titles: &[(u64, &str)]) -> hollow::Result<()> {
    let mut message = capnp::message::Builder::new_default();
    for (id, title) in titles {
        let mut m = message.init_root::<evo_v1_capnp::movie::Builder>();
        m.set_id(*id);
        m.set_title(*title);
        m.set_genre(evo_v1_capnp::Genre::Comedy);
        cycle.add::<evo_v1_capnp::movie::Owned>(message.get_root_as_reader()?)?;
    }
    Ok(())
}

#[tokio::test]
async fn a_grown_schema_continues_the_chain_for_producers_and_consumers() {
    let store = BlobStore::memory();
    let v1 = Producer::builder(store.clone(), "evo")
        .register::<evo_v1_capnp::movie::Owned>()
        .build()
        .await
        .expect("v1");
    v1.run_cycle(|c| v1_movies(c, &[(1, "one"), (2, "two"), (3, "three")]))
        .await
        .expect("v1 cycle");
    v1.run_cycle(|c| v1_movies(c, &[(1, "one"), (2, "two!"), (3, "three")]))
        .await
        .expect("v1 cycle");
    let consumer = Consumer::builder(store.clone())
        .build()
        .await
        .expect("consumer");
    consumer.refresh_to(1).await.expect("v1 snapshot");

    // A producer with schema v2 restores from the v1 chain.
    let v2 = Producer::builder(store.clone(), "evo")
        .register::<evo_v2_capnp::movie::Owned>()
        .register::<evo_v2_capnp::studio::Owned>()
        .build()
        .await
        .expect("v2 restores");
    // The same movies written with v2 code (new fields unset) are not changes.
    let same = v2
        .run_cycle(|c| {
            let mut message = capnp::message::Builder::new_default();
            for (id, name) in [(1u64, "one"), (2, "two!"), (3, "three")] {
                let mut m = message.init_root::<evo_v2_capnp::movie::Builder>();
                m.set_id(id);
                m.set_name(name);
                m.set_genre(evo_v2_capnp::Genre::Comedy);
                c.add::<evo_v2_capnp::movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await
        .expect("v2 cycle");
    assert_eq!(same, CycleOutcome::Unchanged { version: 2 });
    // Now a v2 change: a rating on movie 3.
    v2.run_cycle(|c| {
        let mut message = capnp::message::Builder::new_default();
        for (id, name, rating) in [(1u64, "one", 0.0f32), (2, "two!", 0.0), (3, "three", 4.5)] {
            let mut m = message.init_root::<evo_v2_capnp::movie::Builder>();
            m.set_id(id);
            m.set_name(name);
            m.set_genre(evo_v2_capnp::Genre::Comedy);
            m.set_rating(rating);
            c.add::<evo_v2_capnp::movie::Owned>(message.get_root_as_reader()?)?;
        }
        let mut studio = message.init_root::<evo_v2_capnp::studio::Builder>();
        studio.set_id(77);
        studio.set_name("Ealing");
        c.add::<evo_v2_capnp::studio::Owned>(message.get_root_as_reader()?)?;
        Ok(())
    })
    .await
    .expect("v2 change");

    // The consumer went v1 snapshot → v1 delta → v2 delta: the mid-chain case.
    assert_eq!(consumer.refresh().await.expect("refresh"), Some(3));
    let state = consumer.state().expect("state");
    let old_code = state
        .table::<evo_v1_capnp::movie::Owned>()
        .expect("v1 view");
    assert_eq!(
        old_code
            .get_by_key(2u64)
            .expect("k")
            .expect("2")
            .get_title()
            .expect("t")
            .to_str()
            .expect("s"),
        "two!"
    );
    let new_code = state
        .table::<evo_v2_capnp::movie::Owned>()
        .expect("v2 view");
    assert_eq!(
        new_code
            .get_by_key(3u64)
            .expect("k")
            .expect("3")
            .get_rating(),
        4.5
    );
    assert_eq!(
        new_code
            .get_by_key(1u64)
            .expect("k")
            .expect("1")
            .get_rating(),
        0.0
    );
    // The schema-driven view shows the schema of the version it reads.
    let dynamic = state.dyn_table("Movie").expect("dyn");
    let (_, three) = dynamic.get_by_key_strings(&["3"]).expect("k").expect("3");
    assert_eq!(
        three.field_json("rating").expect("rating"),
        serde_json::json!(4.5)
    );
    assert_eq!(
        three.field_json("name").expect("name"),
        serde_json::json!("three")
    );
    // A type that first appears in a v2 delta reaches the consumer with that delta.
    let studios = state
        .table::<evo_v2_capnp::studio::Owned>()
        .expect("Studio arrived with the delta");
    assert_eq!(studios.len(), 1);
    let ealing = studios.get_by_key(77u32).expect("k").expect("77");
    assert_eq!(ealing.get_name().expect("n").to_str().expect("s"), "Ealing");
    let (_, ealing) = state
        .dyn_table("Studio")
        .expect("dyn")
        .get_by_key_strings(&["77"])
        .expect("k")
        .expect("77");
    assert_eq!(
        ealing.to_json().expect("json"),
        serde_json::json!({"id": 77, "name": "Ealing"})
    );
    // And backwards across the schema change with reverse deltas.
    assert_eq!(consumer.refresh_to(2).await.expect("back"), 2);
    let back = consumer.state().expect("state");
    assert_eq!(
        back.table::<evo_v2_capnp::movie::Owned>()
            .expect("t")
            .get_by_key(3u64)
            .expect("k")
            .expect("3")
            .get_rating(),
        0.0
    );
    let studios = back.table::<evo_v2_capnp::studio::Owned>().expect("t");
    assert_eq!(studios.len(), 0, "the reverse delta removes the studio");
}

#[tokio::test]
async fn a_breaking_schema_is_refused_before_anything_is_published() {
    let store = BlobStore::memory();
    let v1 = Producer::builder(store.clone(), "evo")
        .register::<evo_v1_capnp::movie::Owned>()
        .build()
        .await
        .expect("v1");
    v1.run_cycle(|c| v1_movies(c, &[(1, "one")]))
        .await
        .expect("v1 cycle");
    let retyped = Producer::builder(store.clone(), "evo")
        .register::<evo_retype_capnp::movie::Owned>()
        .build()
        .await;
    match retyped {
        Err(Error::IncompatibleSchema {
            type_name, field, ..
        }) => assert_eq!((type_name.as_str(), field.as_str()), ("Movie", "title")),
        Err(other) => panic!("expected IncompatibleSchema, got {other}"),
        Ok(_) => panic!("a retyped field must be refused"),
    }
    let (announcement, _) = store
        .announcement()
        .await
        .expect("read")
        .expect("announced");
    assert_eq!(announcement.version, 1);
}

#[tokio::test]
async fn typed_access_refuses_generated_code_that_disagrees_with_the_data() {
    let store = BlobStore::memory();
    let v1 = Producer::builder(store.clone(), "evo")
        .register::<evo_v1_capnp::movie::Owned>()
        .build()
        .await
        .expect("v1");
    v1.run_cycle(|c| v1_movies(c, &[(1, "one")]))
        .await
        .expect("v1 cycle");
    let consumer = Consumer::builder(store).build().await.expect("consumer");
    consumer.refresh().await.expect("refresh");
    let state = consumer.state().expect("state");
    assert!(
        state.table::<evo_v2_capnp::movie::Owned>().is_ok(),
        "newer code reads older data"
    );
    assert!(
        state.table::<evo_removed_capnp::movie::Owned>().is_ok(),
        "code that lacks a field still reads the rest"
    );
    match state.table::<evo_retype_capnp::movie::Owned>() {
        Err(Error::IncompatibleSchema {
            type_name, field, ..
        }) => assert_eq!((type_name.as_str(), field.as_str()), ("Movie", "title")),
        Err(other) => panic!("expected IncompatibleSchema, got {other}"),
        Ok(_) => panic!("retyped generated code must be refused"),
    }
}
