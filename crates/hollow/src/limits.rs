//! Caps on what hollow accepts from outside, so a hostile blob or input file cannot exhaust
//! memory: the size of a blob, the records of one type, the elements of one list, how deeply a
//! value nests, and the length of one line of text input.
//!
//! One [`Limits`] value configures every side: the producer refuses a cycle that would go past
//! a cap ([`crate::CycleError::LimitExceeded`], so nothing past it is ever published), a
//! consumer refuses a blob that goes past one ([`crate::OpenError::LimitExceeded`], and keeps
//! serving its current state), and [`crate::encode::RecordEncoder::with_limits`] refuses an
//! input value past one. The defaults are generous for real datasets and still bounded; raise
//! them for a dataset that needs more (producer and consumers alike).
//!
//! ```
//! use hollow::Limits;
//!
//! let limits = Limits::default()
//!     .max_list_len(1_000_000)
//!     .max_records_per_type(50_000_000);
//! assert_eq!(limits.list_len(), 1_000_000);
//! assert_eq!(limits.nesting(), hollow::encode::RECORD_NESTING_LIMIT);
//! ```

use crate::capnp_raw::RECORD_NESTING_LIMIT;

/// Default largest blob: 64 GiB.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 64 << 30;
/// Default most records (ordinal capacity) of one type: 2^28 (268,435,456).
pub const DEFAULT_MAX_RECORDS_PER_TYPE: u32 = 1 << 28;
/// Default most elements of one list: 2^24 (16,777,216).
pub const DEFAULT_MAX_LIST_LEN: u32 = 1 << 24;
/// Default longest line of text input (a JSON line, a CSV row): 64 MiB.
pub const DEFAULT_MAX_INPUT_LINE_BYTES: usize = 64 << 20;

/// Which cap a value went past (see [`Limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Limits::max_blob_bytes`].
    BlobBytes,
    /// [`Limits::max_records_per_type`].
    RecordsPerType,
    /// [`Limits::max_list_len`].
    ListLen,
    /// [`Limits::max_nesting`].
    Nesting,
    /// [`Limits::max_input_line_bytes`].
    InputLineBytes,
}

impl LimitKind {
    /// The cap's name as the CLI's `--limit NAME=VALUE` takes it.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::BlobBytes => "blob-bytes",
            LimitKind::RecordsPerType => "records-per-type",
            LimitKind::ListLen => "list-len",
            LimitKind::Nesting => "nesting",
            LimitKind::InputLineBytes => "line-bytes",
        }
    }

    /// Every cap, in the order the docs list them.
    pub const ALL: [LimitKind; 5] = [
        LimitKind::BlobBytes,
        LimitKind::RecordsPerType,
        LimitKind::ListLen,
        LimitKind::Nesting,
        LimitKind::InputLineBytes,
    ];
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A value went past a cap: what, the cap and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {actual}, over the {kind} limit of {limit}")]
pub struct LimitExceeded {
    /// The cap.
    pub kind: LimitKind,
    /// What went past it ("blob snapshot/…", "type Movie", "field castIds").
    pub what: String,
    /// The cap's value.
    pub limit: u64,
    /// The value found.
    pub actual: u64,
}

/// Caps on blobs, states and input (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    blob_bytes: u64,
    records_per_type: u32,
    list_len: u32,
    nesting: u32,
    input_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            records_per_type: DEFAULT_MAX_RECORDS_PER_TYPE,
            list_len: DEFAULT_MAX_LIST_LEN,
            nesting: RECORD_NESTING_LIMIT,
            input_line_bytes: DEFAULT_MAX_INPUT_LINE_BYTES,
        }
    }
}

impl Limits {
    /// The largest blob a producer publishes and a consumer opens.
    pub fn max_blob_bytes(mut self, bytes: u64) -> Self {
        self.blob_bytes = bytes;
        self
    }

    /// The most records one type may hold (its ordinal capacity, for a consumer).
    pub fn max_records_per_type(mut self, records: u32) -> Self {
        self.records_per_type = records;
        self
    }

    /// The most elements one list of an input record may hold.
    pub fn max_list_len(mut self, elements: u32) -> Self {
        self.list_len = elements;
        self
    }

