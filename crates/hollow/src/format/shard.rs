//! The record shard encoder: lays records out as one Cap'n Proto segment whose root is a
//! `List(T)`, writing identical sub-objects (Text, Data, lists, structs) once and aliasing every
//! pointer to them (docs/FORMAT.md, "Records shard").
//!
//! Input records are canonical single-segment messages (`capnp::message::Builder::
//! set_root_canonical`). Objects are interned bottom-up (hash-consing): an object's identity is
//! its own words with every child pointer replaced by the child's position in the output, so
//! two subtrees are shared exactly when they are equal.

use xxhash_rust::xxh3::xxh3_64;

/// Why a record could not be encoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EncodeError {
    #[error("record is not a well-formed canonical message: {0}")]
    Malformed(&'static str),
    #[error(
        "record has {0} data words and {1} pointers with data beyond the type's {2} data words and {3} pointers (was it built with a newer schema?)"
    )]
    TooLarge(u32, u32, u16, u16),
    #[error("records cannot hold capabilities (interface fields)")]
    Capability,
    #[error("shard is larger than a Cap'n Proto segment can address")]
    SegmentTooLarge,
}

const KIND_STRUCT: u64 = 0;
const KIND_LIST: u64 = 1;
const KIND_FAR: u64 = 2;

#[inline]
fn ptr_offset(w: u64) -> i64 {
    // Bits 2..32 hold a signed 30-bit word offset.
    let low = u32::try_from(w & 0xffff_ffff).unwrap_or(0);
    i64::from(low.cast_signed() >> 2)
}

fn target(src: &[u64], ptr_pos: usize, w: u64) -> Result<usize, EncodeError> {
    let t =
        i64::try_from(ptr_pos).map_err(|_| EncodeError::Malformed("position"))? + 1 + ptr_offset(w);
    let t =
        usize::try_from(t).map_err(|_| EncodeError::Malformed("pointer before segment start"))?;
    if t > src.len() {
        return Err(EncodeError::Malformed("pointer past segment end"));
    }
    Ok(t)
}

fn slice(src: &[u64], start: usize, len: usize) -> Result<&[u64], EncodeError> {
    src.get(
        start
            ..start
                .checked_add(len)
                .ok_or(EncodeError::Malformed("length"))?,
    )
    .ok_or(EncodeError::Malformed("object past segment end"))
}

/// Encodes one shard.
pub(crate) struct ShardEncoder {
    words: Vec<u64>,
    data_words: u16,
    pointer_count: u16,
    slots: u32,
    dedup: bool,
    interned: Interner,
    key: Vec<u64>,
}

impl ShardEncoder {
    /// A shard of `slots` records of `data_words` + `pointer_count` words each, all zero
    /// (default) until set.
    pub(crate) fn new(
        slots: u32,
        data_words: u16,
        pointer_count: u16,
        dedup: bool,
        capacity_words: usize,
    ) -> Result<Self, EncodeError> {
        let step = u64::from(data_words) + u64::from(pointer_count);
        let list_words = u64::from(slots) * step;
        if list_words >= 1 << 29 || u64::from(slots) >= 1 << 29 {
            return Err(EncodeError::SegmentTooLarge);
        }
        let list_words = usize::try_from(list_words).map_err(|_| EncodeError::SegmentTooLarge)?;
        // Reserve the expected size up front: growing a multi-megabyte Vec copies it.
        let mut words = Vec::with_capacity(capacity_words.max(2 + list_words));
        words.resize(2 + list_words, 0u64);
        // Root: list pointer, offset 0 (to word 1), inline composite, `list_words` words.
        words[0] = KIND_LIST | (7 << 32) | ((list_words as u64) << 35);
        // Tag: struct-pointer shaped, offset field = element count.
        words[1] = (u64::from(slots) << 2)
            | (u64::from(data_words) << 32)
            | (u64::from(pointer_count) << 48);
        Ok(Self {
            words,
            data_words,
            pointer_count,
            slots,
            dedup,
            interned: Interner::default(),
            key: Vec::new(),
        })
    }

