//! Dynamic lookups by field name with values given as strings: the primary key, a secondary
//! index, or a scan, whichever answers `FIELD=VALUE…` (the CLI's `query` and the explorer).

use super::dynamic::{DynRecord, DynTable};
use super::index::{IndexSource, IndexView};
use crate::error::{LookupError, Result};
use crate::schema::{IndexKind, IndexPath};

/// How a [`DynTable::query`] finds its records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryPlan {
    /// The primary-key index.
    PrimaryKey,
    /// A secondary index; `shipped` is false when the state does not carry it and the lookup
    /// scans.
    Index {
        /// The index name (its field paths).
        name: String,
        /// Unique or hash.
        kind: IndexKind,
        /// Whether the index shipped in the blobs answers (else a scan).
        shipped: bool,
    },
    /// No index covers these fields: every record is checked.
    Scan,
}

impl std::fmt::Display for QueryPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryPlan::PrimaryKey => write!(f, "primary-key index"),
            QueryPlan::Index {
                name,
                kind,
                shipped: true,
            } => write!(f, "{} index {name}", kind.name()),
            QueryPlan::Index {
                name,
                kind,
                shipped: false,
            } => write!(
                f,
                "scan ({} index {name} is not shipped in this state's blobs)",
                kind.name()
            ),
            QueryPlan::Scan => write!(f, "scan (no index on these fields)"),
        }
    }
}

/// The records a query matched, with the plan that found them.
pub struct QueryResult<'s> {
    /// How the records were found.
    pub plan: QueryPlan,
    records: Box<dyn Iterator<Item = (u32, DynRecord<'s>)> + 's>,
}

impl<'s> Iterator for QueryResult<'s> {
    type Item = (u32, DynRecord<'s>);

    fn next(&mut self) -> Option<Self::Item> {
        self.records.next()
    }
}

/// A secondary index of a [`DynTable`], looked up with string values.
pub struct DynIndex<'s> {
    table: DynTable<'s>,
    index: IndexView<'s>,
}

impl<'s> DynIndex<'s> {
    /// The keys `record` has under this index (empty when they cannot be read).
    pub(crate) fn keys_of(&self, record: &DynRecord<'_>) -> Vec<crate::schema::KeyBytes> {
        let mut keys = Vec::new();
        if self
            .index
            .path()
            .record_keys(record.raw(), &mut keys)
            .is_err()
        {
            keys.clear();
        }
        keys
    }

    /// Ordinals of the records with the canonical key `encoded`.
    pub(crate) fn lookup_encoded(
        &self,
        encoded: crate::schema::KeyBytes,
    ) -> impl Iterator<Item = u32> + use<'s> {
        self.index.ordinals(encoded).map(|(o, _)| o)
    }

    /// Unique or hash.
    pub fn kind(&self) -> IndexKind {
        self.index.kind()
    }

    /// Whether lookups go through the shipped index or scan.
    pub fn source(&self) -> IndexSource {
        self.index.source()
    }

    /// The `limit` keys most records have, with exact counts at this state. With the shipped
    /// index this reads the snapshot index's posting lists and only the records deltas have
    /// brought since (a key only such records have is not ranked); without it every record is
    /// read ([`Facets::scanned`]). Unlike lookups, which confirm every candidate against its
    /// record, the counts trust the snapshot's (checksummed) index section for the records no
    /// delta has touched.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hollow::{ReadState, StateId, WriteState};
    /// use hollow_movies::movies_capnp::movie;
    ///
    /// let mut state = WriteState::builder("movies").register::<movie::Owned>().build()?;
    /// for (id, genres) in [(1u64, &["Drama", "War"][..]), (2, &["Drama"]), (3, &["Comedy"])] {
    ///     let mut message = capnp::message::Builder::new_default();
    ///     let mut m = message.init_root::<movie::Builder>();
    ///     m.set_id(id);
    ///     let mut list = m.init_genres(genres.len() as u32);
    ///     for (i, g) in genres.iter().enumerate() {
    ///         list.set(i as u32, *g);
    ///     }
    ///     state.add::<movie::Owned>(message.get_root_as_reader()?)?;
    /// }
    /// let read = ReadState::from_bytes(state.write_snapshot(&StateId { version: 1, tag: 1 })?, "<mem>")?;
    /// let facets = read.dyn_table("Movie")?.index("genres")?.facets(2)?;
    /// assert_eq!(facets.values[0].values, [Some("Drama".to_string())]);
    /// assert_eq!(facets.values[0].count, 2);
    /// assert_eq!(facets.values.len(), 2);
    /// assert_eq!(facets.distinct, 3);
    /// assert!(!facets.scanned);
    /// # Ok(()) }
    /// ```
    pub fn facets(&self, limit: usize) -> Result<Facets, LookupError> {
        let (keys, distinct) = self.index.facets(limit);
        let path = self.index.path();
        let values = keys
            .into_iter()
            .map(|(key, count)| {
                let values = path
                    .query_values(&key)
                    .ok_or_else(|| LookupError::InvalidKey {
                        type_name: self.table.name().to_string(),
                        reason: format!("index {} holds a key that does not decode", path.name()),
                    })?;
                Ok(FacetValue { values, count })
            })
            .collect::<Result<Vec<_>, LookupError>>()?;
        Ok(Facets {
            index: path.name().to_string(),
            values,
            distinct,
            scanned: self.index.source() == IndexSource::Scan,
        })
    }

    /// Records whose key equals `values` (one string per index field, parsed by the field's
    /// type; enums by name or number), in ordinal order.
    pub fn lookup_strings(
        &self,
        values: &[&str],
    ) -> Result<impl Iterator<Item = (u32, DynRecord<'s>)> + use<'s>, LookupError> {
        let encoded = self.index.path().encode_strings(values)?;
        let table = self.table;
        Ok(self
            .index
            .ordinals(encoded)
            .map(move |(o, r)| (o, table.record_of(r))))
    }
}

