//! Differences between two states of a dataset, type by type: records added, removed and
//! changed (by primary key, with the fields that differ; keyless types by content).
//!
//! Two states of one announced chain differ only at the ordinals the deltas between them
//! touch ([`touched_between`]): [`changes`] given those compares just the records there, so a
//! diff costs O(changed records), not O(records). Without them (states of different chains)
//! it compares every record. Changes name ordinals; a caller materialises (and streams) only
//! the records it prints.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::error::{LookupError, Result};
use crate::read::{DynTable, ReadDelta, ReadState};
use crate::store::{BlobKey, BlobStore};

/// A field whose value differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Field name (top level).
    pub field: String,
    /// Value in the first state (`null` when absent).
    pub before: Value,
    /// Value in the second state.
    pub after: Value,
}

/// A record present in both states whose content differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordChange {
    /// The primary key, rendered (one string per key field).
    pub key: Vec<String>,
    /// The fields that differ.
    pub fields: Vec<FieldChange>,
}

/// The differences of one type, records as JSON values (see [`diff`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TypeDiff {
    /// Type name.
    #[serde(rename = "type")]
    pub name: String,
    /// Records only in the second state.
    pub added: Vec<Value>,
    /// Records only in the first state.
    pub removed: Vec<Value>,
    /// Records in both with different content (keyed types only).
    pub changed: Vec<RecordChange>,
}

/// A changed record of [`TypeChanges`]: where it is in each state, and what differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrdinalChange {
    /// The primary key, rendered (one string per key field).
    pub key: Vec<String>,
    /// Its ordinal in the first state.
    pub before: u32,
    /// Its ordinal in the second state.
    pub after: u32,
    /// The fields that differ.
    pub fields: Vec<FieldChange>,
}

/// The differences of one type by ordinal: only changed records were read, and only the
/// changed fields are held.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TypeChanges {
    /// Type name.
    #[serde(rename = "type")]
    pub name: String,
    /// Ordinals (in the second state) of records only there, ascending.
    pub added: Vec<u32>,
    /// Ordinals (in the first state) of records only there, ascending.
    pub removed: Vec<u32>,
    /// Records in both whose content differs (keyed types only), in key order.
    pub changed: Vec<OrdinalChange>,
}

