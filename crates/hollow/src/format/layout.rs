//! The table of sections (docs/FORMAT.md §7): its named offsets, the entry codec, the layout
//! check of a whole blob ([`BlobLayout::parse`]) and the blob assembler ([`BlobWriter`]). The
//! fixed header itself is `header.rs`.

use xxhash_rust::xxh3::xxh3_64;

use super::header::{
    BlobHeader, BlobKind, FORMAT_VERSION, HEADER_LEN, MAGIC, OLDEST_READABLE_VERSION, RawHeader,
    header_checksum, le_u16, le_u32, le_u64, put_checksum,
};
use crate::error::{OpenError, Result, SchemaError};

/// Length of one entry of the table of sections in bytes.
pub const SECTION_ENTRY_LEN: usize = 40;
/// `type_index` of a section that belongs to no type.
pub const NO_TYPE: u32 = u32::MAX;

/// Offset in a table entry of the `u16` section kind.
const ENTRY_KIND_AT: usize = 0;
/// Offset in a table entry of the reserved `u16`.
const ENTRY_RESERVED_U16_AT: usize = 2;
/// Offset in a table entry of the `u32` type index.
const ENTRY_TYPE_INDEX_AT: usize = 4;
/// Offset in a table entry of the `u32` part number.
const ENTRY_PART_AT: usize = 8;
/// Offset in a table entry of the reserved `u32`.
const ENTRY_RESERVED_U32_AT: usize = 12;
/// Offset in a table entry of the `u64` section offset.
const ENTRY_OFFSET_AT: usize = 16;
/// Offset in a table entry of the `u64` section length.
const ENTRY_LEN_AT: usize = 24;
/// Offset in a table entry of the `u64` section checksum.
const ENTRY_CHECKSUM_AT: usize = 32;

/// Kinds of section. Readers skip kinds they do not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SectionKind {
    /// The blob manifest (a `BlobManifest` Cap'n Proto message).
    Manifest,
    /// The schema (a canonical `CodeGeneratorRequest` message).
    Schema,
    /// One record shard of a type (a Cap'n Proto segment whose root is a `List(T)`).
    Records,
    /// Populated-ordinal bitmap of a type.
    Populated,
    /// Primary-key index of a type.
    PrimaryKeyIndex,
    /// Delta: ordinals of a type removed by the blob (ascending `u32`).
    DeltaRemoved,
    /// Delta: ordinals of a type whose records the blob adds or replaces (ascending `u32`), in
    /// the order of the records in the type's records parts.
    DeltaUpserted,
    /// Delta: primary-key index changes of a type (24-byte entries).
    KeyChanges,
    /// Snapshot: a secondary (unique or hash) index of a type; the part is the index's position
    /// in the type's index list.
    SecondaryIndex,
    /// Delta: entries a secondary index gains (16-byte entries); the part is the index's position.
    IndexAdditions,
    /// A kind this build does not know (from a newer writer); skipped.
    Unknown(u16),
}

impl SectionKind {
    /// The on-disk code.
    pub fn code(self) -> u16 {
        match self {
            SectionKind::Manifest => 1,
            SectionKind::Schema => 2,
            SectionKind::Records => 3,
            SectionKind::Populated => 4,
            SectionKind::PrimaryKeyIndex => 5,
            SectionKind::DeltaRemoved => 6,
            SectionKind::DeltaUpserted => 7,
            SectionKind::KeyChanges => 8,
            SectionKind::SecondaryIndex => 9,
            SectionKind::IndexAdditions => 10,
            SectionKind::Unknown(c) => c,
        }
    }

    fn from_code(code: u16) -> Self {
        match code {
            1 => SectionKind::Manifest,
            2 => SectionKind::Schema,
            3 => SectionKind::Records,
            4 => SectionKind::Populated,
            5 => SectionKind::PrimaryKeyIndex,
            6 => SectionKind::DeltaRemoved,
            7 => SectionKind::DeltaUpserted,
            8 => SectionKind::KeyChanges,
            9 => SectionKind::SecondaryIndex,
            10 => SectionKind::IndexAdditions,
            c => SectionKind::Unknown(c),
        }
    }

    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Manifest => "manifest",
            SectionKind::Schema => "schema",
            SectionKind::Records => "records",
            SectionKind::Populated => "populated bitmap",
            SectionKind::PrimaryKeyIndex => "primary-key index",
            SectionKind::DeltaRemoved => "removed ordinals",
            SectionKind::DeltaUpserted => "upserted ordinals",
            SectionKind::KeyChanges => "key changes",
            SectionKind::SecondaryIndex => "secondary index",
            SectionKind::IndexAdditions => "index additions",
            SectionKind::Unknown(_) => "unknown section",
        }
    }
}

