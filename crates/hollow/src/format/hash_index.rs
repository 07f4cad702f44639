//! Secondary (unique and hash) indexes: an open-addressing table from key hash to a posting
//! list of ordinals, read in place.
//!
//! Section bytes (docs/FORMAT.md, "Secondary index"): `slot_count: u64`, `posting_count: u64`,
//! then `slot_count` 16-byte slots `hash: u64, start: u32, len: u32` (`len` 0: empty slot), then
//! `posting_count` ordinals (`u32`, ascending within a slot), zero-padded to a multiple of 8
//! bytes. `hash` is xxh3-64 of a key's canonical bytes; every distinct hash has one slot, whose
//! postings are the ordinals of the records having a key with that hash. The home slot is
//! `(hash * slot_count) >> 64` and probing is linear with wrap-around; load is at most 3/4.
//! Postings are candidates: readers confirm each against its record, so a hash collision never
//! returns a wrong record.
//!
//! Index additions of a delta (kind 10): `(hash: u64, ordinal: u32, reserved: u32)` entries,
//! sorted by hash then ordinal: the (key, record) pairs the delta's target state has and its
//! source state did not.

use crate::bytes::BlobBytes;

const HEADER_BYTES: usize = 16;
const SLOT_BYTES: usize = 16;

#[inline]
fn home(hash: u64, slots: u64) -> u64 {
    u64::try_from((u128::from(hash) * u128::from(slots)) >> 64).unwrap_or(0)
}

/// Builds an index section from `(hash, ordinal)` pairs (any order, duplicates allowed).
pub(crate) fn build_hash_index(mut pairs: Vec<(u64, u32)>) -> Vec<u8> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut groups: Vec<(u64, u32, u32)> = Vec::new();
    for (i, (hash, _)) in pairs.iter().enumerate() {
        match groups.last_mut() {
            Some((h, _, len)) if h == hash => *len += 1,
            _ => groups.push((*hash, u32::try_from(i).unwrap_or(u32::MAX), 1)),
        }
    }
    let slots = (groups.len() as u64 * 4).div_ceil(3).max(8);
    let mut table = vec![(0u64, 0u32, 0u32); usize::try_from(slots).unwrap_or(0)];
    for g in &groups {
        let mut pos = home(g.0, slots);
        loop {
            let at = usize::try_from(pos).unwrap_or(0);
            if table[at].2 == 0 {
                table[at] = *g;
                break;
            }
            pos += 1;
            if pos == slots {
                pos = 0;
            }
        }
    }
    let postings = pairs.len();
    let mut out = Vec::with_capacity(HEADER_BYTES + table.len() * SLOT_BYTES + postings * 4 + 4);
    out.extend_from_slice(&slots.to_le_bytes());
    out.extend_from_slice(&(postings as u64).to_le_bytes());
    for (hash, start, len) in table {
        out.extend_from_slice(&hash.to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
    }
    for (_, ordinal) in &pairs {
        out.extend_from_slice(&ordinal.to_le_bytes());
    }
    out.resize(out.len().next_multiple_of(8), 0);
    out
}

/// Encodes index additions: `(hash, ordinal)` pairs, sorted and deduplicated.
pub(crate) fn encode_additions(mut pairs: Vec<(u64, u32)>) -> Vec<u8> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut out = Vec::with_capacity(pairs.len() * 16);
    for (hash, ordinal) in pairs {
        out.extend_from_slice(&hash.to_le_bytes());
        out.extend_from_slice(&ordinal.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
    }
    out
}

/// Decodes index additions; `None` when malformed (a partial entry, reserved bits set, or
/// entries not strictly ascending).
pub(crate) fn decode_additions(bytes: &[u8]) -> Option<Vec<(u64, u32)>> {
    if !bytes.len().is_multiple_of(16) {
        return None;
    }
    let pairs: Vec<(u64, u32)> = bytes
        .chunks_exact(16)
        .map(|e| {
            let hash = u64::from_le_bytes(e[..8].try_into().ok()?);
            let ordinal = u32::from_le_bytes(e[8..12].try_into().ok()?);
            let reserved = u32::from_le_bytes(e[12..16].try_into().ok()?);
            (reserved == 0).then_some((hash, ordinal))
        })
        .collect::<Option<_>>()?;
    pairs.windows(2).all(|w| w[0] < w[1]).then_some(pairs)
}

/// A read-only view of a secondary index section.
#[derive(Debug, Clone)]
pub(crate) struct HashIndex {
    bytes: BlobBytes,
    slots: u64,
    postings: u64,
}

