//! The pages, server-rendered with `maud` (checked at compile time, every value escaped).
//! Each takes the model the JSON API serves, so a page and its `/api/…` twin always agree.

use hollow::ReadState;
use hollow::schema::{FieldKind, FieldType, StructInfo};
use hollow::tools::{HistoryEntry, HistoryEvent};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::error::PageError;
use super::explorer::DiffData;
use super::model::{Home, RecordPage, TypePage};
use crate::data::thousands;

/// `path?k=v&…`, values percent-encoded.
pub fn href(path: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    format!("{path}?{}", q.finish())
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn type_href(type_name: &str, version: u64, extra: &[(&str, &str)]) -> String {
    let v = version.to_string();
    let mut pairs = vec![("version", v.as_str())];
    pairs.extend_from_slice(extra);
    href(&format!("/types/{}", seg(type_name)), &pairs)
}

fn record_href(type_name: &str, version: u64, key: &[String]) -> String {
    let v = version.to_string();
    let mut pairs = vec![("version", v.as_str())];
    pairs.extend(key.iter().map(|k| ("key", k.as_str())));
    href(&format!("/types/{}/record", seg(type_name)), &pairs)
}

fn api_record_href(type_name: &str, version: u64, key: &[String]) -> String {
    format!("/api{}", record_href(type_name, version, key))
}

fn history_href(type_name: &str, version: u64, key: &[String]) -> String {
    let v = version.to_string();
    let mut pairs = vec![("version", v.as_str())];
    pairs.extend(key.iter().map(|k| ("key", k.as_str())));
    href(&format!("/types/{}/history", seg(type_name)), &pairs)
}

fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// The frame of every page: header, the new-version banner, the body.
pub fn layout(title: &str, version: Option<u64>, dataset: &str, body: Markup) -> Markup {
    let v = version.map(|v| v.to_string()).unwrap_or_default();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hollow explorer" }
                link rel="stylesheet" href="/assets/explorer.css";
            }
            body data-version=(v) {
                header.top {
                    a.brand href=(href("/", &[])) { "hollow" }
                    span.where { (dataset) @if let Some(v) = version { " · version " (v) } }
                    nav {
                        a href=(href("/", &[])) { "Home" }
                        a href="/api" { "JSON" }
                        a href="/metrics" { "Metrics" }
                    }
                }
                div #new-version role="status" {
                    "Version " span.v {} " has arrived. "
                    a href="/" { "Show it" }
                }
                main { (body) }
                script src="/assets/explorer.js" defer {}
            }
        }
    }
}

/// The friendly page of an error.
pub fn error_page(e: &PageError) -> Markup {
    layout(
        e.title(),
        None,
        "",
        html! {
            h1 { (e.title()) }
            div.error { p { (e.to_string()) } }
            p { a href="/" { "Back to the dataset" } }
        },
    )
}