/// One value of a facet: the key (one lookup string per index field, `None` for an unset
/// Text or Data field, as [`DynIndex::lookup_strings`] takes them) and how many records have
/// it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FacetValue {
    /// The key, one value per index field.
    pub values: Vec<Option<String>>,
    /// Records that have it (a record with the key twice in a list counts once).
    pub count: usize,
}

/// The top values of an index ([`DynIndex::facets`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Facets {
    /// The index name.
    pub index: String,
    /// Most records first, ties by key.
    pub values: Vec<FacetValue>,
    /// Distinct keys seen while ranking (the snapshot index's keys when shipped).
    pub distinct: usize,
    /// Whether the shipped index answered (else every record was read).
    pub scanned: bool,
}

impl<'s> DynTable<'s> {
    /// The secondary indexes the state declares for this type: `(name, kind)`.
    pub fn indexes(&self) -> Result<Vec<(String, IndexKind)>, LookupError> {
        Ok(self
            .view()
            .schema
            .indexes(self.view().ty.type_id)?
            .iter()
            .map(|p| (p.name().to_string(), p.kind()))
            .collect())
    }

    /// The secondary index called `name` (its field paths joined by commas).
    pub fn index(&self, name: &str) -> Result<DynIndex<'s>, LookupError> {
        Ok(DynIndex {
            table: *self,
            index: IndexView::new(self.view(), name)?,
        })
    }

    /// Records whose fields equal the given values (`[("genres", "Drama")]`; a path through a
    /// list matches any element). Uses the primary key when the fields are exactly its
    /// fields, a secondary index when they are exactly an index's fields, and scans
    /// otherwise; [`QueryResult::plan`] says which.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hollow::{QueryPlan, ReadState, StateId, WriteState};
    /// use hollow_movies::movies_capnp::movie;
    ///
    /// let schema = hollow::Schema::builder().add::<movie::Owned>().build()?.with_hash_index("Movie", "year")?;
    /// let mut state = WriteState::builder("movies").schema(schema).register_name("Movie").build()?;
    /// for (id, year) in [(1u64, 1999u16), (2, 2001), (3, 1999)] {
    ///     let mut message = capnp::message::Builder::new_default();
    ///     let mut m = message.init_root::<movie::Builder>();
    ///     m.set_id(id);
    ///     m.set_year(year);
    ///     m.set_title("x");
    ///     state.add_dynamic("Movie", message.get_root_as_reader()?)?;
    /// }
    /// let read = ReadState::from_bytes(state.write_snapshot(&StateId { version: 1, tag: 1 })?, "<mem>")?;
    /// let movies = read.dyn_table("Movie")?;
    /// let found = movies.query(&[("year", "1999")])?;
    /// assert!(matches!(found.plan, QueryPlan::Index { shipped: true, .. }));
    /// assert_eq!(found.map(|(o, _)| o).collect::<Vec<_>>(), [0, 2]);
    /// let by_title = movies.query(&[("title", "x")])?;
    /// assert_eq!(by_title.plan, QueryPlan::Scan);
    /// assert_eq!(by_title.count(), 3);
    /// assert_eq!(movies.query(&[("id", "2")])?.plan, QueryPlan::PrimaryKey);
    /// # Ok(()) }
    /// ```
    pub fn query(&self, conditions: &[(&str, &str)]) -> Result<QueryResult<'s>, LookupError> {
        let conditions: Vec<(&str, Option<&str>)> =
            conditions.iter().map(|(f, v)| (*f, Some(*v))).collect();
        self.query_nullable(&conditions)
    }

    /// Like [`DynTable::query`], where a `None` value asks for records whose Text or Data field
    /// is unset (the null key).
    pub fn query_nullable(
        &self,
        conditions: &[(&str, Option<&str>)],
    ) -> Result<QueryResult<'s>, LookupError> {
        if conditions.is_empty() {
            return Err(LookupError::InvalidKey {
                type_name: self.name().to_string(),
                reason: "a query needs at least one FIELD=VALUE".into(),
            });
        }
        let fields: Vec<&str> = conditions.iter().map(|(f, _)| f.trim()).collect();
        let value_of = |field: &str| {
            conditions
                .iter()
                .find(|(f, _)| f.trim() == field)
                .map(|(_, v)| *v)
        };
        let same_fields = |candidate: &[&str]| {
            candidate.len() == fields.len() && candidate.iter().all(|c| fields.contains(c))
        };
        let table = *self;
        let pk = self.primary_key();
        if !pk.is_empty() && same_fields(&pk) {
            let values: Vec<&str> = pk.iter().filter_map(|f| value_of(f).flatten()).collect();
            if values.len() != pk.len() {
                return Err(LookupError::InvalidKey {
                    type_name: self.name().to_string(),
                    reason: "a primary-key field cannot be null".into(),
                });
            }
            let found = self.get_by_key_strings(&values)?;
            return Ok(QueryResult {
                plan: QueryPlan::PrimaryKey,
                records: Box::new(found.into_iter()),
            });
        }
        let view = self.view();
        for path in view.schema.indexes(view.ty.type_id)? {
            let paths: Vec<&str> = path.field_paths().collect();
            if !same_fields(&paths) {
                continue;
            }
            let values: Vec<Option<&str>> = paths.iter().filter_map(|f| value_of(f)).collect();
            let encoded = path.encode_optional_strings(&values)?;
            let plan = QueryPlan::Index {
                name: path.name().to_string(),
                kind: path.kind(),
                shipped: true,
            };
            let index = IndexView::from_path(view, path);
            let plan = match (plan, index.source()) {
                (QueryPlan::Index { name, kind, .. }, IndexSource::Scan) => QueryPlan::Index {
                    name,
                    kind,
                    shipped: false,
                },
                (plan, _) => plan,
            };
            return Ok(QueryResult {
                plan,
                records: Box::new(
                    index
                        .ordinals(encoded)
                        .map(move |(o, r)| (o, table.record_of(r))),
                ),
            });
        }
        let info = view
            .schema
            .struct_by_id(view.ty.type_id)
            .unwrap_or(&view.ty.info);
        let path = IndexPath::resolve(view.schema, info, IndexKind::Hash, &fields.join(","))?;
        let values: Vec<Option<&str>> = fields.iter().filter_map(|f| value_of(f)).collect();
        let encoded = path.encode_optional_strings(&values)?;
        let scan = IndexView::from_path(view, path);
        Ok(QueryResult {
            plan: QueryPlan::Scan,
            records: Box::new(
                scan.ordinals(encoded)
                    .map(move |(o, r)| (o, table.record_of(r))),
            ),
        })
    }
}