    /// The deepest pointer level an input value may sit at; at most (and by default)
    /// [`RECORD_NESTING_LIMIT`], the level readers accept. A larger value is lowered to it.
    pub fn max_nesting(mut self, levels: u32) -> Self {
        self.nesting = levels.min(RECORD_NESTING_LIMIT);
        self
    }

    /// The longest line of text input (a JSON line or a CSV row), in bytes.
    pub fn max_input_line_bytes(mut self, bytes: usize) -> Self {
        self.input_line_bytes = bytes;
        self
    }

    /// Sets the cap `kind` to `value` (the CLI's `--limit NAME=VALUE`). A value that does not
    /// fit the cap's type is an error naming the largest it takes.
    pub fn set(self, kind: LimitKind, value: u64) -> Result<Self, String> {
        fn narrow<T: TryFrom<u64> + Into<u64> + Copy>(
            kind: LimitKind,
            value: u64,
            max: T,
        ) -> Result<T, String> {
            match T::try_from(value) {
                Ok(v) if value <= max.into() => Ok(v),
                _ => Err(format!("{kind} takes at most {}, not {value}", max.into())),
            }
        }
        Ok(match kind {
            LimitKind::BlobBytes => self.max_blob_bytes(value),
            LimitKind::RecordsPerType => {
                self.max_records_per_type(narrow(kind, value, crate::write::MAX_ORDINALS)?)
            }
            LimitKind::ListLen => self.max_list_len(narrow(kind, value, u32::MAX)?),
            LimitKind::Nesting => self.max_nesting(narrow(kind, value, RECORD_NESTING_LIMIT)?),
            LimitKind::InputLineBytes => {
                let bytes = usize::try_from(value)
                    .map_err(|_| format!("{kind} takes at most {}, not {value}", usize::MAX))?;
                self.max_input_line_bytes(bytes)
            }
        })
    }

    /// The cap `kind`'s value.
    pub fn get(&self, kind: LimitKind) -> u64 {
        match kind {
            LimitKind::BlobBytes => self.blob_bytes,
            LimitKind::RecordsPerType => u64::from(self.records_per_type),
            LimitKind::ListLen => u64::from(self.list_len),
            LimitKind::Nesting => u64::from(self.nesting),
            LimitKind::InputLineBytes => self.input_line_bytes as u64,
        }
    }

    /// The largest blob, in bytes.
    pub fn blob_bytes(&self) -> u64 {
        self.blob_bytes
    }

    /// The most records of one type.
    pub fn records_per_type(&self) -> u32 {
        self.records_per_type
    }

    /// The most elements of one list.
    pub fn list_len(&self) -> u32 {
        self.list_len
    }

    /// The deepest pointer level of an input value.
    pub fn nesting(&self) -> u32 {
        self.nesting
    }

    /// The longest line of text input, in bytes.
    pub fn input_line_bytes(&self) -> usize {
        self.input_line_bytes
    }

    /// `Err` when `actual` is past the cap `kind`.
    pub fn check(
        &self,
        kind: LimitKind,
        what: impl FnOnce() -> String,
        actual: u64,
    ) -> Result<(), LimitExceeded> {
        let limit = self.get(kind);
        if actual > limit {
            Err(LimitExceeded {
                kind,
                what: what(),
                limit,
                actual,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_passes_at_the_cap_and_fails_past_it() {
        let limits = Limits::default().max_list_len(3);
        assert!(limits.check(LimitKind::ListLen, || "l".into(), 3).is_ok());
        let e = limits
            .check(LimitKind::ListLen, || "field castIds".into(), 4)
            .expect_err("past the cap");
        assert_eq!(
            e.to_string(),
            "field castIds is 4, over the list-len limit of 3"
        );
    }

    #[test]
    fn set_refuses_values_its_cap_cannot_hold_and_nesting_never_passes_the_readers() {
        let limits = Limits::default();
        assert!(limits.set(LimitKind::RecordsPerType, u64::MAX).is_err());
        assert!(limits.set(LimitKind::Nesting, 100).is_err());
        assert_eq!(limits.max_nesting(1000).nesting(), RECORD_NESTING_LIMIT);
        for kind in LimitKind::ALL {
            let set = limits.set(kind, 7).expect("7 fits every cap");
            assert_eq!(set.get(kind), 7, "{kind}");
        }
    }
}
