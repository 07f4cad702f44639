//! The seam between hollow and capnp-rust's reader internals.
//!
//! A record shard is one Cap'n Proto segment inside a blob. To read a record in ~10 ns the list
//! reader of each shard must be built once for the life of the state (building it per read costs
//! more than the read and serialises cache misses). This module provides:
//! - [`SegmentArena`]: a single-segment, immutable reader arena over [`BlobBytes`], with bounds
//!   checks and no traversal limiter (no shared counter for readers to contend on);
//! - [`AnyStruct`]: an "owned struct" marker whose reader is a raw struct reader, so a shard
//!   list can be read without knowing the Rust type and converted to any generated `Reader`;
//! - [`ShardList`]: the self-referential pair (arena, list reader) that a read state keeps per
//!   shard, `Send + Sync` by an audited argument.
//!
//! capnp-rust exposes these internals (`capnp::private`) for generated code; hollow pins the
//! capnp version in the workspace so a change of them is a deliberate upgrade.

use capnp::private::arena::ReaderArena;
use capnp::private::layout::{PointerReader, StructReader, StructSize};
use capnp::traits::{
    FromPointerReader, HasStructSize, IntoInternalStructReader, OwnedStruct, SetterInput,
};

use crate::bytes::BlobBytes;

/// Nesting limit for pointer chains inside a record: deep enough for any real schema, small
/// enough that a cyclic pointer graph in a hostile blob ends in an error, not a stack overflow.
pub(crate) const NESTING_LIMIT: i32 = 64;

/// Deepest pointer a record may hold, counted in the levels readers spend: a pointer (struct,
/// list, text or data) in the record's own pointer section is level 1, each pointer followed
/// adds one, and a struct inside a struct list adds one more (capnp's list reader and its
/// element reader each spend a level). A record reached through a shard (its segment's root
/// pointer, the shard list, the element) starts with two levels spent, so this is
/// `NESTING_LIMIT` − 2 (64 − 2). The encoder (`hollow::encode`) refuses deeper records and the shard
/// writer checks the same limit.
pub const RECORD_NESTING_LIMIT: u32 = NESTING_LIMIT.unsigned_abs() - 2;

/// An immutable single-segment reader arena over 8-byte-aligned bytes.
pub(crate) struct SegmentArena {
    bytes: BlobBytes,
    words: u32,
}

impl SegmentArena {
    /// Wraps `bytes` (8-byte aligned start, length a multiple of 8, at most 2^32-1 words).
    pub(crate) fn new(bytes: BlobBytes) -> Option<Self> {
        let ptr = bytes.as_slice().as_ptr() as usize;
        if !ptr.is_multiple_of(8) || !bytes.len().is_multiple_of(8) {
            return None;
        }
        let words = u32::try_from(bytes.len() / 8).ok()?;
        Some(Self { bytes, words })
    }

    fn start(&self) -> *const u8 {
        self.bytes.as_slice().as_ptr()
    }

    /// The root pointer of the segment (word 0).
    pub(crate) fn root(&self) -> capnp::Result<PointerReader<'_>> {
        PointerReader::get_root_from_arena(self)
    }
}

// SAFETY: `get_segment` returns the start and word length of bytes owned by `self.bytes`, which
// are immutable and live as long as `self`; the start is 8-byte aligned (checked in `new`), and
// `contains_interval` only answers Ok for intervals entirely inside those bytes. The arena has no
// interior mutability, so it may be shared between threads.
unsafe impl ReaderArena for SegmentArena {
    fn get_segment(&self, id: u32) -> capnp::Result<(*const u8, u32)> {
        if id == 0 {
            Ok((self.start(), self.words))
        } else {
            Err(capnp::Error::from_kind(capnp::ErrorKind::InvalidSegmentId(
                id,
            )))
        }
    }

    fn contains_interval(
        &self,
        id: u32,
        start: *const u8,
        size_in_words: usize,
    ) -> capnp::Result<()> {
        if id != 0 {
            return Err(capnp::Error::from_kind(capnp::ErrorKind::InvalidSegmentId(
                id,
            )));
        }
        let seg_start = self.start() as usize;
        let seg_len = self.words as usize * 8;
        let inside = size_in_words.checked_mul(8).is_some_and(|size| {
            let start = start as usize;
            start >= seg_start && size <= seg_len && start - seg_start <= seg_len - size
        });
        if inside {
            Ok(())
        } else {
            Err(capnp::Error::from_kind(
                capnp::ErrorKind::MessageContainsOutOfBoundsPointer,
            ))
        }
    }

    fn amplified_read(&self, _virtual_amount: u64) -> capnp::Result<()> {
        // Deliberately unlimited: blobs are checksummed before use and every pointer is bounds
        // checked; a traversal limit would trip in normal use (see DESIGN.md, decision 3).
        Ok(())
    }

    fn nesting_limit(&self) -> i32 {
        NESTING_LIMIT
    }

