//! The producer's integrity check before announcing: the delta and reverse delta it wrote are
//! read back with `read/` and checked against the write state (docs/FORMAT.md §18). It needs
//! both sides, so it lives here and `write/` never imports `read/`.

use crate::bytes::BlobBytes;
use crate::capnp_raw::AnyStructReader;
use crate::error::{CycleError, Result};
use crate::read::ReadDelta;
use crate::write::{Applied, TypeTarget, WriteState};

/// The integrity check before announcement: proves, from the bytes of the written blobs
/// and content hashes alone, that `prev + delta = new` and `new + reverse = prev` (the state
/// is at `new`). Every record a blob carries is re-canonicalized and hashed; the resulting
/// state checksums and counts must equal the states' own and what the blobs promise.
pub(super) fn verify_deltas(
    state: &WriteState,
    applied: &Applied,
    delta: &BlobBytes,
    reverse: &BlobBytes,
) -> Result<(), CycleError> {
    // The bytes were written a moment ago: anything unreadable is an integrity failure.
    let unreadable = |e: crate::error::OpenError| CycleError::Integrity {
        type_name: "*".to_string(),
        reason: format!("a written blob does not read back: {e}"),
    };
    let forward = ReadDelta::from_bytes(delta.clone(), "<new delta>").map_err(unreadable)?;
    let backward =
        ReadDelta::from_bytes(reverse.clone(), "<new reverse delta>").map_err(unreadable)?;
    for (index, t) in applied.types.iter().enumerate() {
        let ty = &state.types[index];
        let before = t.before.unwrap_or_else(|| state.target(index));
        let after = state.target(index);
        let olds: std::collections::HashMap<u32, u64> = t
            .removed
            .iter()
            .chain(&t.changed)
            .map(|(o, s)| (*o, s.record.hash))
            .collect();
        let added: std::collections::HashSet<u32> = t.added.iter().copied().collect();
        let current = |o: u32| {
            ty.records
                .get(o as usize)
                .and_then(Option::as_ref)
                .map(|r| r.hash)
        };
        // Hash of ordinal `o` in the previous state and in the new state.
        let prev_hash = |o: u32| {
            olds.get(&o)
                .copied()
                .or_else(|| if added.contains(&o) { None } else { current(o) })
        };
        let new_hash = current;
        check_one(state, &forward, index, before, after, prev_hash)?;
        check_one(state, &backward, index, after, before, new_hash)?;
    }
    Ok(())
}

