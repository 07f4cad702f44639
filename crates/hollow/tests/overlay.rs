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
    // A delta that does not start from the state is refused; the state stays usable.
    let wrong = state.apply_delta(Arc::clone(&deltas[1].0));
    assert!(matches!(wrong, Err(OpenError::WrongState { .. })));
    check(&state, VERSIONS[0]);
}
