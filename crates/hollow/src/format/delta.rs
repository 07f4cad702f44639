//! The sections only deltas carry (docs/FORMAT.md §18): ordinal lists (removed and upserted
//! ordinals) and the 24-byte key-change entries, each encoder beside its decoder. The index
//! additions section is in `hash_index.rs`, next to the index it extends.

use crate::error::{OpenError, Result};

/// Length of one key-change entry in bytes.
pub const KEY_CHANGE_LEN: usize = 24;

/// Offset in a key-change entry of the `u64` key hash.
const KEY_HASH_AT: usize = 0;
/// Offset in a key-change entry of the `u64` inline key.
const KEY_INLINE_AT: usize = 8;
/// Offset in a key-change entry of the `u32` ordinal.
const KEY_ORDINAL_AT: usize = 16;
/// Offset in a key-change entry of the `u32` operation (0 removed, 1 added).
const KEY_OP_AT: usize = 20;

/// Length of the `u32` count in front of an ordinal list.
const COUNT_LEN: usize = 4;

/// One primary-key index change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChange {
    /// True when the key is added (points at `ordinal` after the blob), false when removed.
    pub added: bool,
    /// xxh3-64 of the canonical key bytes.
    pub hash: u64,
    /// The canonical key bytes as a zero-padded u64 when the key is inline (else 0).
    pub inline_key: u64,
    /// The ordinal the key names.
    pub ordinal: u32,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl KeyChange {
    /// The entry's 24 bytes.
    pub(crate) fn to_bytes(self) -> [u8; KEY_CHANGE_LEN] {
        let mut out = [0u8; KEY_CHANGE_LEN];
        out[KEY_HASH_AT..KEY_HASH_AT + 8].copy_from_slice(&self.hash.to_le_bytes());
        out[KEY_INLINE_AT..KEY_INLINE_AT + 8].copy_from_slice(&self.inline_key.to_le_bytes());
        out[KEY_ORDINAL_AT..KEY_ORDINAL_AT + 4].copy_from_slice(&self.ordinal.to_le_bytes());
        out[KEY_OP_AT..KEY_OP_AT + 4].copy_from_slice(&u32::from(self.added).to_le_bytes());
        out
    }

    /// Reads one entry; the reason when it is short or its operation is neither 0 nor 1.
    fn from_bytes(e: &[u8]) -> std::result::Result<Self, String> {
        let short = || format!("a key change of {} bytes", e.len());
        let op = u32_at(e, KEY_OP_AT).ok_or_else(short)?;
        if op > 1 {
            return Err(format!("key change operation {op}"));
        }
        Ok(KeyChange {
            added: op == 1,
            hash: u64_at(e, KEY_HASH_AT).ok_or_else(short)?,
            inline_key: u64_at(e, KEY_INLINE_AT).ok_or_else(short)?,
            ordinal: u32_at(e, KEY_ORDINAL_AT).ok_or_else(short)?,
        })
    }
}

/// A key changes section: the entries back to back.
pub(crate) fn encode_key_changes(changes: &[KeyChange]) -> Vec<u8> {
    changes.iter().flat_map(|k| k.to_bytes()).collect()
}

/// Decodes a key changes section of blob `blob` (described as `section` in errors).
pub(crate) fn decode_key_changes(
    bytes: &[u8],
    blob: &str,
    section: &str,
) -> Result<Vec<KeyChange>, OpenError> {
    let fail = |reason: String| OpenError::corrupt(blob, section, reason);
    if !bytes.len().is_multiple_of(KEY_CHANGE_LEN) {
        return Err(fail("key changes are not 24-byte entries".into()));
    }
    bytes
        .chunks_exact(KEY_CHANGE_LEN)
        .map(|e| KeyChange::from_bytes(e).map_err(fail))
        .collect()
}

/// An ordinal list section: the `u32` count, the values, then zero padding to a multiple of
/// 8 bytes (the padding is added by the blob writer).
pub(crate) fn encode_ordinals(values: &[u32]) -> Vec<u8> {
    let count = u32::try_from(values.len()).unwrap_or(u32::MAX);
    std::iter::once(count)
        .chain(values.iter().copied())
        .flat_map(u32::to_le_bytes)
        .collect()
}

