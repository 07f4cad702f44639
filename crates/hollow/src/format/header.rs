//! The fixed 80-byte header (docs/FORMAT.md §3–§6): its named offsets, its encoder and its
//! decoder, side by side. Nothing outside `format/` reads a header byte by offset.

use xxhash_rust::xxh3::Xxh3Default;

/// First 8 bytes of every blob: `\x89HOLLOW\n` (the high byte and the newline catch text-mode
/// transfers, as PNG's signature does).
pub const MAGIC: [u8; 8] = *b"\x89HOLLOW\n";
/// Format version this build writes.
pub const FORMAT_VERSION: u16 = 1;
/// Oldest format version this build still reads.
pub const OLDEST_READABLE_VERSION: u16 = 1;
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 80;

/// Offset of the `u16` format version.
pub(crate) const FORMAT_VERSION_AT: usize = 8;
/// Offset of the `u16` oldest reader version able to read the blob.
pub(crate) const COMPAT_VERSION_AT: usize = 10;
/// Offset of the `u8` blob kind.
pub(crate) const KIND_AT: usize = 12;
/// Offset of the reserved `u8`.
pub(crate) const RESERVED_U8_AT: usize = 13;
/// Offset of the reserved `u16`.
pub(crate) const RESERVED_U16_AT: usize = 14;
/// Offset of the `u64` version of the state the blob applies to.
pub(crate) const FROM_VERSION_AT: usize = 16;
/// Offset of the `u64` tag of the state the blob applies to.
pub(crate) const FROM_TAG_AT: usize = 24;
/// Offset of the `u64` version of the state the blob produces.
pub(crate) const TO_VERSION_AT: usize = 32;
/// Offset of the `u64` tag of the state the blob produces.
pub(crate) const TO_TAG_AT: usize = 40;
/// Offset of the `u64` schema fingerprint.
pub(crate) const SCHEMA_FINGERPRINT_AT: usize = 48;
/// Offset of the `u32` number of table entries.
pub(crate) const SECTION_COUNT_AT: usize = 56;
/// Offset of the reserved `u32`.
pub(crate) const RESERVED_U32_AT: usize = 60;
/// Offset of the `u64` total blob length.
pub(crate) const BLOB_LEN_AT: usize = 64;
/// Offset of the `u64` header checksum; it covers the bytes before it and the table.
pub(crate) const HEADER_CHECKSUM_AT: usize = 72;

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
    pub(crate) fn from_u8(v: u8) -> Option<Self> {
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

impl BlobHeader {
    /// The state the blob applies to (`from_version`, `from_tag`; zeros for a snapshot).
    pub fn from_state(&self) -> crate::StateId {
        crate::StateId::new(self.from_version, self.from_tag)
    }

    /// The state the blob produces (`to_version`, `to_tag`).
    pub fn to_state(&self) -> crate::StateId {
        crate::StateId::new(self.to_version, self.to_tag)
    }
}

/// Every field of a fixed header as stored, before any check: what [`RawHeader::from_bytes`]
/// reads and [`RawHeader::to_bytes`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawHeader {
    pub(crate) format_version: u16,
    pub(crate) compat_version: u16,
    pub(crate) kind: u8,
    pub(crate) reserved_u8: u8,
    pub(crate) reserved_u16: u16,
    pub(crate) from_version: u64,
    pub(crate) from_tag: u64,
    pub(crate) to_version: u64,
    pub(crate) to_tag: u64,
    pub(crate) schema_fingerprint: u64,
    pub(crate) section_count: u32,
    pub(crate) reserved_u32: u32,
    pub(crate) blob_len: u64,
    pub(crate) checksum: u64,
}

pub(crate) fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
pub(crate) fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
pub(crate) fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl RawHeader {
    /// The header `header` describes, for a blob of `section_count` sections and `blob_len`
    /// bytes, with a zero checksum (see [`header_checksum`]).
    pub(crate) fn new(header: &BlobHeader, section_count: u32, blob_len: u64) -> Self {
        Self {
            format_version: header.format_version,
            compat_version: header.compat_version,
            kind: header.kind as u8,
            reserved_u8: 0,
            reserved_u16: 0,
            from_version: header.from_version,
            from_tag: header.from_tag,
            to_version: header.to_version,
            to_tag: header.to_tag,
            schema_fingerprint: header.schema_fingerprint,
            section_count,
            reserved_u32: 0,
            blob_len,
            checksum: 0,
        }
    }

    /// The 80 header bytes, magic first.
    pub(crate) fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &MAGIC);
        put(FORMAT_VERSION_AT, &self.format_version.to_le_bytes());
        put(COMPAT_VERSION_AT, &self.compat_version.to_le_bytes());
        put(KIND_AT, &[self.kind]);
        put(RESERVED_U8_AT, &[self.reserved_u8]);
        put(RESERVED_U16_AT, &self.reserved_u16.to_le_bytes());
        put(FROM_VERSION_AT, &self.from_version.to_le_bytes());
        put(FROM_TAG_AT, &self.from_tag.to_le_bytes());
        put(TO_VERSION_AT, &self.to_version.to_le_bytes());
        put(TO_TAG_AT, &self.to_tag.to_le_bytes());
        put(
            SCHEMA_FINGERPRINT_AT,
            &self.schema_fingerprint.to_le_bytes(),
        );
        put(SECTION_COUNT_AT, &self.section_count.to_le_bytes());
        put(RESERVED_U32_AT, &self.reserved_u32.to_le_bytes());
        put(BLOB_LEN_AT, &self.blob_len.to_le_bytes());
        put(HEADER_CHECKSUM_AT, &self.checksum.to_le_bytes());
        out
    }

    /// Reads the fields of the first 80 bytes of `blob`; `None` when `blob` is shorter. The
    /// magic is not looked at and nothing is checked.
    pub(crate) fn from_bytes(blob: &[u8]) -> Option<Self> {
        let b = blob.get(..HEADER_LEN)?;
        Some(Self {
            format_version: le_u16(b, FORMAT_VERSION_AT)?,
            compat_version: le_u16(b, COMPAT_VERSION_AT)?,
            kind: *b.get(KIND_AT)?,
            reserved_u8: *b.get(RESERVED_U8_AT)?,
            reserved_u16: le_u16(b, RESERVED_U16_AT)?,
            from_version: le_u64(b, FROM_VERSION_AT)?,
            from_tag: le_u64(b, FROM_TAG_AT)?,
            to_version: le_u64(b, TO_VERSION_AT)?,
            to_tag: le_u64(b, TO_TAG_AT)?,
            schema_fingerprint: le_u64(b, SCHEMA_FINGERPRINT_AT)?,
            section_count: le_u32(b, SECTION_COUNT_AT)?,
            reserved_u32: le_u32(b, RESERVED_U32_AT)?,
            blob_len: le_u64(b, BLOB_LEN_AT)?,
            checksum: le_u64(b, HEADER_CHECKSUM_AT)?,
        })
    }
}

