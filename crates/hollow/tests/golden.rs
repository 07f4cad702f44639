//! Format compatibility: a snapshot written by format v1 is committed, and every later build
//! must read it to the same records. Regenerate (only when adding a new golden version) with
//! `HOLLOW_BLESS=1 cargo test -p hollow --test golden`.

mod common;

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
