//! A hostile delta (raw, and with recomputed checksums) applied to a real snapshot — the
//! committed golden chain snapshot of the movies dataset, with its primary-key and hash
//! indexes — and the resulting state read through every index. Seed the corpus with
//! `crates/hollow/tests/golden/v1-movies-chain-delta.blob` and `…-reverse-delta.blob`.
#![no_main]

const SNAPSHOT: &[u8] =
    include_bytes!("../../crates/hollow/tests/golden/v1-movies-chain-snapshot.blob");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hollow::fuzzing::apply_delta_everything(SNAPSHOT, data);
    let mut delta = data.to_vec();
    if hollow::fuzzing::reseal(&mut delta) {
        let _ = hollow::fuzzing::apply_delta_everything(SNAPSHOT, &delta);
    }
});
