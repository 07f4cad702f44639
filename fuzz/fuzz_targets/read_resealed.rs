//! Mutated blobs with recomputed checksums: reaches the parsers behind the checksums (manifest,
//! schema, shards, bitmap, index) the way a hostile writer could.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut blob = data.to_vec();
    if hollow::fuzzing::reseal(&mut blob) {
        let _ = hollow::fuzzing::read_everything(&blob);
    }
});
