//! The populated-ordinal bitmap: bit `o % 64` of little-endian word `o / 64` is set when ordinal
//! `o` holds a record.

use crate::bytes::BlobBytes;

/// Number of 64-bit words a bitmap over `capacity` ordinals takes.
pub(crate) fn bitmap_words(capacity: u32) -> usize {
    (capacity as usize).div_ceil(64)
}

/// A read-only view of a bitmap section.
#[derive(Debug, Clone)]
pub(crate) struct PopulatedBitmap {
    bytes: BlobBytes,
}

impl PopulatedBitmap {
    /// Wraps a verified section of exactly `bitmap_words(capacity) * 8` bytes.
    pub(crate) fn new(bytes: BlobBytes) -> Self {
        Self { bytes }
    }

    /// True when `ordinal` is populated (false beyond the bitmap).
    #[inline]
    pub(crate) fn contains(&self, ordinal: u32) -> bool {
        let byte = (ordinal / 8) as usize;
        self.bytes
            .as_slice()
            .get(byte)
            .is_some_and(|b| b & (1 << (ordinal % 8)) != 0)
    }

    /// Word `i` of the bitmap (ordinals `64 i .. 64 i + 63`), 0 beyond the end.
    #[inline]
    pub(crate) fn word(&self, i: usize) -> u64 {
        match self.bytes.as_slice().get(i * 8..i * 8 + 8) {
            Some(b) => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
            None => 0,
        }
    }

    /// Number of 64-bit words.
    pub(crate) fn word_count(&self) -> usize {
        self.bytes.len() / 8
    }

    /// Number of populated ordinals.
    pub(crate) fn count(&self) -> u64 {
        self.bytes
            .as_slice()
            .iter()
            .map(|b| u64::from(b.count_ones()))
            .sum()
    }
}