    fn size_in_words(&self) -> usize {
        self.words as usize
    }
}

/// Marker for "a struct of some type": its reader is the raw struct reader, convertible into
/// any generated `Reader` with `From`.
pub struct AnyStruct(());

/// Reader of an [`AnyStruct`]: a struct whose type is known only from the schema.
#[derive(Clone, Copy)]
pub struct AnyStructReader<'a>(pub(crate) StructReader<'a>);

/// Builder side of [`AnyStruct`]; hollow never builds through it.
pub struct AnyStructBuilder<'a>(#[allow(dead_code)] capnp::private::layout::StructBuilder<'a>);

impl<'a> AnyStructReader<'a> {
    /// The raw struct reader.
    pub(crate) fn raw(self) -> StructReader<'a> {
        self.0
    }
}

impl<'a> From<StructReader<'a>> for AnyStructReader<'a> {
    fn from(reader: StructReader<'a>) -> Self {
        Self(reader)
    }
}

impl<'a> IntoInternalStructReader<'a> for AnyStructReader<'a> {
    fn into_internal_struct_reader(self) -> StructReader<'a> {
        self.0
    }
}

impl<'a> FromPointerReader<'a> for AnyStructReader<'a> {
    fn get_from_pointer(
        reader: &PointerReader<'a>,
        default: Option<&'a [capnp::Word]>,
    ) -> capnp::Result<Self> {
        Ok(Self(reader.get_struct(default)?))
    }
}

impl SetterInput<AnyStruct> for AnyStructReader<'_> {
    fn set_pointer_builder(
        mut builder: capnp::private::layout::PointerBuilder<'_>,
        input: Self,
        canonicalize: bool,
    ) -> capnp::Result<()> {
        builder.set_struct(&input.0, canonicalize)
    }
}

impl<'a> From<capnp::private::layout::StructBuilder<'a>> for AnyStructBuilder<'a> {
    fn from(builder: capnp::private::layout::StructBuilder<'a>) -> Self {
        Self(builder)
    }
}

impl HasStructSize for AnyStructBuilder<'_> {
    const STRUCT_SIZE: StructSize = StructSize {
        data: 0,
        pointers: 0,
    };
}

impl capnp::introspect::Introspect for AnyStruct {
    fn introspect() -> capnp::introspect::Type {
        <capnp::any_pointer::Owned as capnp::introspect::Introspect>::introspect()
    }
}

impl OwnedStruct for AnyStruct {
    type Reader<'a> = AnyStructReader<'a>;
    type Builder<'a> = AnyStructBuilder<'a>;
}

impl capnp::traits::Owned for AnyStruct {
    type Reader<'a> = AnyStructReader<'a>;
    type Builder<'a> = AnyStructBuilder<'a>;
}

impl<'a> capnp::traits::FromPointerBuilder<'a> for AnyStructBuilder<'a> {
    fn init_pointer(builder: capnp::private::layout::PointerBuilder<'a>, _len: u32) -> Self {
        Self(builder.init_struct(Self::STRUCT_SIZE))
    }

    fn get_from_pointer(
        builder: capnp::private::layout::PointerBuilder<'a>,
        default: Option<&'a [capnp::Word]>,
    ) -> capnp::Result<Self> {
        Ok(Self(builder.get_struct(Self::STRUCT_SIZE, default)?))
    }
}

type RecordList<'a> = capnp::struct_list::Reader<'a, AnyStruct>;

self_cell::self_cell!(
    struct ShardCell {
        owner: SegmentArena,
        #[covariant]
        dependent: RecordList,
    }
);

/// One record shard: its segment and the list reader over its records, built once.
pub(crate) struct ShardList {
    cell: ShardCell,
}

// SAFETY: a `ShardList` is immutable after construction. The owner is a `SegmentArena` over
// immutable bytes with no interior mutability (see the `ReaderArena` impl). The dependent list
// reader holds raw pointers into those bytes, a reference to the arena and an empty cap table;
// it is only ever read (`Copy`), never mutated, so sharing it or moving it between threads cannot
// race. capnp's own limiter (the only shared mutable state of a standard message reader, and the
// reason capnp needs `sync_reader`) is not used.
unsafe impl Send for ShardList {}
// SAFETY: see `Send` above.
unsafe impl Sync for ShardList {}

impl ShardList {
    /// Reads the segment's root pointer as a struct list.
    pub(crate) fn new(arena: SegmentArena) -> capnp::Result<Self> {
        let cell = ShardCell::try_new(arena, |arena| {
            let root = arena.root()?;
            RecordList::get_from_pointer(&root, None)
        })?;
        Ok(Self { cell })
    }

    /// Number of records (slots) in the shard.
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.cell.borrow_dependent().len()
    }

    /// The record at `index`, or `None` out of range.
    #[inline]
    pub(crate) fn get(&self, index: u32) -> Option<StructReader<'_>> {
        self.cell
            .borrow_dependent()
            .try_get(index)
            .map(AnyStructReader::raw)
    }
}

