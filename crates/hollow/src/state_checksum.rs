//! State checksums: an order-independent combination of per-record content hashes.
//!
//! The checksum of a type is the wrapping sum, over its populated ordinals `o`, of
//! `xxh3_64(o as u32 LE ‖ content_hash as u64 LE)`, where `content_hash` is xxh3-64 of the
//! record's canonical Cap'n Proto bytes. A sum can be updated in O(changes): add the hashes of
//! added records, subtract those of removed ones. Two states with the same records at the same
//! ordinals have the same checksum.

use xxhash_rust::xxh3::xxh3_64;

/// Running checksum of one type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeChecksum(u64);

fn term(ordinal: u32, content_hash: u64) -> u64 {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&ordinal.to_le_bytes());
    bytes[4..].copy_from_slice(&content_hash.to_le_bytes());
    xxh3_64(&bytes)
}

impl TypeChecksum {
    /// Adds the record at `ordinal` with content hash `content_hash`.
    pub fn add(&mut self, ordinal: u32, content_hash: u64) {
        self.0 = self.0.wrapping_add(term(ordinal, content_hash));
    }

    /// Removes a record added before.
    pub fn remove(&mut self, ordinal: u32, content_hash: u64) {
        self.0 = self.0.wrapping_sub(term(ordinal, content_hash));
    }

    /// A checksum continuing from `value`.
    pub fn from_value(value: u64) -> Self {
        Self(value)
    }

    /// The checksum value.
    pub fn value(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_removable() {
        let mut a = TypeChecksum::default();
        a.add(1, 10);
        a.add(2, 20);
        let mut b = TypeChecksum::default();
        b.add(2, 20);
        b.add(1, 10);
        assert_eq!(a, b);
        b.add(3, 30);
        assert_ne!(a, b);
        b.remove(3, 30);
        assert_eq!(a, b);
        let mut c = TypeChecksum::default();
        c.add(2, 10);
        c.add(1, 20);
        assert_ne!(a, c, "same hashes at swapped ordinals differ");
    }
}
