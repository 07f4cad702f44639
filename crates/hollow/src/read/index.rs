//! Secondary index lookups: the snapshot's index section plus what the deltas since added,
//! every candidate confirmed against its record.
//!
//! A lookup hashes the key's canonical bytes, takes the snapshot index's postings for that hash
//! and the ordinals the overlay's deltas added for it, merges them in ordinal order, and keeps
//! an ordinal only when it is populated and its current record has the key. Stale postings
//! (records removed or changed since the snapshot) and hash collisions therefore never match.
//! When the snapshot or a delta on the way was written without the index (it was declared
//! later), the lookup scans the type instead and says so ([`IndexSource::Scan`]).

use std::sync::Arc;

use capnp::private::layout::StructReader;

use smallvec::SmallVec;

use super::{RecordIter, TypeView};
use crate::error::{LookupError, Result};
use crate::format::Postings;
use crate::schema::{IndexKind, IndexPath, KeyBytes};

/// How a lookup finds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexSource {
    /// Through the index shipped in the blobs.
    Shipped,
    /// By scanning every record (the index is not shipped for this state).
    Scan,
}

/// A secondary index of a state's type, resolved once for any number of lookups.
#[derive(Clone)]
pub(crate) struct IndexView<'s> {
    view: TypeView<'s>,
    path: Arc<IndexPath>,
    base: Option<&'s crate::format::HashIndex>,
    added: Option<&'s super::overlay::Additions>,
    source: IndexSource,
}

