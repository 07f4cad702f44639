//! The ordinal → record mapping of a state with deltas overlaid: one flat, page-granular,
//! copy-on-write level over the snapshot (DESIGN.md, decision 4).
//!
//! Ordinals are grouped in blocks of 64 (one populated word) and blocks in chunks of 64
//! (4096 ordinals). A block holds two words: `populated` (the state's populated bits) and
//! `changed` (the ordinals whose record no longer is the snapshot's). A read takes the chunk
//! (a pointer in a small table that stays in cache), then one 16-byte block — the same one
//! cache line a fresh snapshot's populated-bitmap probe costs — and, when the ordinal is not
//! changed, reads the snapshot's record exactly as a fresh snapshot does. A changed ordinal
//! finds its record's location by rank in the chunk's `locs` (`starts[block]` + the changed
//! bits below it): one more load. There is never a chain of deltas to walk: however many
//! deltas were applied, a read is one level deep.
//!
//! A location also says whether the record still has the key the snapshot's record at that
//! ordinal had ([`REKEYED`] clear): only then may a primary-key lookup trust the snapshot's
//! index entry for the ordinal. The flag is derived when a record is placed, never kept
//! beside the map: an ordinal that was empty before the delta (removed, never populated,
//! dropped by a shrinking capacity) or whose key the delta adds gets it; a record updated in
//! place (populated before, no key change) inherits its predecessor's. So however an ordinal's
//! key moved — removed, re-added at a new ordinal or at its old one, capacity shrunk and grown
//! back, forward or reverse deltas — a clear flag means "the snapshot's key is here".
//!
//! Applying a delta copies only the chunks it touches (their 1 KiB of blocks and their
//! locations, merged in one ordered pass); untouched chunks are shared with the state it was
//! derived from, which is never modified, so readers holding that state keep reading it.

use std::sync::Arc;

/// log2 of the ordinals of a chunk.
pub(crate) const CHUNK_BITS: u32 = 12;
const BLOCKS: usize = 1 << (CHUNK_BITS - 6);

/// Location flag: the record's key is not (or may not be) the key of the snapshot's record at
/// the same ordinal.
pub(crate) const REKEYED: u64 = 1 << 63;

/// The delta (its index among the overlay's sources) a location points into.
#[inline]
pub(crate) fn loc_source(loc: u64) -> usize {
    ((loc & !REKEYED) >> 32) as usize
}

/// The record's index among its delta's upserted records.
#[inline]
pub(crate) fn loc_index(loc: u64) -> usize {
    (loc & 0xffff_ffff) as usize
}

/// Populated and changed bits of 64 ordinals.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub(crate) struct Block {
    /// Bit `i`: ordinal `64 k + i` holds a record.
    pub(crate) populated: u64,
    /// Bit `i`: the record of ordinal `64 k + i` is not the snapshot's (it has a location).
    pub(crate) changed: u64,
}

/// 4096 ordinals: their blocks and the locations of their changed records.
#[derive(Clone)]
struct Chunk {
    blocks: [Block; BLOCKS],
    /// Index in `locs` of the first changed ordinal of each block.
    starts: [u16; BLOCKS],
    /// Locations of the changed records, in ordinal order.
    locs: Box<[u64]>,
}

impl Chunk {
    fn empty() -> Self {
        Self {
            blocks: [Block::default(); BLOCKS],
            starts: [0; BLOCKS],
            locs: Box::new([]),
        }
    }

    fn populated_count(&self) -> u64 {
        self.blocks
            .iter()
            .map(|b| u64::from(b.populated.count_ones()))
            .sum()
    }

