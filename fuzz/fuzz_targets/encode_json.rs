//! JSON records encoded through a run-time schema (what `hollow produce` reads from files).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hollow::fuzzing::encode_json(data);
});
