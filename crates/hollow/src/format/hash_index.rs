//! Secondary (unique and hash) indexes: an open-addressing table from key hash to a posting
//! list of ordinals, read in place.
//!
//! Section bytes (docs/FORMAT.md §13a): `slot_count: u64`, `postings_len: u64`, then
//! `slot_count` 8-byte slots `tag: u32, at: u32` (`at` 0: empty slot; high bit set: the slot's
//! only ordinal is the low 31 bits; else the posting list starts at byte `at − 1` of the
//! postings area), then the postings area of `postings_len`
//! bytes, zero-padded to a multiple of 8. A posting list is LEB128 varints: the count `n`, the
//! first ordinal, then `n − 1` gaps to the next ordinal (each ≥ 1): ordinals are strictly
//! ascending. `hash` is xxh3-64 of a key's canonical bytes and `tag` its low 32 bits; every
//! distinct hash has one slot, whose postings are the ordinals of the records having a key with
//! that hash. The home slot is `(hash * slot_count) >> 64` and probing is linear with
//! wrap-around; load is at most 3/4. Postings are candidates (a tag names several hashes now
//! and then): readers confirm each against its record, so a collision never returns a wrong
//! record.
//!
//! Index additions of a delta (kind 10): `(hash: u64, ordinal: u32, reserved: u32)` entries,
//! strictly ascending by hash then ordinal: the (key, record) pairs the delta's target state
//! has and its source state did not.

use crate::bytes::BlobBytes;

const HEADER_BYTES: usize = 16;
const SLOT_BYTES: usize = 8;
/// The high bit of a slot's `at`: the slot holds its only ordinal in the low 31 bits.
const INLINE: u32 = 1 << 31;

#[inline]
fn home(hash: u64, slots: u64) -> u64 {
    u64::try_from((u128::from(hash) * u128::from(slots)) >> 64).unwrap_or(0)
}

#[inline]
fn tag(hash: u64) -> u32 {
    u32::try_from(hash & 0xffff_ffff).unwrap_or(0)
}

fn push_varint(mut v: u32, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or(0));
}

/// Reads a varint from the front of `bytes`; `None` when truncated or over 32 bits.
#[inline]
fn take_varint(bytes: &mut &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        let part = u32::from(b & 0x7f);
        if shift == 28 && part > 0x0f {
            return None;
        }
        v |= part << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Builds an index section from `(hash, ordinal)` pairs (any order, duplicates allowed);
/// `None` when the postings would not fit 2 GiB.
pub(crate) fn build_hash_index(mut pairs: Vec<(u64, u32)>) -> Option<Vec<u8>> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut postings = Vec::with_capacity(pairs.len() * 2);
    // (hash, 1 + offset of its posting list)
    let mut groups: Vec<(u64, u32)> = Vec::new();
    let mut i = 0;
    while i < pairs.len() {
        let hash = pairs[i].0;
        let end = i + pairs[i..].partition_point(|(h, _)| *h == hash);
        // A single ordinal below 2^31 lives in the slot itself (unique keys: no second read).
        if end - i == 1 && pairs[i].1 < INLINE {
            groups.push((hash, INLINE | pairs[i].1));
            i = end;
            continue;
        }
        let at = u32::try_from(postings.len() + 1)
            .ok()
            .filter(|at| *at < INLINE)?;
        groups.push((hash, at));
        push_varint(u32::try_from(end - i).ok()?, &mut postings);
        let mut prev = None;
        for &(_, ordinal) in &pairs[i..end] {
            push_varint(prev.map_or(ordinal, |p| ordinal - p), &mut postings);
            prev = Some(ordinal);
        }
        i = end;
    }
    u32::try_from(postings.len()).ok()?;
    let slots = (groups.len() as u64 * 4).div_ceil(3).max(8);
    let mut table = vec![(0u32, 0u32); usize::try_from(slots).ok()?];
    for &(hash, at) in &groups {
        let mut pos = home(hash, slots);
        loop {
            let slot = &mut table[usize::try_from(pos).ok()?];
            if slot.1 == 0 {
                *slot = (tag(hash), at);
                break;
            }
            pos += 1;
            if pos == slots {
                pos = 0;
            }
        }
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + table.len() * SLOT_BYTES + postings.len() + 8);
    out.extend_from_slice(&slots.to_le_bytes());
    out.extend_from_slice(&(postings.len() as u64).to_le_bytes());
    for (t, at) in table {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
    }
    out.extend_from_slice(&postings);
    out.resize(out.len().next_multiple_of(8), 0);
    Some(out)
}

