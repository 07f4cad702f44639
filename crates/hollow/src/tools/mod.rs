//! Tools over states that the CLI and a web explorer share: differences between two states and
//! the history of one record across versions.

mod diff;
mod history;

pub use diff::{FieldChange, RecordChange, TypeDiff, diff};
pub use history::{HistoryEntry, HistoryEvent, history};