impl TypeChanges {
    /// True when the type did not change.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Ordinals per type name: those the deltas between two states touched.
pub type Touched = BTreeMap<String, BTreeSet<u32>>;

/// The ordinals the deltas of the announced chain between versions `a` and `b` (either order)
/// empty or fill, per type, and the number of deltas read; `None` when either version is not
/// on the announced chain or a delta between them is missing (compare every record then).
/// Reads only the delta blobs between them.
pub async fn touched_between(
    store: &BlobStore,
    a: u64,
    b: u64,
) -> Result<Option<(Touched, usize)>> {
    let (lo, hi) = (a.min(b), a.max(b));
    let chain = super::announced_chain(store).await?;
    let (Some(from), Some(to)) = (
        chain.iter().position(|s| s.version == lo),
        chain.iter().position(|s| s.version == hi),
    ) else {
        return Ok(None);
    };
    let blobs: BTreeSet<BlobKey> = store.list_blobs().await?.into_iter().collect();
    let mut touched = Touched::new();
    let mut deltas = 0;
    for pair in chain[from..=to].windows(2) {
        let (s, t) = (pair[0], pair[1]);
        // The forward delta, else the reverse one: either touches the same ordinals.
        let key = [
            BlobKey::Delta { from: s, to: t },
            BlobKey::ReverseDelta { from: t, to: s },
        ]
        .into_iter()
        .find(|k| blobs.contains(k));
        let Some(key) = key else {
            return Ok(None);
        };
        let delta = ReadDelta::from_bytes(store.get_blob(&key).await?, &key.relative())?;
        deltas += 1;
        for t in delta.types() {
            if t.removed.is_empty() && t.upserted.is_empty() {
                continue;
            }
            touched
                .entry(t.name.clone())
                .or_default()
                .extend(t.removed.iter().chain(&t.upserted).copied());
        }
    }
    Ok(Some((touched, deltas)))
}

/// The key of a record (as JSON), as strings in key field order — one per key field path
/// (`a.b` reaches into nested structs), as `hollow get` takes them; a `Null` field is "null".
pub fn key_of(record: &Value, key: &[impl AsRef<str>]) -> Vec<String> {
    key.iter()
        .map(|path| {
            let v = path
                .as_ref()
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

/// `(ordinal, record)` of `table` at `ordinals` (every record when `None`).
fn records_at(
    table: Option<&DynTable<'_>>,
    ordinals: Option<&BTreeSet<u32>>,
) -> Result<Vec<(u32, Value)>, LookupError> {
    let Some(table) = table else {
        return Ok(Vec::new());
    };
    match ordinals {
        Some(set) => set
            .iter()
            .filter_map(|&o| table.get(o).map(|r| (o, r)))
            .map(|(o, r)| Ok((o, r.to_json()?)))
            .collect(),
        None => table.iter().map(|(o, r)| Ok((o, r.to_json()?))).collect(),
    }
}

fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let names: BTreeSet<&String> = old
        .as_object()
        .into_iter()
        .chain(new.as_object())
        .flat_map(|o| o.keys())
        .collect();
    let mut fields = Vec::new();
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
    fields
}

/// The differences from state `a` to state `b` by ordinal, for every dataset type of `b` (or
/// only `only`). With `touched` (from [`touched_between`]) only the records at those ordinals
/// are read, and a type the deltas did not touch is unchanged; without it every record of
/// both states is compared.
pub fn changes(
    a: &ReadState,
    b: &ReadState,
    only: Option<&str>,
    touched: Option<&Touched>,
) -> Result<Vec<TypeChanges>, LookupError> {
    let mut out = Vec::new();
    for summary in b.dataset_types() {
        if only.is_some_and(|t| t != summary.name) {
            continue;
        }
        let mut d = TypeChanges {
            name: summary.name.clone(),
            ..TypeChanges::default()
        };
        let ordinals = match touched {
            Some(t) => match t.get(&summary.name) {
                Some(set) => Some(set),
                None => {
                    out.push(d);
                    continue;
                }
            },
            None => None,
        };
        let after = b.dyn_table(&summary.name)?;
        let before = a.dyn_table(&summary.name).ok(); // none: a type new in `b`
        let old = records_at(before.as_ref(), ordinals)?;
        let new = records_at(Some(&after), ordinals)?;
        let key = after.primary_key();
        if key.is_empty() {
            // By content: a record whose text is in one state more often than in the other.
            let mut count: HashMap<String, (Vec<u32>, Vec<u32>)> = HashMap::new();
            for (o, r) in &old {
                count.entry(r.to_string()).or_default().0.push(*o);
            }
            for (o, r) in &new {
                count.entry(r.to_string()).or_default().1.push(*o);
            }
            for (_, (x, y)) in count {
                let common = x.len().min(y.len());
                d.removed.extend(&x[common..]);
                d.added.extend(&y[common..]);
            }
        } else {
            let mut by_key: BTreeMap<Vec<String>, (u32, Value)> = old
                .into_iter()
                .map(|(o, r)| (key_of(&r, &key), (o, r)))
                .collect();
            let mut changed = BTreeMap::new();
            for (o, r) in new {
                let k = key_of(&r, &key);
                match by_key.remove(&k) {
                    None => d.added.push(o),
                    Some((before, old)) if old != r => {
                        let fields = field_changes(&old, &r);
                        changed.insert(
                            k.clone(),
                            OrdinalChange {
                                key: k,
                                before,
                                after: o,
                                fields,
                            },
                        );
                    }
                    Some(_) => {}
                }
            }
            d.removed = by_key.into_values().map(|(o, _)| o).collect();
            d.changed = changed.into_values().collect();
        }
        d.added.sort_unstable();
        d.removed.sort_unstable();
        out.push(d);
    }
    Ok(out)
}

/// The differences from state `a` to state `b`, for every dataset type of `b` (or only
/// `only`), with the records as JSON values. Compares every record: for two versions of one
/// chain, [`touched_between`] and [`changes`] read only the changed ones.
pub fn diff(
    a: &ReadState,
    b: &ReadState,
    only: Option<&str>,
) -> Result<Vec<TypeDiff>, LookupError> {
    let mut out = Vec::new();
    for c in changes(a, b, only, None)? {
        let json = |state: &ReadState, ordinals: &[u32]| -> Result<Vec<Value>, LookupError> {
            let table = state.dyn_table(&c.name)?;
            ordinals
                .iter()
                .filter_map(|&o| table.get(o))
                .map(|r| r.to_json())
                .collect()
        };
        out.push(TypeDiff {
            added: json(b, &c.added)?,
            removed: json(a, &c.removed)?,
            changed: c
                .changed
                .iter()
                .map(|ch| RecordChange {
                    key: ch.key.clone(),
                    fields: ch.fields.clone(),
                })
                .collect(),
            name: c.name,
        });
    }
    Ok(out)
}
