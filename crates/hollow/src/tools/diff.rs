//! Differences between two states of a dataset, type by type: records added, removed and
//! changed (by primary key, with the fields that differ; keyless types by content).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{LookupError, Result};
use crate::read::{DynTable, ReadState};

/// A field whose value differs.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// Field name (top level).
    pub field: String,
    /// Value in the first state (`null` when absent).
    pub before: Value,
    /// Value in the second state.
    pub after: Value,
}

/// A record present in both states whose content differs.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordChange {
    /// The primary key, rendered (one string per key field).
    pub key: Vec<String>,
    /// The fields that differ.
    pub fields: Vec<FieldChange>,
}

/// The differences of one type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TypeDiff {
    /// Type name.
    pub name: String,
    /// Records only in the second state.
    pub added: Vec<Value>,
    /// Records only in the first state.
    pub removed: Vec<Value>,
    /// Records in both with different content (keyed types only).
    pub changed: Vec<RecordChange>,
}

/// The key of a record, as strings in key field order (`Null` fields as "null").
fn key_of(record: &Value, key: &[&str]) -> Vec<String> {
    key.iter()
        .map(|path| {
            let v = path
                .split('.')
                .try_fold(record, |v, part| v.get(part))
                .unwrap_or(&Value::Null);
            match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        })
        .collect()
}

fn records(table: &DynTable<'_>) -> Result<Vec<Value>, LookupError> {
    table.iter().map(|(_, r)| r.to_json()).collect()
}

/// The differences from state `a` to state `b`, for every type both have (or only `only`).
pub fn diff(
    a: &ReadState,
    b: &ReadState,
    only: Option<&str>,
) -> Result<Vec<TypeDiff>, LookupError> {
    let mut out = Vec::new();
    for summary in b.dataset_types() {
        if only.is_some_and(|t| t != summary.name) {
            continue;
        }
        let after = b.dyn_table(&summary.name)?;
        let before_records = match a.dyn_table(&summary.name) {
            Ok(t) => records(&t)?,
            Err(_) => Vec::new(), // a type new in `b`
        };
        let after_records = records(&after)?;
        let key = after.primary_key();
        let mut d = TypeDiff {
            name: summary.name.clone(),
            ..TypeDiff::default()
        };
        if key.is_empty() {
            let count = |rs: &[Value]| {
                let mut m: BTreeMap<String, (usize, Value)> = BTreeMap::new();
                for r in rs {
                    m.entry(r.to_string()).or_insert((0, r.clone())).0 += 1;
                }
                m
            };
            let (ca, cb) = (count(&before_records), count(&after_records));
            d.removed = ca
                .iter()
                .filter(|(k, _)| !cb.contains_key(*k))
                .map(|(_, (_, v))| v.clone())
                .collect();
            d.added = cb
                .iter()
                .filter(|(k, _)| !ca.contains_key(*k))
                .map(|(_, (_, v))| v.clone())
                .collect();
        } else {
            let by_key = |rs: Vec<Value>| -> BTreeMap<Vec<String>, Value> {
                rs.into_iter().map(|r| (key_of(&r, &key), r)).collect()
            };
            let (ka, kb) = (by_key(before_records), by_key(after_records));
            for (k, old) in &ka {
                match kb.get(k) {
                    None => d.removed.push(old.clone()),
                    Some(new) if new != old => {
                        let mut fields = Vec::new();
                        let names: std::collections::BTreeSet<&String> = old
                            .as_object()
                            .into_iter()
                            .chain(new.as_object())
                            .flat_map(|o| o.keys())
                            .collect();
                        for f in names {
                            let (x, y) = (
                                old.get(f).unwrap_or(&Value::Null),
                                new.get(f).unwrap_or(&Value::Null),
                            );
                            if x != y {
                                fields.push(FieldChange {
                                    field: f.clone(),
                                    before: x.clone(),
                                    after: y.clone(),
                                });
                            }
                        }
                        d.changed.push(RecordChange {
                            key: k.clone(),
                            fields,
                        });
                    }
                    Some(_) => {}
                }
            }
            d.added = kb
                .iter()
                .filter(|(k, _)| !ka.contains_key(*k))
                .map(|(_, v)| v.clone())
                .collect();
        }
        out.push(d);
    }
    Ok(out)
}
