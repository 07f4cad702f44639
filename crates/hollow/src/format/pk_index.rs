//! The primary-key index: an open-addressing hash table of ordinals, read in place.
//!
//! Section bytes (docs/FORMAT.md, "Primary-key index"): `slot_count: u64`, `layout: u64`, then
//! `slot_count` slots. `hash` is xxh3-64 of the key's canonical bytes; the home slot of a key is
//! `(hash * slot_count) >> 64` (the high half of a 128-bit product) and probing continues
//! linearly with wrap-around. Table load is at most 3/4. Two slot layouts:
//!
//! - **tagged** (`layout` 0), for keys of variable or wide canonical bytes: 8-byte slots
//!   `(tag << 32) | (ordinal + 1)`, 0 when empty, `tag` = low 32 bits of `hash`. A matching tag
//!   is only a candidate: the reader confirms it against the record's key.
//! - **inline key** (`layout` 1), for keys whose canonical bytes are fixed and at most 8 bytes
//!   (integers, enums, bools, floats and small composites of them): 16-byte slots
//!   `key: u64` (the canonical bytes, zero-padded, little-endian), `ordinal + 1: u32` (0 when
//!   empty), `reserved: u32` (0). A lookup compares whole keys, so it never touches a record.

use crate::bytes::BlobBytes;

const HEADER_BYTES: usize = 16;
const LAYOUT_TAGGED: u64 = 0;
const LAYOUT_INLINE: u64 = 1;

/// One key of a type to index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexEntry {
    /// xxh3-64 of the canonical key bytes.
    pub(crate) hash: u64,
    /// The canonical key bytes as a zero-padded u64, when the type's keys are inline.
    pub(crate) inline_key: u64,
    /// The record's ordinal (< u32::MAX).
    pub(crate) ordinal: u32,
}

/// Home slot of `hash` in a table of `slots` slots.
#[inline]
fn home(hash: u64, slots: u64) -> u64 {
    u64::try_from((u128::from(hash) * u128::from(slots)) >> 64).unwrap_or(0)
}

#[inline]
fn tag(hash: u64) -> u64 {
    hash & 0xffff_ffff
}