    /// Writes the record at `slot` from its canonical message words.
    pub(crate) fn set(&mut self, slot: u32, canonical: &[u64]) -> Result<(), EncodeError> {
        if slot >= self.slots {
            return Err(EncodeError::Malformed("slot out of range"));
        }
        let root = *canonical
            .first()
            .ok_or(EncodeError::Malformed("empty message"))?;
        if root == 0 {
            return Ok(()); // an all-default struct
        }
        if root & 3 != KIND_STRUCT {
            return Err(EncodeError::Malformed("root is not a struct"));
        }
        let (ds, ps) = struct_size(root);
        let at = target(canonical, 0, root)?;
        let data = slice(canonical, at, ds)?;
        let ptrs = slice(canonical, at + ds, ps)?;
        let dw = usize::from(self.data_words);
        let pc = usize::from(self.pointer_count);
        let beyond = data.iter().skip(dw).any(|w| *w != 0) || ptrs.iter().skip(pc).any(|w| *w != 0);
        if beyond {
            return Err(EncodeError::TooLarge(
                u32::try_from(ds).unwrap_or(u32::MAX),
                u32::try_from(ps).unwrap_or(u32::MAX),
                self.data_words,
                self.pointer_count,
            ));
        }
        let elem = 2 + slot as usize * (dw + pc);
        let n = ds.min(dw);
        self.words[elem..elem + n].copy_from_slice(&data[..n]);
        for j in 0..ps.min(pc) {
            let child = self.intern(canonical, at + ds + j, 0)?;
            self.write_pointer(elem + dw + j, child)?;
        }
        Ok(())
    }

    /// Finishes the segment: its words (little-endian when viewed as bytes; hollow builds only
    /// for little-endian targets).
    pub(crate) fn finish(self) -> Vec<u64> {
        self.words
    }

