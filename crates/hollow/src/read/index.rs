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
}

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
