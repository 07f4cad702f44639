//! Corrupt, truncated and hostile blobs give typed errors: never a panic, never a wrong read.

mod common;

use hollow::fuzzing::{read_everything, reseal};
use hollow::{Error, LookupError, OpenError, WriteOptions};

fn small_blob() -> Vec<u8> {
    // 40 movies and 10 actors in shards of 16 ordinals: several shards per type.
    common::movies_snapshot(
        40,
        1,
        WriteOptions {
            shard_bits: 4,
            dedup: true,
        },
    )
    .as_slice()
    .to_vec()
}

/// A corrupt or unsupported blob, met when opening it or when a type is first read.
fn is_corrupt(e: &Error) -> bool {
    matches!(
        e,
        Error::Open(OpenError::Corrupt { .. } | OpenError::UnsupportedFormat { .. })
            | Error::Lookup(LookupError::Open(
                OpenError::Corrupt { .. } | OpenError::UnsupportedFormat { .. }
            ))
    )
}

fn is_unsupported(e: &Error) -> bool {
    matches!(e, Error::Open(OpenError::UnsupportedFormat { .. }))
}

fn assert_typed(result: hollow::Result<usize>, what: &str) {
    match result {
        Err(e) if is_corrupt(&e) => {}
        Err(other) => panic!("{what}: expected Corrupt/UnsupportedFormat, got {other}"),
        Ok(n) => panic!("{what}: corrupt blob read as valid ({n} records)"),
    }
}

#[test]
fn the_pristine_blob_reads() {
    let blob = small_blob();
    assert_eq!(read_everything(&blob).expect("valid"), 40 + 10);
}

#[test]
fn every_flipped_byte_is_a_typed_error() {
    let blob = small_blob();
    for i in 0..blob.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = blob.clone();
            bad[i] ^= mask;
            assert_typed(read_everything(&bad), &format!("byte {i} ^ {mask:#x}"));
        }
    }
}

#[test]
fn every_truncation_is_a_typed_error() {
    let blob = small_blob();
    for len in 0..blob.len() {
        assert_typed(
            read_everything(&blob[..len]),
            &format!("truncated to {len}"),
        );
    }
    let mut longer = blob.clone();
    longer.extend_from_slice(&[0; 8]);
    assert_typed(read_everything(&longer), "extended by 8 bytes");
}

#[test]
fn wrong_magic_and_future_versions_are_unsupported() {
    let blob = small_blob();
    let mut bad = blob.clone();
    bad[0] = b'P';
    assert!(matches!(
        read_everything(&bad),
        Err(e) if is_unsupported(&e)
    ));
    let mut future = blob.clone();
    future[8..10].copy_from_slice(&2u16.to_le_bytes()); // written by format version 2
    future[10..12].copy_from_slice(&2u16.to_le_bytes()); // and needs a reader of version 2
    reseal(&mut future);
    assert!(matches!(
        read_everything(&future),
        Err(e) if is_unsupported(&e)
    ));
    assert!(matches!(
        read_everything(b"not a blob at all"),
        Err(e) if is_unsupported(&e)
    ));
}

/// A hostile writer can compute valid checksums over bad content: the parsers behind the
/// checksums must hold on their own. Mutate each byte, reseal, and read everything.
#[test]
fn resealed_mutations_never_panic() {
    let blob = small_blob();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut ok = 0usize;
    for i in 0..blob.len() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bad = blob.clone();
        bad[i] ^= u8::try_from(state & 0xff).unwrap_or(1) | 1;
        if reseal(&mut bad) && read_everything(&bad).is_ok() {
            ok += 1; // a data byte changed: still a well-formed blob
        }
    }
    // Most payload bytes are record data, so many mutations stay readable; what matters is
    // that none panicked. The count guards against the test silently checking nothing.
    assert!(ok > 0);
}

