//! `combine`: the records of several states as one producer cycle, keyed by primary key (the
//! last state given wins a key), and `filter`: a snapshot of a state with a subset of its types.

use std::collections::{BTreeMap, HashSet};

use crate::bytes::BlobBytes;
use crate::error::{CycleError, Result};
use crate::read::ReadState;
use crate::schema::KeyBytes;
use crate::write::{Cycle, WriteState};

/// What [`combine`] did for one type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CombinedType {
    /// Records added to the cycle.
    pub records: u64,
    /// Records not added because a later state has a record with the same primary key.
    pub shadowed: u64,
}

/// Adds the records of every type the cycle's producer registers, from every state of `states`
/// that has the type, to `cycle`. For keyed types the **last** state holding a key wins (the
/// others' records with that key are counted as shadowed); keyless records are all added
/// (identical ones are one record). Types a state does not have are skipped.
///
/// ```no_run
/// # async fn f(producer: hollow::Producer, east: hollow::ReadState, west: hollow::ReadState) -> hollow::Result<()> {
/// producer
///     .run_cycle(|cycle| hollow::tools::combine(&[&east, &west], cycle).map(|_| ()))
///     .await?;
/// # Ok(()) }
/// ```
pub fn combine(
    states: &[&ReadState],
    cycle: &mut Cycle<'_>,
) -> Result<BTreeMap<String, CombinedType>, CycleError> {
    let types: Vec<(String, Option<crate::schema::KeyPath>)> = cycle
        .types()
        .map(|(name, key)| (name.to_string(), key.cloned()))
        .collect();
    let mut report = BTreeMap::new();
    for (name, key) in types {
        let mut counts = CombinedType::default();
        let mut seen: HashSet<KeyBytes> = HashSet::new();
        let mut bytes = KeyBytes::new();
        for state in states.iter().rev() {
            let Ok(table) = state.dyn_table(&name) else {
                continue;
            };
            for (_, record) in table.iter() {
                if let Some(key) = &key {
                    key.encode_record(record.raw(), &mut bytes)?;
                    if !seen.insert(bytes.clone()) {
                        counts.shadowed += 1;
                        continue;
                    }
                }
                cycle.add_raw(&name, record.raw())?;
                counts.records += 1;
            }
        }
        report.insert(name, counts);
    }
    Ok(report)
}

/// A snapshot of `state` holding only the types for which `keep(name)` holds: same dataset,
/// version, tag, schema and header tags, every record at its ordinal (so each kept type's state
/// checksum is the original's).
pub fn filter(state: &ReadState, keep: impl Fn(&str) -> bool) -> Result<BlobBytes, CycleError> {
    let mut builder = WriteState::builder(state.dataset()).schema(state.schema().clone());
    for (k, v) in state.header_tags() {
        builder = builder.header_tag(k, v);
    }
    let kept: Vec<_> = state
        .types()
        .into_iter()
        .filter(|t| keep(&t.name))
        .collect();
    for t in &kept {
        builder = builder.register_name(&t.name);
    }
    let mut out = builder.build()?;
    for (index, t) in kept.iter().enumerate() {
        let table = state.dyn_table(&t.name)?;
        for (ordinal, record) in table.iter() {
            let staged = out.stage(index, record.raw())?;
            out.insert_at(index, ordinal, staged);
        }
        out.types[index]
            .records
            .resize_with(t.ordinal_capacity as usize, || None);
    }
    out.write_snapshot(&state.state_id())
}
