//! Operation sequences (as redb fuzzes its operations): the bytes decode to full and
//! incremental cycles, store faults (before or after a call takes effect), consumer refreshes
//! forward and back, restarts with and without a cache, pins and producer restarts, run against
//! a model with every invariant of the deterministic simulation checked after each step
//! (`crates/hollow/tests/sim/mod.rs`, shared with `crates/hollow/tests/simulation.rs`).
#![no_main]

#[path = "../../crates/hollow/tests/sim/mod.rs"]
mod sim;

#[allow(clippy::all, clippy::pedantic, unused, missing_docs)]
#[rustfmt::skip]
#[path = "../../crates/hollow/tests/generated/test_types_capnp.rs"]
mod test_types_capnp;

#[allow(clippy::all, clippy::pedantic, unused, missing_docs)]
#[rustfmt::skip]
#[path = "../../crates/hollow/tests/generated/movies_v2_capnp.rs"]
mod movies_v2_capnp;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sim::simulate(&sim::ops_from_bytes(data));
});