pub fn home(m: &Home) -> Markup {
    let body = html! {
        h1 { "Dataset " code { (m.dataset) } }
        p.muted {
            "Store " code { (m.store) } ". Showing version " strong { (m.version) } "."
            @if let Some(live) = m.live { " Serving version " (live) " live." }
            @if let Some(a) = m.announced { " Announced: " (a) "." }
            @if let Some(p) = m.pinned { " " span.pill.warn { "pinned to " (p) } }
        }
        h2 { "Types at version " (m.version) }
        table {
            thead { tr { th { "Type" } th.num { "Records" } th.num { "Record bytes" } th.num { "Index bytes" } th { "Primary key" } th { "Indexes" } } }
            tbody {
                @for t in &m.types {
                    tr {
                        td { a href=(type_href(&t.name, m.version, &[])) { (t.name) } }
                        td.num { (thousands(u64::from(t.records))) }
                        td.num { (human_bytes(t.record_bytes)) }
                        td.num { (human_bytes(t.index_bytes)) }
                        td { code { (t.primary_key.join(", ")) } }
                        td { @for i in &t.indexes { code { (i.name) } " " span.pill { (i.kind) } " " } }
                    }
                }
            }
        }
        h2 { "Versions" }
        ol.timeline {
            @for v in &m.versions {
                li.shown[v.version == m.version] {
                    a href=(href("/", &[("version", &v.version.to_string())])) { strong { "Version " (v.version) } }
                    " " span.muted.mono { (v.tag) }
                    @if let Some(p) = &v.published_at { " · published " (p) }
                    @if let Some(s) = &v.seen_at { " · " span.muted { "served here since " (s) } }
                    @if m.live == Some(v.version) { " " span.pill { "live" } }
                    @if let Some(changes) = &v.changes {
                        div {
                            @for c in changes.iter() {
                                (c.type_name) ": " (thousands(c.upserted as u64)) " added or changed, "
                                (thousands(c.removed as u64)) " removed. "
                            }
                            @if let Some(prev) = m.versions.iter().map(|x| x.version).filter(|x| *x < v.version).max() {
                                a href=(href("/diff", &[("from", &prev.to_string()), ("to", &v.version.to_string())])) { "Diff with " (prev) }
                            }
                        }
                    }
                    div.blobs {
                        @for b in &v.blobs {
                            (b.kind.replace('_', " ")) " " (human_bytes(b.bytes as u64)) " · "
                        }
                    }
                }
            }
        }
        h2 { "Compare versions" }
        form.inline method="get" action="/diff" {
            label { "From " input type="number" name="from" min="1" required value=(m.versions.get(1).map_or(m.version, |v| v.version)); }
            label { "to " input type="number" name="to" min="1" required value=(m.version); }
            button type="submit" { "Diff" }
        }
    };
    layout("Home", Some(m.version), &m.dataset, body)
}

/// A JSON value in a table cell: text as is, a list of scalars comma-separated, the rest as
/// compact JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