    /// This chunk with `removed` emptied and `upserted` filled (both strictly ascending, all in
    /// this chunk), `upserted[k]` at location `source << 32 | (first_index + k)` (with
    /// [`REKEYED`] when the ordinal was empty before, is in `rekeyed`, or its predecessor had
    /// it), and every ordinal at or beyond `limit` dropped. `first_ordinal` is the chunk's
    /// first ordinal.
    #[allow(clippy::too_many_arguments)]
    fn rebuild(
        &self,
        first_ordinal: u32,
        removed: &[u32],
        upserted: &[u32],
        rekeyed: &[u32],
        first_index: u32,
        source: u32,
        limit: u32,
    ) -> Result<Self, String> {
        let mut blocks = self.blocks;
        for &o in removed {
            let (b, bit) = place(o);
            let block = blocks.get_mut(b).ok_or("ordinal outside its chunk")?;
            if block.populated & bit == 0 {
                return Err(format!("removes empty ordinal {o}"));
            }
            block.populated &= !bit;
            block.changed &= !bit;
        }
        // What stays populated through the removals: an upsert there updates a record in place.
        let kept = blocks;
        for &o in upserted {
            if o >= limit {
                return Err(format!("upserts ordinal {o} beyond capacity {limit}"));
            }
            let (b, bit) = place(o);
            let block = blocks.get_mut(b).ok_or("ordinal outside its chunk")?;
            block.populated |= bit;
            block.changed |= bit;
        }
        // Ordinals at or beyond the capacity are dropped (a shrinking delta).
        for (i, block) in (0u32..).zip(blocks.iter_mut()) {
            let start = first_ordinal + i * 64;
            let keep = match limit.checked_sub(start) {
                Some(n) if n >= 64 => u64::MAX,
                Some(n) => (1u64 << n) - 1,
                None => 0,
            };
            block.populated &= keep;
            block.changed &= keep;
        }
        let changed: usize = blocks.iter().map(|b| b.changed.count_ones() as usize).sum();
        let mut locs = Vec::with_capacity(changed);
        let mut starts = [0u16; BLOCKS];
        // Block by block: the old locations are copied in runs between the delta's ordinals
        // (a block the delta does not touch in one copy), so the work is the delta's ordinals
        // plus a memcpy of the chunk's locations, not a walk over every changed bit.
        let (mut old_start, mut r, mut u, mut k) = (0usize, 0usize, 0usize, 0usize);
        for (b, ((old, new), kept)) in self
            .blocks
            .iter()
            .zip(blocks.iter())
            .zip(kept.iter())
            .enumerate()
        {
            let block_start = locs.len();
            if let Some(s) = starts.get_mut(b) {
                *s = u16::try_from(block_start).map_err(|_| "too many changed ordinals")?;
            }
            let old_count = old.changed.count_ones() as usize;
            let old_locs = self
                .locs
                .get(old_start..old_start + old_count)
                .ok_or("a changed ordinal without a location")?;
            old_start += old_count;
            let end = first_ordinal + (u32::try_from(b).unwrap_or(0) + 1) * 64;
            let r_end = r + removed[r..].partition_point(|o| *o < end);
            let u_end = u + upserted[u..].partition_point(|o| *o < end);
            let mut copied = 0usize;
            while r < r_end || u < u_end {
                let o = match (
                    removed.get(r).filter(|_| r < r_end),
                    upserted.get(u).filter(|_| u < u_end),
                ) {
                    (Some(&x), Some(&y)) => x.min(y),
                    (Some(&x), None) => x,
                    (None, Some(&y)) => y,
                    (None, None) => break,
                };
                if removed.get(r) == Some(&o) {
                    r += 1;
                }
                let bit = 1u64 << (o & 63);
                let rank = (old.changed & (bit - 1)).count_ones() as usize;
                locs.extend_from_slice(old_locs.get(copied..rank).ok_or("locations out of order")?);
                copied = rank;
                let old_loc = if old.changed & bit != 0 {
                    copied += 1;
                    old_locs.get(rank).copied()
                } else {
                    None
                };
                if upserted.get(u) != Some(&o) {
                    continue;
                }
                let index = first_index + u32::try_from(u).map_err(|_| "too many upserts")?;
                u += 1;
                while rekeyed.get(k).is_some_and(|x| *x < o) {
                    k += 1;
                }
                // In place: populated before, no key change, and the predecessor (the
                // snapshot's record when it had no location) had the snapshot's key.
                let in_place = kept.populated & bit != 0
                    && rekeyed.get(k) != Some(&o)
                    && old_loc.is_none_or(|l| l & REKEYED == 0);
                let flag = if in_place { 0 } else { REKEYED };
                locs.push(flag | (u64::from(source) << 32) | u64::from(index));
            }
            locs.extend_from_slice(old_locs.get(copied..).unwrap_or(&[]));
            // Ordinals beyond the capacity are the block's last: their locations go too.
            locs.truncate(block_start + new.changed.count_ones() as usize);
        }
        if locs.len() != changed {
            return Err("changed ordinals and locations disagree".into());
        }
        Ok(Self {
            blocks,
            starts,
            locs: locs.into_boxed_slice(),
        })
    }
}