/// The header checksum: xxh3-64 of the header bytes before the checksum field, then the table
/// of sections. `header` must be at least [`HEADER_CHECKSUM_AT`] bytes.
pub(crate) fn header_checksum(header: &[u8], table: &[u8]) -> u64 {
    let mut hasher = Xxh3Default::new();
    hasher.update(header.get(..HEADER_CHECKSUM_AT).unwrap_or(header));
    hasher.update(table);
    hasher.digest()
}

/// Writes `checksum` into the checksum field of `blob`'s header (ignored when `blob` is
/// shorter than the header).
pub(crate) fn put_checksum(blob: &mut [u8], checksum: u64) {
    if let Some(field) = blob.get_mut(HEADER_CHECKSUM_AT..HEADER_LEN) {
        field.copy_from_slice(&checksum.to_le_bytes());
    }
}

/// The stored header checksum's 8 bytes as they lie in `blob` (`None` when `blob` is shorter
/// than the header). With the blob's length it identifies a verified blob: it covers the header
/// and every section checksum.
pub(crate) fn checksum_bytes(blob: &[u8]) -> Option<&[u8]> {
    blob.get(HEADER_CHECKSUM_AT..HEADER_LEN)
}

/// The section count a blob's header declares (`None` when `blob` is shorter than the header).
pub(crate) fn section_count(blob: &[u8]) -> Option<u32> {
    le_u32(blob.get(..HEADER_LEN)?, SECTION_COUNT_AT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BlobHeader {
        BlobHeader {
            kind: BlobKind::ReverseDelta,
            format_version: 1,
            compat_version: 1,
            from_version: 7,
            from_tag: 0x0123_4567_89ab_cdef,
            to_version: 6,
            to_tag: 0xfedc_ba98_7654_3210,
            schema_fingerprint: 0xdd7f_9519_a662_54e1,
        }
    }

    #[test]
    fn header_round_trips_at_the_documented_offsets() {
        let mut raw = RawHeader::new(&sample(), 5, 1440);
        raw.checksum = 0x62df_a635_7b65_d8c1;
        let bytes = raw.to_bytes();
        assert_eq!(bytes[..8], MAGIC);
        assert_eq!(bytes[KIND_AT], 3);
        assert_eq!(bytes[BLOB_LEN_AT..BLOB_LEN_AT + 8], 1440u64.to_le_bytes());
        assert_eq!(
            checksum_bytes(&bytes),
            Some(&0x62df_a635_7b65_d8c1u64.to_le_bytes()[..])
        );
        assert_eq!(section_count(&bytes), Some(5));
        assert_eq!(RawHeader::from_bytes(&bytes), Some(raw));
        assert_eq!(
            BlobKind::from_u8(bytes[KIND_AT]),
            Some(BlobKind::ReverseDelta)
        );
    }

    #[test]
    fn a_truncated_header_reads_as_none() {
        let bytes = RawHeader::new(&sample(), 1, 120).to_bytes();
        for len in 0..HEADER_LEN {
            assert_eq!(RawHeader::from_bytes(&bytes[..len]), None, "{len} bytes");
            assert_eq!(checksum_bytes(&bytes[..len]), None);
            assert_eq!(section_count(&bytes[..len]), None);
        }
        assert_eq!(BlobKind::from_u8(0), None);
        assert_eq!(BlobKind::from_u8(4), None);
    }

    #[test]
    fn the_checksum_covers_the_header_before_it_and_the_table() {
        let mut bytes = RawHeader::new(&sample(), 1, 120).to_bytes();
        let table = [7u8; 40];
        let sum = header_checksum(&bytes, &table);
        put_checksum(&mut bytes, sum);
        assert_eq!(
            header_checksum(&bytes, &table),
            sum,
            "excludes its own field"
        );
        assert_ne!(header_checksum(&bytes, &[8u8; 40]), sum);
        bytes[FROM_TAG_AT] ^= 1;
        assert_ne!(header_checksum(&bytes, &table), sum);
    }
}
