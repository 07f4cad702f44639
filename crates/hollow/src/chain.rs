//! The announced chain: the states linked back from a head state by the store's deltas and
//! reverse deltas, and the blobs that join them.
//!
//! One walker for everything that follows a dataset's versions: the consumer plans refreshes
//! over a [`Chain`] (`consumer/plan.rs`) and the producer restores along one
//! (`producer/restore.rs`). Linking is a pure function of a store listing, so it is tested
//! without a store.

use std::collections::{HashMap, HashSet};

use crate::StateId;
use crate::error::{Result, StoreError};
use crate::store::{BlobKey, BlobStore};

/// A state of the dataset.
pub(crate) type State = StateId;

/// The versions of the announced chain and the blobs that join them.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    /// From the oldest reachable state to the head. Versions strictly increase.
    pub(crate) states: Vec<State>,
    /// Snapshots by state (those of states off the chain are never looked up).
    pub(crate) snapshots: HashMap<State, BlobKey>,
    /// The forward delta out of each state to the next state on the chain.
    pub(crate) deltas: HashMap<State, BlobKey>,
    /// The reverse delta out of each state to the previous state on the chain.
    pub(crate) reverse: HashMap<State, BlobKey>,
}

impl Chain {
    /// Lists the store and links the chain back from `head`, ignoring the blobs in `exclude`.
    pub(crate) async fn list(
        store: &BlobStore,
        head: State,
        exclude: &HashSet<BlobKey>,
    ) -> Result<Chain, StoreError> {
        Ok(Chain::link(store.list_blobs().await?, head, exclude))
    }

    /// Links the chain back from `head` over the blobs in `keys`, ignoring those in `exclude`.
    /// A state's predecessor comes from the forward delta into it, else from the reverse delta
    /// out of it; the walk stops at a state with neither, or at a link that does not go back
    /// in version.
    pub(crate) fn link(
        keys: impl IntoIterator<Item = BlobKey>,
        head: State,
        exclude: &HashSet<BlobKey>,
    ) -> Chain {
        let mut snapshots = HashMap::new();
        let mut deltas = HashMap::new();
        let mut reverse = HashMap::new();
        // Each state's predecessor, from forward deltas (to → from) and reverse deltas
        // (from → to): either is enough to link the chain.
        let mut back: HashMap<State, State> = HashMap::new();
        for k in keys.into_iter().filter(|k| !exclude.contains(k)) {
            match k {
                BlobKey::Snapshot { state } => {
                    snapshots.insert(state, k);
                }
                BlobKey::Delta { from, to } => {
                    deltas.insert((from, to), k);
                    back.insert(to, from);
                }
                BlobKey::ReverseDelta { from, to } => {
                    reverse.insert(from, k);
                    back.entry(from).or_insert(to);
                }
            }
        }
        let mut states = vec![head];
        let mut at = head;
        while let Some(prev) = back.get(&at) {
            if prev.version >= at.version {
                break; // versions only grow along a chain; anything else is not one
            }
            states.push(*prev);
            at = *prev;
        }
        states.reverse();
        // The forward delta out of each state on the chain, when it exists (failed attempts may
        // have left other deltas out of the same state).
        let deltas: HashMap<State, BlobKey> = states
            .windows(2)
            .filter_map(|w| deltas.get(&(w[0], w[1])).map(|k| (w[0], *k)))
            .collect();
        // Reverse deltas must lead to the previous state on the chain.
        let previous: HashMap<State, State> = states.windows(2).map(|w| (w[1], w[0])).collect();
        reverse.retain(|from, k| {
            matches!(k, BlobKey::ReverseDelta { to, .. } if previous.get(from) == Some(to))
        });
        Chain {
            states,
            snapshots,
            deltas,
            reverse,
        }
    }

    /// Where `state` is on the chain.
    pub(crate) fn position(&self, state: State) -> Option<usize> {
        self.states.iter().position(|s| *s == state)
    }

    /// The snapshot of the state at `at`, if the store has one.
    pub(crate) fn snapshot(&self, at: usize) -> Option<BlobKey> {
        self.snapshots.get(self.states.get(at)?).copied()
    }

    /// The forward deltas from the state at `from` to the one at `to` (`from <= to`), in the
    /// order they apply; `None` when one is missing.
    pub(crate) fn forward(&self, from: usize, to: usize) -> Option<Vec<BlobKey>> {
        self.states
            .get(from..to)?
            .iter()
            .map(|s| self.deltas.get(s).copied())
            .collect()
    }