/// One entry of the table of sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionEntry {
    /// What the section holds.
    pub kind: SectionKind,
    /// Index of the type in the manifest, or `u32::MAX`.
    pub type_index: u32,
    /// Part number (the shard number of a records section, the index number of an index
    /// section, 0 otherwise).
    pub part: u32,
    /// Offset from the start of the blob (a multiple of 8).
    pub offset: u64,
    /// Length in bytes (a multiple of 8).
    pub len: u64,
    /// xxh3-64 of the section's bytes.
    pub checksum: u64,
}

impl SectionEntry {
    /// The 40 bytes of the entry's table slot (reserved fields zero).
    pub(crate) fn to_bytes(self) -> [u8; SECTION_ENTRY_LEN] {
        let mut out = [0u8; SECTION_ENTRY_LEN];
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(ENTRY_KIND_AT, &self.kind.code().to_le_bytes());
        put(ENTRY_TYPE_INDEX_AT, &self.type_index.to_le_bytes());
        put(ENTRY_PART_AT, &self.part.to_le_bytes());
        put(ENTRY_OFFSET_AT, &self.offset.to_le_bytes());
        put(ENTRY_LEN_AT, &self.len.to_le_bytes());
        put(ENTRY_CHECKSUM_AT, &self.checksum.to_le_bytes());
        out
    }

    /// Reads a table slot: the entry, and whether its reserved fields are zero. `None` when
    /// `e` is shorter than an entry. Placement is checked by [`BlobLayout::parse`].
    pub(crate) fn from_bytes(e: &[u8]) -> Option<(Self, bool)> {
        let e = e.get(..SECTION_ENTRY_LEN)?;
        let entry = SectionEntry {
            kind: SectionKind::from_code(le_u16(e, ENTRY_KIND_AT)?),
            type_index: le_u32(e, ENTRY_TYPE_INDEX_AT)?,
            part: le_u32(e, ENTRY_PART_AT)?,
            offset: le_u64(e, ENTRY_OFFSET_AT)?,
            len: le_u64(e, ENTRY_LEN_AT)?,
            checksum: le_u64(e, ENTRY_CHECKSUM_AT)?,
        };
        let reserved_zero =
            le_u16(e, ENTRY_RESERVED_U16_AT)? == 0 && le_u32(e, ENTRY_RESERVED_U32_AT)? == 0;
        Some((entry, reserved_zero))
    }

    /// "Movie records part 3"-style description for errors, given the type name.
    pub fn describe(&self, type_name: Option<&str>) -> String {
        match (type_name, self.kind) {
            (Some(t), SectionKind::Records) => format!("{t} records shard {}", self.part),
            (Some(t), k @ (SectionKind::SecondaryIndex | SectionKind::IndexAdditions)) => {
                format!("{t} {} {}", k.name(), self.part)
            }
            (Some(t), k) => format!("{t} {}", k.name()),
            (None, k) => k.name().to_string(),
        }
    }

    /// The section's byte range (already bounds-checked by [`BlobLayout::parse`]).
    pub fn range(&self) -> std::ops::Range<usize> {
        // Offsets were checked against the blob length, which is a usize.
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let len = usize::try_from(self.len).unwrap_or(0);
        start..start.saturating_add(len)
    }

    /// Verifies the section checksum against `blob`.
    pub fn verify(
        &self,
        blob: &[u8],
        blob_name: &str,
        type_name: Option<&str>,
    ) -> Result<(), OpenError> {
        let bytes = blob.get(self.range()).ok_or_else(|| {
            OpenError::corrupt(blob_name, self.describe(type_name), "out of bounds")
        })?;
        let actual = xxh3_64(bytes);
        if actual != self.checksum {
            return Err(OpenError::corrupt(
                blob_name,
                self.describe(type_name),
                format!(
                    "checksum mismatch (stored {:#018x}, computed {actual:#018x})",
                    self.checksum
                ),
            ));
        }
        Ok(())
    }
}

/// A parsed, header-verified blob: header and table of sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLayout {
    /// The header.
    pub header: BlobHeader,
    /// The table of sections in file order.
    pub sections: Vec<SectionEntry>,
}

