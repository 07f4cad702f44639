//! The primary-key index: an open-addressing hash table of ordinals, read in place.
//!
//! Section bytes (docs/FORMAT.md, "Primary-key index"): `slot_count: u64`, `reserved: u64`,
//! then `slot_count` little-endian u64 slots. A slot is `(tag << 32) | (ordinal + 1)`, or 0 when
//! empty. The home slot of a key is `(hash * slot_count) >> 64` (the high half of a 128-bit
//! product), probing continues linearly with wrap-around, and `tag` is the low 32 bits of the
//! hash. `hash` is xxh3-64 of the key's canonical bytes. Table load is at most 3/4.

use crate::bytes::BlobBytes;

const HEADER_BYTES: usize = 16;

/// Home slot of `hash` in a table of `slots` slots.
#[inline]
fn home(hash: u64, slots: u64) -> u64 {
    u64::try_from((u128::from(hash) * u128::from(slots)) >> 64).unwrap_or(0)
}

#[inline]
fn tag(hash: u64) -> u64 {
    hash & 0xffff_ffff
}

/// Builds the index section over `(hash, ordinal)` pairs (ordinals < u32::MAX).
pub(crate) fn build_pk_index(entries: &[(u64, u32)]) -> Vec<u8> {
    let n = entries.len() as u64;
    let slots = (n * 4).div_ceil(3).max(8);
    let mut table = vec![0u64; usize::try_from(slots).unwrap_or(0)];
    for &(hash, ordinal) in entries {
        let mut pos = home(hash, slots);
        loop {
            let slot = &mut table[usize::try_from(pos).unwrap_or(0)];
            if *slot == 0 {
                *slot = (tag(hash) << 32) | (u64::from(ordinal) + 1);
                break;
            }
            pos += 1;
            if pos == slots {
                pos = 0;
            }
        }
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + table.len() * 8);
    out.extend_from_slice(&slots.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    for slot in table {
        out.extend_from_slice(&slot.to_le_bytes());
    }
    out
}

/// A read-only view of an index section.
#[derive(Debug, Clone)]
pub(crate) struct PrimaryKeyIndex {
    bytes: BlobBytes,
    slots: u64,
}

impl PrimaryKeyIndex {
    /// Wraps a verified section; `None` when its size does not match its slot count.
    pub(crate) fn new(bytes: BlobBytes) -> Option<Self> {
        let b = bytes.as_slice();
        let slots = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let reserved = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
        let expected = usize::try_from(slots)
            .ok()?
            .checked_mul(8)?
            .checked_add(HEADER_BYTES)?;
        (reserved == 0 && slots > 0 && expected == b.len()).then_some(Self { bytes, slots })
    }

    #[inline]
    fn slot(&self, pos: u64) -> u64 {
        let at = HEADER_BYTES + usize::try_from(pos).unwrap_or(usize::MAX - 16) * 8;
        match self.bytes.as_slice().get(at..at + 8) {
            Some(b) => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
            None => 0,
        }
    }

    /// Calls `confirm` with each candidate ordinal whose slot tag matches `hash`, in probe order,
    /// until it returns true; returns that ordinal.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut confirm: impl FnMut(u32) -> bool) -> Option<u32> {
        let want = tag(hash);
        let mut pos = home(hash, self.slots);
        // A well-formed table always has an empty slot; a corrupt full one ends after one lap.
        for _ in 0..self.slots {
            let slot = self.slot(pos);
            if slot == 0 {
                return None;
            }
            if slot >> 32 == want {
                let ordinal = u32::try_from((slot & 0xffff_ffff) - 1).unwrap_or(u32::MAX);
                if confirm(ordinal) {
                    return Some(ordinal);
                }
            }
            pos += 1;
            if pos == self.slots {
                pos = 0;
            }
        }
        None
    }

    /// Bytes of the section.
    pub(crate) fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_entry_and_confirms_through_collisions() {
        // Many entries sharing one hash: the index must hand every candidate to `confirm`.
        let mut entries: Vec<(u64, u32)> = (0..100u32)
            .map(|o| (u64::from(o).wrapping_mul(0x9e37_79b9_7f4a_7c15), o))
            .collect();
        entries.extend((100..110u32).map(|o| (42u64, o)));
        let idx =
            PrimaryKeyIndex::new(BlobBytes::from_vec(build_pk_index(&entries))).expect("valid");
        for &(hash, ordinal) in &entries {
            assert_eq!(idx.find(hash, |o| o == ordinal), Some(ordinal));
        }
        assert_eq!(idx.find(42, |_| false), None);
        let mut seen = Vec::new();
        idx.find(42, |o| {
            seen.push(o);
            false
        });
        assert_eq!(seen, (100..110).collect::<Vec<_>>());
    }

    #[test]
    fn empty_index_misses() {
        let idx = PrimaryKeyIndex::new(BlobBytes::from_vec(build_pk_index(&[]))).expect("valid");
        assert_eq!(idx.find(7, |_| true), None);
    }

    #[test]
    fn full_corrupt_table_terminates() {
        let mut bytes = build_pk_index(&[]);
        for b in &mut bytes[16..] {
            *b = 0xff;
        }
        let idx = PrimaryKeyIndex::new(BlobBytes::from_vec(bytes)).expect("size is valid");
        assert_eq!(idx.find(7, |_| false), None);
    }
}