impl<'s> IndexView<'s> {
    /// Resolves `name` ("genres", "title,year") among the indexes the state's schema declares
    /// for the type.
    pub(crate) fn new(view: TypeView<'s>, name: &str) -> Result<Self, LookupError> {
        let paths = view.schema.indexes(view.ty.type_id)?;
        let wanted = normalize(name);
        let Some(path) = paths.into_iter().find(|p| p.name() == wanted) else {
            let known: Vec<String> = view
                .schema
                .indexes(view.ty.type_id)?
                .iter()
                .map(|p| format!("{} ({})", p.name(), p.kind().name()))
                .collect();
            return Err(LookupError::UnknownIndex {
                type_name: view.ty.name.clone(),
                index: name.to_string(),
                known: if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                },
            });
        };
        Ok(Self::from_path(view, path))
    }

    /// An index view over `path`: shipped when the state carries it, a scan otherwise (an
    /// ad-hoc path always scans).
    pub(crate) fn from_path(view: TypeView<'s>, path: IndexPath) -> Self {
        let position = view
            .ty
            .indexes
            .iter()
            .position(|(p, _)| p.name() == path.name());
        let base = position.and_then(|i| view.loaded.indexes.get(i));
        let (added, complete) = match view.overlay {
            None => (None, base.is_some()),
            Some(o) => match o.index(path.name()) {
                Some(io) => (Some(&io.added), io.complete),
                None => (None, false),
            },
        };
        Self {
            view,
            path: Arc::new(path),
            base,
            added,
            source: if complete {
                IndexSource::Shipped
            } else {
                IndexSource::Scan
            },
        }
    }

    pub(crate) fn path(&self) -> &IndexPath {
        &self.path
    }

    pub(crate) fn source(&self) -> IndexSource {
        self.source
    }

    /// The records that have the key `encoded` (canonical bytes), with their ordinals, ascending.
    pub(crate) fn ordinals(&self, encoded: KeyBytes) -> IndexMatches<'s> {
        let source = match self.source {
            IndexSource::Scan => Source::Scan(self.view.records()),
            IndexSource::Shipped => {
                let hash = xxhash_rust::xxh3::xxh3_64(&encoded);
                let mut added: SmallVec<[u32; 4]> = self
                    .added
                    .map(|a| a.ordinals(hash).collect())
                    .unwrap_or_default();
                added.sort_unstable();
                added.dedup();
                let mut base = match self.base {
                    Some(b) => b.postings(hash),
                    None => crate::format::HashIndex::no_postings(),
                };
                Source::Merge {
                    next_base: base.next(),
                    base,
                    added,
                    added_at: 0,
                }
            }
        };
        IndexMatches {
            view: self.view,
            path: Arc::clone(&self.path),
            key: encoded,
            source,
            last: None,
        }
    }

    /// The first record with the key (a unique index has at most one).
    pub(crate) fn first(&self, encoded: KeyBytes) -> Option<(u32, StructReader<'s>)> {
        self.ordinals(encoded).next()
    }

    pub(crate) fn kind(&self) -> IndexKind {
        self.path.kind()
    }

    /// Facets: the `limit` keys most records have, with exact counts at this state, most first
    /// (ties by key). From the shipped index, a threshold walk: the snapshot section's
    /// `limit + FACET_SLACK` longest posting lists are counted exactly first; any other key
    /// hash (a shorter snapshot list, or a tag only the deltas' index additions hold) is
    /// counted only when its bound (its snapshot list plus its additions) reaches the
    /// `limit`-th count found, so the top keys are exact. A record no delta touched since the
    /// snapshot counts without being read; records the deltas brought are confirmed against
    /// their content. When the index is not shipped (`IndexSource::Scan`) every record's keys
    /// are counted. The second value is the number of distinct key hashes seen.
    pub(crate) fn facets(&self, limit: usize) -> (Vec<(KeyBytes, usize)>, usize) {
        let mut counted: Vec<(KeyBytes, usize)> = match (self.source, self.base) {
            (IndexSource::Shipped, Some(base)) => {
                let mut slots: Vec<(usize, u32, Postings<'s>)> = base
                    .slot_lists()
                    .map(|(tag, list)| (list.declared_len(), tag, list))
                    .collect();
                slots.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                let rest = slots.split_off(slots.len().min(limit.saturating_add(FACET_SLACK)));
                // Pairs the deltas added, per tag: a bound on what a key gained since.
                let mut gained: std::collections::HashMap<u32, usize> =
                    std::collections::HashMap::new();
                if let Some(added) = self.added {
                    for tag in added.tag_pairs() {
                        *gained.entry(tag).or_default() += 1;
                    }
                }
                let mut seen: std::collections::HashSet<u32> =
                    slots.iter().map(|(_, t, _)| *t).collect();
                let mut out: Vec<(KeyBytes, usize)> = slots
                    .into_iter()
                    .flat_map(|(_, tag, list)| self.count_tag(tag, Some(list)))
                    .filter(|(_, n)| *n > 0)
                    .collect();
                let threshold = |out: &mut Vec<(KeyBytes, usize)>| {
                    out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    out.get(limit.saturating_sub(1)).map_or(1, |(_, n)| *n)
                };
                let mut floor = threshold(&mut out);
                let mut distinct = seen.len() + rest.len();
                for (len, tag, list) in rest {
                    seen.insert(tag);
                    if len + gained.get(&tag).copied().unwrap_or(0) >= floor {
                        out.extend(
                            self.count_tag(tag, Some(list))
                                .into_iter()
                                .filter(|(_, n)| *n > 0),
                        );
                        floor = threshold(&mut out);
                    }
                }
                let mut new_tags: Vec<(usize, u32)> = gained
                    .into_iter()
                    .filter(|(t, _)| !seen.contains(t))
                    .map(|(t, n)| (n, t))
                    .collect();
                distinct += new_tags.len();
                new_tags.sort_unstable_by(|a, b| b.cmp(a));
                for (bound, tag) in new_tags {
                    if bound < floor {
                        break;
                    }
                    out.extend(
                        self.count_tag(tag, None)
                            .into_iter()
                            .filter(|(_, n)| *n > 0),
                    );
                    floor = threshold(&mut out);
                }
                out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                out.dedup_by(|a, b| a.0 == b.0);
                out.truncate(limit);
                return (out, distinct);
            }
            _ => {
                let mut counts: std::collections::HashMap<KeyBytes, usize> =
                    std::collections::HashMap::new();
                let mut keys = Vec::new();
                for (_, record) in self.view.records() {
                    keys.clear();
                    if self.path.record_keys(record, &mut keys).is_err() {
                        continue;
                    }
                    keys.sort_unstable();
                    keys.dedup();
                    for k in keys.drain(..) {
                        *counts.entry(k).or_default() += 1;
                    }
                }
                counts.into_iter().collect()
            }
        };
        let distinct = counted.len();
        counted.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counted.truncate(limit);
        (counted, distinct)
    }

    /// The keys with hash tag `tag` and how many records have each now. The slot's own key
    /// (found on a record of its posting `list` no delta has touched since the snapshot) counts
    /// those records unread and confirms the rest; any other key with this tag that a record
    /// the deltas brought has (a key new since the snapshot, or one sharing the tag) is counted
    /// by confirming every candidate.
    fn count_tag(&self, tag: u32, list: Option<Postings<'s>>) -> Vec<(KeyBytes, usize)> {
        let ordinals: Vec<u32> = list.map(Iterator::collect).unwrap_or_default();
        let mut added: Vec<u32> = self
            .added
            .map(|a| a.ordinals_of_tag(tag).collect())
            .unwrap_or_default();
        added.sort_unstable();
        added.dedup();
        let mut keys = Vec::new();
        let mut keys_with_tag = |o: u32| -> Vec<KeyBytes> {
            keys.clear();
            match self.view.get(o) {
                Some(r) if self.path.record_keys(r, &mut keys).is_ok() => keys
                    .drain(..)
                    .filter(|k| crate::format::hash_tag(xxhash_rust::xxh3::xxh3_64(k)) == tag)
                    .collect(),
                _ => Vec::new(),
            }
        };
        let has_key = |o: u32, key: &KeyBytes| {
            self.view
                .get(o)
                .is_some_and(|r| self.path.record_has(r, key))
        };
        let mut out = Vec::new();
        let own = ordinals
            .iter()
            .copied()
            .filter(|&o| self.view.is_snapshot_record(o))
            .find_map(|o| keys_with_tag(o).into_iter().next());
        if let Some(key) = &own {
            let count = ordinals
                .iter()
                .filter(|&&o| self.view.is_snapshot_record(o) || has_key(o, key))
                .count()
                + added
                    .iter()
                    .filter(|o| ordinals.binary_search(o).is_err() && has_key(**o, key))
                    .count();
            out.push((key.clone(), count));
        }
        let mut others = std::collections::BTreeSet::new();
        for o in ordinals
            .iter()
            .copied()
            .filter(|&o| !self.view.is_snapshot_record(o))
            .chain(added.iter().copied())
        {
            others.extend(
                keys_with_tag(o)
                    .into_iter()
                    .filter(|k| own.as_ref() != Some(k)),
            );
        }
        for key in others {
            let hash = xxhash_rust::xxh3::xxh3_64(&key);
            let mut candidates: Vec<u32> = match self.base {
                Some(b) => b.postings(hash).collect(),
                None => Vec::new(),
            };
            candidates.extend(&added);
            candidates.sort_unstable();
            candidates.dedup();
            let count = candidates.iter().filter(|&&o| has_key(o, &key)).count();
            out.push((key, count));
        }
        out
    }
}