impl BlobLayout {
    /// Parses and verifies the header and table of sections of `blob`. Checks the magic, the
    /// format version, the blob length, the header checksum, and that every section lies inside
    /// the blob, 8-byte aligned, in order and without overlap. Section payloads are not read.
    pub fn parse(blob: &[u8], blob_name: &str) -> Result<Self, OpenError> {
        Self::parse_prefix(blob, blob.len() as u64, blob_name)
    }

    /// [`BlobLayout::parse`] on the first bytes of a blob of `blob_len` bytes: `head` holds at
    /// least the header and the table of sections (a wire decoder parses them before the
    /// sections have arrived). With `head` the whole blob, this is `parse`.
    pub(crate) fn parse_prefix(
        head: &[u8],
        blob_len: u64,
        blob_name: &str,
    ) -> Result<Self, OpenError> {
        let blob = head;
        let corrupt =
            |section: &str, reason: String| OpenError::corrupt(blob_name, section, reason);
        if blob.len() < MAGIC.len() || blob[..MAGIC.len()] != MAGIC {
            return Err(OpenError::UnsupportedFormat {
                blob: blob_name.to_string(),
                reason: "not a hollow blob (wrong magic bytes)".to_string(),
            });
        }
        if blob.len() < HEADER_LEN {
            return Err(corrupt(
                "header",
                format!("blob is {} bytes, shorter than the header", blob.len()),
            ));
        }
        let raw = RawHeader::from_bytes(blob).ok_or_else(|| {
            corrupt(
                "header",
                format!("blob is {} bytes, shorter than the header", blob.len()),
            )
        })?;
        let (format_version, compat_version) = (raw.format_version, raw.compat_version);
        if compat_version > format_version {
            return Err(corrupt(
                "header",
                format!(
                    "readable-from version {compat_version} is newer than format version {format_version}"
                ),
            ));
        }
        if compat_version > FORMAT_VERSION || format_version < OLDEST_READABLE_VERSION {
            return Err(OpenError::UnsupportedFormat {
                blob: blob_name.to_string(),
                reason: format!(
                    "format version {format_version} (readable from version {compat_version}); this build reads versions {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}"
                ),
            });
        }
        let section_count = raw.section_count;
        let declared_len = raw.blob_len;
        if declared_len != blob_len {
            return Err(corrupt(
                "header",
                format!(
                    "blob is {blob_len} bytes but its header says {declared_len} (truncated or extended)"
                ),
            ));
        }
        let table_len = (section_count as usize)
            .checked_mul(SECTION_ENTRY_LEN)
            .filter(|len| HEADER_LEN + len <= blob.len())
            .ok_or_else(|| {
                corrupt(
                    "section table",
                    format!("{section_count} sections do not fit the blob"),
                )
            })?;
        let table = &blob[HEADER_LEN..HEADER_LEN + table_len];
        if header_checksum(blob, table) != raw.checksum {
            return Err(corrupt("header", "header checksum mismatch".to_string()));
        }
        let kind = BlobKind::from_u8(raw.kind)
            .ok_or_else(|| corrupt("header", format!("unknown blob kind {}", raw.kind)))?;
        if raw.reserved_u8 != 0 || raw.reserved_u16 != 0 || raw.reserved_u32 != 0 {
            return Err(corrupt(
                "header",
                "reserved header bytes are not zero".to_string(),
            ));
        }
        let header = BlobHeader {
            kind,
            format_version,
            compat_version,
            from_version: raw.from_version,
            from_tag: raw.from_tag,
            to_version: raw.to_version,
            to_tag: raw.to_tag,
            schema_fingerprint: raw.schema_fingerprint,
        };
        let mut sections = Vec::with_capacity(section_count as usize);
        let mut end_of_previous = (HEADER_LEN + table_len) as u64;
        for i in 0..section_count as usize {
            let e = &table[i * SECTION_ENTRY_LEN..(i + 1) * SECTION_ENTRY_LEN];
            let (entry, reserved_zero) = SectionEntry::from_bytes(e).ok_or_else(|| {
                corrupt(&format!("section {i}"), "entry is not 40 bytes".to_string())
            })?;
            let name = format!("section {i} ({})", entry.kind.name());
            if !reserved_zero {
                return Err(corrupt(&name, "reserved bytes are not zero".to_string()));
            }
            if !entry.offset.is_multiple_of(8) || !entry.len.is_multiple_of(8) {
                return Err(corrupt(
                    &name,
                    format!(
                        "offset {} / length {} not 8-byte aligned",
                        entry.offset, entry.len
                    ),
                ));
            }
            let end = entry
                .offset
                .checked_add(entry.len)
                .filter(|end| *end <= declared_len);
            let Some(end) = end else {
                return Err(corrupt(
                    &name,
                    format!("bytes {}+{} lie outside the blob", entry.offset, entry.len),
                ));
            };
            // Sections tile the blob: every byte after the table belongs to exactly one section,
            // so every byte is covered by a checksum.
            if entry.offset != end_of_previous {
                return Err(corrupt(
                    &name,
                    format!("starts at {}, expected {end_of_previous}", entry.offset),
                ));
            }
            let one_part = !matches!(
                entry.kind,
                SectionKind::Records
                    | SectionKind::SecondaryIndex
                    | SectionKind::IndexAdditions
                    | SectionKind::Unknown(_)
            );
            if entry.part != 0 && one_part {
                return Err(corrupt(
                    &name,
                    format!("part {} of a section that has one part", entry.part),
                ));
            }
            end_of_previous = end;
            sections.push(entry);
        }
        if end_of_previous != declared_len {
            return Err(corrupt(
                "section table",
                format!("sections end at {end_of_previous}, the blob at {declared_len}"),
            ));
        }
        Ok(Self { header, sections })
    }
}

