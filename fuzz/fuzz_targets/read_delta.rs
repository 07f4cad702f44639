//! Delta and reverse-delta blobs, raw and with recomputed checksums.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hollow::fuzzing::read_delta_everything(data);
    let mut blob = data.to_vec();
    if hollow::fuzzing::reseal(&mut blob) {
        let _ = hollow::fuzzing::read_delta_everything(&blob);
    }
});