    /// The reverse deltas from the state at `from` back to the one at `to` (`to <= from`), in
    /// the order they apply; `None` when one is missing.
    pub(crate) fn backward(&self, from: usize, to: usize) -> Option<Vec<BlobKey>> {
        self.states
            .get(to + 1..=from)?
            .iter()
            .rev()
            .map(|s| self.reverse.get(s).copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(from: State, to: State) -> BlobKey {
        BlobKey::Delta { from, to }
    }

    fn reverse(from: State, to: State) -> BlobKey {
        BlobKey::ReverseDelta { from, to }
    }

    fn snapshot(state: State) -> BlobKey {
        BlobKey::Snapshot { state }
    }

    fn st(version: u64, tag: u64) -> State {
        StateId::new(version, tag)
    }

    #[test]
    fn links_by_deltas_or_reverse_deltas_and_ignores_other_attempts() {
        let (a, b, c, d) = (st(1, 11), st(2, 22), st(3, 33), st(4, 44));
        let failed_attempt = st(3, 99);
        let keys = vec![
            snapshot(a),
            delta(a, b),
            reverse(b, a),
            reverse(c, b), // the forward delta 2→3 is gone: the reverse one links
            delta(c, d),
            delta(b, failed_attempt),
            reverse(failed_attempt, b),
            snapshot(failed_attempt),
        ];
        let chain = Chain::link(keys, d, &HashSet::new());
        assert_eq!(chain.states, [a, b, c, d]);
        assert_eq!(chain.forward(0, 1), Some(vec![delta(a, b)]));
        assert_eq!(chain.forward(0, 3), None, "delta 2→3 is missing");
        assert_eq!(chain.forward(2, 3), Some(vec![delta(c, d)]));
        assert_eq!(
            chain.backward(2, 0),
            Some(vec![reverse(c, b), reverse(b, a)])
        );
        assert_eq!(chain.backward(3, 2), None, "no reverse delta 4→3");
        assert_eq!(chain.forward(1, 1), Some(vec![]));
        assert_eq!(chain.snapshot(0), Some(snapshot(a)));
        assert_eq!(chain.snapshot(2), None);
        assert_eq!(chain.position(failed_attempt), None);
    }

    #[test]
    fn an_excluded_blob_is_not_a_link() {
        let (a, b, c) = (st(1, 1), st(2, 2), st(3, 3));
        let keys = vec![snapshot(a), delta(a, b), delta(b, c), reverse(c, b)];
        let chain = Chain::link(keys.clone(), c, &HashSet::from([delta(b, c)]));
        assert_eq!(
            chain.states,
            [a, b, c],
            "the reverse delta still links 3 to 2"
        );
        assert_eq!(chain.forward(1, 2), None);
        let chain = Chain::link(keys, c, &HashSet::from([delta(b, c), reverse(c, b)]));
        assert_eq!(chain.states, [c]);
    }

    proptest::proptest! {
        /// Versions 1..=n, each link (forward delta into v, reverse delta out of v) present or
        /// not and excluded or not: the chain is the longest run back from the head whose
        /// every state is linked, and its maps hold exactly the usable blobs of that run.
        #[test]
        fn the_chain_is_the_linked_run_back_from_the_head(
            n in 1..12u64,
            links in proptest::collection::vec((0..4u8, 0..4u8), 12),
        ) {
            let s = |v: u64| st(v, v * 16 + 1);
            let mut keys = Vec::new();
            let mut exclude = HashSet::new();
            // 0: absent, 1: excluded, 2 and 3: present.
            let usable = |v: u64, which: usize| {
                let (d, r) = links[usize::try_from(v).expect("small")];
                (if which == 0 { d } else { r }) >= 2
            };
            for v in 2..=n {
                let (d, r) = links[usize::try_from(v).expect("small")];
                for (state, k) in [(d, delta(s(v - 1), s(v))), (r, reverse(s(v), s(v - 1)))] {
                    if state >= 1 {
                        keys.push(k);
                    }
                    if state == 1 {
                        exclude.insert(k);
                    }
                }
            }
            let chain = Chain::link(keys, s(n), &exclude);
            let first = (2..=n)
                .rev()
                .find(|&v| !usable(v, 0) && !usable(v, 1))
                .unwrap_or(1);
            let expected: Vec<State> = (first..=n).map(s).collect();
            proptest::prop_assert_eq!(&chain.states, &expected);
            for (i, v) in (first..=n).enumerate() {
                proptest::prop_assert_eq!(
                    chain.forward(i, i + 1).is_some(),
                    v < n && usable(v + 1, 0)
                );
                proptest::prop_assert_eq!(
                    i.checked_sub(1).and_then(|p| chain.backward(i, p)).is_some(),
                    v > first && usable(v, 1)
                );
            }
        }
    }

    #[test]
    fn a_link_that_does_not_go_back_in_version_ends_the_walk() {
        let (a, b) = (st(5, 1), st(7, 2));
        let chain = Chain::link(vec![delta(b, a), reverse(a, b)], a, &HashSet::new());
        assert_eq!(chain.states, [a]);
    }
}