/// Assembles a blob: sections are added in order, then [`BlobWriter::finish`] lays out the
/// header, the table and the 8-byte-aligned sections, computing every checksum.
pub(crate) struct BlobWriter {
    sections: Vec<(SectionKind, u32, u32, SectionBytes)>,
}

/// A section's content: bytes, or words (copied once, straight into the blob).
enum SectionBytes {
    Bytes(Vec<u8>),
    Words(Vec<u64>),
}

impl SectionBytes {
    fn as_bytes(&self) -> &[u8] {
        match self {
            SectionBytes::Bytes(b) => b,
            SectionBytes::Words(w) => bytemuck::cast_slice(w),
        }
    }
}

impl BlobWriter {
    pub(crate) fn new() -> Self {
        Self {
            sections: Vec::new(),
        }
    }

    /// Adds a section; `bytes` is padded with zeros to a multiple of 8.
    pub(crate) fn add(
        &mut self,
        kind: SectionKind,
        type_index: u32,
        part: u32,
        mut bytes: Vec<u8>,
    ) {
        bytes.resize(bytes.len().next_multiple_of(8), 0);
        self.sections
            .push((kind, type_index, part, SectionBytes::Bytes(bytes)));
    }

    /// Adds a section of little-endian words.
    pub(crate) fn add_words(
        &mut self,
        kind: SectionKind,
        type_index: u32,
        part: u32,
        words: Vec<u64>,
    ) {
        self.sections
            .push((kind, type_index, part, SectionBytes::Words(words)));
    }

    /// Lays the blob out into an 8-byte-aligned buffer.
    pub(crate) fn finish(
        self,
        header: &BlobHeader,
    ) -> Result<crate::bytes::BlobBytes, SchemaError> {
        let count = u32::try_from(self.sections.len()).map_err(|_| SchemaError::Invalid {
            reason: "more than 2^32 sections: too many types or shards".into(),
        })?;
        let table_len = self.sections.len() * SECTION_ENTRY_LEN;
        let first = HEADER_LEN + table_len; // both multiples of 8
        let total = first
            + self
                .sections
                .iter()
                .map(|s| s.3.as_bytes().len())
                .sum::<usize>();
        let mut words = capnp::Word::allocate_zeroed_vec(total / 8);
        let out = capnp::Word::words_to_bytes_mut(&mut words);
        out[..HEADER_LEN].copy_from_slice(&RawHeader::new(header, count, total as u64).to_bytes());
        let mut offset = first;
        for (i, (kind, type_index, part, bytes)) in self.sections.iter().enumerate() {
            let bytes = bytes.as_bytes();
            let entry = SectionEntry {
                kind: *kind,
                type_index: *type_index,
                part: *part,
                offset: offset as u64,
                len: bytes.len() as u64,
                checksum: xxh3_64(bytes),
            };
            let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
            out[e..e + SECTION_ENTRY_LEN].copy_from_slice(&entry.to_bytes());
            out[offset..offset + bytes.len()].copy_from_slice(bytes);
            offset += bytes.len();
        }
        let checksum = header_checksum(out, &out[HEADER_LEN..first]);
        put_checksum(out, checksum);
        Ok(crate::bytes::BlobBytes::from_words(words, total))
    }
}

