//! Reading and writing `schema.capnp` nodes.

use std::collections::BTreeMap;

use capnp::introspect::{Type, TypeVariant};
use capnp::schema_capnp::{node, value};

use super::{EnumInfo, FieldInfo, StructInfo, field_kind};
use crate::error::{Result, SchemaError};

/// Options for reading schema messages: schemas are small, so the default limits stand, except
/// that a schema section may be larger than capnp's default traversal budget allows for a
/// generous margin.
pub(super) fn reader_options() -> capnp::message::ReaderOptions {
    let mut options = capnp::message::ReaderOptions::new();
    options.traversal_limit_in_words(Some(64 * 1024 * 1024));
    options
}

/// Encodes the nodes as one canonical `CodeGeneratorRequest` (nodes in the given order).
pub(super) fn encode_canonical<'a>(
    nodes: impl ExactSizeIterator<Item = node::Reader<'a>>,
) -> Result<Vec<capnp::Word>, SchemaError> {
    let ctx = "encoding the schema nodes";
    let mut scratch = capnp::message::Builder::new_default();
    {
        let request: capnp::schema_capnp::code_generator_request::Builder<'_> = scratch.init_root();
        let count = u32::try_from(nodes.len()).map_err(|_| SchemaError::Invalid {
            reason: "too many schema nodes".into(),
        })?;
        let mut list = request.init_nodes(count);
        for (i, n) in (0..count).zip(nodes) {
            list.set_with_caveats(i, n)
                .map_err(|e| SchemaError::capnp(ctx, e))?;
        }
    }
    let reader: capnp::schema_capnp::code_generator_request::Reader<'_> = scratch
        .get_root_as_reader()
        .map_err(|e| SchemaError::capnp(ctx, e))?;
    let size = reader
        .total_size()
        .map_err(|e| SchemaError::capnp(ctx, e))?
        .word_count;
    crate::capnp_raw::canonical_words::<capnp::schema_capnp::code_generator_request::Owned, _>(
        reader, size,
    )
    .map_err(|e| SchemaError::capnp(ctx, e))
}

fn node_name(n: node::Reader<'_>) -> Result<String, SchemaError> {
    let display = n
        .get_display_name()
        .map_err(|e| SchemaError::capnp("reading a node name", e))?
        .to_str()
        .map_err(|e| SchemaError::Invalid {
            reason: format!("node name is not UTF-8: {e}"),
        })?;
    // "dir/file.capnp:Outer.Inner" -> "Outer.Inner"
    Ok(match display.rfind(':') {
        Some(i) => display[i + 1..].to_string(),
        None => display.to_string(),
    })
}

fn annotation_text(n: node::Reader<'_>, id: u64) -> Result<Option<String>, SchemaError> {
    let annotations = n
        .get_annotations()
        .map_err(|e| SchemaError::capnp("reading annotations", e))?;
    for a in annotations.iter() {
        if a.get_id() != id {
            continue;
        }
        let value = a
            .get_value()
            .map_err(|e| SchemaError::capnp("reading an annotation", e))?;
        return match value.which() {
            Ok(value::Text(t)) => {
                let t = t.map_err(|e| SchemaError::capnp("reading an annotation", e))?;
                let s = t.to_str().map_err(|e| SchemaError::Invalid {
                    reason: format!("annotation text is not UTF-8: {e}"),
                })?;
                Ok(Some(s.to_string()))
            }
            _ => Err(SchemaError::Invalid {
                reason: format!("annotation {id:#x} on {} must be Text", node_name(n)?),
            }),
        };
    }
    Ok(None)
}

