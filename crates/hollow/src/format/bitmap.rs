//! The populated-ordinal bitmap: bit `o % 64` of little-endian word `o / 64` is set when ordinal
//! `o` holds a record.

/// Number of 64-bit words a bitmap over `capacity` ordinals takes.
pub(crate) fn bitmap_words(capacity: u32) -> usize {
    (capacity as usize).div_ceil(64)
}

/// The populated ordinals of a type, copied out of a verified bitmap section.
///
/// The copy is one bit per ordinal (125 KiB at 1M records): every read checks it, so it lives in
/// plain words next to the reader rather than behind the mapping's indirections, and refreshes
/// can update it without touching the blob.
#[derive(Debug, Clone)]
pub(crate) struct PopulatedBitmap {
    words: Box<[u64]>,
}

impl PopulatedBitmap {
    /// Reads a section of little-endian words.
    pub(crate) fn new(bytes: &[u8]) -> Self {
        let words = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        Self { words }
    }

    /// True when `ordinal` is populated (false beyond the bitmap).
    #[inline]
    pub(crate) fn contains(&self, ordinal: u32) -> bool {
        self.words
            .get((ordinal / 64) as usize)
            .is_some_and(|w| w & (1 << (ordinal % 64)) != 0)
    }

    /// Word `i` of the bitmap (ordinals `64 i .. 64 i + 63`), 0 beyond the end.
    #[inline]
    pub(crate) fn word(&self, i: usize) -> u64 {
        self.words.get(i).copied().unwrap_or(0)
    }

    /// Number of 64-bit words.
    pub(crate) fn word_count(&self) -> usize {
        self.words.len()
    }

    /// An empty bitmap over `capacity` ordinals.
    pub(crate) fn empty(capacity: u32) -> Self {
        Self {
            words: vec![0; bitmap_words(capacity)].into_boxed_slice(),
        }
    }

    /// Grows or shrinks to `capacity` ordinals (bits beyond it are dropped).
    pub(crate) fn resize(&mut self, capacity: u32) {
        let mut words = std::mem::take(&mut self.words).into_vec();
        words.resize(bitmap_words(capacity), 0);
        if !capacity.is_multiple_of(64)
            && let Some(last) = words.last_mut()
        {
            *last &= (1u64 << (capacity % 64)) - 1;
        }
        self.words = words.into_boxed_slice();
    }

    /// Sets or clears the bit of `ordinal` (ignored beyond the bitmap).
    pub(crate) fn set(&mut self, ordinal: u32, on: bool) {
        if let Some(w) = self.words.get_mut((ordinal / 64) as usize) {
            let bit = 1u64 << (ordinal % 64);
            if on {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }

    /// Number of populated ordinals.
    pub(crate) fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}