    /// Copies the object behind the pointer at `src[ptr_pos]` (children first) and returns the
    /// pointer's shape bits (offset cleared) and the object's position, or `None` for null.
    fn intern(
        &mut self,
        src: &[u64],
        ptr_pos: usize,
        depth: u32,
    ) -> Result<Option<(u64, u32)>, EncodeError> {
        let w = *src
            .get(ptr_pos)
            .ok_or(EncodeError::Malformed("pointer past segment end"))?;
        if w == 0 {
            return Ok(None);
        }
        // `depth` is the pointer's level minus one (see `RECORD_NESTING_LIMIT`); a null pointer
        // costs readers nothing.
        if depth >= crate::capnp_raw::RECORD_NESTING_LIMIT {
            return Err(EncodeError::Malformed(
                "pointers nest deeper than readers accept (RECORD_NESTING_LIMIT levels)",
            ));
        }
        let shape = w & !0xffff_fffc; // keep kind bits and the upper word
        match w & 3 {
            KIND_STRUCT => {
                let (ds, ps) = struct_size(w);
                let at = target(src, ptr_pos, w)?;
                let data = slice(src, at, ds)?;
                let mut children = Vec::with_capacity(ps);
                for j in 0..ps {
                    children.push(self.intern(src, at + ds + j, depth + 1)?);
                }
                self.key.clear();
                self.key.push(shape);
                self.key.extend_from_slice(data);
                push_children(&mut self.key, &children);
                let pos = self.emit(data, &children)?;
                Ok(Some((shape, pos)))
            }
            KIND_LIST => {
                let at = target(src, ptr_pos, w)?;
                let elem_size = (w >> 32) & 7;
                let count =
                    usize::try_from(w >> 35).map_err(|_| EncodeError::Malformed("count"))?;
                match elem_size {
                    0..=5 => {
                        let bits =
                            [0usize, 1, 8, 16, 32, 64][usize::try_from(elem_size).unwrap_or(0)];
                        let nwords = (count * bits).div_ceil(64);
                        let body = slice(src, at, nwords)?;
                        self.key.clear();
                        self.key.push(shape);
                        self.key.extend_from_slice(body);
                        let pos = self.emit(body, &[])?;
                        Ok(Some((shape, pos)))
                    }
                    6 => {
                        let mut children = Vec::with_capacity(count);
                        for j in 0..count {
                            children.push(self.intern(src, at + j, depth + 1)?);
                        }
                        self.key.clear();
                        self.key.push(shape);
                        push_children(&mut self.key, &children);
                        let pos = self.emit(&[], &children)?;
                        Ok(Some((shape, pos)))
                    }
                    _ => {
                        // Inline composite: `count` is the word count; a tag word precedes.
                        let tag = *src
                            .get(at)
                            .ok_or(EncodeError::Malformed("list tag past end"))?;
                        let elements = usize::try_from(ptr_offset(tag))
                            .map_err(|_| EncodeError::Malformed("tag"))?;
                        let (ds, ps) = struct_size(tag);
                        if elements * (ds + ps) != count {
                            return Err(EncodeError::Malformed("inline composite size mismatch"));
                        }
                        // Layout: tag, then each element's data and pointers.
                        let mut body = Vec::with_capacity(count + 1);
                        body.push(tag);
                        let mut children = Vec::with_capacity(elements * ps);
                        for e in 0..elements {
                            let base = at + 1 + e * (ds + ps);
                            body.extend_from_slice(slice(src, base, ds)?);
                            body.extend(std::iter::repeat_n(0u64, ps));
                            // Readers spend a level on the list and one on the element.
                            for j in 0..ps {
                                children.push(self.intern(src, base + ds + j, depth + 2)?);
                            }
                        }
                        self.key.clear();
                        self.key.push(shape);
                        self.key.extend_from_slice(&body);
                        push_children(&mut self.key, &children);
                        let pos = self.emit_composite(&body, &children, ds, ps)?;
                        Ok(Some((shape, pos)))
                    }
                }
            }
            KIND_FAR => Err(EncodeError::Malformed("far pointer in a canonical message")),
            _ => Err(EncodeError::Capability),
        }
    }

    /// Appends an object (`data` words then one pointer per child) unless an identical one was
    /// written before; `self.key` holds its identity. Returns its position.
    fn emit(&mut self, data: &[u64], children: &[Option<(u64, u32)>]) -> Result<u32, EncodeError> {
        if self.dedup
            && let Some(pos) = self.interned.get(&self.key)
        {
            return Ok(pos);
        }
        let pos = self.words.len();
        self.words.extend_from_slice(data);
        self.words.extend(std::iter::repeat_n(0u64, children.len()));
        for (j, child) in children.iter().enumerate() {
            self.write_pointer(pos + data.len() + j, *child)?;
        }
        self.remember(pos)
    }

    /// Appends an inline-composite list body (tag first) whose elements have `ps` pointers each.
    fn emit_composite(
        &mut self,
        body: &[u64],
        children: &[Option<(u64, u32)>],
        ds: usize,
        ps: usize,
    ) -> Result<u32, EncodeError> {
        if self.dedup
            && let Some(pos) = self.interned.get(&self.key)
        {
            return Ok(pos);
        }
        let pos = self.words.len();
        self.words.extend_from_slice(body);
        // Children are in element order, `ps` per element.
        for (e, element_children) in children.chunks(ps.max(1)).enumerate() {
            for (j, child) in element_children.iter().enumerate() {
                self.write_pointer(pos + 1 + e * (ds + ps) + ds + j, *child)?;
            }
        }
        self.remember(pos)
    }

    fn remember(&mut self, pos: usize) -> Result<u32, EncodeError> {
        if self.words.len() >= 1 << 29 {
            return Err(EncodeError::SegmentTooLarge);
        }
        let pos = u32::try_from(pos).map_err(|_| EncodeError::SegmentTooLarge)?;
        if self.dedup {
            self.interned.insert(&self.key, pos);
        }
        Ok(pos)
    }

