//! Snapshot round trips of the movies dataset: every field of every record reads back equal.

mod common;

use hollow::{ReadState, WriteOptions};
use hollow_movies::Dataset;
use hollow_movies::movies_capnp::{actor, movie};

#[test]
fn movies_10k_round_trip_field_by_field_through_a_mapped_file() {
    let blob = common::movies_snapshot(
        10_000,
        0,
        WriteOptions {
            shard_bits: 12,
            dedup: true,
        },
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snapshot.blob");
    std::fs::write(&path, blob.as_slice()).expect("write");
    let state = ReadState::open(&path).expect("open");
    assert_eq!(state.version(), 1);
    assert_eq!(state.tag(), 0x5eed);
    assert_eq!(state.dataset(), "movies");
    assert_eq!(
        state.header_tags(),
        &[("source".to_string(), "movies.py".to_string())]
    );

    let data = Dataset::new(10_000);
    let movies = state.table::<movie::Owned>().expect("movies");
    let expected: Vec<_> = data.movies(0).collect();
    assert_eq!(movies.len() as usize, expected.len());
    let mut seen = 0;
    for ((ordinal, m), e) in movies.iter().zip(&expected) {
        assert_eq!(m.get_id(), e.id, "ordinal {ordinal}");
        assert_eq!(
            m.get_title().expect("title").to_str().expect("utf8"),
            e.title
        );
        assert_eq!(m.get_year(), e.year);
        assert_eq!(m.get_runtime_min(), e.runtime_min);
        #[allow(clippy::cast_possible_truncation)]
        let rating = e.rating as f32;
        assert_eq!(m.get_rating().to_bits(), rating.to_bits());
        let genres: Vec<&str> = m
            .get_genres()
            .expect("genres")
            .iter()
            .map(|g| g.expect("g").to_str().expect("utf8"))
            .collect();
        assert_eq!(genres, e.genres);
        let cast: Vec<u64> = m.get_cast_ids().expect("cast").iter().collect();
        assert_eq!(cast, e.cast_ids);
        assert_eq!(
            m.get_country_code().expect("cc").to_str().expect("utf8"),
            e.country_code
        );
        // The primary-key index finds the same record.
        let by_key = movies.get_by_key(e.id).expect("lookup").expect("found");
        assert_eq!(by_key.get_id(), e.id);
        seen += 1;
    }
    assert_eq!(seen, expected.len());
    // Absent keys miss.
    for absent in [0u64, 1, 99_999, 100_000 + 10_000, u64::MAX] {
        assert!(
            movies.get_by_key(absent).expect("lookup").is_none(),
            "{absent} must miss"
        );
    }
    // A key of the wrong type is a typed error.
    assert!(matches!(
        movies.get_by_key("abc"),
        Err(hollow::LookupError::InvalidKey { .. })
    ));

    let actors = state.table::<actor::Owned>().expect("actors");
    let expected: Vec<_> = data.actors(0).collect();
    assert_eq!(actors.len() as usize, expected.len());
    for e in &expected {
        let a = actors.get_by_key(e.id).expect("lookup").expect("found");
        assert_eq!(a.get_name().expect("name").to_str().expect("utf8"), e.name);
        assert_eq!(a.get_birth_year(), e.birth_year);
    }
    // Ordinals past the end are None, not a panic.
    assert!(actors.get(u32::MAX).is_none());
    assert!(actors.get(actors.ordinal_capacity()).is_none());
}

#[test]
fn dynamic_view_prints_records_as_json() {
    let blob = common::movies_snapshot(1_000, 2, WriteOptions::default());
    let state = ReadState::from_bytes(blob, "<memory>").expect("open");
    let movies = state.dyn_table("Movie").expect("Movie");
    assert_eq!(movies.primary_key(), ["id"]);
    let data = Dataset::new(1_000);
    for e in data.movies(2).take(50) {
        let (_, rec) = movies
            .get_by_key_strings(&[&e.id.to_string()])
            .expect("lookup")
            .expect("found");
        // Float32 renders in its shortest round-trip form as f32 (8.56, not 8.5600004196167).
        #[allow(clippy::cast_possible_truncation)]
        let rating: f64 = (e.rating as f32).to_string().parse().expect("float");
        let expected = serde_json::json!({
            "id": e.id, "title": e.title, "year": e.year, "runtimeMin": e.runtime_min,
            "rating": rating, "genres": e.genres, "castIds": e.cast_ids, "countryCode": e.country_code,
        });
        assert_eq!(rec.to_json().expect("json"), expected);
    }
    assert!(matches!(
        state.dyn_table("Nope"),
        Err(hollow::LookupError::UnknownType { .. })
    ));
}

#[test]
fn dedup_makes_smaller_blobs_that_read_the_same() {
    let with = common::movies_snapshot(
        5_000,
        0,
        WriteOptions {
            dedup: true,
            ..WriteOptions::default()
        },
    );
    let without = common::movies_snapshot(
        5_000,
        0,
        WriteOptions {
            dedup: false,
            ..WriteOptions::default()
        },
    );
    assert!(
        (with.len() as f64) < 0.85 * without.len() as f64,
        "dedup {} bytes vs plain {} bytes",
        with.len(),
        without.len()
    );
    let a = ReadState::from_bytes(with, "dedup").expect("open");
    let b = ReadState::from_bytes(without, "plain").expect("open");
    let (ta, tb) = (
        a.dyn_table("Movie").expect("a"),
        b.dyn_table("Movie").expect("b"),
    );
    assert_eq!(ta.len(), tb.len());
    for ((oa, ra), (ob, rb)) in ta.iter().zip(tb.iter()) {
        assert_eq!(oa, ob);
        assert_eq!(ra.to_json().expect("a"), rb.to_json().expect("b"));
    }
    // Same records at the same ordinals: same state checksums.
    let checksums = |s: &ReadState| {
        s.types()
            .into_iter()
            .map(|t| (t.name, t.checksum))
            .collect::<Vec<_>>()
    };
    assert_eq!(checksums(&a), checksums(&b));
}
