//! [`BlobBytes`]: the one audited type for blob memory, backed by a read-only file mapping or an
//! 8-byte-aligned heap buffer. Every Cap'n Proto segment hollow reads borrows from it.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use crate::error::{OpenError, Result};

enum Backing {
    Mapped(memmap2::Mmap),
    /// Anonymous memory holding a private copy (see [`BlobBytes::private_copy`]).
    Private(memmap2::Mmap, usize),
    Heap(Vec<capnp::Word>, usize),
}

impl Backing {
    #[inline]
    fn as_slice(&self) -> &[u8] {
        match self {
            Backing::Mapped(map) => map,
            Backing::Private(map, len) => &map[..*len],
            Backing::Heap(words, len) => &capnp::Word::words_to_bytes(words)[..*len],
        }
    }
}

/// Immutable, cheaply clonable bytes whose start is 8-byte aligned (so Cap'n Proto segments at
/// 8-aligned offsets inside can be read in place).
///
/// Backed either by a read-only memory mapping of a blob file or by a heap buffer. Clones and
/// sub-slices share the backing; it is released when the last one drops.
#[derive(Clone)]
pub struct BlobBytes {
    backing: Arc<Backing>,
    range: Range<usize>,
}

impl AsRef<[u8]> for BlobBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl BlobBytes {
    /// Memory-maps `path` read-only.
    ///
    /// Blob files are immutable: hollow writes them once, under a fresh name, and never rewrites
    /// or truncates them. Mapping a file that another program truncates while it is mapped is
    /// outside that contract (the OS would raise SIGBUS on access).
    pub fn map_file(path: &Path) -> Result<Self, OpenError> {
        let file = std::fs::File::open(path).map_err(|e| OpenError::io(path, e))?;
        let len = file.metadata().map_err(|e| OpenError::io(path, e))?.len();
        if len == 0 {
            // A zero-length mapping is an error on some platforms; an empty buffer is not.
            return Ok(Self::from_vec(Vec::new()));
        }
        // SAFETY: the mapping is read-only, and hollow maps only blob files that are never
        // modified after they are written: created under a fresh name, published by an atomic
        // rename and made read-only (a producer's local store, `store/durable.rs`; a consumer's
        // cache copies, `consumer/cache.rs`). A consumer maps a store's files it does not own
        // only on the documented opt-in `map_local_store_in_place`, whose precondition is that
        // nothing rewrites or truncates them (docs/RELIABILITY.md, mapping policy). So the bytes
        // behind the mapping do not change while it lives. `Mmap` is page-aligned, so the start
        // is 8-byte aligned.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| OpenError::io(path, e))?;
        let len = map.len();
        Ok(Self {
            backing: Arc::new(Backing::Mapped(map)),
            range: 0..len,
        })
    }

    /// Copies `bytes` into an 8-byte-aligned heap buffer.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let len = bytes.len();
        let mut words = capnp::Word::allocate_zeroed_vec(len.div_ceil(8));
        capnp::Word::words_to_bytes_mut(&mut words)[..len].copy_from_slice(&bytes);
        Self {
            backing: Arc::new(Backing::Heap(words, len)),
            range: 0..len,
        }
    }

    /// Takes an already word-aligned buffer without copying; `len` bytes of it are used.
    pub(crate) fn from_words(words: Vec<capnp::Word>, len: usize) -> Self {
        let len = len.min(words.len() * 8);
        Self {
            backing: Arc::new(Backing::Heap(words, len)),
            range: 0..len,
        }
    }

    /// A private copy in anonymous memory, advised to use transparent huge pages where the
    /// kernel offers them (Linux `MADV_HUGEPAGE`), then made read-only: the copy a
    /// latency-critical single-process consumer serves from (`MemoryMode::Private`). Unlike a
    /// file mapping it is never shared with other processes, and nothing another program does
    /// to the file can reach it. Every page is touched by the copy, so it is resident.
    pub fn private_copy(&self) -> Result<Self, OpenError> {
        let len = self.len();
        if len == 0 {
            return Ok(Self::from_vec(Vec::new()));
        }
        let io = |e| OpenError::io("<anonymous memory>", e);
        let mut map = memmap2::MmapMut::map_anon(len).map_err(io)?;
        #[cfg(target_os = "linux")]
        if let Err(e) = map.advise(memmap2::Advice::HugePage) {
            tracing::debug!(error = %e, "transparent huge pages not available for a private copy");
        }
        map.copy_from_slice(self.as_slice());
        let map = map.make_read_only().map_err(io)?;
        Ok(Self {
            backing: Arc::new(Backing::Private(map, len)),
            range: 0..len,
        })
    }

    /// True when backed by a private copy in anonymous memory ([`BlobBytes::private_copy`]).
    pub fn is_private(&self) -> bool {
        matches!(*self.backing, Backing::Private(..))
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.backing.as_slice()[self.range.clone()]
    }

    /// Number of bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// True when backed by a file mapping (not a heap copy).
    pub fn is_mapped(&self) -> bool {
        matches!(*self.backing, Backing::Mapped(_))
    }

    /// A sub-range sharing the same backing, or `None` if the range is out of bounds.
    pub fn slice(&self, range: Range<usize>) -> Option<Self> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        let start = self.range.start + range.start;
        Some(Self {
            backing: Arc::clone(&self.backing),
            range: start..start + range.len(),
        })
    }
}

impl fmt::Debug for BlobBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobBytes")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_copy_is_aligned_equal_and_its_own() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3 << 20).collect();
        let heap = BlobBytes::from_vec(data.clone());
        let private = heap
            .slice(8..data.len())
            .expect("in range")
            .private_copy()
            .expect("copy");
        assert!(private.is_private() && !private.is_mapped());
        assert_eq!(private.as_slice(), &data[8..]);
        assert_eq!(private.as_slice().as_ptr() as usize % 8, 0);
        assert_eq!(
            private.slice(0..3).expect("in range").as_slice(),
            &data[8..11]
        );
        let empty = BlobBytes::from_vec(Vec::new())
            .private_copy()
            .expect("copy");
        assert!(empty.is_empty());
    }

    #[test]
    fn heap_and_mapped_bytes_are_aligned_and_equal() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_001).collect();
        let heap = BlobBytes::from_vec(data.clone());
        assert_eq!(heap.as_slice(), &data[..]);
        assert_eq!(heap.as_slice().as_ptr() as usize % 8, 0);

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blob");
        std::fs::write(&path, &data).expect("write");
        let mapped = BlobBytes::map_file(&path).expect("map");
        assert!(mapped.is_mapped());
        assert_eq!(mapped.as_slice(), &data[..]);
        assert_eq!(mapped.as_slice().as_ptr() as usize % 8, 0);

        let sub = mapped.slice(16..48).expect("in range");
        assert_eq!(sub.as_slice(), &data[16..48]);
        assert!(mapped.slice(10..10_002).is_none());
        drop(mapped);
        // The sub-slice keeps the mapping alive.
        assert_eq!(sub.as_slice(), &data[16..48]);
    }

    #[test]
    fn empty_file_maps_to_empty_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty");
        std::fs::write(&path, b"").expect("write");
        assert!(BlobBytes::map_file(&path).expect("map").is_empty());
    }
}
