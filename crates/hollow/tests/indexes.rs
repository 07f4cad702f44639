//! Secondary indexes (the movies schema declares `genres` and `castIds`; tests add more on the
//! producer builder): answers equal a brute-force scan (every value type, null and empty
//! values, list-element paths, composite keys), across random cycles followed forward, back
//! and through double snapshots; collisions and lying index sections still give exact answers;
//! unique indexes refuse duplicates; corrupt index sections are typed errors.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_lossless
)]

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/test_types_capnp.rs"]
mod test_types_capnp;

use std::collections::{BTreeMap, BTreeSet};

use hollow::{
    BlobStore, Consumer, CycleError, IndexSource, KeyValue, Producer, QueryPlan, ReadState, Schema,
    StateId, WriteState,
};
use hollow::{LookupError, OpenError};
use hollow_movies::movies_capnp::movie;
use test_types_capnp::{Color, extremes, place};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const GENRES: [&str; 6] = ["Drama", "Comedy", "Horror", "SciFi", "", "Western"];

#[derive(Clone, Debug, PartialEq)]
struct MovieRow {
    id: u64,
    title: String,
    year: u16,
    genres: Vec<&'static str>,
    cast: Vec<u64>,
    country: Option<&'static str>,
}

fn random_movie(rng: &mut Rng, id: u64) -> MovieRow {
    let genres = (0..rng.below(4))
        .map(|_| GENRES[rng.below(GENRES.len() as u64) as usize])
        .collect();
    let cast = (0..rng.below(5)).map(|_| 1 + rng.below(12)).collect();
    MovieRow {
        id,
        title: format!("Movie {}", rng.below(40)),
        year: 1990 + rng.below(4) as u16,
        genres,
        cast,
        country: [None, Some("US"), Some("FR")][rng.below(3) as usize],
    }
}

fn build_movie(row: &MovieRow, b: movie::Builder<'_>) {
    let mut b = b;
    b.set_id(row.id);
    b.set_title(&row.title);
    b.set_year(row.year);
    let mut g = b.reborrow().init_genres(row.genres.len() as u32);
    for (i, x) in row.genres.iter().enumerate() {
        g.set(i as u32, *x);
    }
    let mut c = b.reborrow().init_cast_ids(row.cast.len() as u32);
    for (i, x) in row.cast.iter().enumerate() {
        c.set(i as u32, *x);
    }
    if let Some(country) = row.country {
        b.set_country_code(country);
    }
}

fn text(r: capnp::Result<capnp::text::Reader<'_>>) -> String {
    r.expect("text").to_str().expect("utf-8").to_string()
}

