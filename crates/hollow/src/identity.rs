//! Record identity on the write side: primary key → ordinal for keyed types, content → ordinal
//! for keyless ones. Both are hash tables over precomputed xxh3-64 hashes (hashed once, one
//! shot), with key bytes in one arena rather than an allocation per record.

use hashbrown::HashTable;

/// Primary key (canonical key bytes) → ordinal.
#[derive(Debug, Default)]
pub(crate) struct KeyMap {
    table: HashTable<(u64, u32)>,
    arena: Vec<u8>,
    /// Arena range of each ordinal's key (empty for ordinals without one).
    spans: Vec<(usize, usize)>,
}

impl KeyMap {
    /// The key of `ordinal` (empty when it has none).
    pub(crate) fn key_of(&self, ordinal: u32) -> &[u8] {
        match self.spans.get(ordinal as usize) {
            Some(&(start, len)) => self.arena.get(start..start + len).unwrap_or(&[]),
            None => &[],
        }
    }

    /// The ordinal whose key is `key` (with hash `hash`).
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<u32> {
        self.table
            .find(hash, |&(h, o)| h == hash && self.key_of(o) == key)
            .map(|&(_, o)| o)
    }

    /// Records `key` (with hash `hash`) as the key of `ordinal`; the key must not be present.
    pub(crate) fn insert(&mut self, hash: u64, key: &[u8], ordinal: u32) {
        let start = self.arena.len();
        self.arena.extend_from_slice(key);
        let at = ordinal as usize;
        if self.spans.len() <= at {
            self.spans.resize(at + 1, (0, 0));
        }
        self.spans[at] = (start, key.len());
        self.table.insert_unique(hash, (hash, ordinal), |&(h, _)| h);
    }
}

impl KeyMap {
    /// Forgets the key of `ordinal` (whose key hash is `hash`).
    pub(crate) fn remove(&mut self, hash: u64, ordinal: u32) {
        if let Ok(entry) = self
            .table
            .find_entry(hash, |&(h, o)| h == hash && o == ordinal)
        {
            entry.remove();
        }
        if let Some(span) = self.spans.get_mut(ordinal as usize) {
            *span = (0, 0);
        }
    }
}

/// Content hash → ordinals, for types without a primary key (identical records share one).
#[derive(Debug, Default)]
pub(crate) struct ContentMap {
    table: HashTable<(u64, u32)>,
}

impl ContentMap {
    /// The first ordinal with content hash `hash` for which `same` holds.
    pub(crate) fn find(&self, hash: u64, mut same: impl FnMut(u32) -> bool) -> Option<u32> {
        self.table
            .find(hash, |&(h, o)| h == hash && same(o))
            .map(|&(_, o)| o)
    }

    /// Records `ordinal` under `hash`.
    pub(crate) fn insert(&mut self, hash: u64, ordinal: u32) {
        self.table.insert_unique(hash, (hash, ordinal), |&(h, _)| h);
    }

    /// Forgets `ordinal` (recorded under `hash`).
    pub(crate) fn remove(&mut self, hash: u64, ordinal: u32) {
        if let Ok(entry) = self
            .table
            .find_entry(hash, |&(h, o)| h == hash && o == ordinal)
        {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_equal_hashes_stay_apart() {
        let mut m = KeyMap::default();
        m.insert(7, b"a", 0);
        m.insert(7, b"b", 1);
        m.insert(9, b"", 2);
        assert_eq!(m.get(7, b"a"), Some(0));
        assert_eq!(m.get(7, b"b"), Some(1));
        assert_eq!(m.get(9, b""), Some(2));
        assert_eq!(m.get(7, b"c"), None);
        assert_eq!(m.get(8, b"a"), None);
        m.remove(7, 0);
        assert_eq!(m.get(7, b"a"), None);
        assert_eq!(m.get(7, b"b"), Some(1));
        assert_eq!(m.key_of(1), b"b");
    }

    #[test]
    fn content_map_confirms_with_the_caller() {
        let mut m = ContentMap::default();
        m.insert(5, 10);
        m.insert(5, 11);
        assert_eq!(m.find(5, |o| o == 11), Some(11));
        assert_eq!(m.find(5, |_| false), None);
    }
}