/// Recomputes every section checksum and the header checksum of `blob` in place (tests and
/// fuzzers use it so that mutated bytes reach the parsers behind the checksums). Entries whose
/// section lies outside the blob keep their checksum. Returns false when the header or table is
/// too malformed to reseal.
pub(crate) fn reseal(blob: &mut [u8]) -> bool {
    let Some(count) = super::header::section_count(blob) else {
        return false;
    };
    let Some(table_end) = (count as usize)
        .checked_mul(SECTION_ENTRY_LEN)
        .and_then(|n| n.checked_add(HEADER_LEN))
        .filter(|end| *end <= blob.len())
    else {
        return false;
    };
    for i in 0..count as usize {
        let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
        let field = |at: usize| le_u64(blob, e + at).and_then(|v| usize::try_from(v).ok());
        let (Some(offset), Some(len)) = (field(ENTRY_OFFSET_AT), field(ENTRY_LEN_AT)) else {
            continue;
        };
        let Some(end) = offset.checked_add(len).filter(|end| *end <= blob.len()) else {
            continue;
        };
        let sum = xxh3_64(&blob[offset..end]);
        let at = e + ENTRY_CHECKSUM_AT;
        blob[at..at + 8].copy_from_slice(&sum.to_le_bytes());
    }
    let (header, table) = blob.split_at(HEADER_LEN);
    let sum = header_checksum(header, &table[..table_end - HEADER_LEN]);
    put_checksum(blob, sum);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> SectionEntry {
        SectionEntry {
            kind: SectionKind::Unknown(0x1234),
            type_index: 3,
            part: 9,
            offset: 280,
            len: 128,
            checksum: 0xe40e_9762_0c12_056a,
        }
    }

    #[test]
    fn section_entry_round_trips() {
        let bytes = entry().to_bytes();
        assert_eq!(bytes[ENTRY_KIND_AT..ENTRY_KIND_AT + 2], [0x34, 0x12]);
        assert_eq!(SectionEntry::from_bytes(&bytes), Some((entry(), true)));
        for kind in 1..=10 {
            let e = SectionEntry {
                kind: SectionKind::from_code(kind),
                ..entry()
            };
            assert_eq!(e.kind.code(), kind);
            assert_eq!(SectionEntry::from_bytes(&e.to_bytes()), Some((e, true)));
        }
    }

    #[test]
    fn a_short_or_reserved_entry_is_refused() {
        let bytes = entry().to_bytes();
        for len in 0..SECTION_ENTRY_LEN {
            assert_eq!(SectionEntry::from_bytes(&bytes[..len]), None, "{len} bytes");
        }
        for at in [ENTRY_RESERVED_U16_AT, ENTRY_RESERVED_U32_AT] {
            let mut b = bytes;
            b[at] = 1;
            assert_eq!(SectionEntry::from_bytes(&b), Some((entry(), false)));
        }
    }

    #[test]
    fn a_written_blob_parses_and_reseals_to_itself() {
        let mut writer = BlobWriter::new();
        writer.add(SectionKind::Manifest, NO_TYPE, 0, vec![1, 2, 3]);
        writer.add_words(SectionKind::Records, 0, 0, vec![5, 6]);
        let header = BlobHeader {
            kind: BlobKind::Snapshot,
            format_version: FORMAT_VERSION,
            compat_version: FORMAT_VERSION,
            from_version: 0,
            from_tag: 0,
            to_version: 1,
            to_tag: 2,
            schema_fingerprint: 3,
        };
        let blob = writer.finish(&header).expect("finish");
        let layout = BlobLayout::parse(blob.as_slice(), "b").expect("parses");
        assert_eq!(layout.header, header);
        assert_eq!(layout.sections.len(), 2);
        assert_eq!(layout.sections[1].range(), 168..184);
        let mut copy = blob.as_slice().to_vec();
        assert!(reseal(&mut copy));
        assert_eq!(copy, blob.as_slice());
        copy[170] ^= 1;
        assert!(matches!(
            layout.sections[1].verify(&copy, "b", None),
            Err(OpenError::Corrupt { .. })
        ));
        assert!(reseal(&mut copy));
        BlobLayout::parse(&copy, "b").expect("resealed");
        assert!(!reseal(&mut copy[..40]));
        assert!(matches!(
            BlobLayout::parse(&blob.as_slice()[..100], "b"),
            Err(OpenError::Corrupt { .. })
        ));
    }
}
