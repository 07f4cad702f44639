//! Keys of every kind, keyless and empty types, and values at the edges of their types.

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/test_types_capnp.rs"]
mod test_types_capnp;

use capnp::message::Builder;
use hollow::{CycleError, KeyValue, LookupError, ReadState, SchemaError, StateId, WriteState};
use serde_json::json;
use test_types_capnp::{bytes_key, extremes, float_key, label, nested_key, nothing, place};

fn state() -> WriteState {
    WriteState::builder("types")
        .register::<place::Owned>()
        .register::<label::Owned>()
        .register::<nothing::Owned>()
        .register::<extremes::Owned>()
        .register::<float_key::Owned>()
        .register::<bytes_key::Owned>()
        .register::<nested_key::Owned>()
        .build()
        .expect("write state")
}

fn add_place(
    s: &mut WriteState,
    country: Option<&str>,
    code: u32,
    name: &str,
) -> Result<u32, CycleError> {
    let mut m = Builder::new_default();
    let mut p = m.init_root::<place::Builder>();
    if let Some(c) = country {
        p.set_country(c);
    }
    p.set_code(code);
    p.set_name(name);
    s.add::<place::Owned>(p.into_reader())
}

fn add_label(s: &mut WriteState, text: &str, weight: i8) -> u32 {
    let mut m = Builder::new_default();
    let mut l = m.init_root::<label::Builder>();
    l.set_text(text);
    l.set_weight(weight);
    s.add::<label::Owned>(l.into_reader()).expect("add label")
}

fn add_float(s: &mut WriteState, f: f64, v: &str) -> Result<u32, CycleError> {
    let mut m = Builder::new_default();
    let mut r = m.init_root::<float_key::Builder>();
    r.set_f(f);
    r.set_v(v);
    s.add::<float_key::Owned>(r.into_reader())
}

fn read(s: &WriteState) -> ReadState {
    let blob = s
        .write_snapshot(&StateId {
            version: 3,
            tag: 99,
        })
        .expect("snapshot");
    ReadState::from_bytes(blob, "<types>").expect("open")
}