/// Decodes an ordinal list section (`what`: "removed ordinals", "upserted ordinals"): the
/// values must fit, be strictly ascending, and be followed by less than 8 bytes of zeros.
pub(crate) fn decode_ordinals(
    bytes: &[u8],
    what: &str,
    blob: &str,
    section: &str,
) -> Result<Vec<u32>, OpenError> {
    let fail = |reason: String| OpenError::corrupt(blob, section, reason);
    let count = u32_at(bytes, 0).unwrap_or(0) as usize;
    let end = count
        .checked_mul(4)
        .and_then(|n| n.checked_add(COUNT_LEN))
        .filter(|end| *end <= bytes.len());
    let Some(end) = end else {
        return Err(fail(format!(
            "{count} {what} do not fit {} bytes",
            bytes.len()
        )));
    };
    let padding = &bytes[end..];
    if padding.len() >= 8 || padding.iter().any(|b| *b != 0) {
        return Err(fail(format!("bytes after the {what}")));
    }
    let values: Vec<u32> = bytes[COUNT_LEN..end]
        .chunks_exact(4)
        .filter_map(|c| u32_at(c, 0))
        .collect();
    if values.windows(2).any(|w| w[0] >= w[1]) {
        return Err(fail(format!("{what} are not strictly ascending")));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(mut b: Vec<u8>) -> Vec<u8> {
        b.resize(b.len().next_multiple_of(8), 0);
        b
    }

    fn corrupt_reason(r: Result<impl std::fmt::Debug, OpenError>) -> String {
        match r {
            Err(OpenError::Corrupt { reason, .. }) => reason,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn ordinals_round_trip_with_and_without_padding() {
        for values in [vec![], vec![7], vec![0, 1, 2], vec![3, 9, 1000, u32::MAX]] {
            let bytes = encode_ordinals(&values);
            assert_eq!(bytes.len(), 4 + 4 * values.len());
            assert_eq!(decode_ordinals(&bytes, "o", "b", "s").expect("raw"), values);
            let bytes = padded(bytes);
            assert_eq!(
                decode_ordinals(&bytes, "o", "b", "s").expect("padded"),
                values
            );
        }
    }

    #[test]
    fn bad_ordinal_lists_are_corrupt() {
        let bytes = padded(encode_ordinals(&[1, 2]));
        assert_eq!(bytes.len(), 16);
        // Truncated: the count or the values no longer fit (an empty section has no count).
        for len in 0..12 {
            corrupt_reason(decode_ordinals(&bytes[..len], "o", "b", "s"));
        }
        let reason = corrupt_reason(decode_ordinals(&bytes[..8], "o", "b", "s"));
        assert!(reason.contains("do not fit"), "{reason}");
        let mut extra = bytes.clone();
        extra.extend_from_slice(&[0; 8]);
        assert!(corrupt_reason(decode_ordinals(&extra, "o", "b", "s")).contains("bytes after"));
        let mut dirty = bytes.clone();
        dirty[15] = 1;
        assert!(corrupt_reason(decode_ordinals(&dirty, "o", "b", "s")).contains("bytes after"));
        let unsorted = encode_ordinals(&[2, 2]);
        assert!(corrupt_reason(decode_ordinals(&unsorted, "o", "b", "s")).contains("ascending"));
        let huge = u32::MAX.to_le_bytes();
        corrupt_reason(decode_ordinals(&huge, "o", "b", "s"));
    }

    #[test]
    fn key_changes_round_trip() {
        let changes = [
            KeyChange {
                added: false,
                hash: 0x0123_4567_89ab_cdef,
                inline_key: 0,
                ordinal: 4,
            },
            KeyChange {
                added: true,
                hash: u64::MAX,
                inline_key: 42,
                ordinal: u32::MAX,
            },
        ];
        let bytes = encode_key_changes(&changes);
        assert_eq!(bytes.len(), 2 * KEY_CHANGE_LEN);
        assert_eq!(bytes[KEY_OP_AT + KEY_CHANGE_LEN], 1);
        assert_eq!(
            decode_key_changes(&bytes, "b", "s").expect("decodes"),
            changes
        );
        assert_eq!(decode_key_changes(&[], "b", "s").expect("empty"), []);
    }

    #[test]
    fn bad_key_changes_are_corrupt() {
        let bytes = encode_key_changes(&[KeyChange {
            added: true,
            hash: 1,
            inline_key: 2,
            ordinal: 3,
        }]);
        for len in 1..KEY_CHANGE_LEN {
            let reason = corrupt_reason(decode_key_changes(&bytes[..len], "b", "s"));
            assert!(reason.contains("24-byte"), "{reason}");
        }
        let mut op = bytes.clone();
        op[KEY_OP_AT] = 2;
        let reason = corrupt_reason(decode_key_changes(&op, "b", "s"));
        assert_eq!(reason, "key change operation 2");
    }
}
