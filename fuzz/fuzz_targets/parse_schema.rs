//! Schema bytes from a blob's schema section or from `capnp compile -o-`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hollow::fuzzing::parse_schema_segment(data);
    let _ = hollow::Schema::from_code_generator_request(data);
    let _ = hollow::fuzzing::parse_layout(data);
});