/// A small delta from the producer (cycle 0 → 1 of 40 movies).
fn small_delta() -> Vec<u8> {
    use hollow::{BlobStore, Producer};
    use hollow_movies::Dataset;
    use hollow_movies::movies_capnp::{actor, movie};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = BlobStore::memory();
        let producer = Producer::builder(store.clone(), "movies")
            .register::<movie::Owned>()
            .register::<actor::Owned>()
            .build()
            .await
            .expect("producer");
        for (n, c) in [(40u64, 0u64), (52, 0)] {
            let data = Dataset::new(n);
            producer
                .run_cycle(|cycle| {
                    let mut message = capnp::message::Builder::new_default();
                    for m in data.movies(c) {
                        m.build(message.init_root::<movie::Builder>());
                        cycle.add::<movie::Owned>(message.get_root_as_reader()?)?;
                    }
                    Ok(())
                })
                .await
                .expect("cycle");
        }
        let (a, _) = store
            .announcement()
            .await
            .expect("read")
            .expect("announced");
        store
            .get_blob(&a.delta.expect("delta"))
            .await
            .expect("get")
            .as_slice()
            .to_vec()
    })
}

#[test]
fn every_flipped_byte_of_a_delta_is_a_typed_error() {
    use hollow::fuzzing::read_delta_everything;
    let delta = small_delta();
    // Another dataset size changes every cast list: 40 movies updated, 12 added.
    assert_eq!(read_delta_everything(&delta).expect("valid"), 52);
    for i in 0..delta.len() {
        let mut bad = delta.clone();
        bad[i] ^= 0x01;
        match read_delta_everything(&bad) {
            Err(e) if is_corrupt(&e) => {}
            other => panic!("byte {i}: {other:?}"),
        }
    }
    for len in 0..delta.len() {
        assert!(
            read_delta_everything(&delta[..len]).is_err(),
            "truncated to {len}"
        );
    }
    let mut state = 0x1234_5678u64;
    for i in 0..delta.len() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bad = delta.clone();
        bad[i] ^= u8::try_from(state & 0xff).unwrap_or(1) | 1;
        if reseal(&mut bad) {
            let _ = read_delta_everything(&bad); // must not panic
        }
    }
}

#[test]
fn every_mutation_of_a_json_record_is_an_error_or_a_record() {
    let sample = br#"{"dataset":"movies","headerTags":[{"key":"source","value":"movies.py"}],"types":[{"name":"Movie","typeId":18446744073709551615,"ordinalCapacity":4294967295,"recordCount":7,"shardBits":16,"primaryKey":["id"],"stateChecksum":0,"shardCount":1}]}"#;
    assert!(hollow::fuzzing::encode_json(sample).expect("the sample encodes") > 0);
    for len in 0..sample.len() {
        let _ = hollow::fuzzing::encode_json(&sample[..len]);
    }
    for at in 0..sample.len() {
        for byte in [b'"', b'1', b'-', b'[', b'{', b'}', b'e', b'9', 0xff] {
            let mut mutated = sample.to_vec();
            mutated[at] = byte;
            let _ = hollow::fuzzing::encode_json(&mutated);
        }
    }
    // Out-of-range values are errors, not truncations.
    for bad in [
        &br#"{"shardBits":256}"#[..],
        br#"{"recordCount":-1}"#,
        br#"{"typeId":18446744073709551616}"#,
        br#"{"primaryKey":"id"}"#,
    ] {
        let err = hollow::fuzzing::encode_json(bad).expect_err("refused");
        assert!(!err.is_empty());
    }
}

// ---- A hostile delta applied to a real snapshot, read through every index ----

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name),
    )
    .expect("golden blob")
}

