//! Related records: a field whose values are keys of another type (a single-field primary
//! key of the same type: `Movie.castIds` → `Actor`) links to those records when they exist;
//! a record is linked back from the records of other types whose index holds its key
//! (`Actor` 42 → the movies whose `castIds` index has 42).

use hollow::ReadState;
use hollow::schema::{FieldKind, FieldType};
use serde_json::Value;

/// Values looked up per field (a long list links its first ones).
const MAX_VALUES: usize = 50;

/// A link from a field value to a record of another type.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Link {
    pub field: String,
    pub value: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// Records of another type whose index holds this record's key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backlink {
    #[serde(rename = "type")]
    pub type_name: String,
    /// The index (one field).
    pub field: String,
    pub value: String,
    pub count: usize,
}

/// The scalar type of a field or of its list elements.
fn element_type(ty: &FieldType) -> &FieldType {
    match ty {
        FieldType::List(inner) => inner,
        other => other,
    }
}

fn top_level_type<'a>(state: &'a ReadState, type_name: &str, field: &str) -> Option<&'a FieldType> {
    let info = state.schema().struct_by_name(type_name)?;
    info.fields
        .iter()
        .find(|f| f.name == field)
        .and_then(|f| match &f.kind {
            FieldKind::Slot { ty, .. } => Some(ty),
            _ => None,
        })
}

/// Types with a one-field primary key: `(type, key field type)`.
fn keyed_types(state: &ReadState) -> Vec<(String, FieldType)> {
    state
        .dataset_types()
        .into_iter()
        .filter(|t| t.primary_key.len() == 1)
        .filter_map(|t| {
            let ty = top_level_type(state, &t.name, &t.primary_key[0])?.clone();
            Some((t.name, ty))
        })
        .collect()
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Links from the top-level fields of `record` (a `type_name`) to records of other types.
pub fn forward(state: &ReadState, type_name: &str, record: &Value) -> Vec<Link> {
    let targets = keyed_types(state);
    let Some(info) = state.schema().struct_by_name(type_name) else {
        return Vec::new();
    };
    let mut links = Vec::new();
    for f in &info.fields {
        let FieldKind::Slot { ty, .. } = &f.kind else {
            continue;
        };
        let elem = element_type(ty);
        let candidates: Vec<&String> = targets
            .iter()
            .filter(|(t, kty)| t != type_name && kty == elem)
            .map(|(t, _)| t)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let values: Vec<String> = match record.get(&f.name) {
            Some(Value::Array(items)) => items.iter().filter_map(scalar_string).collect(),
            Some(v) => scalar_string(v).into_iter().collect(),
            None => Vec::new(),
        };
        for value in values.into_iter().take(MAX_VALUES) {
            for t in &candidates {
                let found = state
                    .dyn_table(t)
                    .ok()
                    .and_then(|table| table.get_by_key_strings(&[value.as_str()]).ok().flatten());
                if found.is_some() {
                    links.push(Link {
                        field: f.name.clone(),
                        value: value.clone(),
                        type_name: (*t).clone(),
                    });
                }
            }
        }
    }
    links
}

/// Other types whose one-field index (on a top-level field of this record's key type, or a
/// list of it) holds `key`, with how many records.
pub fn backward(state: &ReadState, type_name: &str, key: &[&str]) -> Vec<Backlink> {
    let [value] = key else {
        return Vec::new();
    };
    let Some(key_type) = state
        .dataset_types()
        .into_iter()
        .find(|t| t.name == type_name)
        .filter(|t| t.primary_key.len() == 1)
        .and_then(|t| top_level_type(state, type_name, &t.primary_key[0]).cloned())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in state.dataset_types() {
        if t.name == type_name {
            continue;
        }
        let Ok(table) = state.dyn_table(&t.name) else {
            continue;
        };
        for (index, _) in table.indexes().unwrap_or_default() {
            if index.contains(',') || index.contains('.') {
                continue;
            }
            if top_level_type(state, &t.name, &index).map(element_type) != Some(&key_type) {
                continue;
            }
            let count = table
                .index(&index)
                .ok()
                .and_then(|i| i.lookup_strings(&[value]).ok().map(Iterator::count))
                .unwrap_or(0);
            if count > 0 {
                out.push(Backlink {
                    type_name: t.name.clone(),
                    field: index,
                    value: (*value).to_string(),
                    count,
                });
            }
        }
    }
    out
}
