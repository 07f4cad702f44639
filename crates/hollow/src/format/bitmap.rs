//! The populated-ordinal bitmap (docs/FORMAT.md §12): bit `o % 64` of little-endian word
//! `o / 64` is set when ordinal `o` holds a record. Encoder ([`PopulatedBitmap::to_bytes`]) and
//! decoder ([`PopulatedBitmap::from_bytes`]) side by side.

use crate::error::{OpenError, Result};

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
    /// Decodes a verified bitmap section of a type with `capacity` ordinals: exactly
    /// `bitmap_words(capacity)` little-endian words, no bit set at or beyond `capacity`.
    /// `blob` and `section` name it in errors.
    pub(crate) fn from_bytes(
        bytes: &[u8],
        capacity: u32,
        blob: &str,
        section: &str,
    ) -> Result<Self, OpenError> {
        let fail = |reason: String| OpenError::corrupt(blob, section, reason);
        if bytes.len() != bitmap_words(capacity) * 8 {
            return Err(fail(format!(
                "{} bytes for {capacity} ordinals",
                bytes.len()
            )));
        }
        let words: Box<[u64]> = bytes
            .chunks_exact(8)
            .filter_map(|c| Some(u64::from_le_bytes(c.try_into().ok()?)))
            .collect();
        let bitmap = Self { words };
        if let Some(last) = capacity.checked_sub(1) {
            let word = bitmap.word((last / 64) as usize);
            let used = last % 64 + 1;
            if used < 64 && word >> used != 0 {
                return Err(fail("bits set beyond the ordinal capacity".into()));
            }
        }
        Ok(bitmap)
    }

    /// The bitmap over `capacity` ordinals with exactly the ordinals of `populated` set
    /// (ordinals at or beyond `capacity` are ignored).
    pub(crate) fn from_ordinals(capacity: u32, populated: impl IntoIterator<Item = u32>) -> Self {
        let mut bitmap = Self::empty(capacity);
        for o in populated.into_iter().filter(|o| *o < capacity) {
            bitmap.set(o, true);
        }
        bitmap
    }

    /// The section bytes: the words, little-endian.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_round_trips() {
        for capacity in [0u32, 1, 63, 64, 65, 200] {
            let ordinals: Vec<u32> = (0..capacity).filter(|o| o % 3 != 1).collect();
            let bitmap = PopulatedBitmap::from_ordinals(capacity, ordinals.iter().copied());
            let bytes = bitmap.to_bytes();
            assert_eq!(bytes.len(), bitmap_words(capacity) * 8);
            let back = PopulatedBitmap::from_bytes(&bytes, capacity, "b", "s").expect("decodes");
            assert_eq!(back.count(), ordinals.len() as u64);
            for o in 0..capacity + 64 {
                assert_eq!(back.contains(o), ordinals.contains(&o), "ordinal {o}");
            }
        }
        assert_eq!(
            PopulatedBitmap::from_ordinals(1, [0, 5]).to_bytes(),
            [1, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn bad_bitmaps_are_corrupt() {
        let bytes = PopulatedBitmap::from_ordinals(70, [0, 69]).to_bytes();
        for len in (0..bytes.len()).chain([bytes.len() + 8]) {
            let mut b = bytes.clone();
            b.resize(len, 0);
            assert!(matches!(
                PopulatedBitmap::from_bytes(&b, 70, "b", "s"),
                Err(OpenError::Corrupt { .. })
            ));
        }
        let mut beyond = bytes.clone();
        beyond[15] = 0x80; // ordinal 127, capacity 70
        assert!(matches!(
            PopulatedBitmap::from_bytes(&beyond, 70, "b", "s"),
            Err(OpenError::Corrupt { reason, .. }) if reason.contains("beyond")
        ));
    }
}
