//! Applying a cycle's changes in place with an undo log ([`Applied`]), and reverting them.

use super::cycle::TypeChanges;
use super::{Staged, TypeTarget, WriteState};

/// What applying changes did to one type: enough to undo it and to write both deltas.
#[derive(Debug, Default)]
pub(crate) struct TypeApplied {
    /// The type before the changes.
    pub(crate) before: Option<TypeTarget>,
    /// Records removed, with their old content.
    pub(crate) removed: Vec<(u32, Staged)>,
    /// Records replaced, with their old content.
    pub(crate) changed: Vec<(u32, Staged)>,
    /// Ordinals filled with new records (ascending).
    pub(crate) added: Vec<u32>,
    /// Ordinal capacity before the changes.
    pub(crate) old_capacity: usize,
}

/// The result of [`WriteState::apply_changes`].
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub(crate) types: Vec<TypeApplied>,
}

/// Counts of one type's changes in a cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeChangeCounts {
    /// Records added (new identities).
    pub added: u32,
    /// Records updated in place (same identity, new content).
    pub updated: u32,
    /// Records removed.
    pub removed: u32,
}

impl Applied {
    /// True when nothing changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.types
            .iter()
            .all(|t| t.removed.is_empty() && t.changed.is_empty() && t.added.is_empty())
    }

    /// Per-type counts.
    pub(crate) fn counts(&self) -> Vec<TypeChangeCounts> {
        self.types
            .iter()
            .map(|t| TypeChangeCounts {
                added: u32::try_from(t.added.len()).unwrap_or(u32::MAX),
                updated: u32::try_from(t.changed.len()).unwrap_or(u32::MAX),
                removed: u32::try_from(t.removed.len()).unwrap_or(u32::MAX),
            })
            .collect()
    }
}

impl WriteState {
    /// The current target of type `index` (capacity, count, checksum).
    pub(crate) fn target(&self, index: usize) -> TypeTarget {
        let ty = &self.types[index];
        TypeTarget {
            capacity: u32::try_from(ty.records.len()).unwrap_or(u32::MAX),
            record_count: ty.populated,
            checksum: ty.checksum.value(),
            record_parts: 0,
        }
    }

    /// Applies `changes` in place. Removed ordinals are not reused by this call's additions;
    /// additions fill ordinals that were already empty, lowest first, then grow the type.
    pub(crate) fn apply_changes(&mut self, changes: Vec<TypeChanges>) -> Applied {
        let mut applied = Applied::default();
        for (index, change) in changes.into_iter().enumerate() {
            let mut t = TypeApplied {
                before: Some(self.target(index)),
                old_capacity: self.types[index].records.len(),
                ..TypeApplied::default()
            };
            if change.is_empty() {
                applied.types.push(t);
                continue;
            }
            // Ordinals that were already empty before this cycle (scanned only when needed).
            let holes: Vec<u32> = if change.added.is_empty() {
                Vec::new()
            } else {
                (0u32..)
                    .zip(&self.types[index].records)
                    .filter(|(_, r)| r.is_none())
                    .map(|(o, _)| o)
                    .collect()
            };
            for o in change.removed {
                if let Some(old) = self.remove_at(index, o) {
                    t.removed.push((o, old));
                }
            }
            for (o, new) in change.changed {
                if let Some(old) = self.remove_at(index, o) {
                    t.changed.push((o, old));
                }
                self.insert_at(index, o, new);
            }
            let mut holes = holes.into_iter();
            let mut next = u32::try_from(t.old_capacity).unwrap_or(u32::MAX);
            for new in change.added {
                let o = holes.next().unwrap_or_else(|| {
                    next += 1;
                    next - 1
                });
                self.insert_at(index, o, new);
                t.added.push(o);
            }
            t.added.sort_unstable();
            applied.types.push(t);
        }
        applied
    }

    /// Reverts [`WriteState::apply_changes`].
    pub(crate) fn undo(&mut self, applied: Applied) {
        for (index, t) in applied.types.into_iter().enumerate() {
            for o in t.added {
                self.remove_at(index, o);
            }
            for (o, old) in t.changed {
                self.remove_at(index, o);
                self.insert_at(index, o, old);
            }
            for (o, old) in t.removed {
                self.insert_at(index, o, old);
            }
            self.types[index].records.truncate(t.old_capacity);
        }
    }
}

#[cfg(test)]
mod tests {
    use hollow_movies::movies_capnp::movie;

    use super::*;
    use crate::write::Incremental;

    #[test]
    fn undo_restores_the_state_exactly() {
        let mut state = WriteState::builder("t")
            .register::<movie::Owned>()
            .build()
            .expect("state");
        let mut message = capnp::message::Builder::new_default();
        for id in 1..=4u64 {
            let mut m = message.init_root::<movie::Builder<'_>>();
            m.set_id(id);
            m.set_title("original");
            state.add::<movie::Owned>(m.into_reader()).expect("add");
        }
        let before = (state.target(0), state.types[0].records.len());

        let mut inc = Incremental::new(&mut state);
        assert!(inc.delete::<movie::Owned>(2u64).expect("delete"));
        for (id, title) in [(3u64, "changed"), (9, "new")] {
            let mut m = message.init_root::<movie::Builder<'_>>();
            m.set_id(id);
            m.set_title(title);
            inc.upsert::<movie::Owned>(m.into_reader()).expect("upsert");
        }
        let changes = inc.finish();
        let applied = state.apply_changes(changes);
        assert_eq!(
            applied.counts()[0],
            TypeChangeCounts {
                added: 1,
                updated: 1,
                removed: 1
            }
        );
        assert_eq!(
            applied.types[0].added,
            [4],
            "removed ordinals are not reused"
        );
        assert_eq!(state.target(0).record_count, 4);
        assert_ne!(state.target(0), before.0);

        state.undo(applied);
        assert_eq!((state.target(0), state.types[0].records.len()), before);
    }
}
