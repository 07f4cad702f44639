//! Refresh planning: a pure function from a [`Chain`], the current state and a target to the
//! blobs to load, in order.
//!
//! From the current state: forward by deltas or backward by reverse deltas, at most
//! `max_deltas` of them and no more than its overlay can still take. Otherwise (no current state, the current state off the chain, a
//! missing link, a path too long, or a current state that carries `max_deltas` overlaid deltas
//! already and so is compacted) a snapshot, then deltas: the nearest snapshot at or before the
//! target and deltas forward, else the nearest after it and reverse deltas back.

use crate::chain::{Chain, State};
use crate::read::MAX_OVERLAY_DELTAS;
use crate::store::BlobKey;

/// One step of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Load this snapshot (beside the current state).
    Snapshot(BlobKey),
    /// Apply this delta or reverse delta to the state so far.
    Delta(BlobKey),
}

impl Step {
    /// The blob of the step.
    pub(crate) fn key(&self) -> BlobKey {
        match self {
            Step::Snapshot(k) | Step::Delta(k) => *k,
        }
    }
}

/// What planning needs to know of the state a consumer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Current {
    /// Its version and tag.
    pub(crate) state: State,
    /// Deltas overlaid on its snapshot (`ReadState::overlay_depth`).
    pub(crate) overlay_depth: usize,
    /// Version of its snapshot (`ReadState::base_version`).
    pub(crate) base_version: u64,
}

/// The steps from `current` to the state at `target` on `chain`; `None` when there is no path.
pub(crate) fn plan(
    chain: &Chain,
    current: Option<&Current>,
    target: usize,
    max_deltas: usize,
) -> Option<Vec<Step>> {
    let position = current.and_then(|c| chain.position(c.state));
    // Compaction: a state already carrying max_deltas overlaid deltas is rebuilt from a
    // snapshot (a newer one when the chain has one on the way), which resets its overlay.
    if let Some(c) = current
        && c.overlay_depth + 1 > max_deltas
        && let Some(plan) = snapshot_plan(chain, target, Some(c.base_version), max_deltas)
            .or_else(|| snapshot_plan(chain, target, None, max_deltas))
    {
        return Some(plan);
    }
    // From the current state, along the chain: at most max_deltas deltas, and never more than
    // its overlay can still take (ReadState::apply_delta refuses a state past the limit).
    let room = current.map_or(0, |c| MAX_OVERLAY_DELTAS.saturating_sub(c.overlay_depth));
    let max_path = max_deltas.min(room);
    if let Some(at) = position {
        if at <= target
            && target - at <= max_path
            && let Some(deltas) = chain.forward(at, target)
        {
            return Some(deltas.into_iter().map(Step::Delta).collect());
        }
        if at > target
            && at - target <= max_path
            && let Some(reverses) = chain.backward(at, target)
        {
            return Some(reverses.into_iter().map(Step::Delta).collect());
        }
    }
    snapshot_plan(chain, target, None, max_deltas)
}

/// A snapshot at or before the target then deltas, else one after it then reverse deltas;
/// with `newer_than`, only snapshots of a later version count.
fn snapshot_plan(
    chain: &Chain,
    target: usize,
    newer_than: Option<u64>,
    max_deltas: usize,
) -> Option<Vec<Step>> {
    let newer = |snap: &usize| newer_than.is_none_or(|v| chain.states[*snap].version > v);
    let with_snapshot = |snapshot: BlobKey, deltas: Vec<BlobKey>| {
        std::iter::once(Step::Snapshot(snapshot))
            .chain(deltas.into_iter().map(Step::Delta))
            .collect()
    };
    for snap in (0..=target).rev().take(max_deltas + 1).filter(newer) {
        if let Some(key) = chain.snapshot(snap)
            && let Some(deltas) = chain.forward(snap, target)
        {
            return Some(with_snapshot(key, deltas));
        }
    }
    for snap in (target + 1..chain.states.len().min(target + 1 + max_deltas)).filter(newer) {
        if let Some(key) = chain.snapshot(snap)
            && let Some(reverses) = chain.backward(snap, target)
        {
            return Some(with_snapshot(key, reverses));
        }
    }
    None
}

