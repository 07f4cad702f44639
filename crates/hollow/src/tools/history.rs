//! The history of one record: every version in which it was added, changed (with the fields
//! that changed) or removed, found by following the deltas of the announced chain.

use serde_json::Value;

use super::FieldChange;

use crate::consumer::Consumer;
use crate::error::{LookupError, RefreshError, Result};
use crate::store::BlobStore;

/// Serialized as `{"version":3,"added":{…}}`, `{"version":3,"changed":[{"field","before",
/// "after"}]}` or `{"version":3,"removed":true}`.
impl serde::Serialize for HistoryEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("version", &self.version)?;
        match &self.event {
            HistoryEvent::Added(record) => map.serialize_entry("added", record)?,
            HistoryEvent::Changed(fields) => map.serialize_entry("changed", fields)?,
            HistoryEvent::Removed => map.serialize_entry("removed", &true)?,
        }
        map.end()
    }
}

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
/// field), from the oldest version of the announced chain the store still reaches to the
/// announced one. A consumer walks the chain one delta at a time; snapshots are read only to
/// start.
///
/// Errors, rather than a partial history: nothing announced, a version of the chain that
/// cannot be loaded, a type no version of the chain has, a key that does not parse.
pub async fn history(
    store: &BlobStore,
    type_name: &str,
    key: &[&str],
) -> Result<Vec<HistoryEntry>> {
    history_with(Consumer::builder(store.clone()), store, type_name, key).await
}

/// [`history`], walking the chain with a consumer built from `consumer` (a builder of the same
/// store: its blob cache, `map_local_store_in_place`, limits), e.g. one that maps a local
/// store's blobs in place instead of reading them into memory.
pub async fn history_with(
    consumer: crate::ConsumerBuilder,
    store: &BlobStore,
    type_name: &str,
    key: &[&str],
) -> Result<Vec<HistoryEntry>> {
    // Only the announced chain: blobs of failed attempts or of another lineage are not history.
    let chain = super::announced_chain(store).await?;
    if chain.is_empty() {
        return Err(RefreshError::NoPath { from: None, to: 0 }.into());
    }
    let consumer = consumer.build().await?;
    let mut previous: Option<Value> = None;
    let mut entries = Vec::new();
    let mut type_seen = false;
    for version in chain.iter().map(|s| s.version) {
        consumer.refresh_to(version).await?;
        let Some(state) = consumer.state() else {
            return Err(RefreshError::NoPath {
                from: None,
                to: version,
            }
            .into());
        };
        let current = match state.dyn_table(type_name) {
            Ok(table) => {
                type_seen = true;
                match table.get_by_key_strings(key)? {
                    Some((_, record)) => Some(record.to_json()?),
                    None => None,
                }
            }
            // A type added or dropped by a schema change is absent from some versions.
            Err(LookupError::UnknownType { .. }) => None,
            Err(e) => return Err(e.into()),
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
    if !type_seen {
        return Err(LookupError::UnknownType {
            name: type_name.to_string(),
        }
        .into());
    }
    Ok(entries)
}