    fn write_pointer(&mut self, at: usize, child: Option<(u64, u32)>) -> Result<(), EncodeError> {
        let Some((shape, pos)) = child else {
            self.words[at] = 0;
            return Ok(());
        };
        if shape == KIND_STRUCT {
            // A zero-sized struct: its pointer must not be the all-zero null word, so it gets
            // offset -1 (as canonical Cap'n Proto writes it); there is nothing to point at.
            self.words[at] = 0xffff_fffc;
            return Ok(());
        }
        let offset =
            i64::from(pos) - i64::try_from(at).map_err(|_| EncodeError::SegmentTooLarge)? - 1;
        if !(-(1 << 29)..(1 << 29)).contains(&offset) {
            return Err(EncodeError::SegmentTooLarge);
        }
        let offset_bits = u64::from(
            (i32::try_from(offset)
                .map_err(|_| EncodeError::SegmentTooLarge)?
                .cast_unsigned())
                << 2,
        );
        self.words[at] = shape | offset_bits;
        Ok(())
    }
}

/// Identities of the objects written so far: a hash table of `(hash, arena range, position)`
/// over one arena of identity words, so interning allocates nothing per object.
#[derive(Default)]
struct Interner {
    table: hashbrown::HashTable<(u64, usize, usize, u32)>,
    arena: Vec<u64>,
}

impl Interner {
    fn hash(key: &[u64]) -> u64 {
        xxh3_64(bytemuck::cast_slice(key))
    }

    fn get(&self, key: &[u64]) -> Option<u32> {
        let hash = Self::hash(key);
        self.table
            .find(hash, |&(h, start, len, _)| {
                h == hash && self.arena.get(start..start + len) == Some(key)
            })
            .map(|&(_, _, _, pos)| pos)
    }

    fn insert(&mut self, key: &[u64], pos: u32) {
        let hash = Self::hash(key);
        let start = self.arena.len();
        self.arena.extend_from_slice(key);
        self.table
            .insert_unique(hash, (hash, start, key.len(), pos), |&(h, ..)| h);
    }
}

fn struct_size(w: u64) -> (usize, usize) {
    (
        usize::from(u16::try_from((w >> 32) & 0xffff).unwrap_or(0)),
        usize::from(u16::try_from(w >> 48).unwrap_or(0)),
    )
}

fn push_children(key: &mut Vec<u64>, children: &[Option<(u64, u32)>]) {
    for c in children {
        match c {
            None => key.extend_from_slice(&[0, 0]),
            Some((shape, pos)) => key.extend_from_slice(&[*shape, u64::from(*pos)]),
        }
    }
}

#[cfg(test)]
mod tests {
    use hollow_movies::movies_capnp::movie;

    use super::*;
    use crate::bytes::BlobBytes;
    use crate::capnp_raw::{SegmentArena, ShardList};

    /// The canonical words of a movie record.
    fn canonical(id: u64, title: &str) -> Vec<u64> {
        let mut message = capnp::message::Builder::new_default();
        let mut m = message.init_root::<movie::Builder<'_>>();
        m.set_id(id);
        m.set_title(title);
        let reader = m.into_reader();
        let size = reader.total_size().expect("size").word_count;
        let words =
            crate::capnp_raw::canonical_words::<movie::Owned, _>(reader, size).expect("canonical");
        capnp::Word::words_to_bytes(&words)
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    }

    fn read(words: &[u64]) -> capnp::Result<ShardList> {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let arena = SegmentArena::new(BlobBytes::from_vec(bytes))
            .ok_or_else(|| capnp::Error::failed("not whole words".into()))?;
        ShardList::new(arena)
    }

