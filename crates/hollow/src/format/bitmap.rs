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

    /// Populated ordinals in ascending order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.bytes
            .as_slice()
            .chunks_exact(8)
            .enumerate()
            .flat_map(|(w, chunk)| {
                let mut bits = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
                let base = u32::try_from(w * 64).unwrap_or(u32::MAX);
                std::iter::from_fn(move || {
                    if bits == 0 {
                        return None;
                    }
                    let tz = bits.trailing_zeros();
                    bits &= bits - 1;
                    Some(base + tz)
                })
            })
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