#[test]
fn composite_keys_look_up_and_duplicates_and_missing_keys_are_errors() {
    let mut s = state();
    add_place(&mut s, Some("US"), 1, "one").expect("add");
    add_place(&mut s, Some("US"), 2, "two").expect("add");
    add_place(&mut s, Some("FR"), 1, "un").expect("add");
    let dup = add_place(&mut s, Some("US"), 2, "again");
    match dup {
        Err(CycleError::DuplicateKey { type_name, key }) => {
            assert_eq!(type_name, "Place");
            assert_eq!(key, "(\"US\", 2)");
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    match add_place(&mut s, None, 3, "nowhere") {
        Err(CycleError::MissingKey { type_name, field }) => {
            assert_eq!((type_name.as_str(), field.as_str()), ("Place", "country"))
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
    let r = read(&s);
    let places = r.table::<place::Owned>().expect("places");
    assert_eq!(places.len(), 3);
    let get = |c: &str, code: u32| {
        places
            .get_by_key_values(&[KeyValue::Text(c), KeyValue::from(code)])
            .expect("lookup")
            .map(|p| {
                p.get_name()
                    .expect("name")
                    .to_str()
                    .expect("utf8")
                    .to_string()
            })
    };
    assert_eq!(get("US", 1).as_deref(), Some("one"));
    assert_eq!(get("US", 2).as_deref(), Some("two"));
    assert_eq!(get("FR", 1).as_deref(), Some("un"));
    assert_eq!(get("FR", 2), None);
    assert_eq!(get("", 1), None);
    assert!(
        places.get_by_key("US").is_err(),
        "one value for a two-field key"
    );
    let dyn_places = r.dyn_table("Place").expect("dyn");
    let (_, rec) = dyn_places
        .get_by_key_strings(&["FR", "1"])
        .expect("lookup")
        .expect("found");
    assert_eq!(rec.field_json("name").expect("name"), json!("un"));
}

#[test]
fn keyless_duplicates_share_an_ordinal_and_empty_types_work() {
    let mut s = state();
    let a = add_label(&mut s, "red", 1);
    let b = add_label(&mut s, "blue", 1);
    let c = add_label(&mut s, "red", 1);
    let d = add_label(&mut s, "red", 2);
    assert_eq!(a, c, "identical keyless records share one ordinal");
    assert_ne!(a, b);
    assert_ne!(a, d);
    let r = read(&s);
    let labels = r.table::<label::Owned>().expect("labels");
    assert_eq!(labels.len(), 3);
    let texts: Vec<(String, i8)> = labels
        .iter()
        .map(|(_, l)| {
            (
                l.get_text().expect("t").to_str().expect("utf8").to_string(),
                l.get_weight(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            ("red".to_string(), 1),
            ("blue".to_string(), 1),
            ("red".to_string(), 2)
        ]
    );
    assert!(
        matches!(labels.get_by_key(1u64), Err(LookupError::InvalidKey { .. })),
        "keyless types have no key lookup"
    );

    let nothing = r.table::<nothing::Owned>().expect("empty type");
    assert_eq!(nothing.len(), 0);
    assert!(nothing.is_empty());
    assert_eq!(nothing.iter().count(), 0);
    assert!(nothing.get(0).is_none());
    assert!(nothing.get_by_key(1u64).expect("lookup").is_none());
}

#[test]
fn extremes_round_trip_and_print_as_json() {
    let mut s = state();
    let mut m = Builder::new_default();
    {
        let mut e = m.init_root::<extremes::Builder>();
        e.set_id(i64::MIN);
        e.set_i8(i8::MIN);
        e.set_i16(i16::MIN);
        e.set_i32(i32::MIN);
        e.set_i64(i64::MIN);
        e.set_u8(u8::MAX);
        e.set_u16(u16::MAX);
        e.set_u32(u32::MAX);
        e.set_u64(u64::MAX);
        e.set_f32(f32::NAN);
        e.set_f64(-0.0);
        e.set_flag(true);
        e.set_blob(&[0, 1, 2, 255]);
        e.set_color(test_types_capnp::Color::Blue);
        e.set_with_default(0);
        let mut inner = e.reborrow().init_inner();
        inner.set_a(-7);
        inner.set_s("inside");
        let mut inners = e.reborrow().init_inners(2);
        inners.reborrow().get(0).set_a(1);
        inners.reborrow().get(1).set_s("second");
        let mut matrix = e.reborrow().init_matrix(2);
        let mut row = matrix.reborrow().init(0, 2);
        row.set(0, 1);
        row.set(1, i32::MAX);
        matrix.reborrow().init(1, 0);
        let mut colors = e.reborrow().init_colors(2);
        colors.set(0, test_types_capnp::Color::Green);
        colors.set(1, test_types_capnp::Color::Red);
        e.reborrow().init_choice().set_word("chosen");
        let mut extra = e.reborrow().init_extra();
        extra.set_note("grouped");
        extra.set_level(9);
    }
    s.add::<extremes::Owned>(m.get_root_as_reader().expect("reader"))
        .expect("add");
    let mut m2 = Builder::new_default();
    {
        let mut e = m2.init_root::<extremes::Builder>();
        e.set_id(i64::MAX);
        e.set_f32(f32::INFINITY);
        e.set_f64(f64::NEG_INFINITY);
        e.reborrow().init_choice().set_count(5);
    }
    s.add::<extremes::Owned>(m2.get_root_as_reader().expect("reader"))
        .expect("add");

    let r = read(&s);
    let t = r.table::<extremes::Owned>().expect("extremes");
    let e = t.get_by_key(i64::MIN).expect("lookup").expect("found");
    assert_eq!(
        (e.get_i8(), e.get_i16(), e.get_i32(), e.get_i64()),
        (i8::MIN, i16::MIN, i32::MIN, i64::MIN)
    );
    assert_eq!(
        (e.get_u8(), e.get_u16(), e.get_u32(), e.get_u64()),
        (u8::MAX, u16::MAX, u32::MAX, u64::MAX)
    );
    assert!(e.get_f32().is_nan());
    assert_eq!(e.get_f64().to_bits(), (-0.0f64).to_bits());
    assert_eq!(e.get_with_default(), 0);
    let other = t.get_by_key(i64::MAX).expect("lookup").expect("found");
    assert_eq!(
        other.get_with_default(),
        42,
        "an unset field reads as its schema default"
    );
    assert_eq!(other.get_f32(), f32::INFINITY);

    let d = r.dyn_table("Extremes").expect("dyn");
    let (_, rec) = d
        .get_by_key_strings(&[&i64::MIN.to_string()])
        .expect("lookup")
        .expect("found");
    assert_eq!(
        rec.to_json().expect("json"),
        json!({
            "id": i64::MIN, "i8": -128, "i16": -32768, "i32": i32::MIN, "i64": i64::MIN,
            "u8": 255, "u16": 65535, "u32": u32::MAX, "u64": u64::MAX,
            "f32": "NaN", "f64": -0.0, "flag": true, "blob": "AAEC/w==", "color": "blue",
            "withDefault": 0, "inner": {"a": -7, "s": "inside"},
            "inners": [{"a": 1, "s": null}, {"a": 0, "s": "second"}],
            "matrix": [[1, i32::MAX], []], "colors": ["green", "red"],
            "choice": {"word": "chosen"}, "extra": {"note": "grouped", "level": 9},
        })
    );
    let (_, rec) = d
        .get_by_key_strings(&[&i64::MAX.to_string()])
        .expect("lookup")
        .expect("found");
    let j = rec.to_json().expect("json");
    assert_eq!(j["f32"], json!("Infinity"));
    assert_eq!(j["f64"], json!("-Infinity"));
    assert_eq!(j["withDefault"], json!(42));
    assert_eq!(
        j["choice"],
        json!({"count": 5}),
        "only the active union member is printed"
    );
}

#[test]
fn float_keys_fold_negative_zero_and_nan() {
    let mut s = state();
    add_float(&mut s, 0.0, "zero").expect("add");
    assert!(
        matches!(
            add_float(&mut s, -0.0, "minus zero"),
            Err(CycleError::DuplicateKey { .. })
        ),
        "-0.0 is the key 0.0"
    );
    add_float(&mut s, f64::NAN, "nan").expect("add");
    assert!(
        matches!(
            add_float(&mut s, -f64::NAN, "other nan"),
            Err(CycleError::DuplicateKey { .. })
        ),
        "every NaN is one key"
    );
    add_float(&mut s, f64::INFINITY, "inf").expect("add");
    let r = read(&s);
    let t = r.table::<float_key::Owned>().expect("floats");
    let v = |k: f64| {
        t.get_by_key(k)
            .expect("lookup")
            .map(|r| r.get_v().expect("v").to_str().expect("utf8").to_string())
    };
    assert_eq!(v(-0.0).as_deref(), Some("zero"));
    assert_eq!(v(f64::NAN).as_deref(), Some("nan"));
    assert_eq!(v(f64::INFINITY).as_deref(), Some("inf"));
    assert_eq!(v(1.5), None);
}

#[test]
fn byte_and_nested_keys() {
    let mut s = state();
    for (i, key) in [&b""[..], b"\x00", b"\x00\x00", b"\xff\xfe"]
        .iter()
        .enumerate()
    {
        let mut m = Builder::new_default();
        let mut r = m.init_root::<bytes_key::Builder>();
        r.set_key(key);
        r.set_v(u32::try_from(i).expect("small"));
        s.add::<bytes_key::Owned>(r.into_reader()).expect("add");
    }
    for (i, name) in ["a", "b"].iter().enumerate() {
        let mut m = Builder::new_default();
        let mut r = m.init_root::<nested_key::Builder>();
        r.reborrow().init_inner().set_s(*name);
        r.set_v(u32::try_from(i).expect("small"));
        s.add::<nested_key::Owned>(r.into_reader()).expect("add");
    }
    let mut m = Builder::new_default();
    let r = m.init_root::<nested_key::Builder>();
    assert!(matches!(
        s.add::<nested_key::Owned>(r.into_reader()),
        Err(CycleError::MissingKey { .. })
    ));

    let read = read(&s);
    let bytes = read.table::<bytes_key::Owned>().expect("bytes");
    for (i, key) in [&b""[..], b"\x00", b"\x00\x00", b"\xff\xfe"]
        .iter()
        .enumerate()
    {
        let got = bytes.get_by_key(*key).expect("lookup").expect("found");
        assert_eq!(got.get_v() as usize, i);
    }
    assert!(bytes.get_by_key(&b"\x01"[..]).expect("lookup").is_none());
    let nested = read.table::<nested_key::Owned>().expect("nested");
    assert_eq!(
        nested
            .get_by_key("b")
            .expect("lookup")
            .expect("found")
            .get_v(),
        1
    );
    assert!(nested.get_by_key("c").expect("lookup").is_none());
}

#[test]
fn pointers_to_empty_structs_stay_set() {
    let mut s = WriteState::builder("units")
        .register::<test_types_capnp::with_unit::Owned>()
        .build()
        .expect("state");
    for id in 0..3u32 {
        let mut m = Builder::new_default();
        let mut r = m.init_root::<test_types_capnp::with_unit::Builder>();
        r.set_id(id);
        if id != 1 {
            r.reborrow().init_unit();
            r.reborrow().init_units(2);
        }
        r.set_after("tail");
        s.add::<test_types_capnp::with_unit::Owned>(r.into_reader())
            .expect("add");
    }
    let r = read(&s);
    let t = r
        .table::<test_types_capnp::with_unit::Owned>()
        .expect("table");
    for id in 0..3u32 {
        let rec = t.get_by_key(id).expect("lookup").expect("found");
        assert_eq!(rec.has_unit(), id != 1, "id {id}");
        assert_eq!(rec.has_units(), id != 1, "id {id}");
        if id != 1 {
            assert_eq!(rec.get_units().expect("units").len(), 2);
        }
        assert_eq!(
            rec.get_after().expect("after").to_str().expect("utf8"),
            "tail"
        );
    }
    let d = r.dyn_table("WithUnit").expect("dyn");
    let (_, rec) = d
        .get_by_key_strings(&["0"])
        .expect("lookup")
        .expect("found");
    assert_eq!(
        rec.to_json().expect("json"),
        json!({"id": 0, "unit": {}, "units": [{}, {}], "after": "tail"})
    );
}

fn chain(depth: u8) -> Builder<capnp::message::HeapAllocator> {
    let mut m = Builder::new_default();
    {
        let mut node = m.init_root::<test_types_capnp::chain::Builder>();
        for d in 0..depth {
            node.set_depth(d);
            node = node.init_next();
        }
    }
    m
}

#[test]
fn nesting_beyond_what_readers_accept_is_refused_when_written() {
    let mut s = WriteState::builder("chains")
        .register::<test_types_capnp::chain::Owned>()
        .build()
        .expect("state");
    let shallow = chain(40);
    s.add::<test_types_capnp::chain::Owned>(shallow.get_root_as_reader().expect("reader"))
        .expect("40 levels are fine");
    let deep = chain(100);
    let added = s.add::<test_types_capnp::chain::Owned>(deep.get_root_as_reader().expect("reader"));
    let snapshot = added.and_then(|_| s.write_snapshot(&StateId { version: 1, tag: 1 }));
    assert!(
        matches!(
            snapshot,
            Err(CycleError::Schema(SchemaError::Mismatch { .. }))
        ),
        "{snapshot:?}"
    );
}

#[test]
fn large_manifests_and_schemas_encode() {
    let mut b = WriteState::builder("tags").register::<label::Owned>();
    for i in 0..2000 {
        b = b.header_tag(&format!("key-{i:05}"), &"v".repeat(20));
    }
    let s = b.build().expect("state");
    let r = read(&s);
    assert_eq!(r.header_tags().len(), 2000);
    assert_eq!(
        r.header_tags()[1999],
        ("key-01999".to_string(), "v".repeat(20))
    );
}
