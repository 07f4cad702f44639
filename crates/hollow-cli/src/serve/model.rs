//! What each page shows, computed once and either serialized (`/api/…`, the CLI's `--json`
//! shapes where the CLI has the command) or rendered as HTML.

use std::sync::Arc;

use hollow::{Facets, ReadState};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::error::PageError;
use super::explorer::{DeltaCounts, Explorer};
use super::links::{self, Backlink, Link};
use super::params::Params;
use crate::data::{BlobEntry, TypeEntry};

/// Facet values shown per index on the type page.
pub const FACET_LIMIT: usize = 12;

/// `/` and `/api`: the dataset, its versions, the types of the version shown.
#[derive(Serialize)]
pub struct Home {
    pub dataset: String,
    pub store: String,
    /// The version the page shows (`?version=N`, else the live one).
    pub version: u64,
    /// The version the explorer follows (the newest it serves).
    pub live: Option<u64>,
    pub announced: Option<u64>,
    pub pinned: Option<u64>,
    /// Newest first.
    pub versions: Vec<VersionEntry>,
    pub types: Vec<TypeEntry>,
}

/// One version of the announced chain.
#[derive(Serialize)]
pub struct VersionEntry {
    pub version: u64,
    pub tag: String,
    /// When the producer announced it (RFC 3339): recorded for the announced version only.
    pub published_at: Option<String>,
    /// When this explorer first served it (RFC 3339).
    pub seen_at: Option<String>,
    /// The blobs its cycle wrote (snapshot, delta into it, reverse delta out of it).
    pub blobs: Vec<BlobEntry>,
    /// What the delta into it changed, per type (none for the first version or without a
    /// delta).
    pub changes: Option<Vec<DeltaCounts>>,
}

/// Versions whose change counts the home page reads (newest first); older ones show blobs
/// only.
const COUNTED_VERSIONS: usize = 50;

pub async fn home(ex: &Explorer, state: &ReadState) -> Result<Home, PageError> {
    let store = &ex.store;
    let announcement = store
        .announcement()
        .await
        .map_err(hollow::Error::from)?
        .map(|(a, _)| a);
    let pinned = store.pinned().await.map_err(hollow::Error::from)?;
    let chain = hollow::tools::announced_chain(store).await?;
    let blobs = crate::data::blob_entries(store).await?;
    let mut versions = Vec::with_capacity(chain.len());
    for (i, s) in chain.iter().enumerate().rev() {
        let mine: Vec<BlobEntry> = blobs
            .iter()
            .filter(|b| b.on_chain)
            .filter(|b| match b.kind {
                "reverse_delta" => b.from_version == Some(s.version),
                _ => b.to_version == s.version,
            })
            .cloned()
            .collect();
        let changes = if chain.len() - i <= COUNTED_VERSIONS && i > 0 {
            let key = hollow::BlobKey::Delta {
                from: chain[i - 1],
                to: *s,
            };
            if mine.iter().any(|b| b.key == key.relative()) {
                Some(ex.delta_counts(&key).await?.as_ref().clone())
            } else {
                None
            }
        } else {
            None
        };
        versions.push(VersionEntry {
            version: s.version,
            tag: format!("{:#018x}", s.tag),
            published_at: announcement
                .as_ref()
                .filter(|a| a.version == s.version)
                .map(|a| crate::data::rfc3339(a.published_at_millis)),
            seen_at: ex.seen_at(s.version).map(crate::data::rfc3339),
            blobs: mine,
            changes,
        });
    }
    Ok(Home {
        dataset: state.dataset().to_string(),
        store: ex.location.clone(),
        version: state.version(),
        live: ex.live().map(|s| s.version()),
        announced: announcement.map(|a| a.version),
        pinned: pinned.map(|p| p.version),
        versions,
        types: crate::data::type_entries(state)?,
    })
}

/// The schema entry of `type_name`, or a 404 naming the types.
pub fn type_entry(state: &ReadState, type_name: &str) -> Result<TypeEntry, PageError> {
    let types = crate::data::type_entries(state)?;
    let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
    types
        .into_iter()
        .find(|t| t.name == type_name)
        .ok_or_else(|| {
            let known: Vec<&str> = names.iter().map(String::as_str).collect();
            PageError::NotFound(format!(
                "no type {type_name} at version {}{}",
                state.version(),
                crate::data::suggest(type_name, &known)
            ))
        })
}

/// A record as the CLI prints it (members in schema order, shortest floats).
pub fn record_json(record: &hollow::DynRecord<'_>) -> Result<Box<RawValue>, PageError> {
    serde_json::value::to_raw_value(record)
        .map_err(|e| PageError::Unavailable(format!("a record does not serialize: {e}")))
}

pub use hollow::tools::key_of;

/// How a type page found its records when it has conditions (`?where=`).
#[derive(Serialize)]
pub struct QueryInfo {
    /// The conditions, `FIELD=VALUE`.
    pub conditions: Vec<String>,
    /// As `hollow query` prints it: "hash index genres", "scan (no index on these fields)".
    pub plan: String,
    pub uses_index: bool,
    /// True when every record was (or would be) read.
    pub scanned: bool,
    /// Records matching in all (counted through an index; a scan stops at the page and
    /// leaves this out).
    pub matches: Option<usize>,
}

