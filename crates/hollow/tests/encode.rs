//! `hollow::encode`: JSON → records of a run-time schema, checked by reading them back through
//! the schema-driven JSON view (and the generated readers), and every error it reports.

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, unused, missing_docs)]
#[rustfmt::skip]
#[path = "generated/test_types_capnp.rs"]
mod test_types_capnp;

use hollow::encode::{EncodeError, EncodeErrorKind, OwnedKeyValue, RecordEncoder, parse_cell};
use hollow::schema::FieldType;
use hollow::{ReadState, Schema, StateId, WriteState};
use serde_json::{Value, json};
use test_types_capnp::{extremes, inner, place};

fn types_schema() -> Schema {
    Schema::builder()
        .add::<extremes::Owned>()
        .add::<place::Owned>()
        .build()
        .expect("schema")
}

/// Encodes each value as a `type_name` record, writes a snapshot, and returns the records read
/// back as JSON in ordinal order.
fn roundtrip(schema: &Schema, type_name: &str, values: &[Value]) -> Vec<Value> {
    let encoder = RecordEncoder::new(schema, type_name).expect("encoder");
    let mut state = WriteState::builder("encode")
        .schema(schema.clone())
        .register_name(type_name)
        .build()
        .expect("state");
    for v in values {
        let message = encoder.encode(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        let root: capnp::any_pointer::Reader<'_> =
            message.get_root_as_reader().expect("root reader");
        state.add_dynamic(type_name, root).expect("add");
    }
    let bytes = state
        .write_snapshot(&StateId { version: 1, tag: 1 })
        .expect("snapshot");
    let read = ReadState::from_bytes(bytes, "<mem>").expect("read");
    let table = read.dyn_table(type_name).expect("table");
    table
        .iter()
        .map(|(_, r)| r.to_json().expect("json"))
        .collect()
}

fn extremes_json() -> Value {
    json!({
        "id": 1, "i8": -128, "i16": -32768, "i32": -2147483648i64, "i64": i64::MIN,
        "u8": 255, "u16": 65535, "u32": 4294967295u64, "u64": u64::MAX,
        "f32": 1.5, "f64": "NaN", "flag": true, "blob": "AAEC/w==", "color": "blue",
        "withDefault": 0, "inner": {"a": 5, "s": "in"},
        "inners": [{"a": 1, "s": "x"}, {"a": -2, "s": null}],
        "matrix": [[1, 2], [], [3]], "colors": ["red", "blue", "green"],
        "choice": {"word": "hi"}, "extra": {"note": "n", "level": 3}
    })
}

#[test]
fn every_type_reads_back_as_the_json_it_was_encoded_from() {
    let schema = types_schema();
    let input = extremes_json();
    let out = roundtrip(&schema, "Extremes", std::slice::from_ref(&input));
    assert_eq!(out, vec![input]);
}

#[test]
fn defaults_are_xored_and_unset_fields_read_as_defaults() {
    let schema = types_schema();
    let encoder = RecordEncoder::new(&schema, "Extremes").expect("encoder");
    // withDefault = 42 in the schema: 0 must be stored (as 42 ^ 0) and read back as 0; a missing
    // field reads as 42.
    for (given, expected) in [(json!(0), 0), (json!(7), 7), (Value::Null, 42)] {
        let message = encoder
            .encode(&json!({"id": 3, "withDefault": given}))
            .expect("encode");
        let typed: extremes::Reader<'_> = message.get_root_as_reader().expect("typed reader");
        assert_eq!(typed.get_with_default(), expected);
        assert_eq!(typed.get_id(), 3);
        assert!(!typed.has_inner(), "null leaves a pointer unset");
    }
    // Nested structs and groups through the generated readers.
    let message = encoder.encode(&extremes_json()).expect("encode");
    let typed: extremes::Reader<'_> = message.get_root_as_reader().expect("typed reader");
    let inner: inner::Reader<'_> = typed.get_inner().expect("inner");
    assert_eq!(inner.get_a(), 5);
    assert_eq!(typed.get_extra().get_level(), 3);
    assert_eq!(typed.get_blob().expect("blob"), &[0, 1, 2, 255]);
    assert_eq!(typed.get_u64(), u64::MAX);
    assert!(matches!(
        typed.get_choice().which(),
        Ok(extremes::choice::Word(Ok(w))) if w == "hi"
    ));
}

#[test]
fn a_union_member_given_as_null_is_selected() {
    let schema = types_schema();
    let mut with_void = extremes_json();
    with_void["choice"] = json!({"none": null});
    let mut with_count = extremes_json();
    with_count["id"] = json!(2);
    with_count["choice"] = json!({"count": 9});
    let out = roundtrip(
        &schema,
        "Extremes",
        &[with_void.clone(), with_count.clone()],
    );
    assert_eq!(out, vec![with_void, with_count]);
}

#[test]
fn typed_records_survive_json_and_back() {
    // Generated builder → read as JSON → encoded from that JSON → read as JSON: equal.
    let schema = types_schema();
    let mut message = capnp::message::Builder::new_default();
    let mut e = message.init_root::<extremes::Builder<'_>>();
    e.set_id(-9);
    e.set_f32(0.1);
    e.set_f64(f64::NEG_INFINITY);
    e.set_color(test_types_capnp::Color::Green);
    e.reborrow().init_matrix(2).init(1, 3).set(2, -7);
    e.reborrow().get_choice().set_count(77);
    e.reborrow().get_extra().set_note("note");
    let mut state = WriteState::builder("t")
        .schema(schema.clone())
        .register_name("Extremes")
        .build()
        .expect("state");
    state
        .add::<extremes::Owned>(e.into_reader())
        .expect("add typed");
    let bytes = state
        .write_snapshot(&StateId { version: 1, tag: 1 })
        .expect("snapshot");
    let read = ReadState::from_bytes(bytes, "<mem>").expect("read");
    let (_, first) = read
        .dyn_table("Extremes")
        .expect("t")
        .iter()
        .next()
        .expect("one");
    let json = first.to_json().expect("json");
    assert_eq!(
        roundtrip(&schema, "Extremes", std::slice::from_ref(&json)),
        vec![json]
    );
}

fn capnp_available() -> bool {
    std::process::Command::new("capnp")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `tests/encode_lists.capnp`, compiled at run time (the `capnp` compiler; CI installs it).
fn lists_schema() -> Option<Schema> {
    if !capnp_available() {
        eprintln!("skipping: the capnp compiler is not installed (CI installs it)");
        assert!(std::env::var_os("CI").is_none(), "CI must install capnp");
        return None;
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
    let out = std::process::Command::new("capnp")
        .args(["compile", "-o-", &format!("--src-prefix={dir}"), "-I", dir])
        .arg(format!("{dir}/encode_lists.capnp"))
        .output()
        .expect("capnp compile");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(Schema::from_code_generator_request(&out.stdout).expect("schema"))
}

#[test]
fn every_kind_of_list_and_an_anonymous_union() {
    let Some(schema) = lists_schema() else { return };
    let full = json!({
        "texts": ["a", null, ""], "datas": ["AA==", null], "bools": [true, false, true],
        "floats": [0.25, "Infinity", "-Infinity", "NaN"], "doubles": [1e300, -0.5],
        "nested": [["x", "y"], null, []], "moods": ["angry", "calm"], "voids": [null, null],
        "deep": [[[1, 2], []], [[255]]], "structs": [{"name": "i", "tags": ["t"]}, {"name": null, "tags": null}],
        "c": {"name": "chosen", "tags": []},
        "small": 100, "yes": false, "ratio": 0.0, "mood": "calm", "big": 0, "wide": 0.0,
        "ints": [-32768, 32767]
    });
    let mut only_b = json!({
        "texts": null, "datas": null, "bools": null, "floats": null, "doubles": null,
        "nested": null, "moods": null, "voids": null, "deep": null, "structs": null,
        "b": null, "small": -3, "yes": true, "ratio": 0.5, "mood": "angry",
        "big": 12345678901234u64, "wide": -2.25, "ints": null
    });
    let out = roundtrip(&schema, "Lists", &[full.clone(), json!({"b": null})]);
    assert_eq!(out[0], full);
    assert_eq!(out[1], only_b, "unset fields read as their defaults");
    // No member given: the union is at its default (the first member, unset).
    only_b["a"] = Value::Null;
    only_b.as_object_mut().expect("object").remove("b");
    assert_eq!(roundtrip(&schema, "Lists", &[json!({})]), vec![only_b]);
    // Enum ordinals are accepted as numbers.
    let out = roundtrip(&schema, "Lists", &[json!({"moods": [1, 0], "mood": 1})]);
    assert_eq!(out[0]["moods"], json!(["angry", "calm"]));
    assert_eq!(out[0]["mood"], json!("angry"));
}

fn error(schema: &Schema, type_name: &str, value: Value) -> EncodeError {
    RecordEncoder::new(schema, type_name)
        .expect("encoder")
        .encode(&value)
        .err()
        .unwrap_or_else(|| panic!("{value} should not encode"))
}

#[test]
fn every_error_names_the_field_the_value_and_the_reason() {
    let schema = types_schema();
    let cases: Vec<(Value, &str, &str, EncodeErrorKind)> = vec![
        (
            json!({"u16": 65536}),
            "u16",
            "65536",
            EncodeErrorKind::OutOfRange {
                ty: "UInt16".into(),
            },
        ),
        (
            json!({"u64": -1}),
            "u64",
            "-1",
            EncodeErrorKind::OutOfRange {
                ty: "UInt64".into(),
            },
        ),
        (
            json!({"i8": 128}),
            "i8",
            "128",
            EncodeErrorKind::OutOfRange { ty: "Int8".into() },
        ),
        (
            json!({"i64": 9223372036854775808u64}),
            "i64",
            "9223372036854775808",
            EncodeErrorKind::OutOfRange { ty: "Int64".into() },
        ),
        (
            serde_json::from_str(r#"{"u64": 18446744073709551616}"#).expect("json"),
            "u64",
            "1.8446744073709552e+19",
            EncodeErrorKind::OutOfRange {
                ty: "UInt64".into(),
            },
        ),
        (
            serde_json::from_str(r#"{"i8": -99999999999999999999}"#).expect("json"),
            "i8",
            "-1e+20",
            EncodeErrorKind::OutOfRange { ty: "Int8".into() },
        ),
        (
            json!({"u64": 1.5}),
            "u64",
            "1.5",
            EncodeErrorKind::WrongType {
                expected: "an integer (UInt64)".into(),
            },
        ),
        (
            json!({"f32": 1e39}),
            "f32",
            "1e+39",
            EncodeErrorKind::OutOfRange {
                ty: "Float32".into(),
            },
        ),
        (
            json!({"matrix": [[1], [2147483648u64]]}),
            "matrix[1][0]",
            "2147483648",
            EncodeErrorKind::OutOfRange { ty: "Int32".into() },
        ),
        (
            json!({"u8": 1.5}),
            "u8",
            "1.5",
            EncodeErrorKind::WrongType {
                expected: "an integer (UInt8)".into(),
            },
        ),
        (
            json!({"u8": "1"}),
            "u8",
            "\"1\"",
            EncodeErrorKind::WrongType {
                expected: "an integer (UInt8)".into(),
            },
        ),
        (
            json!({"flag": 1}),
            "flag",
            "1",
            EncodeErrorKind::WrongType {
                expected: "true or false (Bool)".into(),
            },
        ),
        (
            json!({"inner": {"s": 5}}),
            "inner.s",
            "5",
            EncodeErrorKind::WrongType {
                expected: "a string (Text)".into(),
            },
        ),
        (
            json!({"inners": [{"a": 1}, 7]}),
            "inners[1]",
            "7",
            EncodeErrorKind::WrongType {
                expected: "an object (struct Inner)".into(),
            },
        ),
        (
            json!({"colors": "red"}),
            "colors",
            "\"red\"",
            EncodeErrorKind::WrongType {
                expected: "an array (List(enum Color))".into(),
            },
        ),
        (
            json!({"f64": "lots"}),
            "f64",
            "\"lots\"",
            EncodeErrorKind::WrongType {
                expected: "a number, \"NaN\", \"Infinity\" or \"-Infinity\"".into(),
            },
        ),
        (
            json!({"extra": {"nope": 1}}),
            "extra.nope",
            "1",
            EncodeErrorKind::UnknownField {
                type_name: "Extremes.extra".into(),
                field: "nope".into(),
            },
        ),
        (
            json!({"titel": "x"}),
            "titel",
            "\"x\"",
            EncodeErrorKind::UnknownField {
                type_name: "Extremes".into(),
                field: "titel".into(),
            },
        ),
        (
            json!({"color": "purple"}),
            "color",
            "\"purple\"",
            EncodeErrorKind::UnknownEnumerant {
                enum_name: "Color".into(),
                known: "red, green, blue".into(),
            },
        ),
        (
            json!({"colors": ["red", "mauve"]}),
            "colors[1]",
            "\"mauve\"",
            EncodeErrorKind::UnknownEnumerant {
                enum_name: "Color".into(),
                known: "red, green, blue".into(),
            },
        ),
        (
            json!({"color": 65536}),
            "color",
            "65536",
            EncodeErrorKind::OutOfRange {
                ty: "UInt16".into(),
            },
        ),
        (
            json!({"blob": "not base64!"}),
            "blob",
            "\"not base64!\"",
            EncodeErrorKind::BadBase64 {
                reason: "Invalid symbol 32, offset 3.".into(),
            },
        ),
        (
            json!({"choice": {"count": 1, "word": "w"}}),
            "choice",
            "{\"count\":1,\"word\":\"w\"}",
            EncodeErrorKind::TwoUnionMembers {
                first: "count".into(),
                second: "word".into(),
            },
        ),
        (
            json!({"choice": {"none": 3}}),
            "choice.none",
            "3",
            EncodeErrorKind::WrongType {
                expected: "null (Void)".into(),
            },
        ),
        (
            json!({"matrix": [[null]]}),
            "matrix[0][0]",
            "null",
            EncodeErrorKind::WrongType {
                expected: "a value (Int32): lists of values have no nulls".into(),
            },
        ),
        (
            json!([1]),
            "",
            "[1]",
            EncodeErrorKind::WrongType {
                expected: "an object (struct Extremes)".into(),
            },
        ),
    ];
    for (value, path, shown, kind) in cases {
        let e = error(&schema, "Extremes", value.clone());
        assert_eq!(
            (e.path.as_str(), e.value.as_str(), &e.kind),
            (path, shown, &kind),
            "{value}: {e}"
        );
        assert!(e.to_string().contains(shown), "{e}");
    }
    let e = error(&schema, "Extremes", json!({"u16": 70000}));
    assert_eq!(
        e.to_string(),
        "field u16: value 70000 is out of range for UInt16"
    );
    let e = error(&schema, "Extremes", json!({"blob": "x".repeat(501)}));
    assert!(
        e.value.chars().count() <= 81,
        "long values are shortened: {}",
        e.value
    );
    assert!(RecordEncoder::new(&schema, "Nope").is_err());
}

#[test]
fn keys_for_deletes_and_text_cells() {
    let schema = types_schema();
    let place = RecordEncoder::new(&schema, "Place").expect("encoder");
    assert_eq!(
        place
            .key_values(&json!({"country": "FR", "code": 75}))
            .expect("key"),
        vec![OwnedKeyValue::Text("FR".into()), OwnedKeyValue::Int(75)]
    );
    let missing = place
        .key_values(&json!({"country": "FR"}))
        .expect_err("must fail");
    assert_eq!(
        missing.kind,
        EncodeErrorKind::MissingKeyField {
            field: "code".into()
        }
    );
    let extra = place
        .key_values(&json!({"country": "FR", "code": 1, "name": "x"}))
        .expect_err("must fail");
    assert_eq!(extra.path, "name");
    let range = place
        .key_values(&json!({"country": "FR", "code": -1}))
        .expect_err("must fail");
    assert_eq!(
        range.kind,
        EncodeErrorKind::OutOfRange {
            ty: "UInt32".into()
        }
    );
    let keyless = RecordEncoder::new(&schema, "Inner").expect("encoder");
    assert!(keyless.key_values(&json!({"a": 1})).is_err());

    let extremes = RecordEncoder::new(&schema, "Extremes").expect("encoder");
    assert_eq!(extremes.field_type("extra.level"), Some(&FieldType::UInt8));
    assert_eq!(extremes.field_type("inner.s"), Some(&FieldType::Text));
    assert_eq!(extremes.field_type("inner.zz"), None);
    assert_eq!(extremes.field_type("u8.x"), None);
    let cell = |ty: &FieldType, s: &str| parse_cell(&schema, ty, "f", s);
    assert_eq!(cell(&FieldType::Int64, "-5").expect("int"), Some(json!(-5)));
    assert_eq!(
        cell(&FieldType::Float32, "NaN").expect("nan"),
        Some(json!("NaN"))
    );
    assert_eq!(
        cell(&FieldType::Float64, "2.5").expect("float"),
        Some(json!(2.5))
    );
    assert_eq!(
        cell(&FieldType::Bool, "true").expect("bool"),
        Some(json!(true))
    );
    assert_eq!(cell(&FieldType::Text, "").expect("empty"), None);
    let e = cell(&FieldType::UInt64, "99999999999999999999999").expect_err("must fail");
    assert_eq!(
        e.kind,
        EncodeErrorKind::OutOfRange {
            ty: "UInt64".into()
        }
    );
    let e = cell(&FieldType::Bool, "yes").expect_err("must fail");
    assert_eq!((e.path.as_str(), e.value.as_str()), ("f", "\"yes\""));
    assert!(cell(&FieldType::List(Box::new(FieldType::Text)), "[oops").is_err());
}

/// A chain of `depth` `child` structs, the innermost holding `inner`.
fn chain(depth: u32, inner: Value) -> Value {
    let mut v = inner;
    for _ in 0..depth {
        v = json!({"id": 1, "child": v});
    }
    v
}

#[test]
fn nesting_is_refused_where_readers_stop_and_accepted_up_to_there() {
    let Some(schema) = lists_schema() else { return };
    let limit = hollow::encode::RECORD_NESTING_LIMIT;
    assert_eq!(limit, 62);
    // The deepest accepted records read back (through a snapshot's shards, as consumers do).
    let deepest = chain(limit, json!({"id": 2}));
    let with_text = chain(limit - 1, json!({"id": 2, "label": "deep"}));
    // Struct lists cost two levels per step: kids at 1, its element's label at 3, …
    let mut in_lists = json!({"label": "x"});
    for _ in 0..(limit / 2 - 1) {
        in_lists = json!({"kids": [in_lists]});
    }
    let accepted = [deepest, with_text, in_lists.clone()];
    let out = roundtrip(&schema, "Node", &accepted);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], with_defaults(&accepted[0]));

    // One level more is refused when encoded, naming where.
    for (value, level) in [
        (chain(limit + 1, json!({"id": 2})), limit + 1),
        (
            chain(limit, json!({"id": 2, "label": "too deep"})),
            limit + 1,
        ),
        (json!({"kids": [in_lists]}), limit + 1),
        (chain(100, json!({})), limit + 1),
    ] {
        let e = error(&schema, "Node", value);
        assert_eq!(e.kind, EncodeErrorKind::TooDeep { level, limit }, "{e}");
        assert!(e.to_string().contains("at most 62 levels"), "{e}");
    }
}

/// A `Node` as `to_json` prints it: every field present, unset ones as their defaults.
fn with_defaults(v: &Value) -> Value {
    let mut out = json!({"id": 0, "child": null, "kids": null, "label": null});
    if let Value::Object(m) = v {
        for (k, x) in m {
            out[k] = match k.as_str() {
                "child" => with_defaults(x),
                _ => x.clone(),
            };
        }
    }
    out
}