pub(super) fn read_struct(
    n: node::Reader<'_>,
    s: node::struct_::Reader<'_>,
) -> Result<StructInfo, SchemaError> {
    let mut fields = Vec::new();
    let list = s
        .get_fields()
        .map_err(|e| SchemaError::capnp("reading struct fields", e))?;
    for f in list.iter() {
        let name = f
            .get_name()
            .map_err(|e| SchemaError::capnp("reading a field name", e))?
            .to_str()
            .map_err(|e| SchemaError::Invalid {
                reason: format!("field name is not UTF-8: {e}"),
            })?
            .to_string();
        let discriminant = match f.get_discriminant_value() {
            0xffff => None,
            d => Some(d),
        };
        let ordinal = match f.get_ordinal().which() {
            Ok(capnp::schema_capnp::field::ordinal::Explicit(n)) => Some(n),
            _ => None,
        };
        fields.push(FieldInfo {
            name,
            code_order: f.get_code_order(),
            ordinal,
            discriminant,
            kind: field_kind(f)?,
        });
    }
    fields.sort_by_key(|f| f.code_order);
    Ok(StructInfo {
        id: n.get_id(),
        name: node_name(n)?,
        data_words: s.get_data_word_count(),
        pointer_count: s.get_pointer_count(),
        discriminant_offset: (s.get_discriminant_count() > 0).then(|| s.get_discriminant_offset()),
        is_group: s.get_is_group(),
        fields,
        primary_key_annotation: annotation_text(n, super::PRIMARY_KEY_ANNOTATION_ID)?,
        unique_key_annotation: annotation_text(n, super::UNIQUE_KEY_ANNOTATION_ID)?,
        hash_index_annotation: annotation_text(n, super::HASH_INDEX_ANNOTATION_ID)?,
    })
}

pub(super) fn read_enum(
    n: node::Reader<'_>,
    e: node::enum_::Reader<'_>,
) -> Result<EnumInfo, SchemaError> {
    let mut enumerants = Vec::new();
    let list = e
        .get_enumerants()
        .map_err(|e| SchemaError::capnp("reading enumerants", e))?;
    for en in list.iter() {
        let name = en
            .get_name()
            .map_err(|e| SchemaError::capnp("reading an enumerant", e))?;
        enumerants.push(
            name.to_str()
                .map_err(|e| SchemaError::Invalid {
                    reason: format!("enumerant not UTF-8: {e}"),
                })?
                .to_string(),
        );
    }
    Ok(EnumInfo {
        id: n.get_id(),
        name: node_name(n)?,
        enumerants,
    })
}

/// The stored bits of a primitive default value (values in a data section are XORed with it).
pub(super) fn default_bits(v: value::Reader<'_>) -> Result<u64, SchemaError> {
    Ok(match v.which() {
        Ok(value::Bool(b)) => u64::from(b),
        Ok(value::Int8(x)) => u64::from(x.cast_unsigned()),
        Ok(value::Int16(x)) => u64::from(x.cast_unsigned()),
        Ok(value::Int32(x)) => u64::from(x.cast_unsigned()),
        Ok(value::Int64(x)) => x.cast_unsigned(),
        Ok(value::Uint8(x)) => u64::from(x),
        Ok(value::Uint16(x)) => u64::from(x),
        Ok(value::Uint32(x)) => u64::from(x),
        Ok(value::Uint64(x)) => x,
        Ok(value::Float32(x)) => u64::from(x.to_bits()),
        Ok(value::Float64(x)) => x.to_bits(),
        Ok(value::Enum(x)) => u64::from(x),
        // Pointer defaults are not XOR-encoded; hollow reads an unset pointer as unset.
        Ok(_) => 0,
        Err(e) => {
            return Err(SchemaError::Invalid {
                reason: e.to_string(),
            });
        }
    })
}

/// Walks capnp-rust's introspection data from `ty`, collecting every struct, group and enum node.
pub(super) fn collect(
    ty: Type,
    nodes: &mut BTreeMap<u64, node::Reader<'static>>,
) -> Result<(), SchemaError> {
    match ty.which() {
        TypeVariant::Struct(raw) => {
            let schema = capnp::schema::StructSchema::new(raw);
            let proto = schema.get_proto();
            if nodes.insert(proto.get_id(), proto).is_some() {
                return Ok(());
            }
            let fields = schema
                .get_fields()
                .map_err(|e| SchemaError::capnp("introspecting fields", e))?;
            for f in fields {
                collect(f.get_type(), nodes)?;
            }
        }
        TypeVariant::Enum(raw) => {
            let proto = capnp::schema::EnumSchema::new(raw).get_proto();
            nodes.insert(proto.get_id(), proto);
        }
        TypeVariant::List(inner) => collect(inner, nodes)?,
        _ => {}
    }
    Ok(())
}