/// Block index in its chunk and bit of ordinal `o`.
#[inline]
fn place(o: u32) -> (usize, u64) {
    (((o >> 6) as usize) & (BLOCKS - 1), 1u64 << (o & 63))
}

/// Where the record of an ordinal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The ordinal holds no record.
    Empty,
    /// The snapshot's record, unchanged.
    Base,
    /// A record a delta brought: `source << 32 | index in that delta's upserted records`, with
    /// [`REKEYED`] when its key may not be the snapshot's at this ordinal.
    Changed(u64),
}

/// The populated ordinals of a type and where each one's record is (see the module docs).
#[derive(Clone)]
pub(crate) struct RecordMap {
    chunks: Vec<Arc<Chunk>>,
    capacity: u32,
    count: u64,
}

impl RecordMap {
    /// The map of a snapshot: its populated words, nothing changed.
    pub(crate) fn from_base(capacity: u32, word: impl Fn(usize) -> u64) -> Self {
        let chunk_count = (capacity as usize).div_ceil(1 << CHUNK_BITS);
        let mut chunks = Vec::with_capacity(chunk_count);
        let mut count = 0u64;
        for c in 0..chunk_count {
            let mut chunk = Chunk::empty();
            for (b, block) in chunk.blocks.iter_mut().enumerate() {
                block.populated = word(c * BLOCKS + b);
                count += u64::from(block.populated.count_ones());
            }
            chunks.push(Arc::new(chunk));
        }
        Self {
            chunks,
            capacity,
            count,
        }
    }

    /// Populated ordinals.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Where the record of `ordinal` is.
    #[inline]
    pub(crate) fn slot(&self, ordinal: u32) -> Slot {
        let Some(chunk) = self.chunks.get((ordinal >> CHUNK_BITS) as usize) else {
            return Slot::Empty;
        };
        let (b, bit) = place(ordinal);
        let Some(block) = chunk.blocks.get(b) else {
            return Slot::Empty;
        };
        if block.populated & bit == 0 {
            Slot::Empty
        } else if block.changed & bit == 0 {
            Slot::Base
        } else {
            let start = chunk.starts.get(b).copied().unwrap_or(0) as usize;
            let rank = (block.changed & (bit - 1)).count_ones() as usize;
            chunk
                .locs
                .get(start + rank)
                .map_or(Slot::Empty, |l| Slot::Changed(*l))
        }
    }

    /// True when `ordinal` is populated.
    #[inline]
    pub(crate) fn contains(&self, ordinal: u32) -> bool {
        self.slot(ordinal) != Slot::Empty
    }

    /// Block `i` (ordinals `64 i .. 64 i + 63`); empty beyond the end.
    #[cfg(test)]
    pub(crate) fn block(&self, i: usize) -> Block {
        self.chunks
            .get(i / BLOCKS)
            .and_then(|c| c.blocks.get(i % BLOCKS))
            .copied()
            .unwrap_or_default()
    }

    /// Block `i` with the locations of its changed records, in ordinal order.
    #[inline]
    pub(crate) fn block_with_locs(&self, i: usize) -> (Block, &[u64]) {
        let Some(chunk) = self.chunks.get(i / BLOCKS) else {
            return (Block::default(), &[]);
        };
        let b = i % BLOCKS;
        let block = chunk.blocks.get(b).copied().unwrap_or_default();
        let start = chunk.starts.get(b).copied().unwrap_or(0) as usize;
        let end = start + block.changed.count_ones() as usize;
        (block, chunk.locs.get(start..end).unwrap_or(&[]))
    }

    /// Number of blocks.
    pub(crate) fn block_count(&self) -> usize {
        (self.capacity as usize).div_ceil(64)
    }

