//! Format compatibility: a snapshot written by format v1 is committed, and every later build
//! must read it to the same records. Regenerate (only when adding a new golden version) with
//! `HOLLOW_BLESS=1 cargo test -p hollow --test golden`.

mod common;

use hollow::StateId;
use std::path::PathBuf;

use hollow::{ReadState, WriteOptions};
use serde_json::{Value, json};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Everything a reader can see of a state, as JSON.
fn dump(state: &ReadState) -> Value {
    let mut types = serde_json::Map::new();
    for t in state.types() {
        let table = state.dyn_table(&t.name).expect("type");
        let records: Vec<Value> = table
            .iter()
            .map(|(o, r)| json!({"ordinal": o, "record": r.to_json().expect("json")}))
            .collect();
        types.insert(
            t.name.clone(),
            json!({"typeId": format!("{:#x}", t.type_id), "primaryKey": t.primary_key,
                   "checksum": format!("{:#x}", t.checksum), "records": records}),
        );
    }
    json!({
        "dataset": state.dataset(), "version": state.version(), "tag": state.tag(),
        "formatVersion": state.header().format_version,
        "schemaFingerprint": format!("{:#x}", state.header().schema_fingerprint),
        "headerTags": state.header_tags(), "types": types,
    })
}

#[test]
fn golden_v1_snapshot_reads_to_the_committed_records() {
    let blob_path = golden_dir().join("v1-movies-snapshot.blob");
    let json_path = golden_dir().join("v1-movies-snapshot.json");
    if std::env::var_os("HOLLOW_BLESS").is_some() && !blob_path.exists() {
        let blob = common::movies_snapshot(
            60,
            2,
            WriteOptions {
                shard_bits: 5,
                dedup: true,
            },
        );
        std::fs::write(&blob_path, blob.as_slice()).expect("write golden blob");
        let state = ReadState::open(&blob_path).expect("open");
        let text = serde_json::to_string_pretty(&dump(&state)).expect("json") + "\n";
        std::fs::write(&json_path, text).expect("write golden json");
    }
    let state = ReadState::open(&blob_path).expect("the golden v1 blob must open");
    state.verify_all().expect("and verify");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("golden json"))
            .expect("parse");
    assert_eq!(dump(&state), expected);
    // Primary-key lookups work on the old blob too.
    let movies = state.dyn_table("Movie").expect("movies");
    for (_, r) in movies.iter() {
        let id = r.field_json("id").expect("id").to_string();
        assert!(
            movies.get_by_key_strings(&[&id]).expect("lookup").is_some(),
            "id {id}"
        );
    }
}

#[test]
fn the_writer_is_deterministic() {
    let a = common::movies_snapshot(300, 1, WriteOptions::default());
    let b = common::movies_snapshot(300, 1, WriteOptions::default());
    assert_eq!(a.as_slice(), b.as_slice());
}

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/movies_v2_capnp.rs"]
mod movies_v2_capnp;

#[test]
fn the_golden_v1_blob_reads_with_v2_generated_code() {
    let state = ReadState::open(golden_dir().join("v1-movies-snapshot.blob")).expect("open");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(golden_dir().join("v1-movies-snapshot.json"))
            .expect("golden json"),
    )
    .expect("parse");
    let movies = state
        .table::<movies_v2_capnp::movie::Owned>()
        .expect("v2 code reads v1 data");
    let records = expected["types"]["Movie"]["records"]
        .as_array()
        .expect("records");
    assert_eq!(movies.len() as usize, records.len());
    for r in records {
        let ordinal = u32::try_from(r["ordinal"].as_u64().expect("ordinal")).expect("fits");
        let m = movies.get(ordinal).expect("record");
        assert_eq!(serde_json::json!(m.get_id()), r["record"]["id"]);
        assert_eq!(
            serde_json::json!(m.get_title().expect("t").to_str().expect("s")),
            r["record"]["title"]
        );
        assert_eq!(serde_json::json!(m.get_year()), r["record"]["year"]);
        assert!(
            !m.has_tagline(),
            "a field added in v2 is unset on v1 records"
        );
    }
}

// ---- A golden delta chain: snapshot v1, delta v1 → v2 and reverse delta v2 → v1 ----

use hollow_movies::generator::GENRES;

/// [`dump`] plus the answers of the movies' secondary indexes for every genre and every actor.
fn dump_with_indexes(state: &ReadState) -> Value {
    let mut out = dump(state);
    let movies = state.dyn_table("Movie").expect("movies");
    let answers = |index: &str, keys: Vec<String>| -> Value {
        let index = movies.index(index).expect("index");
        let mut map = serde_json::Map::new();
        for key in keys {
            let ordinals: Vec<u32> = index
                .lookup_strings(&[&key])
                .expect("lookup")
                .map(|(o, _)| o)
                .collect();
            map.insert(key, json!(ordinals));
        }
        Value::Object(map)
    };
    out["indexes"] = json!({
        "Movie.genres": answers("genres", GENRES.iter().map(ToString::to_string).collect()),
        "Movie.castIds": answers("castIds", (1..=20).map(|a: u32| a.to_string()).collect()),
    });
    out
}

fn section_kinds(path: &std::path::Path) -> Vec<hollow::format::SectionKind> {
    let bytes = std::fs::read(path).expect("read blob");
    hollow::format::BlobLayout::parse(&bytes, "golden")
        .expect("layout")
        .sections
        .iter()
        .map(|s| s.kind)
        .collect()
}