pub fn type_page(m: &TypePage, dataset: &str, params: &super::params::Params) -> Markup {
    let t = &m.info;
    let columns: Vec<&str> = t.fields.iter().take(7).map(|f| f.name.as_str()).collect();
    let rows: Vec<Value> = m
        .records
        .iter()
        .map(|r| serde_json::from_str(r.get()).unwrap_or(Value::Null))
        .collect();
    let wheres: Vec<&str> = params.all("where");
    let body = html! {
        div.crumbs { a href=(href("/", &[("version", &m.version.to_string())])) { (dataset) } " / " (t.name) }
        h1 { (t.name) " " span.pill { (thousands(u64::from(t.records))) " records" } }
        div.grid {
            div.card {
                strong { "Schema" }
                table {
                    thead { tr { th { "Field" } th { "Type" } } }
                    tbody {
                        @for f in &t.fields {
                            tr {
                                td { code { (f.name) } @if t.primary_key.contains(&f.name) { " " span.pill { "key" } } }
                                td { code { (f.ty) } }
                            }
                        }
                    }
                }
                @if !t.indexes.is_empty() {
                    p { "Indexes: " @for i in &t.indexes { code { (i.name) } " (" (i.kind) ") " } }
                }
            }
            div.card {
                @if !t.primary_key.is_empty() {
                    strong { "Find by primary key" }
                    form.inline method="get" action=(format!("/types/{}/record", seg(&t.name))) {
                        input type="hidden" name="version" value=(m.version);
                        @for k in &t.primary_key {
                            input name="key" placeholder=(k) aria-label=(k) required;
                        }
                        button type="submit" { "Open" }
                    }
                }
                strong { "Filter (FIELD=VALUE)" }
                form.inline method="get" action=(format!("/types/{}", seg(&t.name))) {
                    input type="hidden" name="version" value=(m.version);
                    input name="where" placeholder="genres=Drama" value=(wheres.first().copied().unwrap_or_default()) size="28";
                    button type="submit" { "Filter" }
                }
                p.muted { "An indexed field (or the key) is looked up; any other field scans every record." }
                @if let Some(q) = &m.query {
                    p {
                        strong { (q.conditions.join(" and ")) } ": "
                        @if let Some(n) = q.matches { (thousands(n as u64)) " matching, " }
                        "via " (q.plan)
                        @if q.scanned { " " span.pill.warn { "scanned" } }
                        " · " a href=(type_href(&t.name, m.version, &[])) { "clear" }
                    }
                }
            }
        }
        @if !m.facets.is_empty() {
            h2 { "Facets" }
            div.grid {
                @for f in m.facets.iter() {
                    div.card.facet {
                        strong { (f.index) } " " span.muted { (thousands(f.distinct as u64)) " values" }
                        ol {
                            @for v in &f.values {
                                @let value = v.values.first().cloned().flatten();
                                li {
                                    @match &value {
                                        Some(s) => { a href=(type_href(&t.name, m.version, &[("where", &format!("{}={s}", f.index))])) { (s) } }
                                        None => { a href=(type_href(&t.name, m.version, &[("where", &format!("{}:=null", f.index))])) { span.null { "null" } } }
                                    }
                                    span.count { (thousands(v.count as u64)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Records" }
        table {
            thead { tr { @for c in &columns { th { (c) } } } }
            tbody {
                @for (i, row) in rows.iter().enumerate() {
                    tr {
                        @for (j, c) in columns.iter().enumerate() {
                            td.cell {
                                @let text = row.get(*c).map(cell).unwrap_or_default();
                                @if j == 0 && !m.keys.is_empty() {
                                    a href=(record_href(&t.name, m.version, &m.keys[i])) { (text) }
                                } @else {
                                    (text)
                                }
                            }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() { p.muted { "No records." } }
        div.pager {
            @if params.get("after").is_some() {
                a href=(type_href(&t.name, m.version, &wheres.iter().map(|w| ("where", *w)).collect::<Vec<_>>())) { "« First page" }
            }
            @if let Some(next) = m.next {
                @let after = next.to_string();
                @let extra: Vec<(&str, &str)> = wheres.iter().map(|w| ("where", *w)).chain([("after", after.as_str())]).collect();
                a href=(type_href(&t.name, m.version, &extra)) { "Next page »" }
            }
        }
    };
    layout(&t.name, Some(m.version), dataset, body)
}

/// The fields of a struct or group type, for rendering nested values by schema.
fn fields_of<'a>(state: &'a ReadState, ty: Option<&FieldType>) -> Option<&'a StructInfo> {
    match ty {
        Some(FieldType::Struct(id)) => state.schema().struct_by_id(*id),
        _ => None,
    }
}

fn field_type<'a>(
    info: Option<&'a StructInfo>,
    name: &str,
) -> (Option<&'a FieldType>, Option<u64>) {
    let Some(f) = info.and_then(|i| i.fields.iter().find(|f| f.name == name)) else {
        return (None, None);
    };
    match &f.kind {
        FieldKind::Slot { ty, .. } => (Some(ty), None),
        FieldKind::Group { type_id } => (None, Some(*type_id)),
        _ => (None, None),
    }
}

/// The members of a struct value in schema order (JSON objects here are sorted by name);
/// members the schema does not name follow.
fn in_schema_order<'v>(
    info: Option<&StructInfo>,
    members: &'v serde_json::Map<String, Value>,
) -> Vec<(&'v String, &'v Value)> {
    let Some(info) = info else {
        return members.iter().collect();
    };
    let mut out: Vec<(&String, &Value)> = info
        .fields
        .iter()
        .filter_map(|f| members.get_key_value(&f.name))
        .collect();
    out.extend(
        members
            .iter()
            .filter(|(k, _)| !info.fields.iter().any(|f| &f.name == *k)),
    );
    out
}

/// A value rendered by its schema type: structs and groups as nested lists of fields,
/// lists as ordered lists, Data with a base64/hex toggle, unset values as "null".
fn value(
    state: &ReadState,
    info: Option<&StructInfo>,
    ty: Option<&FieldType>,
    v: &Value,
    link: &dyn Fn(&str) -> Option<String>,
) -> Markup {
    match v {
        Value::Null => html! { span.null { "null" } },
        Value::Object(members) => html! {
            dl.record {
                @for (name, m) in in_schema_order(info, members) {
                    @let (fty, group) = field_type(info, name);
                    @let inner = match group { Some(id) => state.schema().struct_by_id(id), None => fields_of(state, fty) };
                    dt { (name) }
                    dd { (value(state, inner, fty, m, &|_| None)) }
                }
            }
        },
        Value::Array(items) => {
            let elem = match ty {
                Some(FieldType::List(e)) => Some(e.as_ref()),
                _ => None,
            };
            let inner = fields_of(state, elem);
            html! {
                ol.list start="0" {
                    @for item in items { li { (value(state, inner, elem, item, link)) } }
                }
            }
        }
        Value::String(s) if matches!(ty, Some(FieldType::Data)) => html! {
            span.bytes data-base64=(s) { span.value.mono { (s) } }
        },
        other => {
            let text = match other {
                Value::String(s) => s.clone(),
                o => o.to_string(),
            };
            match link(&text) {
                Some(url) => html! { a href=(url) { (text) } },
                None => html! { (text) },
            }
        }
    }
}

pub fn record_page(m: &RecordPage, state: &ReadState, dataset: &str) -> Markup {
    let info = state.schema().struct_by_name(&m.type_name);
    let body = html! {
        div.crumbs {
            a href=(href("/", &[("version", &m.version.to_string())])) { (dataset) } " / "
            a href=(type_href(&m.type_name, m.version, &[])) { (m.type_name) } " / " (m.key.join(", "))
        }
        h1 { (m.type_name) " " code { (m.key.join(", ")) } }
        p {
            a href=(history_href(&m.type_name, m.version, &m.key)) { "History of this record" }
            " · "
            a href=(api_record_href(&m.type_name, m.version, &m.key)) { "JSON" }
        }
        @if let Value::Object(members) = &m.value {
            dl.record {
                @for (name, v) in in_schema_order(info, members) {
                    @let (fty, group) = field_type(info, name);
                    @let inner = match group { Some(id) => state.schema().struct_by_id(id), None => fields_of(state, fty) };
                    @let links: Vec<&super::links::Link> = m.links.iter().filter(|l| &l.field == name).collect();
                    dt { (name) }
                    dd {
                        (value(state, inner, fty, v, &|text: &str| {
                            links.iter().find(|l| l.value == text).map(|l| record_href(&l.type_name, m.version, std::slice::from_ref(&l.value)))
                        }))
                    }
                }
            }
        }
        @if !m.referenced_by.is_empty() {
            h2 { "Referenced by" }
            ul {
                @for b in &m.referenced_by {
                    li {
                        a href=(type_href(&b.type_name, m.version, &[("where", &format!("{}={}", b.field, b.value))])) {
                            (thousands(b.count as u64)) " " (b.type_name) " with " (b.field) " = " (b.value)
                        }
                    }
                }
            }
        }
    };
    layout(
        &format!("{} {}", m.type_name, m.key.join(", ")),
        Some(m.version),
        dataset,
        body,
    )
}

/// A link to a diffed record at the version of `state` (nothing for a keyless type).
fn key_link(state: &ReadState, type_name: &str, record: Option<&str>) -> Markup {
    let key_fields: Vec<String> = state
        .dyn_table(type_name)
        .map(|t| t.primary_key().iter().map(|k| (*k).to_string()).collect())
        .unwrap_or_default();
    let value: Option<Value> = record.and_then(|r| serde_json::from_str(r).ok());
    match value {
        Some(v) if !key_fields.is_empty() => {
            let key = super::model::key_of(&v, &key_fields);
            html! { a href=(record_href(type_name, state.version(), &key)) { (key.join(", ")) } }
        }
        _ => html! {},
    }
}

/// One page of a diff: counts per type, then the changes from `skip` on.
pub fn diff_page(
    d: &DiffData,
    dataset: &str,
    only: Option<&str>,
    skip: usize,
    limit: usize,
) -> Markup {
    let (from, to) = (d.a.version(), d.b.version());
    let records = crate::data::DiffRecords {
        a: &d.a,
        b: &d.b,
        changes: &d.changes,
        skip,
        limit,
    };
    let total: usize = d
        .changes
        .iter()
        .map(|c| c.added.len() + c.removed.len() + c.changed.len())
        .sum();
    let base: Vec<(String, String)> = [("from", from.to_string()), ("to", to.to_string())]
        .into_iter()
        .chain(only.map(|t| ("type", t.to_string())))
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let page_href = |at: usize| {
        let at = at.to_string();
        let mut pairs: Vec<(&str, &str)> =
            base.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.push(("after", at.as_str()));
        href("/diff", &pairs)
    };
    let body = html! {
        div.crumbs { a href=(href("/", &[("version", &to.to_string())])) { (dataset) } " / diff" }
        h1 { "Version " (from) " → " (to) }
        p.muted { (thousands(total as u64)) " changes, found through " (if d.via == "deltas" { "the deltas between the versions (only changed records read)" } else { "every record of both versions" }) "." }
        table {
            thead { tr { th { "Type" } th.num { "Added" } th.num { "Removed" } th.num { "Changed" } } }
            tbody {
                @for c in &d.changes {
                    tr {
                        td { a href=(href("/diff", &[("from", &from.to_string()), ("to", &to.to_string()), ("type", &c.name)])) { (c.name) } }
                        td.num { (thousands(c.added.len() as u64)) }
                        td.num { (thousands(c.removed.len() as u64)) }
                        td.num { (thousands(c.changed.len() as u64)) }
                    }
                }
            }
        }
        @if d.changes.is_empty() { p { "No differences." } }
        h2 { "Changes " (skip + 1) "–" ((skip + limit).min(total)) " of " (thousands(total as u64)) }
        table.diff {
            tbody {
                @for line in records.lines() {
                    @let record: Option<String> = line.record.as_ref().and_then(|r| serde_json::to_string(r).ok());
                    @match line.change {
                        "added" => {
                            tr.change-added {
                                td.sign { "+" }
                                td { (line.type_name) " " (key_link(&d.b, line.type_name, record.as_deref())) }
                                td colspan="2" { @if let Some(r) = &record { code { (r) } } }
                            }
                        }
                        "removed" => {
                            tr.change-removed {
                                td.sign { "−" }
                                td { (line.type_name) " " (key_link(&d.a, line.type_name, record.as_deref())) }
                                td colspan="2" { @if let Some(r) = &record { code { (r) } } }
                            }
                        }
                        _ => {
                            @let key: Vec<String> = line.key.map(<[String]>::to_vec).unwrap_or_default();
                            tr {
                                td.sign { "~" }
                                td { (line.type_name) " " a href=(record_href(line.type_name, to, &key)) { (key.join(", ")) } }
                                td colspan="2" {
                                    table {
                                        @for f in line.fields.unwrap_or_default() {
                                            tr { td.field { (f.field) } td { del { (f.before.to_string()) } } td { ins { (f.after.to_string()) } } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        div.pager {
            @if skip > 0 { a href=(page_href(skip.saturating_sub(limit))) { "« Previous" } }
            @if skip + limit < total { a href=(page_href(skip + limit)) { "Next »" } }
        }
    };
    layout(&format!("Diff {from} → {to}"), Some(to), dataset, body)
}

pub fn history_page(
    type_name: &str,
    key: &[String],
    entries: &[HistoryEntry],
    version: u64,
    dataset: &str,
) -> Markup {
    let body = html! {
        div.crumbs {
            a href=(href("/", &[("version", &version.to_string())])) { (dataset) } " / "
            a href=(type_href(type_name, version, &[])) { (type_name) } " / "
            a href=(record_href(type_name, version, key)) { (key.join(", ")) } " / history"
        }
        h1 { "History of " (type_name) " " code { (key.join(", ")) } }
        @if entries.is_empty() { p { "No version of the announced chain has this record." } }
        ol.timeline {
            @for e in entries {
                li {
                    a href=(href("/", &[("version", &e.version.to_string())])) { strong { "Version " (e.version) } }
                    @match &e.event {
                        HistoryEvent::Added(r) => {
                            " " span.pill { "added" }
                            div { code { (r.to_string()) } }
                        }
                        HistoryEvent::Removed => { " " span.pill.warn { "removed" } }
                        HistoryEvent::Changed(fields) => {
                            " " span.pill { "changed" }
                            " " a href=(href("/diff", &[("from", &(e.version.saturating_sub(1)).to_string()), ("to", &e.version.to_string()), ("type", type_name)])) { "diff" }
                            table.diff {
                                @for f in fields {
                                    tr { td.field { (f.field) } td { del { (f.before.to_string()) } } td { ins { (f.after.to_string()) } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(
        &format!("History of {type_name}"),
        Some(version),
        dataset,
        body,
    )
}
