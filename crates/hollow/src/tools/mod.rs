//! Tools over states that the CLI and a web explorer share: differences between two states, the
//! history of one record across versions, combining states into one cycle and filtering a state
//! to some of its types, and retention (`gc`: the blobs no retained version needs). (JSON stringify is [`crate::DynRecord::to_json_string`]; state
//! checksums are [`crate::ReadState::types`].)

mod chain;
mod combine;
mod diff;
mod gc;
mod history;

pub use chain::announced_chain;
pub use combine::{CombinedType, combine, filter};
pub use diff::{
    FieldChange, OrdinalChange, RecordChange, Touched, TypeChanges, TypeDiff, changes, diff,
    key_of, touched_between,
};
pub use gc::{GcBlob, GcOptions, GcReason, GcReport, gc};
pub use history::{HistoryEntry, HistoryEvent, history, history_with};