/// `/types/T` and `/api/types/T`: schema, then a page of records (all, or those matching
/// `?where=`), with the cursor of the next page.
#[derive(Serialize)]
pub struct TypePage {
    pub version: u64,
    #[serde(rename = "type")]
    pub info: TypeEntry,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryInfo>,
    /// Records as `hollow scan` prints them.
    pub records: Vec<Box<RawValue>>,
    /// `?after=` for the next page (an ordinal), if there is one.
    pub next: Option<u32>,
    /// The key of each record shown (for links).
    #[serde(skip)]
    pub keys: Vec<Vec<String>>,
    /// Facets of the hash indexes (HTML only; `/api/types/T/facets` serves them).
    #[serde(skip)]
    pub facets: Arc<Vec<Facets>>,
}

pub fn type_page(
    state: &ReadState,
    type_name: &str,
    params: &Params,
) -> Result<TypePage, PageError> {
    let info = type_entry(state, type_name)?;
    let table = state.dyn_table(type_name)?;
    let limit = params.limit()?;
    let after: Option<u32> = params.number("after")?;
    let conditions = params.conditions()?;
    let start = after.map_or(0, |a| a.saturating_add(1));
    let mut page: Vec<(u32, hollow::DynRecord<'_>)> = Vec::with_capacity(limit);
    let mut more = false;
    let mut query = None;
    if conditions.is_empty() {
        let mut o = start;
        while o < info.ordinal_capacity {
            if let Some(r) = table.get(o) {
                if page.len() == limit {
                    more = true;
                    break;
                }
                page.push((o, r));
            }
            o += 1;
        }
    } else {
        let pairs: Vec<(&str, Option<&str>)> = conditions
            .iter()
            .map(|(f, v)| (f.as_str(), v.as_deref()))
            .collect();
        let found = table.query_nullable(&pairs)?;
        let plan = found.plan.clone();
        let scanned = matches!(
            plan,
            hollow::QueryPlan::Scan | hollow::QueryPlan::Index { shipped: false, .. }
        );
        let mut matches = 0usize;
        for (o, r) in found {
            matches += 1;
            if o < start {
                continue;
            }
            if page.len() == limit {
                more = true;
                if scanned {
                    break;
                }
                continue;
            }
            page.push((o, r));
        }
        query = Some(QueryInfo {
            conditions: conditions
                .iter()
                .map(|(f, v)| match v {
                    Some(v) => format!("{f}={v}"),
                    None => format!("{f}:=null"),
                })
                .collect(),
            plan: plan.to_string(),
            uses_index: !scanned,
            scanned,
            matches: (!scanned || !more).then_some(matches),
        });
    }
    let next = if more {
        page.last().map(|(o, _)| *o)
    } else {
        None
    };
    let mut records = Vec::with_capacity(page.len());
    let mut keys = Vec::with_capacity(page.len());
    for (_, r) in &page {
        let raw = record_json(r)?;
        if !info.primary_key.is_empty() {
            let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            keys.push(key_of(&value, &info.primary_key));
        }
        records.push(raw);
    }
    Ok(TypePage {
        version: state.version(),
        info,
        query,
        records,
        next,
        keys,
        facets: Arc::default(),
    })
}

/// Facets of `index` (else of every single-field hash index of the type).
pub fn facets(
    state: &ReadState,
    type_name: &str,
    index: Option<&str>,
    limit: usize,
) -> Result<Vec<Facets>, PageError> {
    let table = state.dyn_table(type_name)?;
    let names: Vec<String> = match index {
        Some(i) => vec![i.to_string()],
        None => table
            .indexes()?
            .into_iter()
            .filter(|(name, kind)| *kind == hollow::IndexKind::Hash && !name.contains(','))
            .map(|(name, _)| name)
            .collect(),
    };
    names
        .iter()
        .map(|n| Ok(table.index(n)?.facets(limit)?))
        .collect()
}

/// `/types/T/record?key=…`: one record (the API answers the record itself, as `hollow get
/// --json`), with links to related records.
pub struct RecordPage {
    pub version: u64,
    pub type_name: String,
    pub key: Vec<String>,
    pub record: Box<RawValue>,
    pub value: Value,
    pub links: Vec<Link>,
    pub referenced_by: Vec<Backlink>,
}

pub fn record_page(
    state: &ReadState,
    type_name: &str,
    key: &[&str],
    with_links: bool,
) -> Result<RecordPage, PageError> {
    let table = state.dyn_table(type_name)?;
    let key_fields = table.primary_key();
    if key_fields.is_empty() {
        return Err(PageError::BadRequest(format!(
            "type {type_name} has no primary key: find its records on its page"
        )));
    }
    if key.len() != key_fields.len() {
        return Err(PageError::BadRequest(format!(
            "{type_name}'s key has {} field(s) ({}): give ?key= once per field, in order",
            key_fields.len(),
            key_fields.join(", ")
        )));
    }
    let Some((_, record)) = table.get_by_key_strings(key)? else {
        return Err(PageError::NotFound(format!(
            "no {type_name} with key {} at version {}",
            key.join(", "),
            state.version()
        )));
    };
    let raw = record_json(&record)?;
    let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
    let (links, referenced_by) = if with_links {
        (
            links::forward(state, type_name, &value),
            links::backward(state, type_name, key),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(RecordPage {
        version: state.version(),
        type_name: type_name.to_string(),
        key: key.iter().map(|k| (*k).to_string()).collect(),
        record: raw,
        value,
        links,
        referenced_by,
    })
}