    /// The map after a delta that empties `removed` and fills `upserted` (both strictly
    /// ascending; `upserted[k]`'s record at location `source << 32 | k`), with `capacity`
    /// ordinals. `rekeyed` (ascending) lists the ordinals whose key the delta adds (its added
    /// key changes); their records, and those placed in ordinals that were empty, get
    /// [`REKEYED`]. Copies only the chunks the delta touches (and the last one when the
    /// capacity shrinks into it).
    pub(crate) fn apply(
        &self,
        removed: &[u32],
        upserted: &[u32],
        rekeyed: &[u32],
        source: u32,
        capacity: u32,
    ) -> Result<Self, String> {
        let ascending = |v: &[u32]| v.windows(2).all(|w| w[0] < w[1]);
        if !ascending(removed) || !ascending(upserted) || !ascending(rekeyed) {
            return Err("ordinals are not strictly ascending".into());
        }
        if source > u32::from(u16::MAX) {
            return Err(format!("location source {source} out of range"));
        }
        if let Some(&o) = removed.iter().find(|o| **o >= self.capacity) {
            return Err(format!("removes empty ordinal {o}"));
        }
        let grown = capacity.max(self.capacity);
        let mut chunks = self.chunks.clone();
        let wanted = (grown as usize).div_ceil(1 << CHUNK_BITS);
        if chunks.len() < wanted {
            let empty = Arc::new(Chunk::empty());
            chunks.resize_with(wanted, || Arc::clone(&empty));
        }
        let mut count = self.count;
        let (mut r, mut u, mut k) = (0usize, 0usize, 0usize);
        let chunk_of = |o: &u32| (o >> CHUNK_BITS) as usize;
        loop {
            let next = [removed.get(r).map(chunk_of), upserted.get(u).map(chunk_of)]
                .into_iter()
                .flatten()
                .min();
            let Some(c) = next else { break };
            let r_end = r + removed[r..].partition_point(|o| chunk_of(o) <= c);
            let u_end = u + upserted[u..].partition_point(|o| chunk_of(o) <= c);
            k += rekeyed[k..].partition_point(|o| chunk_of(o) < c);
            let k_end = k + rekeyed[k..].partition_point(|o| chunk_of(o) <= c);
            let old = chunks.get(c).ok_or("ordinal beyond the capacity")?;
            let first = u32::try_from(c << CHUNK_BITS).map_err(|_| "ordinal overflow")?;
            let first_index = u32::try_from(u).map_err(|_| "too many upserts")?;
            let new = old.rebuild(
                first,
                &removed[r..r_end],
                &upserted[u..u_end],
                &rekeyed[k..k_end],
                first_index,
                source,
                grown,
            )?;
            count = count - old.populated_count() + new.populated_count();
            if let Some(slot) = chunks.get_mut(c) {
                *slot = Arc::new(new);
            }
            (r, u, k) = (r_end, u_end, k_end);
        }
        // Shrinking: drop whole chunks beyond the capacity, then what the last one holds beyond.
        chunks.truncate((capacity as usize).div_ceil(1 << CHUNK_BITS));
        let mut map = Self {
            chunks,
            capacity: grown,
            count,
        };
        if capacity < grown {
            // What the last chunk holds beyond the capacity is dropped (a producer empties
            // those ordinals first; the record count check catches one that did not).
            let first = u32::try_from(map.chunks.len().saturating_sub(1) << CHUNK_BITS)
                .map_err(|_| "ordinal overflow")?;
            if !capacity.is_multiple_of(1 << CHUNK_BITS)
                && let Some(last) = map.chunks.last_mut()
            {
                *last = Arc::new(last.rebuild(first, &[], &[], &[], 0, source, capacity)?);
            }
            map.count = map.chunks.iter().map(|c| c.populated_count()).sum();
            map.capacity = capacity;
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The model: per ordinal, `None` or `Some(None)` (the snapshot's record) or
    /// `Some(Some(loc))`.
    type Model = Vec<Option<Option<u64>>>;

    fn check(map: &RecordMap, model: &Model) {
        for (o, want) in (0u32..).zip(model.iter()) {
            let got = match map.slot(o) {
                Slot::Empty => None,
                Slot::Base => Some(None),
                Slot::Changed(l) => Some(Some(l)),
            };
            assert_eq!(got, *want, "ordinal {o}");
        }
        let cap = u32::try_from(model.len()).unwrap_or(0);
        for o in cap..cap + 5000 {
            assert_eq!(map.slot(o), Slot::Empty, "ordinal {o} beyond the capacity");
        }
        let populated = u64::try_from(model.iter().filter(|m| m.is_some()).count()).expect("small");
        assert_eq!(map.count(), populated);
        let from_blocks: u64 = (0..map.block_count())
            .map(|i| u64::from(map.block(i).populated.count_ones()))
            .sum();
        // Block by block, as `iter()` reads: the k-th changed bit has the k-th location.
        for i in 0..map.block_count() {
            let (block, locs) = map.block_with_locs(i);
            assert_eq!(block, map.block(i));
            let mut bits = block.changed;
            for loc in locs {
                let o = u32::try_from(i * 64).unwrap_or(0) + bits.trailing_zeros();
                assert_eq!(map.slot(o), Slot::Changed(*loc), "ordinal {o}");
                bits &= bits - 1;
            }
            assert_eq!(bits, 0, "block {i}: a changed bit without a location");
        }
        assert_eq!(from_blocks, populated);
    }

    fn base(capacity: u32, populated: impl Fn(u32) -> bool) -> (RecordMap, Model) {
        let model: Model = (0..capacity)
            .map(|o| populated(o).then_some(None))
            .collect();
        let map = RecordMap::from_base(capacity, |w| {
            (0..64u32)
                .filter(|i| {
                    let o = u32::try_from(w * 64).unwrap_or(u32::MAX).saturating_add(*i);
                    o < capacity && populated(o)
                })
                .fold(0u64, |acc, i| acc | (1 << i))
        });
        (map, model)
    }

    #[test]
    fn a_fresh_map_reads_the_snapshot_and_a_delta_copies_only_its_chunks() {
        let (map, mut model) = base(10_000, |o| o % 3 != 0);
        check(&map, &model);
        let removed = [1u32, 2, 4097];
        let upserted = [0u32, 2, 3, 5000];
        let next = map
            .apply(&removed, &upserted, &[], 1, 10_000)
            .expect("applies");
        for o in removed {
            model[o as usize] = None;
        }
        for (k, o) in upserted.iter().enumerate() {
            // 5000 was populated (updated in place); 0 and 3 were empty and 2 is removed by the
            // same delta (rekeyed).
            let flag = if *o == 5000 { 0 } else { REKEYED };
            model[*o as usize] = Some(Some(flag | (1 << 32) | u64::try_from(k).expect("small")));
        }
        check(&next, &model);
        // Chunk 2 (ordinals 8192..) was not touched: shared.
        assert!(Arc::ptr_eq(&map.chunks[2], &next.chunks[2]));
        assert!(!Arc::ptr_eq(&map.chunks[0], &next.chunks[0]));
        // The state it came from is unchanged.
        check(&map, &base(10_000, |o| o % 3 != 0).1);
    }

    #[test]
    fn bad_deltas_are_refused() {
        let (map, _) = base(100, |o| o % 2 == 0);
        assert!(
            map.apply(&[1], &[], &[], 1, 100).is_err(),
            "removes an empty ordinal"
        );
        assert!(
            map.apply(&[], &[100], &[], 1, 100).is_err(),
            "beyond the capacity"
        );
        assert!(
            map.apply(&[], &[3, 2], &[], 1, 100).is_err(),
            "not ascending"
        );
        assert!(
            map.apply(&[200], &[], &[], 1, 300).is_err(),
            "removes beyond"
        );
        assert!(
            map.apply(&[], &[2], &[4, 2], 1, 100).is_err(),
            "rekeyed not ascending"
        );
    }

    /// Whether the snapshot's key still holds at `o` (what a primary-key lookup trusts).
    fn base_key_holds(map: &RecordMap, o: u32) -> bool {
        match map.slot(o) {
            Slot::Empty => false,
            Slot::Base => true,
            Slot::Changed(loc) => loc & REKEYED == 0,
        }
    }

    #[test]
    fn a_record_updated_in_place_keeps_the_snapshots_key_through_many_deltas() {
        let (mut map, _) = base(200, |_| true);
        for source in 1..=40 {
            map = map.apply(&[], &[7], &[], source, 200).expect("applies");
            assert!(base_key_holds(&map, 7), "after {source} updates");
        }
        assert!(
            matches!(map.slot(7), Slot::Changed(l) if loc_source(l) == 40 && loc_index(l) == 0)
        );
    }

    #[test]
    fn a_removed_ordinal_never_holds_the_snapshots_key_again() {
        let (map, _) = base(200, |_| true);
        // Removed: empty.
        let removed = map.apply(&[7], &[], &[], 1, 200).expect("removes");
        assert!(!base_key_holds(&removed, 7));
        // Re-added at its old ordinal (with the same key or another: the delta adds a key).
        let readded = removed.apply(&[], &[7], &[7], 2, 200).expect("re-adds");
        assert!(!base_key_holds(&readded, 7));
        // Even a delta that does not list the key change: the ordinal was empty before.
        let unlisted = removed.apply(&[], &[7], &[], 2, 200).expect("re-adds");
        assert!(!base_key_holds(&unlisted, 7));
        // Then updated in place: it keeps the flag of the record it updates.
        let updated = readded.apply(&[], &[7], &[], 3, 200).expect("updates");
        assert!(!base_key_holds(&updated, 7));
        // Removed and re-filled by one delta: not in place.
        let replaced = map.apply(&[9], &[9], &[], 1, 200).expect("replaces");
        assert!(!base_key_holds(&replaced, 9));
        // A key moved to a new ordinal: the new one never trusts the snapshot's entry for it,
        // the old one is empty.
        let moved = map.apply(&[3], &[150], &[150], 1, 200).expect("moves");
        assert!(!base_key_holds(&moved, 3) && !base_key_holds(&moved, 150));
        // Untouched ordinals keep trusting it.
        assert!(base_key_holds(&moved, 4) && base_key_holds(&replaced, 7));
    }

    #[test]
    fn a_capacity_shrunk_and_grown_back_forgets_the_snapshots_keys_beyond_it() {
        // A pin back: the capacity shrinks below snapshot ordinals, then grows again and the
        // ordinals are filled with other records (a reverse delta re-adding old keys).
        let (map, _) = base(5000, |_| true);
        let removed: Vec<u32> = (100..5000).collect();
        let shrunk = map.apply(&removed, &[], &[], 1, 100).expect("shrinks");
        assert_eq!(shrunk.count(), 100);
        let regrown = shrunk
            .apply(&[], &[150, 4500], &[], 2, 5000)
            .expect("grows");
        for o in [150, 4500] {
            assert!(!base_key_holds(&regrown, o), "ordinal {o}");
        }
        assert!(base_key_holds(&regrown, 99));
    }

    #[derive(Debug, Clone)]
    struct Step {
        capacity: u32,
        picks: Vec<(u32, bool)>,
    }

    fn steps() -> impl Strategy<Value = (u32, Vec<Step>)> {
        (
            1u32..12_000,
            prop::collection::vec(
                (
                    1u32..14_000,
                    prop::collection::vec((0u32..14_000, any::<bool>()), 0..300),
                )
                    .prop_map(|(capacity, picks)| Step { capacity, picks }),
                1..12,
            ),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random delta sequences (growing and shrinking capacities, removals, upserts,
        /// replacements) agree with a per-ordinal model, and every earlier map is unchanged.
        #[test]
        fn random_deltas_agree_with_the_model((capacity, steps) in steps()) {
            let (mut map, mut model) = base(capacity, |o| o % 5 != 1);
            let mut history = vec![(map.clone(), model.clone())];
            for (source, step) in (1u32..).zip(steps) {
                let cap = u32::try_from(model.len()).expect("small");
                // Removals: populated ordinals picked `false`, and everything beyond the new
                // capacity (a producer empties those before shrinking).
                let mut removed: Vec<u32> = step.picks.iter()
                    .filter(|(o, up)| !up && *o < cap && model[*o as usize].is_some())
                    .map(|(o, _)| *o)
                    .chain((step.capacity..cap).filter(|o| model[*o as usize].is_some()))
                    .collect();
                removed.sort_unstable();
                removed.dedup();
                let mut upserted: Vec<u32> = step.picks.iter()
                    .filter(|(o, up)| *up && *o < step.capacity)
                    .map(|(o, _)| *o)
                    .collect();
                upserted.sort_unstable();
                upserted.dedup();
                // Some upserts add their key (the others update in place when populated).
                let rekeyed: Vec<u32> = upserted.iter().copied().filter(|o| o % 7 == 0).collect();
                map = map
                    .apply(&removed, &upserted, &rekeyed, source, step.capacity)
                    .expect("applies");
                model.resize(model.len().max(step.capacity as usize), None);
                for o in &removed {
                    model[*o as usize] = None;
                }
                for (k, o) in upserted.iter().enumerate() {
                    let in_place = match model[*o as usize] {
                        None => false,
                        Some(None) => true,
                        Some(Some(l)) => l & REKEYED == 0,
                    } && !rekeyed.contains(o);
                    let flag = if in_place { 0 } else { REKEYED };
                    model[*o as usize] = Some(Some(flag | (u64::from(source) << 32) | u64::try_from(k).expect("small")));
                }
                model.truncate(step.capacity as usize);
                check(&map, &model);
                history.push((map.clone(), model.clone()));
            }
            for (m, want) in &history {
                check(m, want);
            }
        }
    }
}