/// Publishes two versions of a small movies dataset with a producer (genres and casts changed,
/// movies removed and added, so the delta carries secondary-index additions) and copies the
/// snapshot of v1, the delta and the reverse delta into `tests/golden/`.
fn bless_chain(dir: &std::path::Path) {
    use hollow::{BlobKey, BlobStore, Producer};
    use hollow_movies::Dataset;
    use hollow_movies::movies_capnp::{actor, movie};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let tmp = tempfile::tempdir().expect("temp dir");
        let store = BlobStore::local(tmp.path()).expect("store");
        let producer = Producer::builder(store.clone(), "movies")
            .register::<movie::Owned>()
            .register::<actor::Owned>()
            .options(WriteOptions {
                shard_bits: 4,
                dedup: true,
            })
            .snapshot_every(100)
            .header_tag("source", "golden chain")
            .build()
            .await
            .expect("producer");
        let data = Dataset::new(60);
        for version in 1..=2u64 {
            producer
                .run_cycle(|cycle| {
                    let mut message = capnp::message::Builder::new_default();
                    for a in data.actors(0) {
                        a.build(message.init_root::<actor::Builder>());
                        cycle.add::<actor::Owned>(message.get_root_as_reader()?)?;
                    }
                    let extra = (0..5).map(|i| hollow_movies::Movie {
                        id: 900 + i,
                        title: format!("Added {i}"),
                        year: 2026,
                        runtime_min: 90,
                        rating: 7.5,
                        genres: vec!["Western", GENRES[usize::try_from(i).unwrap_or(0)]],
                        cast_ids: vec![1 + i, 20 - i],
                        country_code: "NZ",
                    });
                    let movies: Vec<hollow_movies::Movie> = if version == 1 {
                        data.movies(0).collect()
                    } else {
                        data.movies(0)
                            .enumerate()
                            .filter(|(i, _)| i % 11 != 3)
                            .map(|(i, mut m)| {
                                if i % 7 == 0 {
                                    m.genres = vec!["Documentary", "War"];
                                    m.cast_ids.push(20);
                                }
                                m
                            })
                            .chain(extra)
                            .collect()
                    };
                    for m in movies {
                        m.build(message.init_root::<movie::Builder>());
                        cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
                    }
                    Ok(())
                })
                .await
                .expect("cycle");
        }
        for key in store.list_blobs().await.expect("list") {
            let name = match key {
                BlobKey::Snapshot {
                    state: StateId { version: 1, .. },
                } => "v1-movies-chain-snapshot.blob",
                BlobKey::Delta {
                    from: StateId { version: 1, .. },
                    to: StateId { version: 2, .. },
                } => "v1-movies-chain-delta.blob",
                BlobKey::ReverseDelta {
                    from: StateId { version: 2, .. },
                    to: StateId { version: 1, .. },
                } => "v1-movies-chain-reverse-delta.blob",
                _ => continue,
            };
            let bytes = store.get_blob(&key).await.expect("get");
            std::fs::write(dir.join(name), bytes.as_slice()).expect("write golden blob");
        }
    });
}

#[test]
fn golden_v1_delta_and_reverse_delta_apply_to_the_committed_states() {
    use std::sync::Arc;

    use hollow::ReadDelta;
    use hollow::format::SectionKind;

    let dir = golden_dir();
    let snapshot = dir.join("v1-movies-chain-snapshot.blob");
    let delta = dir.join("v1-movies-chain-delta.blob");
    let reverse = dir.join("v1-movies-chain-reverse-delta.blob");
    let before_json = dir.join("v1-movies-chain-v1.json");
    let after_json = dir.join("v1-movies-chain-v2.json");
    if std::env::var_os("HOLLOW_BLESS").is_some() && !snapshot.exists() {
        bless_chain(&dir);
        let base = ReadState::open(&snapshot).expect("open");
        let next = base
            .apply_delta(Arc::new(ReadDelta::open(&delta).expect("delta")))
            .expect("apply");
        for (path, state) in [(&before_json, &base), (&after_json, &next)] {
            let text = serde_json::to_string_pretty(&dump_with_indexes(state)).expect("json");
            std::fs::write(path, text + "\n").expect("write golden json");
        }
    }
    for path in [&delta, &reverse] {
        let kinds = section_kinds(path);
        for kind in [
            SectionKind::DeltaRemoved,
            SectionKind::DeltaUpserted,
            SectionKind::KeyChanges,
            SectionKind::IndexAdditions,
        ] {
            assert!(
                kinds.contains(&kind),
                "{} has no {kind:?} section",
                path.display()
            );
        }
    }
    let expected = |path: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).expect("golden json")).expect("parse")
    };
    let base = ReadState::open(&snapshot).expect("the golden chain snapshot must open");
    base.verify_all().expect("and verify");
    assert_eq!(dump_with_indexes(&base), expected(&before_json));
    let next = base
        .apply_delta(Arc::new(
            ReadDelta::open(&delta).expect("the golden delta must open"),
        ))
        .expect("and apply");
    assert_eq!(dump_with_indexes(&next), expected(&after_json));
    let back = next
        .apply_delta(Arc::new(
            ReadDelta::open(&reverse).expect("the golden reverse delta must open"),
        ))
        .expect("and apply");
    assert_eq!(dump_with_indexes(&back), expected(&before_json));
}
