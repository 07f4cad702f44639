//! Fixed header and table of sections (docs/FORMAT.md, "Header" and "Section table").

use xxhash_rust::xxh3::{Xxh3Default, xxh3_64};

use crate::error::{Error, Result};

/// First 8 bytes of every blob: `\x89HOLLOW\n` (the high byte and the newline catch text-mode
/// transfers, as PNG's signature does).
pub const MAGIC: [u8; 8] = *b"\x89HOLLOW\n";
/// Format version this build writes.
pub const FORMAT_VERSION: u16 = 1;
/// Oldest format version this build still reads.
pub const OLDEST_READABLE_VERSION: u16 = 1;
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 80;
/// Length of one entry of the table of sections in bytes.
pub const SECTION_ENTRY_LEN: usize = 40;
/// `type_index` of a section that belongs to no type.
pub const NO_TYPE: u32 = u32::MAX;

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BlobKind {
    /// A whole state.
    Snapshot = 1,
    /// The changes from state `from` to state `to`.
    Delta = 2,
    /// The changes from state `from` back to the earlier state `to`.
    ReverseDelta = 3,
}

impl BlobKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(BlobKind::Snapshot),
            2 => Some(BlobKind::Delta),
            3 => Some(BlobKind::ReverseDelta),
            _ => None,
        }
    }

    /// Lower-case name ("snapshot", "delta", "reverse-delta").
    pub fn name(self) -> &'static str {
        match self {
            BlobKind::Snapshot => "snapshot",
            BlobKind::Delta => "delta",
            BlobKind::ReverseDelta => "reverse-delta",
        }
    }
}

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