/// Keys counted beyond a facet's limit: a key ranked just below it in the snapshot may have
/// gained records since.
const FACET_SLACK: usize = 8;

/// "title, year" → "title,year".
fn normalize(name: &str) -> String {
    name.split(',').map(str::trim).collect::<Vec<_>>().join(",")
}

enum Source<'s> {
    Merge {
        base: Postings<'s>,
        next_base: Option<u32>,
        added: SmallVec<[u32; 4]>,
        added_at: usize,
    },
    Scan(RecordIter<'s>),
}

/// The records matching one index lookup with their ordinals, ascending (see
/// [`IndexView::ordinals`]).
pub(crate) struct IndexMatches<'s> {
    view: TypeView<'s>,
    path: Arc<IndexPath>,
    key: KeyBytes,
    source: Source<'s>,
    /// The last ordinal yielded: candidates are ascending, so a repeated or smaller one (only
    /// a corrupt index has them) is skipped.
    last: Option<u32>,
}

impl<'s> Iterator for IndexMatches<'s> {
    type Item = (u32, StructReader<'s>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let candidate = match &mut self.source {
                Source::Scan(records) => {
                    let (o, r) = records.next()?;
                    if self.path.record_has(r, &self.key) {
                        return Some((o, r));
                    }
                    continue;
                }
                Source::Merge {
                    base,
                    next_base,
                    added,
                    added_at,
                } => {
                    let from_added = added.get(*added_at).copied();
                    match (*next_base, from_added) {
                        (None, None) => return None,
                        (Some(b), Some(a)) if a < b => {
                            *added_at += 1;
                            a
                        }
                        (Some(b), Some(a)) if a == b => {
                            *added_at += 1;
                            *next_base = base.next();
                            b
                        }
                        (Some(b), _) => {
                            *next_base = base.next();
                            b
                        }
                        (None, Some(a)) => {
                            *added_at += 1;
                            a
                        }
                    }
                }
            };
            if self.last.is_some_and(|last| candidate <= last) {
                continue;
            }
            if let Some(r) = self.view.get(candidate)
                && self.path.record_has(r, &self.key)
            {
                self.last = Some(candidate);
                return Some((candidate, r));
            }
        }
    }
}