fn check_one(
    state: &WriteState,
    delta: &ReadDelta,
    index: usize,
    from: TypeTarget,
    to: TypeTarget,
    hash_in_from: impl Fn(u32) -> Option<u64>,
) -> Result<(), CycleError> {
    let ty = &state.types[index];
    let fail = |reason: String| CycleError::Integrity {
        type_name: ty.info.name.clone(),
        reason,
    };
    let Some(change) = delta.types().iter().find(|c| c.type_id == ty.info.id) else {
        return Err(fail(format!(
            "{} has no entry for the type",
            delta.blob_name()
        )));
    };
    let mut checksum = crate::state_checksum::TypeChecksum::from_value(from.checksum);
    let mut count = i64::from(from.record_count);
    for &o in &change.removed {
        let h = hash_in_from(o)
            .ok_or_else(|| fail(format!("{} removes empty ordinal {o}", delta.blob_name())))?;
        checksum.remove(o, h);
        count -= 1;
    }
    for upsert in change.upserts() {
        let (o, record) = upsert?;
        match hash_in_from(o) {
            Some(h) => checksum.remove(o, h),
            None => count += 1,
        }
        let size = record
            .total_size()
            .map_err(|e| CycleError::capnp("measuring a delta record", e))?
            .word_count;
        let words = crate::capnp_raw::canonical_words::<crate::capnp_raw::AnyStruct, _>(
            AnyStructReader::from(record),
            size,
        )
        .map_err(|e| CycleError::capnp("canonicalizing a delta record", e))?;
        checksum.add(
            o,
            xxhash_rust::xxh3::xxh3_64(capnp::Word::words_to_bytes(&words)),
        );
    }
    let promised = (change.record_count, change.checksum);
    let computed = (u32::try_from(count).unwrap_or(u32::MAX), checksum.value());
    if computed != (to.record_count, to.checksum) || promised != computed {
        return Err(fail(format!(
            "{} applied to {} records (checksum {:#x}) gives {} records (checksum {:#x}); the state has {} ({:#x}) and the blob promises {} ({:#x})",
            delta.blob_name(),
            from.record_count,
            from.checksum,
            computed.0,
            computed.1,
            to.record_count,
            to.checksum,
            promised.0,
            promised.1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hollow_movies::movies_capnp::movie;

    use super::*;
    use crate::StateId;
    use crate::error::CycleError;
    use crate::write::{Cycle, TypeChangeCounts, TypeChanges};

    fn state_with(titles: &[(u64, &str)]) -> (WriteState, Vec<TypeChanges>) {
        let mut state = WriteState::builder("t")
            .register::<movie::Owned>()
            .build()
            .expect("state");
        let mut message = capnp::message::Builder::new_default();
        for id in 1..=3u64 {
            let mut m = message.init_root::<movie::Builder>();
            m.set_id(id);
            m.set_title("original");
            state.add::<movie::Owned>(m.into_reader()).expect("add");
        }
        state.set_current(Some(StateId { version: 1, tag: 1 }));
        let mut cycle = Cycle::new(&mut state);
        for (id, title) in titles {
            let mut m = message.init_root::<movie::Builder>();
            m.set_id(*id);
            m.set_title(*title);
            cycle.add::<movie::Owned>(m.into_reader()).expect("add");
        }
        let changes = cycle.finish();
        (state, changes)
    }

    #[test]
    fn verify_deltas_accepts_its_own_blobs_and_refuses_foreign_ones() {
        let edits = [(1, "original"), (2, "changed"), (4, "new")];
        let (mut state, changes) = state_with(&edits);
        let applied = state.apply_changes(changes);
        assert_eq!(
            applied.counts()[0],
            TypeChangeCounts {
                added: 1,
                updated: 1,
                removed: 1
            }
        );
        let (from, to) = (
            StateId { version: 1, tag: 1 },
            StateId { version: 2, tag: 2 },
        );
        let (delta, reverse) = state.write_deltas(&applied, from, to).expect("deltas");
        verify_deltas(&state, &applied, &delta, &reverse).expect("its own deltas verify");

        // Blobs of a different change (record 2 got another title) must not verify.
        let (mut other, other_changes) =
            state_with(&[(1, "original"), (2, "something else"), (4, "new")]);
        let other_applied = other.apply_changes(other_changes);
        let (bad_delta, bad_reverse) = other
            .write_deltas(&other_applied, from, to)
            .expect("deltas");
        assert!(matches!(
            verify_deltas(&state, &applied, &bad_delta, &reverse),
            Err(CycleError::Integrity { .. })
        ));
        // The other reverse delta restores the same old records, so it is a valid reverse here;
        // a forward delta passed as the reverse is not.
        verify_deltas(&state, &applied, &delta, &bad_reverse).expect("same old records");
        assert!(matches!(
            verify_deltas(&state, &applied, &delta, &delta),
            Err(CycleError::Integrity { .. })
        ));

        // Undo restores the previous state exactly.
        let before = state.types[0].checksum;
        state.undo(applied);
        assert_ne!(state.types[0].checksum, before);
        assert_eq!(state.types[0].populated, 3);
        let (fresh, _) = state_with(&[]);
        assert_eq!(state.types[0].checksum, fresh.types[0].checksum);
        assert_eq!(state.types[0].records.len(), 3);
    }
}
