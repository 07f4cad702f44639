//! The store's JSON documents: the announcement (`announced.json`) and the pin (`pinned.json`),
//! as a consumer or producer reads them from a store anyone may have written.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = hollow::fuzzing::parse_store_documents(data);
});
