//! Read states with deltas overlaid on a snapshot, for a type with a composite Text key (the
//! tagged index layout, where every candidate is confirmed against a record), including a key
//! that is removed and later comes back, possibly at a reused ordinal.

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/test_types_capnp.rs"]
mod test_types_capnp;

use std::sync::Arc;

use hollow::{BlobStore, KeyValue, OpenError, Producer, ReadDelta, ReadState};
use test_types_capnp::place;

type Places = &'static [(&'static str, u32, &'static str)];

const VERSIONS: [Places; 4] = [
    &[("US", 1, "one"), ("US", 2, "two"), ("FR", 1, "un")],
    &[("US", 2, "two"), ("FR", 1, "un!"), ("DE", 5, "fünf")],
    &[("US", 2, "two"), ("FR", 1, "un!"), ("US", 1, "one again")],
    &[("US", 1, "one again"), ("JP", 9, "kyū")],
];

fn names(state: &ReadState) -> Vec<(String, u32, String)> {
    let t = state.table::<place::Owned>().expect("places");
    let mut out: Vec<(String, u32, String)> = t
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

fn check(state: &ReadState, expected: Places) {
    let mut want: Vec<(String, u32, String)> = expected
        .iter()
        .map(|(c, n, s)| (c.to_string(), *n, s.to_string()))
        .collect();
    want.sort();
    assert_eq!(names(state), want);
    let t = state.table::<place::Owned>().expect("places");
    for (country, code) in [
        ("US", 1u32),
        ("US", 2),
        ("FR", 1),
        ("DE", 5),
        ("JP", 9),
        ("XX", 0),
    ] {
        let found = t
            .get_by_key_values(&[KeyValue::Text(country), KeyValue::from(code)])
            .expect("lookup")
            .map(|p| p.get_name().expect("n").to_str().expect("s").to_string());
        let want = expected
            .iter()
            .find(|(c, n, _)| *c == country && *n == code)
            .map(|(_, _, s)| s.to_string());
        assert_eq!(found, want, "{country}/{code}");
    }
}

#[tokio::test]
async fn overlaid_states_follow_deltas_forward_and_back() {
    let store = BlobStore::memory();
    let producer = Producer::builder(store.clone(), "places")
        .register::<place::Owned>()
        .build()
        .await
        .expect("p");
    let mut deltas = Vec::new();
    let mut first = None;
    for places in VERSIONS {
        producer
            .run_cycle(|c| {
                let mut message = capnp::message::Builder::new_default();
                for (country, code, name) in places {
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
        let (a, _) = store
            .announcement()
            .await
            .expect("read")
            .expect("announced");
        if let Some(key) = a.snapshot.filter(|_| first.is_none()) {
            first = Some(
                ReadState::from_bytes(store.get_blob(&key).await.expect("get"), "s1")
                    .expect("open"),
            );
        }
        if let (Some(d), Some(r)) = (a.delta, a.reverse_delta) {
            let d =
                ReadDelta::from_bytes(store.get_blob(&d).await.expect("get"), "d").expect("delta");
            let r = ReadDelta::from_bytes(store.get_blob(&r).await.expect("get"), "r")
                .expect("reverse");
            deltas.push((Arc::new(d), Arc::new(r)));
        }
    }
    let first = first.expect("first snapshot");
    check(&first, VERSIONS[0]);
    let mut states = vec![first];
    for (i, (delta, _)) in deltas.iter().enumerate() {
        let next = states[i].apply_delta(Arc::clone(delta)).expect("apply");
        check(&next, VERSIONS[i + 1]);
        states.push(next);
    }
    // Older states are untouched by the newer ones derived from them.
    check(&states[0], VERSIONS[0]);
    check(&states[1], VERSIONS[1]);
    // Backwards from the newest state with reverse deltas.
    let mut state = states.pop().expect("newest");
    for (i, (_, reverse)) in deltas.iter().enumerate().rev() {
        state = state
            .apply_delta(Arc::clone(reverse))
            .expect("apply reverse");
        check(&state, VERSIONS[i]);
    }
    // A batched lookup needs single-field keys: on this composite key it is refused, by name.
    let places = state.table::<place::Owned>().expect("places");
    match places.get_many_by_key(["US", "FR"]) {
        Err(hollow::LookupError::InvalidKey { reason, .. }) => {
            assert!(reason.contains("2 field(s)"), "{reason}");
        }
        other => panic!("expected InvalidKey, got {:?}", other.map(|v| v.len())),
    }
    // A delta that does not start from the state is refused; the state stays usable.
    let wrong = state.apply_delta(Arc::clone(&deltas[1].0));
    assert!(matches!(wrong, Err(OpenError::WrongState { .. })));
    check(&state, VERSIONS[0]);
}

/// A movie of the random sequences below: `(id, title, year, genres)`.
type MovieRow = (u64, String, u16, Vec<&'static str>);

const GENRES: [&str; 5] = ["Drama", "Comedy", "Horror", "SciFi", "Crime"];

/// Everything a reader can see of a movie state, by every read path: `iter()`, `get` over
/// `0..capacity` (and past it), the primary key for every id (and absent ones), the unique
/// `id` index and the `genres` hash index.
fn movie_view(state: &ReadState, ids: impl Iterator<Item = u64>) -> Vec<String> {
    use hollow_movies::movies_capnp::movie;
    let t = state.table::<movie::Owned>().expect("movies");
    let row = |m: movie::Reader<'_>| {
        let genres: Vec<String> = m
            .get_genres()
            .expect("genres")
            .iter()
            .map(|g| g.expect("g").to_str().expect("s").to_string())
            .collect();
        format!(
            "{} {} {} {:?}",
            m.get_id(),
            m.get_title().expect("t").to_str().expect("s"),
            m.get_year(),
            genres
        )
    };
    let mut out = vec![format!("len {} capacity {}", t.len(), t.ordinal_capacity())];
    out.extend(t.iter().map(|(o, m)| format!("iter {o}: {}", row(m))));
    out.extend(
        (0..t.ordinal_capacity() + 70)
            .filter_map(|o| t.get(o).map(|m| format!("get {o}: {}", row(m)))),
    );
    let unique = t.index("id").expect("unique id index");
    let ids: Vec<u64> = ids.collect();
    // Batched lookups (groups of keys, present and absent) agree with one lookup at a time.
    let many = t.get_many_by_key(ids.iter()).expect("batched lookup");
    assert_eq!(many.len(), ids.len());
    for (id, found) in ids.iter().zip(many) {
        let one = t.get_by_key(*id).expect("lookup").map(row);
        assert_eq!(
            found.map(row),
            one,
            "id {id}: batched and single lookups disagree"
        );
    }
    for id in ids {
        let by_key = t.get_by_key(id).expect("lookup").map(row);
        let by_index = unique.get(id).expect("unique lookup").map(row);
        assert_eq!(
            by_key, by_index,
            "id {id}: primary key and unique index disagree"
        );
        out.push(format!("key {id}: {by_key:?}"));
    }
    for g in GENRES {
        let matches: Vec<String> = t.matching("genres", g).expect("genres").map(row).collect();
        out.push(format!("genre {g}: {matches:?}"));
    }
    out
}

/// One step of a random sequence: ids to upsert (with a variant number) and ids to delete.
#[derive(Debug, Clone)]
struct MovieStep {
    upserts: Vec<(u64, u8)>,
    deletes: Vec<u64>,
}

fn movie_of(id: u64, variant: u8) -> MovieRow {
    let genres: Vec<&'static str> = GENRES
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            (u64::from(variant) + id + u64::try_from(*i).expect("small")).is_multiple_of(3)
        })
        .map(|(_, g)| *g)
        .collect();
    (
        id,
        format!("movie {id} take {variant}"),
        1900 + u16::from(variant),
        genres,
    )
}

async fn publish_movie_sequence(
    steps: &[MovieStep],
    initial: u64,
) -> (Vec<ReadState>, Vec<(Arc<ReadDelta>, Arc<ReadDelta>)>) {
    use hollow_movies::movies_capnp::movie;
    let store = BlobStore::memory();
    let producer = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .unique_index("Movie", "id")
        .snapshot_every(1)
        .build()
        .await
        .expect("producer");
    let build =
        |row: &MovieRow, message: &mut capnp::message::Builder<capnp::message::HeapAllocator>| {
            let mut m = message.init_root::<movie::Builder>();
            m.set_id(row.0);
            m.set_title(row.1.as_str());
            m.set_year(row.2);
            let mut g = m.init_genres(u32::try_from(row.3.len()).expect("few"));
            for (i, genre) in (0u32..).zip(&row.3) {
                g.set(i, *genre);
            }
        };
    producer
        .run_cycle(|c| {
            let mut message = capnp::message::Builder::new_default();
            for id in 0..initial {
                build(&movie_of(id, 0), &mut message);
                c.add::<movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await
        .expect("cycle 0");
    let mut snapshots = Vec::new();
    let mut deltas = Vec::new();
    let (a, _) = store
        .announcement()
        .await
        .expect("read")
        .expect("announced");
    let key = a.snapshot.expect("snapshot");
    snapshots
        .push(ReadState::from_bytes(store.get_blob(&key).await.expect("get"), "s").expect("open"));
    for step in steps {
        let outcome = producer
            .run_incremental(|inc| {
                let mut message = capnp::message::Builder::new_default();
                for (id, variant) in &step.upserts {
                    build(&movie_of(*id, *variant), &mut message);
                    inc.upsert::<movie::Owned>(message.get_root_as_reader()?)?;
                }
                for id in &step.deletes {
                    inc.delete::<movie::Owned>(*id)?;
                }
                Ok(())
            })
            .await
            .expect("incremental cycle");
        if !matches!(outcome, hollow::CycleOutcome::Published(_)) {
            continue;
        }
        let (a, _) = store
            .announcement()
            .await
            .expect("read")
            .expect("announced");
        let key = a.snapshot.expect("a snapshot every cycle");
        snapshots.push(
            ReadState::from_bytes(store.get_blob(&key).await.expect("get"), "s").expect("open"),
        );
        let (d, r) = (a.delta.expect("delta"), a.reverse_delta.expect("reverse"));
        let d = ReadDelta::from_bytes(store.get_blob(&d).await.expect("get"), "d").expect("delta");
        let r =
            ReadDelta::from_bytes(store.get_blob(&r).await.expect("get"), "r").expect("reverse");
        deltas.push((Arc::new(d), Arc::new(r)));
    }
    (snapshots, deltas)
}

fn movie_steps() -> impl proptest::strategy::Strategy<Value = (u64, Vec<MovieStep>)> {
    use proptest::prelude::*;
    (
        0u64..400,
        prop::collection::vec(
            (
                prop::collection::vec((0u64..600, 1u8..40), 0..60),
                prop::collection::vec(0u64..600, 0..40),
            )
                .prop_map(|(upserts, deletes)| MovieStep { upserts, deletes }),
            1..14,
        ),
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// After every prefix of a random sequence of deltas (upserts of new and existing ids,
    /// deletes, ordinals reused), the overlaid state reads exactly like the fresh snapshot of
    /// the same version through every read path; then back to the start with reverse deltas,
    /// each state again equal to its fresh snapshot.
    #[test]
    fn overlaid_states_read_like_fresh_snapshots((initial, steps) in movie_steps()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let (snapshots, deltas) = runtime.block_on(publish_movie_sequence(&steps, initial));
        let ids = || 0u64..620;
        let mut state = deltas
            .first()
            .map(|(d, _)| snapshots[0].apply_delta(Arc::clone(d)).expect("apply"));
        if let Some(first) = &state {
            proptest::prop_assert_eq!(movie_view(first, ids()), movie_view(&snapshots[1], ids()));
        }
        let mut chain = vec![];
        for (i, (delta, _)) in deltas.iter().enumerate().skip(1) {
            let next = state.as_ref().expect("state").apply_delta(Arc::clone(delta)).expect("apply");
            proptest::prop_assert_eq!(
                movie_view(&next, ids()),
                movie_view(&snapshots[i + 1], ids()),
                "after {} deltas", i + 1
            );
            chain.push(state.replace(next));
        }
        // Compacted: the newest overlaid state folded into a snapshot reads the same, overlay-free.
        if let Some(newest) = &state {
            let compacted = newest.compacted().expect("compacts");
            proptest::prop_assert_eq!(compacted.overlay_depth(), 0);
            proptest::prop_assert_eq!(compacted.state_id(), newest.state_id());
            proptest::prop_assert_eq!(
                movie_view(&compacted, ids()),
                movie_view(snapshots.last().expect("snapshot"), ids())
            );
        }
        // Backwards: reverse deltas from the newest overlaid state to the first snapshot's version.
        if let Some(mut back) = state {
            for (i, (_, reverse)) in deltas.iter().enumerate().rev() {
                back = back.apply_delta(Arc::clone(reverse)).expect("apply reverse");
                proptest::prop_assert_eq!(
                    movie_view(&back, ids()),
                    movie_view(&snapshots[i], ids()),
                    "back to version {}", i
                );
            }
        }
        // A consumer pinned back: from the newest snapshot down the reverse deltas (capacities
        // shrink, keys removed since come back, maybe at ordinals the snapshot's index gives
        // to other keys), then forward again, each state equal to its fresh snapshot.
        if let Some(newest) = snapshots.last() {
            let mut back: Option<ReadState> = None;
            for (i, (_, reverse)) in deltas.iter().enumerate().rev() {
                let from = back.as_ref().unwrap_or(newest);
                let next = from.apply_delta(Arc::clone(reverse)).expect("apply reverse");
                proptest::prop_assert_eq!(
                    movie_view(&next, ids()),
                    movie_view(&snapshots[i], ids()),
                    "pinned back to version {}", i
                );
                back = Some(next);
            }
            if let Some(mut state) = back {
                for (i, (delta, _)) in deltas.iter().enumerate() {
                    state = state.apply_delta(Arc::clone(delta)).expect("apply");
                    proptest::prop_assert_eq!(
                        movie_view(&state, ids()),
                        movie_view(&snapshots[i + 1], ids()),
                        "forward again to version {}", i + 1
                    );
                }
            }
        }
        // The states on the way are untouched by those derived from them.
        for (i, s) in chain.iter().enumerate() {
            if let Some(s) = s {
                proptest::prop_assert_eq!(movie_view(s, ids()), movie_view(&snapshots[i + 1], ids()));
            }
        }
    }
}