/// The tag of a key hash: its low 32 bits (slots and index additions keep tags, not hashes;
/// every candidate is confirmed against its record anyway).
#[inline]
pub(crate) fn hash_tag(hash: u64) -> u32 {
    tag(hash)
}

/// Encodes index additions from `(hash, ordinal)` pairs: 8-byte `(tag, ordinal)` entries,
/// sorted and deduplicated.
pub(crate) fn encode_additions(pairs: &[(u64, u32)]) -> Vec<u8> {
    let mut entries: Vec<(u32, u32)> = pairs.iter().map(|(h, o)| (tag(*h), *o)).collect();
    entries.sort_unstable();
    entries.dedup();
    let mut out = Vec::with_capacity(entries.len() * 8 + 4);
    for (t, ordinal) in entries {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&ordinal.to_le_bytes());
    }
    out
}

/// Decodes index additions to `(tag, ordinal)` pairs; `None` when malformed (a partial entry,
/// or entries not strictly ascending).
pub(crate) fn decode_additions(bytes: &[u8]) -> Option<Vec<(u32, u32)>> {
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    let pairs: Vec<(u32, u32)> = bytes
        .chunks_exact(8)
        .map(|e| {
            Some((
                u32::from_le_bytes(e[..4].try_into().ok()?),
                u32::from_le_bytes(e[4..8].try_into().ok()?),
            ))
        })
        .collect::<Option<_>>()?;
    pairs.windows(2).all(|w| w[0] < w[1]).then_some(pairs)
}

/// A read-only view of a secondary index section.
#[derive(Debug, Clone)]
pub(crate) struct HashIndex {
    bytes: BlobBytes,
    slots: u64,
    postings_len: usize,
}

impl HashIndex {
    /// Wraps a verified section; `None` when its size does not match its counts.
    pub(crate) fn new(bytes: BlobBytes) -> Option<Self> {
        let b = bytes.as_slice();
        let slots = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let postings_len =
            usize::try_from(u64::from_le_bytes(b.get(8..16)?.try_into().ok()?)).ok()?;
        let expected = usize::try_from(slots)
            .ok()?
            .checked_mul(SLOT_BYTES)?
            .checked_add(HEADER_BYTES)?
            .checked_add(postings_len)?
            .checked_next_multiple_of(8)?;
        (slots > 0 && expected == b.len()).then_some(Self {
            bytes,
            slots,
            postings_len,
        })
    }

    fn slot(&self, index: u64) -> (u32, u32) {
        let at = usize::try_from(index).unwrap_or(usize::MAX / 16) * SLOT_BYTES + HEADER_BYTES;
        match self.bytes.as_slice().get(at..at + SLOT_BYTES) {
            Some(s) => (
                u32::from_le_bytes(s[..4].try_into().unwrap_or([0; 4])),
                u32::from_le_bytes(s[4..8].try_into().unwrap_or([0; 4])),
            ),
            None => (0, 0),
        }
    }

    fn postings_area(&self) -> &[u8] {
        let start = HEADER_BYTES + usize::try_from(self.slots).unwrap_or(0) * SLOT_BYTES;
        self.bytes
            .as_slice()
            .get(start..start + self.postings_len)
            .unwrap_or(&[])
    }

    /// The candidates for `hash`, ascending: the posting list of its slot (of every slot with
    /// its tag, merged, in the rare case of several). A posting list that runs past the area
    /// or does not decode (a corrupt index) ends early.
    pub(crate) fn postings(&self, hash: u64) -> Postings<'_> {
        let want = tag(hash);
        let area = self.postings_area();
        // One matching slot is the rule; several (hashes sharing a tag on one probe path) are
        // merged into one ascending list.
        let mut first: Option<Postings<'_>> = None;
        let mut merged: Vec<u32> = Vec::new();
        let mut pos = home(hash, self.slots);
        for _ in 0..self.slots {
            let (t, at) = self.slot(pos);
            if at == 0 {
                break;
            }
            if t == want {
                let list = Postings::of_slot(area, at);
                match first.take() {
                    None if merged.is_empty() => first = Some(list),
                    None => merged.extend(list),
                    Some(earlier) => {
                        merged.extend(earlier);
                        merged.extend(list);
                    }
                }
            }
            pos += 1;
            if pos == self.slots {
                pos = 0;
            }
        }
        if merged.is_empty() {
            return first.unwrap_or_else(Postings::empty);
        }
        merged.sort_unstable();
        merged.dedup();
        Postings {
            inner: Inner::Merged(merged.into_iter()),
        }
    }

    /// Every occupied slot as `(tag, its posting list)`, in slot order: one slot per distinct
    /// key hash of the index (facets count records per key from these lists).
    pub(crate) fn slot_lists(&self) -> impl Iterator<Item = (u32, Postings<'_>)> + '_ {
        let area = self.postings_area();
        (0..self.slots).filter_map(move |i| {
            let (t, at) = self.slot(i);
            (at != 0).then(|| (t, Postings::of_slot(area, at)))
        })
    }

    /// An empty posting list.
    pub(crate) fn no_postings() -> Postings<'static> {
        Postings::empty()
    }
}

