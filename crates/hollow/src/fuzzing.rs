//! Entry points for fuzzers and corruption tests: every parser of outside bytes, callable on a
//! `&[u8]`. Not part of the stable API.

use crate::bytes::BlobBytes;
use crate::error::Result;
use crate::format::BlobLayout;
use crate::read::ReadState;

/// Opens `data` as a snapshot, verifies every section and renders every record of every type
/// as JSON; returns the number of records read. Any input must give `Ok` or a typed error,
/// never a panic.
pub fn read_everything(data: &[u8]) -> Result<usize> {
    let state = ReadState::from_bytes(BlobBytes::from_vec(data.to_vec()), "<fuzz>")?;
    state.verify_all()?;
    read_state(&state)
}

/// Opens `snapshot` (a real one) and `delta` (hostile), applies the delta to the snapshot's
/// state and reads the result as [`read_everything`] does: every record, and the keys of the
/// first records through every secondary index (the overlay's index additions included).
pub fn apply_delta_everything(snapshot: &[u8], delta: &[u8]) -> Result<usize> {
    let state = ReadState::from_bytes(BlobBytes::from_vec(snapshot.to_vec()), "<snapshot>")?;
    let delta =
        crate::read::ReadDelta::from_bytes(BlobBytes::from_vec(delta.to_vec()), "<fuzz delta>")?;
    let next = state.apply_delta(std::sync::Arc::new(delta))?;
    next.verify_all()?;
    read_state(&next)
}

/// Parses `data` as the announcement document and as the pin document (`announced.json`,
/// `pinned.json`); returns how many of the two parsed. Any input must give a count or a
/// typed error, never a panic.
pub fn parse_store_documents(data: &[u8]) -> usize {
    usize::from(crate::store::parse_announcement(data).is_ok())
        + usize::from(crate::store::parse_pin(data).is_ok())
}

fn read_state(state: &ReadState) -> Result<usize> {
    let mut records = 0;
    for t in state.types() {
        let table = state.dyn_table(&t.name)?;
        for (_, record) in table.iter() {
            record.to_json()?;
            records += 1;
        }
        // Secondary indexes: look up the keys of the first records through each index.
        for (name, _) in table.indexes()? {
            let index = table.index(&name)?;
            for (_, record) in table.iter().take(8) {
                for key in index.keys_of(&record) {
                    index.lookup_encoded(key).for_each(drop);
                }
            }
        }
    }
    Ok(records)
}

/// Recomputes the header checksum and every section checksum of `blob` in place, so that a
/// mutated blob gets past the checksums and exercises the parsers behind them. Returns false
/// when the header or table is too malformed to reseal.
pub fn reseal(blob: &mut [u8]) -> bool {
    crate::format::reseal(blob)
}

/// The wire decoder (docs/FORMAT.md §19a–b) on `data` three ways: as a stored object; as a
/// blob encoded columnar and decoded again, which must give `data` back (else this panics: a
/// finding); and as the stream of a columnar envelope (declaring the blob length of `data`'s
/// header, if any), which reaches the section parser and the index rebuild with any bytes
/// (and then fails the envelope's checksum, which it cannot know).
/// Returns the bytes decoded. Decoding is bounded to 64 MiB.
pub fn wire_everything(data: &[u8]) -> usize {
    use crate::store::wire::{WireEncoding, columnar_envelope, decode_slice, encode};
    const LIMIT: u64 = 64 << 20;
    let mut decoded = decode_slice(data, LIMIT).map_or(0, |(b, _)| b.len());
    if let Ok(Some(stored)) = encode(data, WireEncoding::Columnar { level: 1 }) {
        let (back, _) = decode_slice(&stored, u64::MAX)
            .unwrap_or_else(|e| panic!("a columnar encoding does not decode: {e}"));
        assert!(back == data, "a columnar encoding decodes to other bytes");
        decoded += back.len();
    }
    let declared = data
        .get(64..72)
        .and_then(|b| b.try_into().ok())
        .map_or(data.len() as u64, u64::from_le_bytes)
        .min(LIMIT);
    let forged = columnar_envelope(data, declared, xxhash_rust::xxh3::xxh3_64(data));
    decoded + decode_slice(&forged, LIMIT).map_or(0, |(b, _)| b.len())
}

/// The columnar stream (§19b) of `blob`, `None` when it is not a hollow blob: seeds for
/// [`wire_everything`]'s third way.
pub fn columnar_stream(blob: &[u8]) -> Option<Vec<u8>> {
    crate::store::wire_columnar_stream(blob)
}

/// Parses only the header and table of sections.
pub fn parse_layout(data: &[u8]) -> Result<BlobLayout> {
    Ok(BlobLayout::parse(data, "<fuzz>")?)
}

/// Reads `data` as a schema section.
pub fn parse_schema_segment(data: &[u8]) -> Result<crate::schema::Schema> {
    Ok(crate::schema::Schema::from_segment(data)?)
}

/// xxh3-64, the hash hollow uses for checksums, content hashes and key hashes.
pub fn xxh3(data: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(data)
}

/// Opens `data` as a delta or reverse delta and walks every record it carries; returns the
/// number of records. Any input must give `Ok` or a typed error, never a panic.
pub fn read_delta_everything(data: &[u8]) -> Result<usize> {
    let delta = crate::read::ReadDelta::from_bytes(BlobBytes::from_vec(data.to_vec()), "<fuzz>")?;
    let mut records = 0;
    for t in delta.types() {
        for upsert in t.upserts() {
            let (_, record) = upsert?;
            record
                .total_size()
                .map_err(|e| crate::error::OpenError::capnp("walking a delta record", e))?;
            records += 1;
        }
    }
    Ok(records)
}

/// Parses `data` as JSON and encodes it through a run-time schema (the blob manifest's, which
/// has nested structs, lists of structs, Text and integers of several widths) with
/// [`crate::encode::RecordEncoder`]; returns the encoded record's size in words. Any input
/// must give `Ok` or an error, never a panic.
pub fn encode_json(data: &[u8]) -> std::result::Result<usize, String> {
    use crate::generated::hollow_format_capnp::blob_manifest;
    let schema = crate::schema::Schema::builder()
        .add::<blob_manifest::Owned>()
        .build()
        .map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    let mut errors = Vec::new();
    let mut words = 0;
    for name in ["BlobManifest", "TypeManifest", "HeaderTag"] {
        let encoder =
            crate::encode::RecordEncoder::new(&schema, name).map_err(|e| e.to_string())?;
        match encoder.encode(&value) {
            Ok(message) => {
                let root: capnp::any_pointer::Reader<'_> =
                    message.get_root_as_reader().map_err(|e| e.to_string())?;
                let size = root.target_size().map_err(|e| e.to_string())?;
                words += usize::try_from(size.word_count).unwrap_or(usize::MAX);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.len() == 3 {
        return Err(errors.join("; "));
    }
    Ok(words)
}