#[test]
fn a_hostile_delta_applied_to_a_real_snapshot_is_a_typed_error_or_reads_whole() {
    use hollow::fuzzing::apply_delta_everything;

    let snapshot = golden("v1-movies-chain-snapshot.blob");
    let delta = golden("v1-movies-chain-delta.blob");
    let records = apply_delta_everything(&snapshot, &delta).expect("the golden delta applies");
    assert!(records > 0);
    // Every flipped byte and every truncation: refused (the checksums), never a panic.
    for i in 0..delta.len() {
        let mut bad = delta.clone();
        bad[i] ^= 0x41;
        assert!(
            apply_delta_everything(&snapshot, &bad).is_err(),
            "flipped byte {i} applied as valid"
        );
    }
    for len in (0..delta.len()).step_by(7) {
        assert!(apply_delta_everything(&snapshot, &delta[..len]).is_err());
    }
    // Resealed mutations get past the checksums: every parser behind them must hold on its
    // own (Ok when a data byte changed, a typed error otherwise), and the result reads whole.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut applied = 0usize;
    for i in 0..delta.len() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bad = delta.clone();
        bad[i] ^= u8::try_from(state & 0xff).unwrap_or(1) | 1;
        if reseal(&mut bad) && apply_delta_everything(&snapshot, &bad).is_ok() {
            applied += 1;
        }
    }
    assert!(
        applied > 0,
        "some resealed mutations (record bytes) still apply"
    );
}

#[test]
fn hostile_announcement_and_pin_documents_never_panic() {
    use hollow::fuzzing::parse_store_documents;

    let announcement = br#"{"dataset":"movies","version":3,"tag":"0x00000000000000ff","schemaFingerprint":"0x1","publishedAtMillis":5,"previous":{"version":2,"tag":"0x2"}}"#;
    let pin = br#"{"version":2,"tag":"0x00000000000000ab"}"#;
    assert_eq!(parse_store_documents(pin), 1, "a pin parses as a pin");
    for doc in [&announcement[..], &pin[..]] {
        for i in 0..doc.len() {
            for flip in [0x01u8, 0x20, 0x80] {
                let mut bad = doc.to_vec();
                bad[i] ^= flip;
                let _ = parse_store_documents(&bad);
            }
            let _ = parse_store_documents(&doc[..i]);
        }
    }
    for hostile in [
        &b""[..],
        b"null",
        b"[]",
        b"{\"version\":-1,\"tag\":\"0x1\"}",
        b"{\"version\":18446744073709551616,\"tag\":\"0x1\"}",
        b"{\"version\":1,\"tag\":\"0xfffffffffffffffffff\"}",
        b"{\"version\":1,\"tag\":\"zz\"}",
        b"{\"version\":1.5,\"tag\":\"0x1\"}",
        &[b'['; 10_000][..],
    ] {
        assert_eq!(
            parse_store_documents(hostile),
            0,
            "{:?}",
            String::from_utf8_lossy(&hostile[..hostile.len().min(40)])
        );
    }
}

/// The wire decoder's entry point (the `read_wire` fuzz target) on the golden blobs, on their
/// columnar streams, and on every flipped byte (in steps) and truncation of those streams: the
/// columnar round trip of any bytes gives them back, and a hostile stream (section codes,
/// column-wise shards, byte planes, rebuilt indexes) is a typed error, never a panic.
#[test]
fn the_wire_decoder_survives_hostile_columnar_streams() {
    for name in [
        "v1-movies-snapshot.blob",
        "v1-movies-chain-snapshot.blob",
        "v1-movies-chain-delta.blob",
        "v1-movies-chain-reverse-delta.blob",
    ] {
        let blob = golden(name);
        assert!(hollow::fuzzing::wire_everything(&blob) >= blob.len());
        let stream = hollow::fuzzing::columnar_stream(&blob).expect("a blob");
        // The stream as bytes round-trips; as a stream it reaches the end of the parser (and
        // the envelope's checksum, which a forged envelope cannot know).
        assert!(hollow::fuzzing::wire_everything(&stream) >= stream.len());
        for at in (0..stream.len()).step_by(29) {
            for mask in [0x01, 0x80] {
                let mut s = stream.clone();
                s[at] ^= mask;
                hollow::fuzzing::wire_everything(&s);
            }
        }
        for cut in (0..stream.len()).step_by(97) {
            hollow::fuzzing::wire_everything(&stream[..cut]);
        }
    }
}
