//! Schema compatibility between versions of a dataset (docs/SCHEMA-EVOLUTION.md).
//!
//! Cap'n Proto's rules make growth safe: new fields with new numbers, new types, new
//! enumerants. What breaks readers is refused, with the type, the field and the rule: a field
//! whose number now has another type or place, a field that disappeared (its number could be
//! reused), a primary key that changed, a dataset type that is gone.

use super::{FieldInfo, FieldKind, Schema, StructInfo};
use crate::error::{Result, SchemaError};

fn refuse(type_name: &str, field: &str, rule: &str) -> SchemaError {
    SchemaError::Incompatible {
        type_name: type_name.to_string(),
        field: field.to_string(),
        rule: rule.to_string(),
    }
}

/// Checks that `new` may continue a dataset written with `old`, for the dataset types named by
/// `type_ids` (struct ids in `old`) and every struct and enum they reach.
pub fn check_compatible(old: &Schema, new: &Schema, type_ids: &[u64]) -> Result<(), SchemaError> {
    if old.fingerprint() == new.fingerprint() {
        return Ok(());
    }
    let mut pending: Vec<u64> = type_ids.to_vec();
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = pending.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(old_enum) = old.enum_by_id(id) {
            let new_enum = new
                .enum_by_id(id)
                .ok_or_else(|| refuse(&old_enum.name, "", "an enum the data uses was removed"))?;
            if new_enum.enumerants.len() < old_enum.enumerants.len() {
                return Err(refuse(
                    &old_enum.name,
                    "",
                    "enumerants may be added, never removed",
                ));
            }
            continue;
        }
        let Some(old_struct) = old.struct_by_id(id) else {
            continue;
        };
        let new_struct = new
            .struct_by_id(id)
            .ok_or_else(|| refuse(&old_struct.name, "", "a type with records was removed"))?;
        check_struct(old_struct, new_struct, &mut pending)?;
        if !old_struct.is_group && type_ids.contains(&id) {
            let key = |s: &StructInfo| {
                s.primary_key_annotation
                    .as_ref()
                    .map(|k| k.replace(' ', ""))
            };
            if key(old_struct) != key(new_struct) {
                return Err(refuse(
                    &old_struct.name,
                    "",
                    "the primary key is the record's identity and cannot change",
                ));
            }
        }
    }
    Ok(())
}

fn same_place(old: &FieldInfo, new: &FieldInfo) -> bool {
    match (&old.kind, &new.kind) {
        (
            FieldKind::Slot {
                offset: a, ty: ta, ..
            },
            FieldKind::Slot {
                offset: b, ty: tb, ..
            },
        ) => a == b && ta == tb,
        (FieldKind::Group { type_id: a }, FieldKind::Group { type_id: b }) => a == b,
        _ => false,
    }
}

fn check_struct(
    old: &StructInfo,
    new: &StructInfo,
    pending: &mut Vec<u64>,
) -> Result<(), SchemaError> {
    for f in &old.fields {
        // Fields are matched by number; groups and named unions (no number) by name.
        let counterpart = match f.ordinal {
            Some(n) => new.fields.iter().find(|g| g.ordinal == Some(n)),
            None => new
                .fields
                .iter()
                .find(|g| g.ordinal.is_none() && g.name == f.name),
        };
        let Some(g) = counterpart else {
            return Err(refuse(
                &old.name,
                &f.name,
                "a field was removed (its number could be reused): keep it, renamed if you like",
            ));
        };
        if !same_place(f, g) {
            return Err(refuse(
                &old.name,
                &f.name,
                &format!("field {} was retyped or moved (as {})", f.name, g.name),
            ));
        }
        if f.discriminant != g.discriminant {
            return Err(refuse(
                &old.name,
                &f.name,
                "a field moved into or out of a union",
            ));
        }
        match &f.kind {
            FieldKind::Group { type_id } => pending.push(*type_id),
            FieldKind::Slot { ty, .. } => push_referenced(ty, pending),
        }
    }
    if new.data_words < old.data_words || new.pointer_count < old.pointer_count {
        return Err(refuse(
            &old.name,
            "",
            "a struct can only grow (fields are added, never removed)",
        ));
    }
    Ok(())
}

fn push_referenced(ty: &super::FieldType, pending: &mut Vec<u64>) {
    match ty {
        super::FieldType::Struct(id) | super::FieldType::Enum(id) => pending.push(*id),
        super::FieldType::List(inner) => push_referenced(inner, pending),
        _ => {}
    }
}

/// Checks generated code for a struct against the struct as the data's schema describes it:
/// every field number both know must have the same type and place. Either side may have
/// fields the other lacks (older or newer code).
pub(crate) fn check_generated<T: capnp::introspect::Introspect>(
    data: &StructInfo,
) -> Result<(), SchemaError> {
    let capnp::introspect::TypeVariant::Struct(raw) = T::introspect().which() else {
        return Ok(());
    };
    let proto = capnp::schema::StructSchema::new(raw).get_proto();
    let Ok(capnp::schema_capnp::node::Struct(code)) = proto.which() else {
        return Ok(());
    };
    let fields = code
        .get_fields()
        .map_err(|e| SchemaError::capnp("reading generated schema fields", e))?;
    for f in fields.iter() {
        let Ok(capnp::schema_capnp::field::ordinal::Explicit(n)) = f.get_ordinal().which() else {
            continue;
        };
        let Some(theirs) = data.fields.iter().find(|d| d.ordinal == Some(n)) else {
            continue;
        };
        let ours = FieldInfo {
            name: f
                .get_name()
                .ok()
                .and_then(|n| n.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            code_order: f.get_code_order(),
            ordinal: Some(n),
            discriminant: None,
            kind: super::field_kind(f)?,
        };
        if !same_place(theirs, &ours) {
            return Err(refuse(
                &data.name,
                &theirs.name,
                &format!(
                    "the generated code has field @{n} as {} with another type or place",
                    ours.name
                ),
            ));
        }
    }
    Ok(())
}