/// Builds the index section; `inline` selects the inline-key layout.
pub(crate) fn build_pk_index(entries: &[IndexEntry], inline: bool) -> Vec<u8> {
    let n = entries.len() as u64;
    let slots = (n * 4).div_ceil(3).max(8);
    let width = if inline { 2 } else { 1 };
    let mut table = vec![0u64; usize::try_from(slots).unwrap_or(0) * width];
    for e in entries {
        let mut pos = home(e.hash, slots);
        loop {
            let at = usize::try_from(pos).unwrap_or(0) * width;
            let occupied = if inline {
                table[at + 1] != 0
            } else {
                table[at] != 0
            };
            if !occupied {
                if inline {
                    table[at] = e.inline_key;
                    table[at + 1] = u64::from(e.ordinal) + 1;
                } else {
                    table[at] = (tag(e.hash) << 32) | (u64::from(e.ordinal) + 1);
                }
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
    out.extend_from_slice(&(if inline { LAYOUT_INLINE } else { LAYOUT_TAGGED }).to_le_bytes());
    for slot in table {
        out.extend_from_slice(&slot.to_le_bytes());
    }
    out
}

/// Word `index` of the slot array of a section's bytes (0 beyond it).
#[inline]
fn slot_word(bytes: &[u8], index: usize) -> u64 {
    let at = index.saturating_mul(8).saturating_add(HEADER_BYTES);
    match bytes.get(at..at.saturating_add(8)) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        None => 0,
    }
}

/// A read-only view of an index section.
#[derive(Debug, Clone)]
pub(crate) struct PrimaryKeyIndex {
    bytes: BlobBytes,
    slots: u64,
    inline: bool,
}

impl PrimaryKeyIndex {
    /// Wraps a verified section; `None` when its size does not match its slot count and layout.
    pub(crate) fn new(bytes: BlobBytes) -> Option<Self> {
        let b = bytes.as_slice();
        let slots = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let layout = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
        let inline = match layout {
            LAYOUT_TAGGED => false,
            LAYOUT_INLINE => true,
            _ => return None,
        };
        let slot_bytes = if inline { 16 } else { 8 };
        let expected = usize::try_from(slots)
            .ok()?
            .checked_mul(slot_bytes)?
            .checked_add(HEADER_BYTES)?;
        (slots > 0 && expected == b.len()).then_some(Self {
            bytes,
            slots,
            inline,
        })
    }

    /// True for the inline-key layout.
    pub(crate) fn is_inline(&self) -> bool {
        self.inline
    }

    /// Loads the home slot of `hash` and returns its first word: a batched lookup touches the
    /// slots of a group of keys together (independent loads the CPU overlaps) before it probes
    /// any of them.
    #[inline]
    pub(crate) fn touch(&self, hash: u64) -> u64 {
        let width = if self.inline { 2 } else { 1 };
        let pos = usize::try_from(home(hash, self.slots)).unwrap_or(0) * width;
        slot_word(self.bytes.as_slice(), pos)
    }

    /// Finds the ordinal of a key. Inline layout: compares `inline_key` with each slot's key.
    /// Tagged layout: calls `confirm` with each candidate whose tag matches, in probe order,
    /// until it returns true.
    #[inline]
    pub(crate) fn find(
        &self,
        hash: u64,
        inline_key: u64,
        mut confirm: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        // The section's bytes once per lookup (not per slot): `new` checked their length.
        let bytes = self.bytes.as_slice();
        let want = tag(hash);
        let mut pos = home(hash, self.slots);
        // A well-formed table always has an empty slot; a corrupt full one ends after one lap.
        for _ in 0..self.slots {
            let at = usize::try_from(pos).unwrap_or(usize::MAX / 16);
            if self.inline {
                let entry = slot_word(bytes, at * 2 + 1);
                if entry == 0 {
                    return None;
                }
                if slot_word(bytes, at * 2) == inline_key {
                    return u32::try_from(entry - 1).ok();
                }
            } else {
                let slot = slot_word(bytes, at);
                if slot == 0 {
                    return None;
                }
                // A zero ordinal field under a non-zero tag is malformed: never a candidate.
                let candidate = (slot & 0xffff_ffff)
                    .checked_sub(1)
                    .and_then(|o| u32::try_from(o).ok());
                if let Some(ordinal) = candidate.filter(|_| slot >> 32 == want)
                    && confirm(ordinal)
                {
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

    fn entry(hash: u64, ordinal: u32) -> IndexEntry {
        IndexEntry {
            hash,
            inline_key: u64::from(ordinal) * 3,
            ordinal,
        }
    }

    #[test]
    fn tagged_finds_every_entry_and_confirms_through_collisions() {
        // Many entries sharing one hash: the index must hand every candidate to `confirm`.
        let mut entries: Vec<IndexEntry> = (0..100u32)
            .map(|o| entry(u64::from(o).wrapping_mul(0x9e37_79b9_7f4a_7c15), o))
            .collect();
        entries.extend((100..110u32).map(|o| entry(42, o)));
        let idx = PrimaryKeyIndex::new(BlobBytes::from_vec(build_pk_index(&entries, false)))
            .expect("valid");
        assert!(!idx.is_inline());
        for e in &entries {
            assert_eq!(idx.find(e.hash, 0, |o| o == e.ordinal), Some(e.ordinal));
        }
        assert_eq!(idx.find(42, 0, |_| false), None);
        let mut seen = Vec::new();
        idx.find(42, 0, |o| {
            seen.push(o);
            false
        });
        assert_eq!(seen, (100..110).collect::<Vec<_>>());
    }

    #[test]
    fn inline_compares_whole_keys_even_when_hashes_collide() {
        let entries: Vec<IndexEntry> = (0..50u32).map(|o| entry(7, o)).collect();
        let idx = PrimaryKeyIndex::new(BlobBytes::from_vec(build_pk_index(&entries, true)))
            .expect("valid");
        assert!(idx.is_inline());
        for e in &entries {
            assert_eq!(
                idx.find(7, e.inline_key, |_| panic!("inline lookups never confirm")),
                Some(e.ordinal)
            );
        }
        assert_eq!(idx.find(7, 1, |_| true), None, "3 * o never equals 1");
    }

    #[test]
    fn empty_index_misses_and_bad_layouts_are_refused() {
        let idx =
            PrimaryKeyIndex::new(BlobBytes::from_vec(build_pk_index(&[], false))).expect("valid");
        assert_eq!(idx.find(7, 0, |_| true), None);
        let mut bytes = build_pk_index(&[], false);
        bytes[8] = 9;
        assert!(PrimaryKeyIndex::new(BlobBytes::from_vec(bytes)).is_none());
    }

    #[test]
    fn full_corrupt_table_terminates() {
        for inline in [false, true] {
            let mut bytes = build_pk_index(&[], inline);
            for b in &mut bytes[16..] {
                *b = 0xff;
            }
            let idx = PrimaryKeyIndex::new(BlobBytes::from_vec(bytes)).expect("size is valid");
            assert_eq!(idx.find(7, 0, |_| false), None);
        }
    }
}