/// Index answers on `state` against a scan of the state read through generated code (and,
/// when given, against the rows the producer was fed).
fn check_movies(state: &ReadState, rows: Option<&[MovieRow]>) {
    let table = state.table::<movie::Owned>().expect("movies");
    let all: Vec<(u32, movie::Reader<'_>)> = table.iter().collect();
    if let Some(rows) = rows {
        let mut got: Vec<u64> = all.iter().map(|(_, m)| m.get_id()).collect();
        let mut want: Vec<u64> = rows.iter().map(|r| r.id).collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "records at version {}", state.version());
    }
    let genres = table.index("genres").expect("genres index");
    assert_eq!(genres.source(), IndexSource::Shipped);
    for g in GENRES.iter().chain(&["Nope"]) {
        let found: Vec<u64> = genres
            .matching(*g)
            .expect("lookup")
            .map(|m| m.get_id())
            .collect();
        let want: Vec<u64> = all
            .iter()
            .filter(|(_, m)| {
                m.get_genres()
                    .expect("genres")
                    .iter()
                    .any(|x| x.expect("t").to_str().expect("s") == *g)
            })
            .map(|(_, m)| m.get_id())
            .collect();
        assert_eq!(found, want, "genre {g:?} at version {}", state.version());
    }
    let cast = table.index("castIds").expect("cast index");
    for actor in 0..14u64 {
        let found: Vec<u64> = cast
            .matching(actor)
            .expect("lookup")
            .map(|m| m.get_id())
            .collect();
        let want: Vec<u64> = all
            .iter()
            .filter(|(_, m)| m.get_cast_ids().expect("cast").iter().any(|x| x == actor))
            .map(|(_, m)| m.get_id())
            .collect();
        assert_eq!(found, want, "actor {actor} at version {}", state.version());
    }
    let composite = table.index("year, countryCode").expect("composite index");
    for year in 1989..1995u16 {
        for country in [KeyValue::Text("US"), KeyValue::Text("FR"), KeyValue::Null] {
            let found: Vec<u64> = composite
                .matching_values(&[year.into(), country])
                .expect("lookup")
                .map(|m| m.get_id())
                .collect();
            let want: Vec<u64> = all
                .iter()
                .filter(|(_, m)| {
                    let c = if m.has_country_code() {
                        KeyValue::Text(m.get_country_code().expect("c").to_str().expect("s"))
                    } else {
                        KeyValue::Null
                    };
                    m.get_year() == year && c == country
                })
                .map(|(_, m)| m.get_id())
                .collect();
            assert_eq!(found, want, "{year}/{country:?} at {}", state.version());
        }
    }
    check_facets(state, &all);
    // The dynamic query picks the index and agrees with the typed lookup.
    let dyn_table = state.dyn_table("Movie").expect("dyn");
    let q = dyn_table.query(&[("genres", "Drama")]).expect("query");
    assert!(matches!(q.plan, QueryPlan::Index { shipped: true, .. }));
    let via_query: Vec<u32> = q.map(|(o, _)| o).collect();
    let via_typed: Vec<u32> = {
        let mut m = genres.matching("Drama").expect("lookup");
        std::iter::from_fn(|| m.next_with_ordinal().map(|(o, _)| o)).collect()
    };
    assert_eq!(via_query, via_typed);
}