    #[test]
    fn a_shard_round_trips_through_the_reader_and_dedups() {
        // Movie: 2 data words, 4 pointers (docs/FORMAT.md §17).
        for dedup in [false, true] {
            let mut enc = ShardEncoder::new(3, 2, 4, dedup, 0).expect("encoder");
            enc.set(0, &canonical(1, "Up")).expect("set 0");
            enc.set(2, &canonical(3, "Up")).expect("set 2");
            let words = enc.finish();
            let list = read(&words).expect("reads back");
            assert_eq!(list.len(), 3);
            for (slot, id, title) in [(0, 1, "Up"), (1, 0, ""), (2, 3, "Up")] {
                let m = movie::Reader::from(list.get(slot).expect("slot"));
                assert_eq!(m.get_id(), id);
                let t = m.get_title().map(|t| t.to_str().unwrap_or("?").to_string());
                assert_eq!(t.unwrap_or_default(), title, "slot {slot}");
            }
            assert!(list.get(3).is_none());
            // 2 (root, tag) + 3 slots of 6 words + "Up" once or twice.
            assert_eq!(words.len(), 2 + 18 + if dedup { 1 } else { 2 });
        }
    }

    /// A record that is a chain of `levels` structs, each holding only a pointer to the next:
    /// the root pointer, then one word per level (offset 0, no data, one pointer), then null.
    fn chain(levels: usize) -> Vec<u64> {
        let mut words = vec![1u64 << 48; levels + 1];
        words.push(0);
        words
    }

    #[test]
    fn records_nest_exactly_as_deep_as_readers_accept() {
        let limit = crate::capnp_raw::RECORD_NESTING_LIMIT as usize;
        let mut enc = ShardEncoder::new(1, 0, 1, false, 0).expect("encoder");
        enc.set(0, &chain(limit)).expect("at the limit");
        let list = read(&enc.finish()).expect("reads back");
        // capnp's own walk (the one a restoring producer measures records with) accepts it.
        let record = list.get(0).expect("slot");
        assert!(record.total_size().is_ok());
        let mut enc = ShardEncoder::new(1, 0, 1, false, 0).expect("encoder");
        assert!(matches!(
            enc.set(0, &chain(limit + 1)),
            Err(EncodeError::Malformed(_))
        ));
        // Built without the check, one level more is what readers refuse.
        let mut words = vec![0u64; 2];
        words[0] = KIND_LIST | (7 << 32) | (1 << 35);
        words[1] = (1 << 2) | (1 << 48);
        words.push(1 << 48); // the element's pointer: the record's level 1
        words.extend(std::iter::repeat_n(1u64 << 48, limit));
        words.push(0);
        let list = read(&words).expect("a list");
        let record = list.get(0).expect("slot");
        assert!(
            record.total_size().is_err(),
            "level {} is refused",
            limit + 1
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let mut enc = ShardEncoder::new(1, 2, 4, true, 0).expect("encoder");
        assert!(enc.set(1, &canonical(1, "x")).is_err(), "slot out of range");
        assert!(enc.set(0, &[]).is_err(), "empty message");
        let good = canonical(1, "Up");
        for len in 1..good.len() {
            assert!(
                enc.set(0, &good[..len]).is_err(),
                "truncated to {len} words"
            );
        }
        let mut narrow = ShardEncoder::new(1, 1, 0, true, 0).expect("encoder");
        assert!(matches!(
            narrow.set(0, &good),
            Err(EncodeError::TooLarge(..))
        ));
        assert!(ShardEncoder::new(1 << 29, 1, 0, true, 0).is_err());

        let words = {
            let mut enc = ShardEncoder::new(2, 2, 4, true, 0).expect("encoder");
            enc.set(1, &good).expect("set");
            enc.finish()
        };
        for len in 0..words.len() {
            // A truncated segment never panics; one that loses the list's words is refused.
            if let Ok(list) = read(&words[..len]) {
                for slot in 0..list.len() {
                    let _ = list.get(slot);
                }
            }
        }
        assert!(read(&words[..words.len() - 2]).is_err());
    }
}
