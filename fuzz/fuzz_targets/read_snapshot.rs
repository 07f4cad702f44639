//! Any bytes opened as a snapshot: a typed error or a full read, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hollow::fuzzing::read_everything(data);
});
