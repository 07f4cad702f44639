//! The history of one record: every version in which it was added, changed (with the fields
//! that changed) or removed, found by following the deltas of the announced chain.

use serde_json::Value;

use super::FieldChange;
use crate::consumer::Consumer;
use crate::error::Result;
use crate::store::{BlobKey, BlobStore};

/// What happened to the record at a version.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryEvent {
    /// It appeared, with this content.
    Added(Value),
    /// These fields changed.
    Changed(Vec<FieldChange>),
    /// It was removed.
    Removed,
}

/// One entry of a record's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The version where it happened.
    pub version: u64,
    /// What happened.
    pub event: HistoryEvent,
}

/// Every change to the record of `type_name` whose primary key is `key` (one string per key
/// field), from the oldest version the store still reaches to the announced one. A consumer
/// walks the chain one delta at a time; snapshots are read only to start.
pub async fn history(
    store: &BlobStore,
    type_name: &str,
    key: &[&str],
) -> Result<Vec<HistoryEntry>> {
    let mut versions: Vec<u64> = store
        .list_blobs()
        .await?
        .into_iter()
        .flat_map(|k| match k {
            BlobKey::Snapshot { state } => vec![state.version],
            BlobKey::Delta { from, to } | BlobKey::ReverseDelta { from, to } => {
                vec![from.version, to.version]
            }
        })
        .collect();
    versions.sort_unstable();
    versions.dedup();
    let consumer = Consumer::builder(store.clone()).build().await?;
    let mut previous: Option<Value> = None;
    let mut entries = Vec::new();
    for version in versions {
        // Versions of failed attempts are not on the chain: skip them.
        if consumer.refresh_to(version).await.is_err() {
            continue;
        }
        let Some(state) = consumer.state() else {
            continue;
        };
        let current = match state.dyn_table(type_name) {
            Ok(table) => match table.get_by_key_strings(key)? {
                Some((_, record)) => Some(record.to_json()?),
                None => None,
            },
            Err(_) => None,
        };
        let event = match (&previous, &current) {
            (None, Some(now)) => Some(HistoryEvent::Added(now.clone())),
            (Some(_), None) => Some(HistoryEvent::Removed),
            (Some(before), Some(now)) if before != now => {
                let mut fields = Vec::new();
                if let (Some(b), Some(n)) = (before.as_object(), now.as_object()) {
                    for (name, value) in n {
                        let old = b.get(name).cloned().unwrap_or(Value::Null);
                        if &old != value {
                            fields.push(FieldChange {
                                field: name.clone(),
                                before: old,
                                after: value.clone(),
                            });
                        }
                    }
                }
                Some(HistoryEvent::Changed(fields))
            }
            _ => None,
        };
        if let Some(event) = event {
            entries.push(HistoryEntry { version, event });
        }
        previous = current;
    }
    Ok(entries)
}