/// Ordinals of one lookup's posting list(s), ascending.
#[derive(Debug, Clone)]
pub(crate) struct Postings<'a> {
    inner: Inner<'a>,
}

#[derive(Debug, Clone)]
enum Inner<'a> {
    Single(Option<u32>),
    Encoded {
        bytes: &'a [u8],
        left: u32,
        prev: Option<u32>,
    },
    Merged(std::vec::IntoIter<u32>),
}

impl<'a> Postings<'a> {
    fn empty() -> Self {
        Self {
            inner: Inner::Encoded {
                bytes: &[],
                left: 0,
                prev: None,
            },
        }
    }

    /// The list a slot's `at` names: its inline ordinal, or the list at byte `at − 1`.
    fn of_slot(area: &'a [u8], at: u32) -> Self {
        if at & INLINE != 0 {
            return Self {
                inner: Inner::Single(Some(at & !INLINE)),
            };
        }
        Self::at(area, at as usize - 1)
    }

    fn at(area: &'a [u8], offset: usize) -> Self {
        let mut bytes = area.get(offset..).unwrap_or(&[]);
        let left = take_varint(&mut bytes).unwrap_or(0);
        Self {
            inner: Inner::Encoded {
                bytes,
                left,
                prev: None,
            },
        }
    }
}

impl Postings<'_> {
    /// How many ordinals the list declares (a corrupt list may end before).
    pub(crate) fn declared_len(&self) -> usize {
        match &self.inner {
            Inner::Single(o) => usize::from(o.is_some()),
            Inner::Encoded { left, .. } => *left as usize,
            Inner::Merged(it) => it.len(),
        }
    }
}

