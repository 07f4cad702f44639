//! The blob format: header, table of sections, per-section checksums, and the section encoders.
//! This module is the only code that knows byte offsets; docs/FORMAT.md specifies every byte.

mod bitmap;
mod columns;
mod delta;
mod hash_index;
pub(crate) mod header;
mod layout;
mod manifest;
mod pk_index;
mod shard;

pub(crate) use bitmap::PopulatedBitmap;
pub use columns::ColumnsError;
pub(crate) use columns::{columns_len, from_columns, from_planes, to_columns, to_planes};
pub use delta::KeyChange;
pub(crate) use delta::{decode_key_changes, decode_ordinals, encode_key_changes, encode_ordinals};
pub(crate) use hash_index::{
    HashIndex, Postings, build_hash_index, decode_additions, encode_additions, hash_tag,
};
pub use header::{
    BlobHeader, BlobKind, FORMAT_VERSION, HEADER_LEN, MAGIC, OLDEST_READABLE_VERSION,
};
pub use layout::{BlobLayout, NO_TYPE, SECTION_ENTRY_LEN, SectionEntry, SectionKind};
pub(crate) use layout::{BlobWriter, reseal};
pub(crate) use manifest::{MAX_SHARD_BITS, Manifest, TypeManifest};
pub(crate) use pk_index::{IndexEntry, PrimaryKeyIndex, build_pk_index};
pub(crate) use shard::ShardEncoder;