/// The fixed header of a blob, minus magic, lengths and checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    /// Snapshot, delta or reverse delta.
    pub kind: BlobKind,
    /// Format version the blob was written with.
    pub format_version: u16,
    /// Oldest reader format version able to read the blob.
    pub compat_version: u16,
    /// Version of the state the blob applies to (0 for a snapshot).
    pub from_version: u64,
    /// Random tag of the state the blob applies to (0 for a snapshot).
    pub from_tag: u64,
    /// Version of the state the blob produces.
    pub to_version: u64,
    /// Random tag of the state the blob produces.
    pub to_tag: u64,
    /// Fingerprint of the schema the blob was written with.
    pub schema_fingerprint: u64,
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
    pub fn verify(&self, blob: &[u8], blob_name: &str, type_name: Option<&str>) -> Result<()> {
        let bytes = blob
            .get(self.range())
            .ok_or_else(|| Error::corrupt(blob_name, self.describe(type_name), "out of bounds"))?;
        let actual = xxh3_64(bytes);
        if actual != self.checksum {
            return Err(Error::corrupt(
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

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl BlobLayout {
    /// Parses and verifies the header and table of sections of `blob`. Checks the magic, the
    /// format version, the blob length, the header checksum, and that every section lies inside
    /// the blob, 8-byte aligned, in order and without overlap. Section payloads are not read.
    pub fn parse(blob: &[u8], blob_name: &str) -> Result<Self> {
        let corrupt = |section: &str, reason: String| Error::corrupt(blob_name, section, reason);
        if blob.len() < MAGIC.len() || blob[..MAGIC.len()] != MAGIC {
            return Err(Error::UnsupportedFormat {
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
        let format_version = le_u16(blob, 8);
        let compat_version = le_u16(blob, 10);
        if compat_version > format_version {
            return Err(corrupt(
                "header",
                format!(
                    "readable-from version {compat_version} is newer than format version {format_version}"
                ),
            ));
        }
        if compat_version > FORMAT_VERSION || format_version < OLDEST_READABLE_VERSION {
            return Err(Error::UnsupportedFormat {
                blob: blob_name.to_string(),
                reason: format!(
                    "format version {format_version} (readable from version {compat_version}); this build reads versions {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}"
                ),
            });
        }
        let section_count = le_u32(blob, 56);
        let declared_len = le_u64(blob, 64);
        if declared_len != blob.len() as u64 {
            return Err(corrupt(
                "header",
                format!(
                    "blob is {} bytes but its header says {declared_len} (truncated or extended)",
                    blob.len()
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
        let mut hasher = Xxh3Default::new();
        hasher.update(&blob[..72]);
        hasher.update(table);
        let stored = le_u64(blob, 72);
        if hasher.digest() != stored {
            return Err(corrupt("header", "header checksum mismatch".to_string()));
        }
        let kind = BlobKind::from_u8(blob[12])
            .ok_or_else(|| corrupt("header", format!("unknown blob kind {}", blob[12])))?;
        if blob[13] != 0 || le_u16(blob, 14) != 0 || le_u32(blob, 60) != 0 {
            return Err(corrupt(
                "header",
                "reserved header bytes are not zero".to_string(),
            ));
        }
        let header = BlobHeader {
            kind,
            format_version,
            compat_version,
            from_version: le_u64(blob, 16),
            from_tag: le_u64(blob, 24),
            to_version: le_u64(blob, 32),
            to_tag: le_u64(blob, 40),
            schema_fingerprint: le_u64(blob, 48),
        };
        let mut sections = Vec::with_capacity(section_count as usize);
        let mut end_of_previous = (HEADER_LEN + table_len) as u64;
        for i in 0..section_count as usize {
            let e = &table[i * SECTION_ENTRY_LEN..(i + 1) * SECTION_ENTRY_LEN];
            let entry = SectionEntry {
                kind: SectionKind::from_code(le_u16(e, 0)),
                type_index: le_u32(e, 4),
                part: le_u32(e, 8),
                offset: le_u64(e, 16),
                len: le_u64(e, 24),
                checksum: le_u64(e, 32),
            };
            let name = format!("section {i} ({})", entry.kind.name());
            if le_u16(e, 2) != 0 || le_u32(e, 12) != 0 {
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
    pub(crate) fn finish(self, header: &BlobHeader) -> Result<crate::bytes::BlobBytes> {
        let count = u32::try_from(self.sections.len()).map_err(|_| Error::InvalidSchema {
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
        out[..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&header.format_version.to_le_bytes());
        out[10..12].copy_from_slice(&header.compat_version.to_le_bytes());
        out[12] = header.kind as u8;
        out[16..24].copy_from_slice(&header.from_version.to_le_bytes());
        out[24..32].copy_from_slice(&header.from_tag.to_le_bytes());
        out[32..40].copy_from_slice(&header.to_version.to_le_bytes());
        out[40..48].copy_from_slice(&header.to_tag.to_le_bytes());
        out[48..56].copy_from_slice(&header.schema_fingerprint.to_le_bytes());
        out[56..60].copy_from_slice(&count.to_le_bytes());
        out[64..72].copy_from_slice(&(total as u64).to_le_bytes());
        let mut offset = first;
        for (i, (kind, type_index, part, bytes)) in self.sections.iter().enumerate() {
            let bytes = bytes.as_bytes();
            let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
            out[e..e + 2].copy_from_slice(&kind.code().to_le_bytes());
            out[e + 4..e + 8].copy_from_slice(&type_index.to_le_bytes());
            out[e + 8..e + 12].copy_from_slice(&part.to_le_bytes());
            out[e + 16..e + 24].copy_from_slice(&(offset as u64).to_le_bytes());
            out[e + 24..e + 32].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            out[e + 32..e + 40].copy_from_slice(&xxh3_64(bytes).to_le_bytes());
            out[offset..offset + bytes.len()].copy_from_slice(bytes);
            offset += bytes.len();
        }
        let mut hasher = Xxh3Default::new();
        hasher.update(&out[..72]);
        hasher.update(&out[HEADER_LEN..first]);
        let checksum = hasher.digest();
        out[72..80].copy_from_slice(&checksum.to_le_bytes());
        Ok(crate::bytes::BlobBytes::from_words(words, total))
    }
}