impl Iterator for Postings<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match &mut self.inner {
            Inner::Single(o) => o.take(),
            Inner::Merged(it) => it.next(),
            Inner::Encoded { bytes, left, prev } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                let v = take_varint(bytes);
                let next = match (*prev, v) {
                    (_, None) => None,
                    (None, Some(first)) => Some(first),
                    (Some(p), Some(gap)) if gap > 0 => p.checked_add(gap),
                    (Some(_), Some(_)) => None,
                };
                match next {
                    Some(o) => {
                        *prev = Some(o);
                        Some(o)
                    }
                    None => {
                        *left = 0;
                        None
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(pairs: Vec<(u64, u32)>) -> HashIndex {
        HashIndex::new(BlobBytes::from_vec(build_hash_index(pairs).expect("fits"))).expect("valid")
    }

    #[test]
    fn finds_every_posting_list_and_misses_absent_hashes() {
        let mut pairs = Vec::new();
        for o in 0..1000u32 {
            pairs.push((
                u64::from(o % 37).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                o * 1000,
            ));
            pairs.push((7, o)); // one big posting list
        }
        let idx = index(pairs);
        for k in 0..37u64 {
            let got: Vec<u32> = idx
                .postings(k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .collect();
            let want: Vec<u32> = (0..1000)
                .filter(|o| u64::from(*o) % 37 == k)
                .map(|o| o * 1000)
                .collect();
            assert_eq!(got, want);
        }
        assert_eq!(idx.postings(7).count(), 1000);
        assert_eq!(idx.postings(8).count(), 0);
    }

    #[test]
    fn hashes_sharing_a_tag_give_the_union_of_their_postings_in_order() {
        // Same tag (low 32 bits) and the same home slot (top bits): one probe meets both.
        let (a, b) = (0x0000_0001_dead_beef_u64, 0x1000_0000_dead_beef_u64);
        let idx = index(vec![(a, 5), (a, 9), (b, 7), (b, 1), (3, 4)]);
        assert_eq!(idx.postings(a).collect::<Vec<_>>(), [1, 5, 7, 9]);
        assert_eq!(idx.postings(b).collect::<Vec<_>>(), [1, 5, 7, 9]);
        assert_eq!(idx.postings(3).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn slot_lists_name_every_key_once_with_its_postings() {
        let idx = index(vec![(1, 7), (2, 8), (2, 9), (2, 12), (3, 5)]);
        let mut lists: Vec<(u32, usize, Vec<u32>)> = idx
            .slot_lists()
            .map(|(t, p)| (t, p.declared_len(), p.collect()))
            .collect();
        lists.sort_unstable();
        let mut want = vec![
            (tag(1), 1, vec![7]),
            (tag(2), 3, vec![8, 9, 12]),
            (tag(3), 1, vec![5]),
        ];
        want.sort_unstable();
        assert_eq!(lists, want);
    }

    #[test]
    fn single_ordinals_live_in_their_slot() {
        let bytes = build_hash_index(vec![(1, 7), (2, 8), (2, 9), (3, INLINE + 5)]).expect("fits");
        let idx = HashIndex::new(BlobBytes::from_vec(bytes)).expect("valid");
        assert_eq!(idx.postings(1).collect::<Vec<_>>(), [7]);
        assert_eq!(idx.postings(2).collect::<Vec<_>>(), [8, 9]);
        assert_eq!(
            idx.postings(3).collect::<Vec<_>>(),
            [INLINE + 5],
            "too big to inline"
        );
        // Only the lists of hash 2 and of the large ordinal use the postings area.
        assert!(idx.postings_area().len() < 12);
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u32::MAX - 1, u32::MAX] {
            let mut out = Vec::new();
            push_varint(v, &mut out);
            let mut bytes = out.as_slice();
            assert_eq!(take_varint(&mut bytes), Some(v));
            assert!(bytes.is_empty());
        }
        assert_eq!(take_varint(&mut &[0xff, 0xff, 0xff, 0xff, 0x1f][..]), None);
        assert_eq!(take_varint(&mut &[0x80][..]), None);
        let idx = index(vec![(1, 0), (1, u32::MAX - 1)]);
        assert_eq!(idx.postings(1).collect::<Vec<_>>(), [0, u32::MAX - 1]);
    }

    #[test]
    fn empty_index_and_bad_sizes() {
        let idx = index(Vec::new());
        assert_eq!(idx.postings(1).count(), 0);
        let mut bytes = build_hash_index(vec![(1, 1)]).expect("fits");
        bytes.extend_from_slice(&[0; 8]);
        assert!(HashIndex::new(BlobBytes::from_vec(bytes)).is_none());
    }

    #[test]
    fn corrupt_slots_and_postings_never_read_outside_and_end() {
        let mut bytes = build_hash_index(vec![(5, 1), (6, 2)]).expect("fits");
        for b in &mut bytes[16..16 + 8 * 8] {
            *b = 0xff;
        }
        let idx = HashIndex::new(BlobBytes::from_vec(bytes)).expect("sizes still agree");
        // Every slot now claims tag 0xffffffff and an inline ordinal: at most one candidate
        // (confirmation rejects it); other tags find nothing.
        assert!(idx.postings(u64::MAX).count() <= 1);
        assert_eq!(idx.postings(5).count(), 0);
        let mut bytes = build_hash_index(vec![(5, 1), (5, 2), (6, 2), (6, 3)]).expect("fits");
        for slot in 0..8 {
            let at = 16 + slot * 8 + 4;
            if bytes[at..at + 4] != [0; 4] {
                bytes[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
            }
        }
        let idx = HashIndex::new(BlobBytes::from_vec(bytes)).expect("sizes agree");
        assert_eq!(idx.postings(5).count(), 0, "a list beyond the area");
        // A posting list claiming more entries than its bytes hold ends at the area's end.
        let mut bytes = build_hash_index(vec![(5, 1), (5, 3)]).expect("fits");
        let area = 16 + 8 * 8;
        bytes[area] = 0x7f;
        let idx = HashIndex::new(BlobBytes::from_vec(bytes)).expect("sizes agree");
        assert!(idx.postings(5).count() <= 8);
    }

    #[test]
    fn additions_round_trip_as_tags_and_reject_bad_entries() {
        let bytes = encode_additions(&[(9, 1), (3, 2), (9, 1), (0xffff_ffff_0000_0009, 1)]);
        assert_eq!(bytes.len(), 16, "two distinct (tag, ordinal) entries");
        assert_eq!(decode_additions(&bytes), Some(vec![(3, 2), (9, 1)]));
        assert_eq!(decode_additions(&bytes[..7]), None);
        let mut unsorted = bytes[8..].to_vec();
        unsorted.extend_from_slice(&bytes[..8]);
        assert_eq!(decode_additions(&unsorted), None);
    }
}