/// Facets of the genres and castIds indexes against counts from a scan: every value with
/// its exact count when the limit covers them all, and the largest counts under a smaller
/// limit (snapshot states and states with deltas overlaid alike).
fn check_facets(state: &ReadState, all: &[(u32, movie::Reader<'_>)]) {
    let mut want: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (_, m) in all {
        let genres: BTreeSet<String> = m
            .get_genres()
            .expect("genres")
            .iter()
            .map(|g| g.expect("t").to_str().expect("s").to_string())
            .collect();
        for g in genres {
            *want.entry("genres").or_default().entry(g).or_default() += 1;
        }
        let cast: BTreeSet<u64> = m.get_cast_ids().expect("cast").iter().collect();
        for c in cast {
            *want
                .entry("castIds")
                .or_default()
                .entry(c.to_string())
                .or_default() += 1;
        }
    }
    let table = state.dyn_table("Movie").expect("dyn");
    for index in ["genres", "castIds"] {
        let want = want.remove(index).unwrap_or_default();
        let facets = table
            .index(index)
            .expect("index")
            .facets(100)
            .expect("facets");
        assert!(!facets.scanned);
        let got: BTreeMap<String, usize> = facets
            .values
            .iter()
            .map(|v| (v.values[0].clone().expect("a value"), v.count))
            .collect();
        assert_eq!(got, want, "{index} facets at version {}", state.version());
        assert!(facets.values.windows(2).all(|w| w[0].count >= w[1].count));
        let top = table
            .index(index)
            .expect("index")
            .facets(3)
            .expect("facets");
        let mut counts: Vec<usize> = want.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        counts.truncate(3);
        let got_counts: Vec<usize> = top.values.iter().map(|v| v.count).collect();
        assert_eq!(
            got_counts,
            counts,
            "top {index} at version {}",
            state.version()
        );
        for v in &top.values {
            assert_eq!(
                Some(&v.count),
                want.get(v.values[0].as_deref().unwrap_or_default())
            );
        }
    }
}

/// Runs one full cycle of `rows`; returns the announced version.
async fn publish_movies(producer: &Producer, rows: &[MovieRow]) -> u64 {
    producer
        .run_cycle(|c| {
            let mut message = capnp::message::Builder::new_default();
            for r in rows {
                build_movie(r, message.init_root::<movie::Builder>());
                c.add::<movie::Owned>(message.get_root_as_reader()?)?;
            }
            Ok(())
        })
        .await
        .expect("cycle")
        .version()
}

fn movie_producer(store: &BlobStore) -> hollow::ProducerBuilder {
    Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .hash_index("Movie", "genres")
        .hash_index("Movie", "castIds")
        .hash_index("Movie", "year,countryCode")
        .snapshot_every(3)
}

#[tokio::test]
async fn random_cycles_forward_back_and_double_snapshots_match_a_scan() {
    let store = BlobStore::memory();
    let producer = movie_producer(&store).build().await.expect("producer");
    let mut rng = Rng(0x1dea_5eed);
    let mut rows: Vec<MovieRow> = (0..60).map(|id| random_movie(&mut rng, id)).collect();
    let mut versions: Vec<(u64, Vec<MovieRow>)> = Vec::new();
    for cycle in 0..9 {
        if cycle > 0 {
            // Drop some, change some (lists included), add some.
            rows.retain(|_| rng.below(10) != 0);
            for r in &mut rows {
                if rng.below(5) == 0 {
                    let id = r.id;
                    *r = random_movie(&mut rng, id);
                }
            }
            for _ in 0..rng.below(8) {
                let id = 1000 + cycle * 100 + rng.below(100);
                if rows.iter().all(|r| r.id != id) {
                    rows.push(random_movie(&mut rng, id));
                }
            }
        }
        versions.push((publish_movies(&producer, &rows).await, rows.clone()));
    }
    let consumer = Consumer::builder(store.clone())
        .max_deltas(2)
        .build()
        .await
        .expect("consumer");
    // Forward one version at a time, then back, then jumps both ways.
    let mut order: Vec<usize> = (0..versions.len()).collect();
    order.extend((0..versions.len()).rev());
    for _ in 0..12 {
        order.push(rng.below(versions.len() as u64) as usize);
    }
    for i in order {
        let (version, rows) = &versions[i];
        consumer.refresh_to(*version).await.expect("refresh");
        let state = consumer.state().expect("state");
        assert_eq!(state.version(), *version);
        check_movies(&state, Some(rows));
    }
}

#[tokio::test]
async fn unique_indexes_refuse_duplicates_and_keep_the_last_good_state() {
    let store = BlobStore::memory();
    let producer = Producer::builder(store.clone(), "places")
        .register::<place::Owned>()
        .unique_index("Place", "name")
        .hash_index("Place", "country")
        .build()
        .await
        .expect("producer");
    let cycle = |places: &'static [(&'static str, u32, &'static str)]| {
        let producer = &producer;
        async move {
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
        }
    };
    let v1 = cycle(&[("US", 1, "Boston"), ("US", 2, "Austin"), ("FR", 1, "Lyon")])
        .await
        .expect("v1")
        .version();
    // Two records with one name: the cycle fails and names the type, index and key.
    let err = cycle(&[("US", 1, "Boston"), ("US", 2, "Boston"), ("FR", 1, "Lyon")])
        .await
        .expect_err("duplicate");
    match &err {
        CycleError::UniqueViolation {
            type_name,
            index,
            key,
        } => {
            assert_eq!(
                (type_name.as_str(), index.as_str(), key.as_str()),
                ("Place", "name", "\"Boston\"")
            );
        }
        other => panic!("expected a unique violation, got {other}"),
    }
    let (announced, _) = store.announcement().await.expect("read").expect("some");
    assert_eq!(announced.version, v1, "nothing published");
    // Swapping two names in one cycle is fine: uniqueness holds after the cycle.
    let v2 = cycle(&[("US", 1, "Austin"), ("US", 2, "Boston"), ("FR", 1, "Lyon")])
        .await
        .expect("swap")
        .version();
    assert!(v2 > v1);
    let consumer = Consumer::builder(store.clone()).build().await.expect("c");
    consumer.refresh().await.expect("refresh");
    let state = consumer.state().expect("state");
    let places = state.table::<place::Owned>().expect("places");
    let austin = places
        .unique("name", "Austin")
        .expect("lookup")
        .expect("found");
    assert_eq!(austin.get_code(), 1);
    assert!(places.unique("name", "Paris").expect("lookup").is_none());
    assert_eq!(places.matching("country", "US").expect("lookup").count(), 2);
    let q = state
        .dyn_table("Place")
        .expect("dyn")
        .query(&[("name", "Lyon")])
        .expect("query");
    assert_eq!(
        q.plan,
        QueryPlan::Index {
            name: "name".into(),
            kind: hollow::IndexKind::Unique,
            shipped: true
        }
    );
    assert_eq!(q.count(), 1);
    // Unknown index names say which indexes exist.
    let unknown = places.index("population").err().expect("unknown index");
    assert!(unknown.to_string().contains("name (unique)"), "{unknown}");
    assert!(
        matches!(&unknown, LookupError::UnknownIndex { index, .. } if index == "population"),
        "{unknown:?}"
    );
}

fn extremes_schema() -> Schema {
    let mut schema = Schema::builder()
        .add::<extremes::Owned>()
        .build()
        .expect("schema");
    for fields in EXTREME_INDEXES {
        schema = schema.with_hash_index("Extremes", fields).expect(fields);
    }
    schema
}

const EXTREME_INDEXES: [&str; 17] = [
    "i8",
    "i16",
    "i32",
    "i64",
    "u8",
    "u16",
    "u32",
    "u64",
    "f32",
    "f64",
    "flag",
    "blob",
    "color",
    "colors",
    "inner.s",
    "inners.a",
    "choice.word",
];

/// Writes records whose every field takes few values (so keys repeat), including -0.0, NaN,
/// empty and unset Text/Data, and union members that are not active.
fn extremes_state(indexed: bool) -> ReadState {
    let builder = if indexed {
        WriteState::builder("x").schema(extremes_schema()).index(
            "Extremes",
            hollow::IndexKind::Hash,
            "i8, extra.level, flag",
        )
    } else {
        WriteState::builder("x").schema(
            Schema::builder()
                .add::<extremes::Owned>()
                .build()
                .expect("schema"),
        )
    };
    let mut state = builder.register_name("Extremes").build().expect("state");
    let mut rng = Rng(77);
    for id in 0..200i64 {
        let mut message = capnp::message::Builder::new_default();
        let mut e = message.init_root::<extremes::Builder>();
        let pick = |rng: &mut Rng, n: u64| rng.below(n) as i64;
        e.set_id(id);
        e.set_i8([i8::MIN, -1, 0, i8::MAX][pick(&mut rng, 4) as usize]);
        e.set_i16([i16::MIN, 7, i16::MAX][pick(&mut rng, 3) as usize]);
        e.set_i32([i32::MIN, 0, i32::MAX][pick(&mut rng, 3) as usize]);
        e.set_i64([i64::MIN, 3, i64::MAX][pick(&mut rng, 3) as usize]);
        e.set_u8([0, 255][pick(&mut rng, 2) as usize]);
        e.set_u16([0, 65535][pick(&mut rng, 2) as usize]);
        e.set_u32([0, u32::MAX][pick(&mut rng, 2) as usize]);
        e.set_u64([0, u64::MAX][pick(&mut rng, 2) as usize]);
        e.set_f32([0.0, -0.0, f32::NAN, 1.5][pick(&mut rng, 4) as usize]);
        e.set_f64([0.0, -0.0, f64::NAN, -2.25, f64::INFINITY][pick(&mut rng, 5) as usize]);
        e.set_flag(pick(&mut rng, 2) == 1);
        match pick(&mut rng, 3) {
            0 => {}
            1 => e.set_blob(&[]),
            _ => e.set_blob(&[0, 0xff]),
        }
        e.set_color([Color::Red, Color::Green, Color::Blue][pick(&mut rng, 3) as usize]);
        let n = pick(&mut rng, 3) as u32;
        let mut colors = e.reborrow().init_colors(n);
        for i in 0..n {
            colors.set(i, [Color::Red, Color::Blue][(i % 2) as usize]);
        }
        match pick(&mut rng, 3) {
            0 => {}
            1 => e.reborrow().init_inner().set_s(""),
            _ => e.reborrow().init_inner().set_s("s"),
        }
        let n = pick(&mut rng, 3) as u32;
        let mut inners = e.reborrow().init_inners(n);
        for i in 0..n {
            inners.reborrow().get(i).set_a(i as i32 - 1);
        }
        match pick(&mut rng, 3) {
            0 => e.reborrow().init_choice().set_none(()),
            1 => e.reborrow().init_choice().set_count(5),
            _ => e.reborrow().init_choice().set_word("w"),
        }
        e.reborrow().init_extra().set_level(pick(&mut rng, 2) as u8);
        state
            .add_dynamic("Extremes", message.get_root_as_reader().expect("r"))
            .expect("add");
    }
    ReadState::from_bytes(
        state
            .write_snapshot(&StateId { version: 1, tag: 1 })
            .expect("snapshot"),
        "<extremes>",
    )
    .expect("open")
}

#[test]
fn every_value_type_matches_a_scan() {
    let state = extremes_state(true);
    let plain = extremes_state(false);
    let plain_table = plain.dyn_table("Extremes").expect("dyn");
    let table = state.dyn_table("Extremes").expect("dyn");
    let typed = state.table::<extremes::Owned>().expect("typed");
    let records: Vec<(u32, extremes::Reader<'_>)> = typed.iter().collect();
    // Independent oracles for the trickiest rules.
    let ids = |values: &[&str], index: &str| -> Vec<u32> {
        table
            .index(index)
            .expect(index)
            .lookup_strings(values)
            .expect("lookup")
            .map(|(o, _)| o)
            .collect()
    };
    let want = |f: &dyn Fn(&extremes::Reader<'_>) -> bool| -> Vec<u32> {
        records
            .iter()
            .filter(|(_, r)| f(r))
            .map(|(o, _)| *o)
            .collect()
    };
    assert_eq!(
        ids(&["0"], "f64"),
        want(&|r| r.get_f64() == 0.0),
        "-0.0 is 0.0"
    );
    assert_eq!(ids(&["-0"], "f64"), ids(&["0"], "f64"));
    assert_eq!(ids(&["NaN"], "f64"), want(&|r| r.get_f64().is_nan()));
    assert_eq!(
        ids(&["inf"], "f64"),
        want(&|r| r.get_f64() == f64::INFINITY)
    );
    assert_eq!(ids(&["NaN"], "f32"), want(&|r| r.get_f32().is_nan()));
    assert_eq!(ids(&["-128"], "i8"), want(&|r| r.get_i8() == i8::MIN));
    assert_eq!(
        ids(&["18446744073709551615"], "u64"),
        want(&|r| r.get_u64() == u64::MAX)
    );
    assert_eq!(ids(&["true"], "flag"), want(&|r| r.get_flag()));
    assert_eq!(
        ids(&["blue"], "color"),
        want(&|r| r.get_color() == Ok(Color::Blue))
    );
    assert_eq!(
        ids(&["2"], "color"),
        ids(&["blue"], "color"),
        "enums by name or number"
    );
    assert_eq!(
        ids(&["blue"], "colors"),
        want(&|r| r
            .get_colors()
            .expect("c")
            .iter()
            .any(|c| c == Ok(Color::Blue)))
    );
    assert_eq!(
        ids(&["-1"], "inners.a"),
        want(&|r| r.get_inners().expect("i").iter().any(|i| i.get_a() == -1))
    );
    assert_eq!(
        ids(&["w"], "choice.word"),
        want(&|r| matches!(r.get_choice().which(), Ok(extremes::choice::Word(_))))
    );
    // Unset Text is the null key, distinct from "" (typed lookups; strings cannot say null).
    let inner = typed.index("inner.s").expect("inner.s");
    let nulls: Vec<i64> = inner
        .matching_values(&[KeyValue::Null])
        .expect("null")
        .map(|r| r.get_id())
        .collect();
    let want_nulls: Vec<i64> = records
        .iter()
        .filter(|(_, r)| !r.has_inner() || !r.get_inner().expect("i").has_s())
        .map(|(_, r)| r.get_id())
        .collect();
    assert_eq!(nulls, want_nulls);
    assert!(!nulls.is_empty());
    // The dynamic query says null with `None`, through the index and through a scan.
    let dyn_nulls: Vec<u32> = table
        .query_nullable(&[("inner.s", None)])
        .expect("query")
        .map(|(o, _)| o)
        .collect();
    let scanned_nulls: Vec<u32> = plain_table
        .query_nullable(&[("inner.s", None)])
        .expect("query")
        .map(|(o, _)| o)
        .collect();
    assert_eq!(dyn_nulls, scanned_nulls);
    assert_eq!(dyn_nulls.len(), nulls.len());
    assert!(
        table.query_nullable(&[("i8", None)]).is_err(),
        "an integer cannot be null"
    );
    let empty: Vec<i64> = inner
        .matching("")
        .expect("empty")
        .map(|r| r.get_id())
        .collect();
    assert!(!empty.is_empty() && empty.iter().all(|id| !nulls.contains(id)));
    let blobs = typed.index("blob").expect("blob");
    let with_bytes = blobs.matching(&[0u8, 0xff][..]).expect("bytes").count();
    assert_eq!(
        with_bytes,
        records
            .iter()
            .filter(|(_, r)| r.get_blob().expect("b") == [0, 0xff])
            .count()
    );
    assert!(
        blobs
            .matching_values(&[KeyValue::Null])
            .expect("null")
            .count()
            > 0
    );
    // Every index against a scan of the same condition (the query planner's scan), for every
    // value any record has.
    for name in EXTREME_INDEXES
        .iter()
        .copied()
        .chain(["i8,extra.level,flag"])
    {
        let fields: Vec<&str> = name.split(',').map(str::trim).collect();
        let mut seen = BTreeSet::new();
        for (_, r) in table.iter() {
            let json = r.to_json().expect("json");
            let mut values = Vec::new();
            for f in &fields {
                let mut v = &json;
                for part in f.split('.') {
                    v = &v[part];
                }
                values.push(v.clone());
            }
            seen.insert(serde_json::to_string(&values).expect("json"));
        }
        for combo in seen {
            let values: Vec<serde_json::Value> = serde_json::from_str(&combo).expect("json");
            // Lists and nulls are checked above; here, one value per field.
            if values.iter().any(|v| v.is_array() || v.is_null()) {
                continue;
            }
            let strings: Vec<String> = values
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            if fields.contains(&"blob") {
                continue; // base64 in JSON; bytes lookups are checked above
            }
            let strs: Vec<&str> = strings.iter().map(String::as_str).collect();
            let through_index: Vec<u32> = ids(&strs, name);
            let conditions: Vec<(&str, &str)> =
                fields.iter().copied().zip(strs.iter().copied()).collect();
            // The same records without indexes: the planner scans.
            let scanned: Vec<u32> = {
                let result = plain_table.query(&conditions).expect("query");
                assert_eq!(result.plan, QueryPlan::Scan);
                result.map(|(o, _)| o).collect()
            };
            let planned = table.query(&conditions).expect("query");
            assert!(matches!(
                planned.plan,
                QueryPlan::Index { shipped: true, .. }
            ));
            assert_eq!(planned.map(|(o, _)| o).collect::<Vec<_>>(), through_index);
            assert_eq!(through_index, scanned, "{name} = {strs:?}");
            assert!(
                !through_index.is_empty(),
                "{name} = {strs:?} matches its own record"
            );
        }
    }
}

#[test]
fn lying_index_sections_still_give_exact_answers() {
    // Rewrite the genres index so every slot lists every ordinal (what colliding hashes would
    // do, and worse), reseal the checksums: lookups confirm candidates against records.
    let schema = Schema::builder()
        .add::<movie::Owned>()
        .build()
        .expect("schema")
        .with_hash_index("Movie", "genres")
        .expect("index");
    let mut state = WriteState::builder("m")
        .schema(schema)
        .register_name("Movie")
        .build()
        .expect("state");
    let mut rng = Rng(5);
    let rows: Vec<MovieRow> = (0..50).map(|id| random_movie(&mut rng, id)).collect();
    for r in &rows {
        let mut message = capnp::message::Builder::new_default();
        build_movie(r, message.init_root::<movie::Builder>());
        state
            .add_dynamic("Movie", message.get_root_as_reader().expect("r"))
            .expect("add");
    }
    let blob = state
        .write_snapshot(&StateId { version: 1, tag: 1 })
        .expect("snapshot");
    let layout = hollow::format::BlobLayout::parse(blob.as_slice(), "b").expect("layout");
    let section = layout
        .sections
        .iter()
        .find(|s| s.kind == hollow::format::SectionKind::SecondaryIndex)
        .expect("index section");
    let mut bytes = blob.as_slice().to_vec();
    let at = section.offset as usize;
    let slots = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8")) as usize;
    let area_len = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().expect("8")) as usize;
    // One posting list of every ordinal 0..n (varints: n, 0, then gaps of 1), and every slot
    // pointing at it (tags kept, so each lookup still reaches its slot).
    let n = (area_len - 1).min(127);
    assert!(n >= rows.len(), "{n} < {}", rows.len());
    let area = at + 16 + slots * 8;
    bytes[area] = n as u8;
    bytes[area + 1] = 0;
    for i in 1..n {
        bytes[area + 1 + i] = 1;
    }
    for s in 0..slots {
        let slot = at + 16 + s * 8;
        if bytes[slot + 4..slot + 8] != [0; 4] {
            bytes[slot + 4..slot + 8].copy_from_slice(&1u32.to_le_bytes());
        }
    }
    let mut resealed = bytes.clone();
    assert!(hollow::fuzzing::reseal(&mut resealed));
    let state =
        ReadState::from_bytes(hollow::BlobBytes::from_vec(resealed), "lying").expect("open");
    check_genres_only(&state, &rows);
    // The same bytes without resealing: the index section's checksum catches the change.
    let corrupt =
        ReadState::from_bytes(hollow::BlobBytes::from_vec(bytes), "corrupt").expect("open");
    match corrupt.table::<movie::Owned>().err().expect("corrupt") {
        LookupError::Open(OpenError::Corrupt { section, .. }) => {
            assert!(section.contains("secondary index"), "{section}")
        }
        other => panic!("expected Corrupt, got {other}"),
    }
}

fn check_genres_only(state: &ReadState, rows: &[MovieRow]) {
    let table = state.table::<movie::Owned>().expect("movies");
    for g in GENRES {
        let mut found: Vec<u64> = table
            .matching("genres", g)
            .expect("lookup")
            .map(|m| m.get_id())
            .collect();
        found.sort_unstable();
        let want: Vec<u64> = rows
            .iter()
            .filter(|r| r.genres.contains(&g))
            .map(|r| r.id)
            .collect();
        assert_eq!(found, want, "genre {g:?}");
    }
    let _ = text;
}

#[tokio::test]
async fn an_index_declared_later_scans_until_a_snapshot_ships_it() {
    let store = BlobStore::memory();
    let mut rng = Rng(9);
    let rows: Vec<MovieRow> = (0..30).map(|id| random_movie(&mut rng, id)).collect();
    let run = |producer: Producer, rows: Vec<MovieRow>| async move {
        publish_movies(&producer, &rows).await
    };
    let plain = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .snapshot_every(100)
        .build()
        .await
        .expect("p1");
    run(plain, rows.clone()).await;
    let consumer = Consumer::builder(store.clone()).build().await.expect("c");
    // A restarted producer declares the index; its next cycle is a delta.
    let indexed = Producer::builder(store.clone(), "movies")
        .register::<movie::Owned>()
        .hash_index("Movie", "year")
        .snapshot_every(100)
        .build()
        .await
        .expect("p2");
    let mut changed = rows.clone();
    changed[0] = random_movie(&mut rng, 0);
    changed.pop();
    let v2 = run(indexed, changed.clone()).await;
    consumer.refresh().await.expect("refresh");
    let state = consumer.state().expect("state");
    assert_eq!(state.version(), v2);
    let table = state.table::<movie::Owned>().expect("movies");
    let year = table.index("year").expect("declared");
    assert_eq!(year.source(), IndexSource::Scan);
    for y in 1989..1995u16 {
        let mut found: Vec<u64> = year
            .matching(y)
            .expect("lookup")
            .map(|m| m.get_id())
            .collect();
        found.sort_unstable();
        let want: Vec<u64> = changed
            .iter()
            .filter(|r| r.year == y)
            .map(|r| r.id)
            .collect();
        assert_eq!(found, want, "year {y}");
    }
    // Indexes the first snapshot shipped are still shipped.
    assert_eq!(
        table.index("genres").expect("declared").source(),
        IndexSource::Shipped
    );
    check_genres_only(&state, &changed);
    let q = state
        .dyn_table("Movie")
        .expect("dyn")
        .query(&[("year", "1990")])
        .expect("query");
    assert!(
        matches!(q.plan, QueryPlan::Index { shipped: false, .. }),
        "{}",
        q.plan
    );
}

/// Two Text keys whose key hashes share their low 32 bits (the tag slots and index additions
/// keep), found by brute force (a birthday search over ~2^16 keys).
fn colliding_names() -> (String, String) {
    let mut seen = std::collections::HashMap::new();
    for i in 0u64.. {
        let name = format!("name-{i}");
        let mut key = (name.len() as u32).to_le_bytes().to_vec();
        key.extend_from_slice(name.as_bytes());
        let tag = hollow::fuzzing::xxh3(&key) & 0xffff_ffff;
        if let Some(other) = seen.insert(tag, name.clone()) {
            return (other, name);
        }
    }
    unreachable!("the search ends")
}

#[tokio::test]
async fn keys_whose_hashes_share_a_tag_still_get_exact_answers() {
    let (a, b) = colliding_names();
    let store = BlobStore::memory();
    let producer = Producer::builder(store.clone(), "places")
        .register::<place::Owned>()
        .hash_index("Place", "name")
        .snapshot_every(100)
        .build()
        .await
        .expect("producer");
    let run = |rows: Vec<(&'static str, u32, String)>| {
        let producer = &producer;
        async move {
            producer
                .run_cycle(|c| {
                    let mut message = capnp::message::Builder::new_default();
                    for (country, code, name) in &rows {
                        let mut p = message.init_root::<place::Builder>();
                        p.set_country(*country);
                        p.set_code(*code);
                        p.set_name(name);
                        c.add::<place::Owned>(message.get_root_as_reader()?)?;
                    }
                    Ok(())
                })
                .await
                .expect("cycle")
                .version()
        }
    };
    run(vec![("US", 1, a.clone()), ("US", 2, "other".into())]).await;
    let consumer = Consumer::builder(store.clone()).build().await.expect("c");
    consumer.refresh().await.expect("refresh");
    // The second version adds `b` through a delta: its index addition has `a`'s tag.
    run(vec![
        ("US", 1, a.clone()),
        ("US", 2, "other".into()),
        ("FR", 3, b.clone()),
    ])
    .await;
    consumer.refresh().await.expect("refresh");
    let state = consumer.state().expect("state");
    assert_eq!(state.overlay_depth(), 1, "read through the overlay");
    let places = state.table::<place::Owned>().expect("places");
    let codes = |name: &str| -> Vec<u32> {
        places
            .matching("name", name)
            .expect("lookup")
            .map(|p| p.get_code())
            .collect()
    };
    assert_eq!(codes(&a), [1]);
    assert_eq!(codes(&b), [3]);
    // Facets list both keys sharing the tag, each with its own count.
    let facets = state
        .dyn_table("Place")
        .expect("dyn")
        .index("name")
        .expect("index")
        .facets(10)
        .expect("facets");
    let mut got: Vec<(String, usize)> = facets
        .values
        .iter()
        .map(|v| (v.values[0].clone().expect("name"), v.count))
        .collect();
    got.sort();
    let mut want = vec![(a.clone(), 1), (b.clone(), 1), ("other".to_string(), 1)];
    want.sort();
    assert_eq!(got, want);
    // A snapshot holding both keys: one probe may meet both tags; answers stay exact.
    let blob = hollow::tools::filter(&state, |_| true).expect("snapshot");
    let fresh = ReadState::from_bytes(blob, "both").expect("open");
    let places = fresh.table::<place::Owned>().expect("places");
    for (name, code) in [(&a, 1u32), (&b, 3)] {
        let got: Vec<u32> = places
            .matching("name", name.as_str())
            .expect("lookup")
            .map(|p| p.get_code())
            .collect();
        assert_eq!(got, [code], "{name}");
    }
}