impl HashIndex {
    /// Wraps a verified section; `None` when its size does not match its counts.
    pub(crate) fn new(bytes: BlobBytes) -> Option<Self> {
        let b = bytes.as_slice();
        let slots = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let postings = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
        let expected = usize::try_from(slots)
            .ok()?
            .checked_mul(SLOT_BYTES)?
            .checked_add(HEADER_BYTES)?
            .checked_add(usize::try_from(postings).ok()?.checked_mul(4)?)?
            .next_multiple_of(8);
        (slots > 0 && expected == b.len()).then_some(Self {
            bytes,
            slots,
            postings,
        })
    }

    fn slot(&self, index: u64) -> (u64, u32, u32) {
        let at = usize::try_from(index).unwrap_or(usize::MAX / 32) * SLOT_BYTES + HEADER_BYTES;
        match self.bytes.as_slice().get(at..at + SLOT_BYTES) {
            Some(s) => (
                u64::from_le_bytes(s[..8].try_into().unwrap_or([0; 8])),
                u32::from_le_bytes(s[8..12].try_into().unwrap_or([0; 4])),
                u32::from_le_bytes(s[12..16].try_into().unwrap_or([0; 4])),
            ),
            None => (0, 0, 0),
        }
    }

    /// The postings of `hash` (candidates, ascending), empty when absent. A slot whose
    /// postings lie outside the section (a corrupt index) gives none.
    pub(crate) fn postings(&self, hash: u64) -> Postings<'_> {
        let mut pos = home(hash, self.slots);
        for _ in 0..self.slots {
            let (h, start, len) = self.slot(pos);
            if len == 0 {
                break;
            }
            if h == hash {
                let end = u64::from(start) + u64::from(len);
                if end > self.postings {
                    break;
                }
                let base = HEADER_BYTES
                    + usize::try_from(self.slots).unwrap_or(0) * SLOT_BYTES
                    + start as usize * 4;
                if let Some(bytes) = self.bytes.as_slice().get(base..base + len as usize * 4) {
                    return Postings { bytes };
                }
                break;
            }
            pos += 1;
            if pos == self.slots {
                pos = 0;
            }
        }
        Postings { bytes: &[] }
    }

    /// An empty posting list.
    pub(crate) fn no_postings() -> Postings<'static> {
        Postings { bytes: &[] }
    }
}

/// Ordinals of one slot.
#[derive(Debug, Clone)]
pub(crate) struct Postings<'a> {
    bytes: &'a [u8],
}

impl Postings<'_> {
    /// Number of candidates.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() / 4
    }
}

impl Iterator for Postings<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        let (head, tail) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = tail;
        Some(u32::from_le_bytes(*head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_posting_list_and_misses_absent_hashes() {
        let mut pairs = Vec::new();
        for o in 0..1000u32 {
            pairs.push((u64::from(o % 37).wrapping_mul(0x9e37_79b9_7f4a_7c15), o));
            pairs.push((7, o)); // one big posting list
        }
        let idx = HashIndex::new(BlobBytes::from_vec(build_hash_index(pairs))).expect("valid");
        for k in 0..37u64 {
            let got: Vec<u32> = idx
                .postings(k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .collect();
            let want: Vec<u32> = (0..1000).filter(|o| u64::from(*o) % 37 == k).collect();
            assert_eq!(got, want);
        }
        assert_eq!(idx.postings(7).len(), 1000);
        assert_eq!(idx.postings(8).count(), 0);
    }

    #[test]
    fn empty_index_and_bad_sizes() {
        let idx = HashIndex::new(BlobBytes::from_vec(build_hash_index(Vec::new()))).expect("valid");
        assert_eq!(idx.postings(1).count(), 0);
        let mut bytes = build_hash_index(vec![(1, 1)]);
        bytes.extend_from_slice(&[0; 8]);
        assert!(HashIndex::new(BlobBytes::from_vec(bytes)).is_none());
    }

    #[test]
    fn corrupt_slots_never_read_outside_and_full_tables_end() {
        let mut bytes = build_hash_index(vec![(5, 1), (6, 2)]);
        for b in &mut bytes[16..16 + 8 * 16] {
            *b = 0xff;
        }
        let idx = HashIndex::new(BlobBytes::from_vec(bytes)).expect("sizes still agree");
        assert_eq!(
            idx.postings(u64::MAX).count(),
            0,
            "postings beyond the section"
        );
        assert_eq!(idx.postings(5).count(), 0);
    }

    #[test]
    fn additions_round_trip_and_reject_reserved_bits() {
        let bytes = encode_additions(vec![(9, 1), (3, 2), (9, 1)]);
        assert_eq!(decode_additions(&bytes), Some(vec![(3, 2), (9, 1)]));
        let mut bad = bytes.clone();
        bad[12] = 1;
        assert_eq!(decode_additions(&bad), None);
        assert_eq!(decode_additions(&bytes[..15]), None);
        let mut unsorted = bytes[16..].to_vec();
        unsorted.extend_from_slice(&bytes[..16]);
        assert_eq!(decode_additions(&unsorted), None);
    }
}