/// The plan for the common refresh — the serving state is the announced version's previous
/// one — read off the announcement alone, without listing the store: apply the delta it names.
/// `None` when that is not the case, when the delta is `avoided`, or when the state could not
/// take one more delta (the listing-based [`plan`] then compacts).
pub(crate) fn announced_delta(
    announcement: &crate::store::Announcement,
    current: Option<&Current>,
    max_deltas: usize,
    avoided: &std::collections::HashSet<BlobKey>,
) -> Option<Vec<Step>> {
    let current = current?;
    let delta = announcement.delta?;
    let fits = current.overlay_depth < max_deltas.min(MAX_OVERLAY_DELTAS);
    let expected = BlobKey::Delta {
        from: current.state,
        to: announcement.state(),
    };
    (fits
        && announcement.previous == Some(current.state)
        && delta == expected
        && !avoided.contains(&delta))
    .then(|| vec![Step::Delta(delta)])
}

/// A plan for people: `snapshot 1, delta 1→2, delta 2→3`.
pub(crate) fn describe(steps: &[Step]) -> String {
    let describe: Vec<String> = steps
        .iter()
        .map(|s| match s {
            Step::Snapshot(BlobKey::Snapshot { state }) => format!("snapshot {}", state.version),
            Step::Delta(BlobKey::Delta { from, to } | BlobKey::ReverseDelta { from, to }) => {
                format!("delta {}→{}", from.version, to.version)
            }
            _ => String::new(),
        })
        .collect();
    describe.join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::StateId;

    #[test]
    fn the_announced_delta_is_the_plan_when_it_starts_at_the_serving_state() {
        let at = |v: u64| StateId::new(v, tag(v));
        let delta = BlobKey::Delta {
            from: at(4),
            to: at(5),
        };
        let announcement = crate::store::Announcement {
            dataset: "d".into(),
            version: 5,
            tag: tag(5),
            schema_fingerprint: 0,
            published_at_millis: 0,
            previous: Some(at(4)),
            snapshot: None,
            delta: Some(delta),
            reverse_delta: Some(BlobKey::ReverseDelta {
                from: at(5),
                to: at(4),
            }),
            latest_snapshot: None,
        };
        let serving = |state: StateId, depth: usize| Current {
            state,
            overlay_depth: depth,
            base_version: 1,
        };
        let none = HashSet::new();
        assert_eq!(
            announced_delta(&announcement, Some(&serving(at(4), 3)), 32, &none),
            Some(vec![Step::Delta(delta)])
        );
        // Not from here: another version, another attempt at version 4, no state at all.
        assert_eq!(
            announced_delta(&announcement, Some(&serving(at(3), 0)), 32, &none),
            None
        );
        let other = StateId::new(4, junk_tag(4));
        assert_eq!(
            announced_delta(&announcement, Some(&serving(other, 0)), 32, &none),
            None
        );
        assert_eq!(announced_delta(&announcement, None, 32, &none), None);
        // A state at its delta limit is compacted by the listing-based plan instead.
        assert_eq!(
            announced_delta(&announcement, Some(&serving(at(4), 32)), 32, &none),
            None
        );
        assert_eq!(
            announced_delta(&announcement, Some(&serving(at(4), 2)), 2, &none),
            None
        );
        // A delta that just failed is not planned from the announcement.
        let avoided: HashSet<BlobKey> = [delta].into_iter().collect();
        assert_eq!(
            announced_delta(&announcement, Some(&serving(at(4), 0)), 32, &avoided),
            None
        );
        // No delta announced (a first version, or a snapshot-only cycle).
        let first = crate::store::Announcement {
            delta: None,
            ..announcement.clone()
        };
        assert_eq!(
            announced_delta(&first, Some(&serving(at(4), 0)), 32, &none),
            None
        );
    }

    /// Tag of version `v` on the announced chain; other attempts at `v` carry `junk_tag(v)`.
    fn tag(v: u64) -> u64 {
        v * 16 + 1
    }

    fn junk_tag(v: u64) -> u64 {
        v * 16 + 9
    }

    fn snapshot(v: u64, t: u64) -> BlobKey {
        BlobKey::Snapshot {
            state: StateId::new(v, t),
        }
    }

    fn delta(from: u64, to: u64) -> BlobKey {
        BlobKey::Delta {
            from: StateId::new(from, tag(from)),
            to: StateId::new(to, tag(to)),
        }
    }

    fn reverse(from: u64, to: u64) -> BlobKey {
        BlobKey::ReverseDelta {
            from: StateId::new(from, tag(from)),
            to: StateId::new(to, tag(to)),
        }
    }

    /// Versions 1..=n with every blob: snapshots where `snapshots` says.
    fn full_chain(n: u64, snapshots: &[u64]) -> Chain {
        let mut keys: Vec<BlobKey> = snapshots.iter().map(|v| snapshot(*v, tag(*v))).collect();
        for v in 1..n {
            keys.push(delta(v, v + 1));
            keys.push(reverse(v + 1, v));
        }
        Chain::link(keys, StateId::new(n, tag(n)), &HashSet::new())
    }

    fn at(v: u64, overlay_depth: usize, base_version: u64) -> Current {
        Current {
            state: StateId::new(v, tag(v)),
            overlay_depth,
            base_version,
        }
    }

    /// The plans of `tests/consumer.rs`'s walk across snapshots 1, 4 and 7 of 8 versions.
    #[test]
    fn forward_backward_and_from_nothing() {
        let chain = full_chain(8, &[1, 4, 7]);
        let p = |c: Option<Current>, v: usize| {
            plan(&chain, c.as_ref(), v - 1, 32).map(|s| describe(&s))
        };
        assert_eq!(p(None, 2).as_deref(), Some("snapshot 1, delta 1→2"));
        assert_eq!(
            p(Some(at(2, 1, 1)), 6).as_deref(),
            Some("delta 2→3, delta 3→4, delta 4→5, delta 5→6")
        );
        assert_eq!(
            p(Some(at(8, 1, 7)), 3).as_deref(),
            Some("delta 8→7, delta 7→6, delta 6→5, delta 5→4, delta 4→3")
        );
        assert_eq!(
            p(None, 6).as_deref(),
            Some("snapshot 4, delta 4→5, delta 5→6")
        );
        assert_eq!(p(None, 7).as_deref(), Some("snapshot 7"));
    }

    #[test]
    fn a_path_longer_than_max_deltas_loads_a_snapshot() {
        let chain = full_chain(8, &[1, 7]);
        let steps = plan(&chain, Some(&at(1, 0, 1)), 7, 2).map(|s| describe(&s));
        assert_eq!(steps.as_deref(), Some("snapshot 7, delta 7→8"));
        // Before the target and out of reach, after it and within: reverse deltas.
        let steps = plan(&chain, None, 5, 2).map(|s| describe(&s));
        assert_eq!(steps.as_deref(), Some("snapshot 7, delta 7→6"));
        assert_eq!(
            plan(&chain, None, 3, 2),
            None,
            "version 4: no snapshot within 2"
        );
    }

    #[test]
    fn a_full_overlay_compacts_onto_a_newer_snapshot() {
        let chain = full_chain(8, &[1, 4, 7]);
        let steps = plan(&chain, Some(&at(6, 4, 1)), 7, 4).map(|s| describe(&s));
        assert_eq!(steps.as_deref(), Some("snapshot 7, delta 7→8"));
        // No snapshot newer than the base within reach: any snapshot.
        let chain = full_chain(8, &[1, 7]);
        let steps = plan(&chain, Some(&at(3, 4, 1)), 1, 4).map(|s| describe(&s));
        assert_eq!(steps.as_deref(), Some("snapshot 1, delta 1→2"));
        // No snapshot at all: deltas all the same.
        let chain = full_chain(8, &[]);
        let steps = plan(&chain, Some(&at(6, 4, 1)), 7, 4).map(|s| describe(&s));
        assert_eq!(steps.as_deref(), Some("delta 6→7, delta 7→8"));
    }

    /// Bug: with `max_deltas` near the overlay's hard limit (255), a state carrying fewer than
    /// `max_deltas` deltas was planned a delta path that took it past the limit; the refresh
    /// failed with `TooManyDeltas` and blamed (and excluded) a good delta.
    #[test]
    fn a_delta_path_never_takes_the_overlay_past_its_limit() {
        let chain = full_chain(8, &[1]);
        let steps = plan(&chain, Some(&at(2, 253, 1)), 7, 255).map(|s| describe(&s));
        assert_eq!(
            steps.as_deref(),
            Some(
                "snapshot 1, delta 1→2, delta 2→3, delta 3→4, delta 4→5, delta 5→6, delta 6→7, \
                 delta 7→8"
            )
        );
        let steps = plan(&chain, Some(&at(2, 249, 1)), 7, 255).map(|s| describe(&s));
        assert_eq!(
            steps.map(|s| s.matches("delta").count()),
            Some(6),
            "6 more fit"
        );
    }

    /// A random store: versions 1..=n, each blob present or not, failed or not, and blobs of
    /// other attempts (junk tags) beside them.
    #[derive(Debug, Clone)]
    struct Store {
        n: u64,
        /// Per version (index v - 1): snapshot, delta into it, reverse delta out of it.
        snapshot: Vec<bool>,
        delta: Vec<bool>,
        reverse: Vec<bool>,
        /// Per version: that blob failed before.
        snapshot_failed: Vec<bool>,
        delta_failed: Vec<bool>,
        reverse_failed: Vec<bool>,
        /// Per version: a failed attempt at it left a snapshot, delta and reverse delta.
        junk: Vec<bool>,
    }

    impl Store {
        fn keys(&self) -> (Vec<BlobKey>, HashSet<BlobKey>) {
            let mut keys = Vec::new();
            let mut failed = HashSet::new();
            for v in 1..=self.n {
                let i = usize::try_from(v - 1).expect("small");
                let mut add = |present: bool, is_failed: bool, k: BlobKey| {
                    if present {
                        keys.push(k);
                        if is_failed {
                            failed.insert(k);
                        }
                    }
                };
                add(
                    self.snapshot[i],
                    self.snapshot_failed[i],
                    snapshot(v, tag(v)),
                );
                if v > 1 {
                    add(self.delta[i], self.delta_failed[i], delta(v - 1, v));
                    add(self.reverse[i], self.reverse_failed[i], reverse(v, v - 1));
                    if self.junk[i] {
                        keys.push(snapshot(v, junk_tag(v)));
                        keys.push(BlobKey::Delta {
                            from: StateId::new(v - 1, tag(v - 1)),
                            to: StateId::new(v, junk_tag(v)),
                        });
                        keys.push(BlobKey::ReverseDelta {
                            from: StateId::new(v, junk_tag(v)),
                            to: StateId::new(v - 1, tag(v - 1)),
                        });
                    }
                }
            }
            (keys, failed)
        }

        fn idx(v: u64) -> usize {
            usize::try_from(v - 1).expect("small")
        }

        fn usable_snapshot(&self, v: u64) -> bool {
            self.snapshot[Self::idx(v)] && !self.snapshot_failed[Self::idx(v)]
        }

        /// Forward deltas from `a` to `b` (a <= b), all present and not failed.
        fn forward_ok(&self, a: u64, b: u64) -> bool {
            (a + 1..=b).all(|v| self.delta[Self::idx(v)] && !self.delta_failed[Self::idx(v)])
        }

        /// Reverse deltas from `a` back to `b` (b <= a), all present and not failed.
        fn backward_ok(&self, a: u64, b: u64) -> bool {
            (b + 1..=a).all(|v| self.reverse[Self::idx(v)] && !self.reverse_failed[Self::idx(v)])
        }

        /// Snapshot versions from which `t` is reachable within `max` deltas.
        fn snapshot_paths(&self, t: u64, max: usize) -> Vec<u64> {
            let max = max as u64;
            (1..=self.n)
                .filter(|&s| {
                    self.usable_snapshot(s)
                        && if s <= t {
                            t - s <= max && self.forward_ok(s, t)
                        } else {
                            s - t <= max && self.backward_ok(s, t)
                        }
                })
                .collect()
        }
    }

    fn store() -> impl Strategy<Value = Store> {
        const N: usize = 10;
        let bools = |p: f64| proptest::collection::vec(proptest::bool::weighted(p), N);
        (
            1..=N as u64,
            bools(0.3),
            bools(0.85),
            bools(0.8),
            (bools(0.1), bools(0.1), bools(0.1)),
            bools(0.2),
        )
            .prop_map(|(n, snapshot, delta, reverse, (sf, df, rf), junk)| Store {
                n,
                snapshot,
                delta,
                reverse,
                snapshot_failed: sf,
                delta_failed: df,
                reverse_failed: rf,
                junk,
            })
    }

    /// The serving state: a version of the line (or of another attempt), its overlay depth and
    /// the version of its snapshot.
    fn current() -> impl Strategy<Value = Option<(u64, bool, usize, u64)>> {
        proptest::option::of((
            1..=10u64,
            proptest::bool::weighted(0.1),
            prop_oneof![0..8usize, 240..=255usize],
            0..10u64,
        ))
    }

    fn max_deltas() -> impl Strategy<Value = usize> {
        prop_oneof![1..6usize, 250..=255usize]
    }

    /// Follows `steps` from `current`: the state reached, or why they do not lead anywhere.
    fn follow(
        steps: &[Step],
        current: Option<&Current>,
        keys: &HashSet<BlobKey>,
        failed: &HashSet<BlobKey>,
    ) -> std::result::Result<State, String> {
        let mut at: Option<State> = current.map(|c| c.state);
        for (i, step) in steps.iter().enumerate() {
            let key = step.key();
            if !keys.contains(&key) {
                return Err(format!("step {i}: {key:?} is not in the store"));
            }
            if failed.contains(&key) {
                return Err(format!("step {i}: {key:?} failed before"));
            }
            match (step, key) {
                (Step::Snapshot(_), BlobKey::Snapshot { state }) if i == 0 => {
                    at = Some(state);
                }
                (
                    Step::Delta(_),
                    BlobKey::Delta { from, to } | BlobKey::ReverseDelta { from, to },
                ) if at == Some(from) => at = Some(to),
                _ => return Err(format!("step {i}: {step:?} does not follow from {at:?}")),
            }
        }
        at.ok_or_else(|| "no state".to_string())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn plans_end_at_the_target_over_usable_blobs_preferring_deltas(
            store in store(),
            current in current(),
            target in 0..100usize,
            max in max_deltas(),
        ) {
            let (keys, failed) = store.keys();
            let head = StateId::new(store.n, tag(store.n));
            let chain = Chain::link(keys.iter().copied(), head, &failed);
            let target = target % chain.states.len();
            let StateId { version: tv, tag: tt } = chain.states[target];
            prop_assert_eq!(tt, tag(tv), "only the line's states are on the chain");
            let current = current.map(|(v, other, depth, base)| {
                let v = v.min(store.n);
                Current {
                    state: StateId::new(v, if other { junk_tag(v) } else { tag(v) }),
                    overlay_depth: depth,
                    base_version: base.min(v),
                }
            });
            // A refresh to the state it serves returns before planning.
            prop_assume!(current.map(|c| c.state) != Some(StateId::new(tv, tt)));
            let steps = plan(&chain, current.as_ref(), target, max);
            let keys: HashSet<BlobKey> = keys.into_iter().collect();

            // The direct delta path from the serving state, if there is a usable one.
            let direct = current.filter(|c| c.state.tag == tag(c.state.version)).and_then(|c| {
                let cv = c.state.version;
                let k = usize::try_from(cv.abs_diff(tv)).expect("small");
                let ok = if cv <= tv { store.forward_ok(cv, tv) } else { store.backward_ok(cv, tv) };
                (ok && k <= max && c.overlay_depth + k <= MAX_OVERLAY_DELTAS).then_some((c, k))
            });
            let snapshots = store.snapshot_paths(tv, max);

            match &steps {
                None => {
                    // No plan only when there is no way.
                    prop_assert!(direct.is_none(), "a delta path was missed");
                    prop_assert!(snapshots.is_empty(), "snapshot paths {:?} were missed", snapshots);
                }
                Some(steps) => {
                    // Ends at the target, over blobs that exist and did not fail.
                    let reached = follow(steps, current.as_ref(), &keys, &failed);
                    prop_assert_eq!(reached, Ok(StateId::new(tv, tt)));
                    let deltas = steps.iter().filter(|s| matches!(s, Step::Delta(_))).count();
                    prop_assert!(deltas <= max, "{} deltas, max {}", deltas, max);
                    match steps.first() {
                        Some(Step::Snapshot(k)) => {
                            let BlobKey::Snapshot { state: StateId { version: s, .. } } = *k else {
                                unreachable!("follow checked it")
                            };
                            prop_assert!(snapshots.contains(&s));
                            let compacting = current.is_some_and(|c| c.overlay_depth + 1 > max);
                            if compacting {
                                // Onto a newer snapshot than the serving state's when one serves.
                                let base = current.map_or(0, |c| c.base_version);
                                if snapshots.iter().any(|&v| v > base) {
                                    prop_assert!(s > base, "compacted onto {} with base {}", s, base);
                                }
                            } else {
                                // Deltas within the limit are preferred to a snapshot.
                                prop_assert!(direct.is_none(), "snapshot {} over deltas", s);
                                // The nearest snapshot at or before the target, else after it.
                                let nearest = snapshots
                                    .iter()
                                    .filter(|&&v| v <= tv)
                                    .max()
                                    .or_else(|| snapshots.iter().min());
                                prop_assert_eq!(Some(&s), nearest);
                            }
                        }
                        Some(Step::Delta(_)) => {
                            // From the serving state: the direct path, within every limit.
                            let c = current.expect("follow checked it");
                            prop_assert!(c.overlay_depth + deltas <= MAX_OVERLAY_DELTAS,
                                "depth {} + {} deltas > {}", c.overlay_depth, deltas, MAX_OVERLAY_DELTAS);
                            prop_assert_eq!(direct.map(|d| d.1), Some(deltas));
                            if c.overlay_depth + 1 > max {
                                prop_assert!(snapshots.is_empty(), "no compaction onto {:?}", snapshots);
                            }
                        }
                        None => prop_assert!(false, "an empty plan (the target is served already)"),
                    }
                }
            }
        }
    }
}
