//! `StateId`: the identity of one state of a dataset.

use std::fmt;

/// One state of a dataset: its version and the random tag the producer gave it.
///
/// Two attempts at the same version (a producer that lost a race, a cycle retried after a
/// failure) carry different tags, so the pair names exactly one state. Blob keys, blob headers,
/// announcements and pins all name states this way.
///
/// ```
/// let s = hollow::StateId::new(3, 0xbeef);
/// assert_eq!(s.to_string(), "v3 (tag 0xbeef)");
/// assert!(s < hollow::StateId::new(4, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateId {
    /// Version number (grows by one per announced cycle).
    pub version: u64,
    /// Random 64-bit tag naming this exact state.
    pub tag: u64,
}

impl StateId {
    /// The state `version` with tag `tag`.
    pub const fn new(version: u64, tag: u64) -> Self {
        Self { version, tag }
    }
}

impl fmt::Display for StateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{} (tag {:#x})", self.version, self.tag)
    }
}
