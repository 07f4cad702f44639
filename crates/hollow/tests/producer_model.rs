//! Model-based property test: random sequences of full cycles over a keyed type. After every
//! cycle the published snapshot equals the model, ordinals of surviving keys never move, and
//! the delta and reverse delta turn each snapshot into its neighbour exactly, both through the
//! write-side reference applier and through read states that overlay deltas on a snapshot
//! (forward from the first snapshot, then backward with reverse deltas).

use std::collections::BTreeMap;

use std::sync::Arc;

use hollow::{BlobKey, BlobStore, CycleOutcome, Producer, ReadDelta, ReadState, WriteState};
use hollow_movies::movies_capnp::movie;
use proptest::prelude::*;

type Model = BTreeMap<u64, String>;
/// A version's contents and ordinals, and the reverse delta that leads back from it.
type History = Vec<((Model, BTreeMap<u64, u32>), Option<Arc<ReadDelta>>)>;

fn cycles() -> impl Strategy<Value = Vec<Model>> {
    let record = (
        0u64..40,
        prop::sample::select(vec!["a", "b", "c", "a longer title"]),
    );
    let cycle = prop::collection::vec(record, 0..30)
        .prop_map(|v| v.into_iter().map(|(k, t)| (k, t.to_string())).collect());
    prop::collection::vec(cycle, 1..8)
}

fn contents(state: &ReadState) -> (Model, BTreeMap<u64, u32>) {
    let table = state.table::<movie::Owned>().expect("movies");
    let mut model = Model::new();
    let mut ordinals = BTreeMap::new();
    for (o, m) in table.iter() {
        model.insert(
            m.get_id(),
            m.get_title()
                .expect("t")
                .to_str()
                .expect("utf8")
                .to_string(),
        );
        ordinals.insert(m.get_id(), o);
    }
    (model, ordinals)
}

async fn blob(store: &BlobStore, key: BlobKey) -> hollow::BlobBytes {
    store.get_blob(&key).await.expect("get")
}

fn applied(snapshot: &ReadState, delta: &ReadDelta) -> (Model, BTreeMap<u64, u32>) {
    let mut state = WriteState::builder("m")
        .register::<movie::Owned>()
        .build()
        .expect("state");
    state.load_snapshot(snapshot).expect("load");
    state.apply_delta(delta).expect("apply");
    let current = state.current().expect("versioned");
    contents(
        &ReadState::from_bytes(state.write_snapshot(&current).expect("write"), "<applied>")
            .expect("open"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    #[test]
    fn random_cycles_match_the_model_and_deltas_invert(cycles in cycles()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(async {
            let store = BlobStore::memory();
            let producer = Producer::builder(store.clone(), "m").register::<movie::Owned>().snapshot_every(1).build().await.expect("producer");
            let mut previous: Option<(ReadState, BTreeMap<u64, u32>)> = None;
            // A consumer-like read state: the first snapshot, then every delta overlaid on it.
            let mut overlaid: Option<ReadState> = None;
            let mut history: History = Vec::new();
            for model in &cycles {
                let outcome = producer
                    .run_cycle(|cycle| {
                        let mut message = capnp::message::Builder::new_default();
                        for (id, title) in model {
                            let mut m = message.init_root::<movie::Builder>();
                            m.set_id(*id);
                            m.set_title(title.as_str());
                            cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
                        }
                        Ok(())
                    })
                    .await
                    .expect("cycle");
                let (announcement, _) = store.announcement().await.expect("read").expect("announced");
                if let CycleOutcome::Unchanged { version } = outcome {
                    prop_assert_eq!(version, announcement.version);
                    prop_assert_eq!(&contents(&previous.as_ref().expect("a version exists").0).0, model);
                    continue;
                }
                let snapshot = ReadState::from_bytes(blob(&store, announcement.snapshot.expect("snapshot")).await, "s").expect("open");
                let (got, ordinals) = contents(&snapshot);
                prop_assert_eq!(&got, model);
                if let Some((prev, prev_ordinals)) = &previous {
                    for (id, o) in &ordinals {
                        if let Some(p) = prev_ordinals.get(id) {
                            prop_assert_eq!(o, p, "key {} moved", id);
                        }
                    }
                    let delta = ReadDelta::from_bytes(blob(&store, announcement.delta.expect("delta")).await, "d").expect("delta");
                    prop_assert_eq!(applied(prev, &delta), (got.clone(), ordinals.clone()));
                    let reverse = ReadDelta::from_bytes(blob(&store, announcement.reverse_delta.expect("reverse")).await, "r").expect("reverse");
                    prop_assert_eq!(applied(&snapshot, &reverse), contents(prev));
                    let next = overlaid.as_ref().expect("state").apply_delta(Arc::new(delta)).expect("overlay a delta");
                    prop_assert_eq!(contents(&next), (got.clone(), ordinals.clone()));
                    check_lookups(&next, &got)?;
                    overlaid = Some(next);
                    history.push(((got.clone(), ordinals.clone()), Some(Arc::new(reverse))));
                } else {
                    overlaid = Some(ReadState::from_bytes(blob(&store, announcement.snapshot.expect("snapshot")).await, "first").expect("open"));
                    history.push(((got.clone(), ordinals.clone()), None));
                }
                previous = Some((snapshot, ordinals));
            }
            // Walk back with reverse deltas overlaid on the newest state.
            let mut state = overlaid.expect("at least one version");
            for i in (1..history.len()).rev() {
                let reverse = history[i].1.clone().expect("a reverse delta after the first version");
                state = state.apply_delta(reverse).expect("overlay a reverse delta");
                prop_assert_eq!(&contents(&state), &history[i - 1].0);
                check_lookups(&state, &history[i - 1].0.0)?;
            }
            Ok(())
        })?;
    }
}

fn check_lookups(state: &ReadState, model: &Model) -> Result<(), TestCaseError> {
    let table = state.table::<movie::Owned>().expect("movies");
    prop_assert_eq!(table.len() as usize, model.len());
    for id in 0u64..45 {
        let found = table
            .get_by_key(id)
            .expect("lookup")
            .map(|m| m.get_title().expect("t").to_str().expect("s").to_string());
        prop_assert_eq!(found.as_ref(), model.get(&id), "key {}", id);
    }
    Ok(())
}