/// The Cap'n Proto type id of a generated struct type (from its introspection data).
pub(crate) fn struct_type_id<T: capnp::introspect::Introspect>() -> Option<u64> {
    match T::introspect().which() {
        capnp::introspect::TypeVariant::Struct(raw) => {
            Some(capnp::schema::StructSchema::new(raw).get_proto().get_id())
        }
        _ => None,
    }
}

/// Canonical single-segment encoding of `value` (a struct or any pointer), with the first
/// segment sized from the value's total size so capnp never needs a second segment (it asserts
/// a single segment in canonical mode).
pub(crate) fn canonical_words<T, V>(value: V, total_words: u64) -> capnp::Result<Vec<capnp::Word>>
where
    T: capnp::traits::Owned,
    V: SetterInput<T>,
{
    let words = u32::try_from(total_words.saturating_add(2))
        .map_err(|_| capnp::Error::failed("message too large for one segment".to_string()))?;
    let allocator = capnp::message::HeapAllocator::new().first_segment_words(words);
    let mut message = capnp::message::Builder::new(allocator);
    message.set_root_canonical::<T>(value)?;
    let segments = message.get_segments_for_output();
    let bytes: &[u8] = segments.first().copied().unwrap_or(&[]);
    let n = bytes.len() / 8;
    let mut out = capnp::Word::allocate_zeroed_vec(n);
    capnp::Word::words_to_bytes_mut(&mut out).copy_from_slice(&bytes[..n * 8]);
    Ok(out)
}

// The `unsafe impl Send + Sync for ShardList` above argues from the parts it is made of: the
// arena (over `BlobBytes`) must itself be `Send + Sync` without help. These fail to compile if a
// capnp or hollow change ever makes them otherwise.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<BlobBytes>();
    assert_send_sync::<SegmentArena>();
    assert_send_sync::<ShardList>();
};

#[cfg(test)]
mod tests {
    use super::*;

    use hollow_movies::movies_capnp::movie;

    /// A single-segment message whose root is a list of `n` movies, movie `i` with id `i * 3`,
    /// as a shard is laid out in a blob.
    fn shard_bytes(n: u32) -> BlobBytes {
        let mut message = capnp::message::Builder::new(
            capnp::message::HeapAllocator::new().first_segment_words(64 + 16 * n),
        );
        let mut list = message.initn_root::<capnp::struct_list::Builder<'_, movie::Owned>>(n);
        for i in 0..n {
            list.reborrow().get(i).set_id(u64::from(i) * 3);
        }
        let segments = message.get_segments_for_output();
        assert_eq!(segments.len(), 1, "one segment");
        BlobBytes::from_vec(segments[0].to_vec())
    }

    #[test]
    fn shard_list_reads_every_record_and_refuses_out_of_range() {
        let shard =
            ShardList::new(SegmentArena::new(shard_bytes(5)).expect("aligned")).expect("list");
        assert_eq!(shard.len(), 5);
        for i in 0..5 {
            let record = movie::Reader::from(shard.get(i).expect("in range"));
            assert_eq!(record.get_id(), u64::from(i) * 3);
        }
        assert!(shard.get(5).is_none());
        assert!(shard.get(u32::MAX).is_none());
    }

    #[test]
    fn arena_refuses_misaligned_bytes_and_pointers_outside_the_segment() {
        let bytes = shard_bytes(2);
        let len = bytes.len();
        let short = bytes.slice(0..len - 4).expect("in range");
        assert!(
            SegmentArena::new(short).is_none(),
            "length not a multiple of 8"
        );
        // A root pointer claiming a list far past the segment's end: an error, not a read.
        let mut words = bytes.as_slice().to_vec();
        words[4..8].copy_from_slice(&(1u32 << 3 | 7).to_le_bytes()); // count 1, inline composite
        words[0..4].copy_from_slice(&(0x00ff_fff0u32 | 1).to_le_bytes()); // huge offset
        let arena = SegmentArena::new(BlobBytes::from_vec(words)).expect("aligned");
        assert!(ShardList::new(arena).is_err());
    }

    #[test]
    fn a_shard_list_is_read_from_many_threads_at_once() {
        let shard = std::sync::Arc::new(
            ShardList::new(SegmentArena::new(shard_bytes(64)).expect("aligned")).expect("list"),
        );
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let shard = std::sync::Arc::clone(&shard);
                std::thread::spawn(move || {
                    (0..64u32)
                        .map(|i| {
                            shard
                                .get((i + t * 7) % 64)
                                .map_or(0, |r| movie::Reader::from(r).get_id())
                        })
                        .sum::<u64>()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(
                t.join().expect("thread"),
                (0..64u64).map(|i| i * 3).sum::<u64>()
            );
        }
    }
}
