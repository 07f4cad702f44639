//! Any bytes through the wire decoder: as a stored object, encoded columnar and decoded back
//! (must be the same bytes), and as a columnar stream (section codes, column-wise shards, byte
//! planes, index rebuilds): a typed error or the right bytes, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hollow::fuzzing::wire_everything(data);
});
