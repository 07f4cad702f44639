use hollow_movies::movies_capnp::{actor, movie};

use super::*;

fn movies_schema() -> Schema {
    Schema::builder()
        .add::<movie::Owned>()
        .add::<actor::Owned>()
        .build()
        .expect("schema")
}

#[test]
fn reads_structs_fields_and_primary_keys_from_generated_code() {
    let schema = movies_schema();
    let m = schema.struct_by_name("Movie").expect("Movie");
    assert_eq!(
        m.id,
        crate::capnp_raw::struct_type_id::<movie::Owned>().expect("struct")
    );
    let names: Vec<&str> = m.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "title",
            "year",
            "runtimeMin",
            "rating",
            "genres",
            "castIds",
            "countryCode"
        ]
    );
    assert_eq!(
        m.field("genres").map(|f| &f.kind),
        Some(&FieldKind::Slot {
            offset: 1,
            ty: FieldType::List(Box::new(FieldType::Text)),
            default_bits: 0
        })
    );
    let key = schema.primary_key(m.id).expect("resolves").expect("keyed");
    assert_eq!(key.field_names(), "id");
    assert_eq!(key.fields[0].ty, FieldType::UInt64);
    assert_eq!(
        schema.struct_names().collect::<Vec<_>>(),
        ["Actor", "Movie"]
    );
}

#[test]
fn segment_round_trip_keeps_fingerprint_and_content() {
    let schema = movies_schema();
    let again = Schema::from_segment(schema.segment_bytes()).expect("reads back");
    assert_eq!(again.fingerprint(), schema.fingerprint());
    assert_eq!(
        again.struct_by_name("Actor"),
        schema.struct_by_name("Actor")
    );
    let only_movie = Schema::builder()
        .add::<movie::Owned>()
        .build()
        .expect("schema");
    assert_ne!(only_movie.fingerprint(), schema.fingerprint());
}

#[test]
fn garbage_segments_are_errors_not_panics() {
    assert!(Schema::from_segment(&[]).is_err());
    assert!(Schema::from_segment(&[1, 2, 3]).is_err());
    assert!(Schema::from_segment(&[0xff; 64]).is_err());
    assert!(Schema::from_code_generator_request(&[0xff; 64]).is_err());
}

#[test]
fn key_encoding_checks_ranges_and_types() {
    let schema = movies_schema();
    let key = schema
        .primary_key(schema.struct_by_name("Movie").expect("Movie").id)
        .expect("ok")
        .expect("keyed");
    let mut out = KeyBytes::new();
    key.encode_values(&[KeyValue::Int(5)], &mut out)
        .expect("fits");
    assert_eq!(out.as_slice(), 5u64.to_le_bytes());
    assert!(matches!(
        key.encode_values(&[KeyValue::Int(-1)], &mut out),
        Err(crate::error::LookupError::InvalidKey { .. })
    ));
    assert!(matches!(
        key.encode_values(&[KeyValue::Text("x")], &mut out),
        Err(crate::error::LookupError::InvalidKey { .. })
    ));
    assert!(matches!(
        key.encode_values(&[], &mut out),
        Err(crate::error::LookupError::InvalidKey { .. })
    ));
    key.encode_strings(&["100042"], &mut out).expect("parses");
    assert_eq!(key.render(&out), "100042");
    assert!(key.encode_strings(&["abc"], &mut out).is_err());
}
