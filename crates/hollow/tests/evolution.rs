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

use hollow::StateId;
use hollow::schema::check_compatible;
use hollow::{
    BlobStore, Consumer, CycleError, CycleOutcome, LookupError, Producer, Schema, SchemaError,
};

fn schema_of<T: capnp::introspect::Introspect>() -> Schema {
    Schema::builder().add::<T>().build().expect("schema")
}

fn movie_id() -> u64 {
    schema_of::<evo_v1_capnp::movie::Owned>()
        .struct_by_name("Movie")
        .expect("Movie")
        .id
}

fn refused(result: Result<(), SchemaError>) -> (String, String) {
    match result {
        Err(SchemaError::Incompatible {
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

fn v1_movies(cycle: &mut hollow::Cycle<'_>, titles: &[(u64, &str)]) -> Result<(), CycleError> {
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
        Err(CycleError::Schema(SchemaError::Incompatible {
            type_name, field, ..
        })) => assert_eq!((type_name.as_str(), field.as_str()), ("Movie", "title")),
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
        Err(LookupError::Schema(SchemaError::Incompatible {
            type_name, field, ..
        })) => assert_eq!((type_name.as_str(), field.as_str()), ("Movie", "title")),
        Err(other) => panic!("expected IncompatibleSchema, got {other}"),
        Ok(_) => panic!("retyped generated code must be refused"),
    }
}

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/movies_v2_capnp.rs"]
mod movies_v2_capnp;

fn build_v2(
    m: &hollow_movies::Movie,
    tagline: Option<&str>,
    mut b: movies_v2_capnp::movie::Builder<'_>,
) {
    b.set_id(m.id);
    b.set_title(m.title.as_str());
    b.set_year(m.year);
    b.set_runtime_min(m.runtime_min);
    #[allow(clippy::cast_possible_truncation)]
    b.set_rating(m.rating as f32);
    let mut genres = b
        .reborrow()
        .init_genres(u32::try_from(m.genres.len()).expect("fits"));
    for (i, g) in (0u32..).zip(&m.genres) {
        genres.set(i, *g);
    }
    let mut cast = b
        .reborrow()
        .init_cast_ids(u32::try_from(m.cast_ids.len()).expect("fits"));
    for (i, c) in (0u32..).zip(&m.cast_ids) {
        cast.set(i, *c);
    }
    b.set_country_code(m.country_code);
    if let Some(t) = tagline {
        b.set_tagline(t);
    }
}

/// Every type's state checksum in `state`.
fn checksums(state: &hollow::ReadState) -> Vec<(String, u64, u32)> {
    let mut out: Vec<_> = state
        .types()
        .into_iter()
        .map(|t| (t.name, t.checksum, t.record_count))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_movies_schema_grows_mid_chain_with_checksums_equal_at_every_version() {
    use hollow_movies::movies_capnp::{actor, movie};
    let store = BlobStore::memory();
    let data = hollow_movies::Dataset::new(300);
    let v1 = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .register::<actor::Owned>()
        .snapshot_every(1)
        .build()
        .await
        .expect("v1");
    for c in 0..2 {
        v1.run_cycle(|cycle| {
            let mut message = capnp::message::Builder::new_default();
            for a in data.actors(c) {
                a.build(message.init_root::<actor::Builder>());
                cycle.add::<actor::Owned>(message.get_root_as_reader()?)?;
            }
            for m in data.movies(c) {
                m.build(message.init_root::<movie::Builder>());
                cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await
        .expect("v1 cycle");
    }
    let consumer = Consumer::builder(store.clone())
        .build()
        .await
        .expect("consumer");
    consumer.refresh_to(1).await.expect("v1 snapshot");

    let v2 = Producer::builder(store.clone(), "movies")
        .register::<movies_v2_capnp::movie::Owned>()
        .register::<movies_v2_capnp::actor::Owned>()
        .register::<movies_v2_capnp::studio::Owned>()
        .snapshot_every(1)
        .build()
        .await
        .expect("v2 restores from the v1 chain");
    for c in 2..4u64 {
        v2.run_cycle(|cycle| {
            let mut message = capnp::message::Builder::new_default();
            for a in data.actors(c) {
                let mut b = message.init_root::<movies_v2_capnp::actor::Builder>();
                b.set_id(a.id);
                b.set_name(a.name.as_str());
                b.set_birth_year(a.birth_year);
                cycle.add::<movies_v2_capnp::actor::Owned>(message.get_root_as_reader()?)?;
            }
            for m in data.movies(c) {
                let tagline = (m.id % 50 == 0).then_some("Now with taglines");
                build_v2(
                    &m,
                    tagline,
                    message.init_root::<movies_v2_capnp::movie::Builder>(),
                );
                cycle.add::<movies_v2_capnp::movie::Owned>(message.get_root_as_reader()?)?;
            }
            let mut s = message.init_root::<movies_v2_capnp::studio::Builder>();
            s.set_id(u32::try_from(c).expect("small"));
            s.set_name("Studio");
            cycle.add::<movies_v2_capnp::studio::Owned>(message.get_root_as_reader()?)?;
            Ok(())
        })
        .await
        .expect("v2 cycle");
    }
    // Consumers follow from the v1 snapshot through v1 and v2 deltas; at every version their
    // state checksums equal those of the snapshot the producer wrote for it.
    for version in 2..=4u64 {
        consumer.refresh_to(version).await.expect("refresh");
        let state = consumer.state().expect("state");
        let keys = store.list_blobs().await.expect("list");
        let snap = keys
            .iter()
            .find(|k| matches!(k, hollow::BlobKey::Snapshot { state: StateId { version: v, .. } } if *v == version))
            .expect("snapshot");
        let snapshot = hollow::ReadState::from_bytes(store.get_blob(snap).await.expect("get"), "s")
            .expect("open");
        assert_eq!(checksums(&state), checksums(&snapshot), "version {version}");
    }
    let state = consumer.state().expect("state");
    let old_code = state.table::<movie::Owned>().expect("v1 code");
    let new_code = state
        .table::<movies_v2_capnp::movie::Owned>()
        .expect("v2 code");
    let tagged = new_code
        .get_by_key(100_050u64)
        .expect("k")
        .expect("present");
    assert_eq!(
        tagged.get_tagline().expect("t").to_str().expect("s"),
        "Now with taglines"
    );
    assert!(
        !new_code
            .get_by_key(100_051u64)
            .expect("k")
            .expect("present")
            .has_tagline()
    );
    assert_eq!(
        old_code
            .get_by_key(100_050u64)
            .expect("k")
            .expect("present")
            .get_id(),
        100_050
    );
    // Back across the schema change.
    consumer.refresh_to(1).await.expect("back to v1");
    let back = consumer.state().expect("state");
    assert!(
        !back
            .table::<movies_v2_capnp::movie::Owned>()
            .expect("t")
            .get_by_key(100_050u64)
            .expect("k")
            .expect("p")
            .has_tagline()
    );
}

/// A v1 dataset, then a producer with a breaking schema: refused naming the type and field,
/// and nothing published.
async fn refused_producer<T: capnp::traits::OwnedStruct>() -> (String, String) {
    let store = BlobStore::memory();
    let v1 = Producer::builder(store.clone(), "evo")
        .register::<evo_v1_capnp::movie::Owned>()
        .build()
        .await
        .expect("v1");
    v1.run_cycle(|c| v1_movies(c, &[(1, "one"), (2, "two")]))
        .await
        .expect("v1 cycle");
    let refused = Producer::builder(store.clone(), "evo")
        .register::<T>()
        .build()
        .await;
    let (announcement, _) = store
        .announcement()
        .await
        .expect("read")
        .expect("announced");
    assert_eq!(announcement.version, 1, "nothing published");
    assert_eq!(
        store.list_blobs().await.expect("list").len(),
        1,
        "no blob written"
    );
    match refused {
        Err(CycleError::Schema(SchemaError::Incompatible {
            type_name, field, ..
        })) => (type_name, field),
        Err(other) => panic!("expected IncompatibleSchema, got {other}"),
        Ok(_) => panic!("the breaking schema must be refused"),
    }
}

#[tokio::test]
async fn a_retyped_field_is_refused() {
    assert_eq!(
        refused_producer::<evo_retype_capnp::movie::Owned>().await,
        ("Movie".into(), "title".into())
    );
}

#[tokio::test]
async fn a_removed_field_is_refused() {
    assert_eq!(
        refused_producer::<evo_removed_capnp::movie::Owned>().await,
        ("Movie".into(), "genre".into())
    );
}

#[tokio::test]
async fn a_changed_primary_key_is_refused() {
    assert_eq!(
        refused_producer::<evo_pk_capnp::movie::Owned>().await,
        ("Movie".into(), String::new())
    );
}

#[tokio::test]
async fn a_removed_enumerant_is_refused() {
    assert_eq!(
        refused_producer::<evo_enum_shrink_capnp::movie::Owned>()
            .await
            .0,
        "Genre"
    );
}

#[tokio::test]
async fn a_type_with_records_left_unregistered_is_refused() {
    assert_eq!(
        refused_producer::<evo_v2_capnp::studio::Owned>().await,
        ("Movie".into(), String::new())
    );
}
