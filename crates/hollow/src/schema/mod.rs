//! Run-time schemas: the compiled Cap'n Proto schema nodes of a dataset's types, read into plain
//! Rust values that drive key extraction, dynamic reads and JSON output.
//!
//! A [`Schema`] is built from generated code ([`Schema::builder`] walks capnp-rust's
//! introspection data), from the output of `capnp compile -o-` ([`Schema::from_code_generator_request`])
//! or from the schema section of a blob ([`Schema::from_segment`]). In every case the nodes are
//! re-encoded as one canonical `CodeGeneratorRequest` message (nodes sorted by id): that message is
//! what a snapshot embeds, and its xxh3-64 is the schema [fingerprint](Schema::fingerprint).

mod compat;
mod index;
mod key;
mod nodes;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use capnp::schema_capnp::{field, node, type_};

pub use compat::check_compatible;
pub(crate) use compat::check_generated;
pub use index::{IndexKind, IndexPath};
pub(crate) use key::inline_key;
pub use key::{KeyBytes, KeyField, KeyPath, KeyValue};

use crate::error::{Result, SchemaError};

/// Id of the `$primaryKey` annotation in `schemas/hollow.capnp`.
pub const PRIMARY_KEY_ANNOTATION_ID: u64 = 0xa4a4_c9d1_96fa_09a5;
/// Id of the `$uniqueKey` annotation in `schemas/hollow.capnp`.
pub const UNIQUE_KEY_ANNOTATION_ID: u64 = 0xd171_d86f_73b5_96cd;
/// Id of the `$hashIndex` annotation in `schemas/hollow.capnp`.
pub const HASH_INDEX_ANNOTATION_ID: u64 = 0x972d_8389_0786_c74b;

/// The type of a field (or list element), as Cap'n Proto defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldType {
    /// `Void`.
    Void,
    /// `Bool`.
    Bool,
    /// `Int8`.
    Int8,
    /// `Int16`.
    Int16,
    /// `Int32`.
    Int32,
    /// `Int64`.
    Int64,
    /// `UInt8`.
    UInt8,
    /// `UInt16`.
    UInt16,
    /// `UInt32`.
    UInt32,
    /// `UInt64`.
    UInt64,
    /// `Float32`.
    Float32,
    /// `Float64`.
    Float64,
    /// `Text`.
    Text,
    /// `Data`.
    Data,
    /// `List(T)`.
    List(Box<FieldType>),
    /// An enum, by type id.
    Enum(u64),
    /// A struct, by type id.
    Struct(u64),
    /// `AnyPointer` (or a generic parameter).
    AnyPointer,
    /// An interface (capabilities are not data: records cannot carry them).
    Interface(u64),
}

impl FieldType {
    /// Size in bits of a value of this type inside a data section (0 for pointer types).
    pub fn data_bits(&self) -> u32 {
        match self {
            FieldType::Void => 0,
            FieldType::Bool => 1,
            FieldType::Int8 | FieldType::UInt8 => 8,
            FieldType::Int16 | FieldType::UInt16 | FieldType::Enum(_) => 16,
            FieldType::Int32 | FieldType::UInt32 | FieldType::Float32 => 32,
            FieldType::Int64 | FieldType::UInt64 | FieldType::Float64 => 64,
            _ => 0,
        }
    }

    /// True for types stored behind a pointer.
    pub fn is_pointer(&self) -> bool {
        matches!(
            self,
            FieldType::Text
                | FieldType::Data
                | FieldType::List(_)
                | FieldType::Struct(_)
                | FieldType::AnyPointer
                | FieldType::Interface(_)
        )
    }
}

/// Where a field lives in its struct.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldKind {
    /// A regular field: `offset` counts in units of the type's size (bits for `Bool`, pointers
    /// for pointer types), as in `schema.capnp`.
    Slot {
        /// Offset in the data section (in multiples of the value size) or pointer index.
        offset: u32,
        /// The field's type.
        ty: FieldType,
        /// Default value bits of a primitive field (stored values are XORed with it).
        default_bits: u64,
    },
    /// A group: its fields live in the parent's sections, described by the group's own node.
    Group {
        /// Node id of the group.
        type_id: u64,
    },
}

/// One field of a struct.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    /// Field name as written in the schema.
    pub name: String,
    /// Position in the schema's code order.
    pub code_order: u16,
    /// The field's number (`@N`); `None` for a group or named union, whose members carry theirs.
    pub ordinal: Option<u16>,
    /// Union discriminant value, when the field is a union member.
    pub discriminant: Option<u16>,
    /// Where and what the field is.
    pub kind: FieldKind,
}

/// A struct type (or group) of the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct StructInfo {
    /// Node id.
    pub id: u64,
    /// Name without the file prefix ("Movie", "Outer.Inner").
    pub name: String,
    /// Words in the data section.
    pub data_words: u16,
    /// Pointers in the pointer section.
    pub pointer_count: u16,
    /// Offset (in u16 units) of the union discriminant, when the struct has a union.
    pub discriminant_offset: Option<u32>,
    /// True for group nodes.
    pub is_group: bool,
    /// Fields in code order.
    pub fields: Vec<FieldInfo>,
    /// Raw text of the `$primaryKey` annotation, if any.
    pub primary_key_annotation: Option<String>,
    /// Raw text of the `$uniqueKey` annotation, if any.
    pub unique_key_annotation: Option<String>,
    /// Raw text of the `$hashIndex` annotation, if any.
    pub hash_index_annotation: Option<String>,
}

impl StructInfo {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// An enum type of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumInfo {
    /// Node id.
    pub id: u64,
    /// Name without the file prefix.
    pub name: String,
    /// Enumerant names by ordinal.
    pub enumerants: Vec<String>,
}

/// The compiled schema of a dataset: struct and enum nodes by id, plus the canonical message
/// they were read from.
///
/// ```
/// use hollow_movies::movies_capnp::{actor, movie};
///
/// let schema = hollow::Schema::builder().add::<movie::Owned>().add::<actor::Owned>().build()?;
/// let info = schema.struct_by_name("Movie").expect("Movie");
/// let key = schema.primary_key(info.id)?.expect("Movie has $primaryKey(\"id\")");
/// assert_eq!(key.field_names(), "id");
/// // The canonical bytes a snapshot embeds read back to the same schema.
/// let again = hollow::Schema::from_segment(schema.segment_bytes())?;
/// assert_eq!(again.fingerprint(), schema.fingerprint());
/// assert!(hollow::Schema::from_code_generator_request(&[]).is_err()); // no schema
/// # Ok::<(), hollow::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Schema {
    inner: Arc<SchemaInner>,
}

#[derive(Debug)]
struct SchemaInner {
    structs: HashMap<u64, StructInfo>,
    enums: HashMap<u64, EnumInfo>,
    by_name: BTreeMap<String, u64>,
    segment: Vec<capnp::Word>,
    fingerprint: u64,
}

impl Schema {
    /// Starts a schema from generated Rust types: `Schema::builder().add::<movie::Owned>()…build()`.
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder::default()
    }

    /// Reads the output of `capnp compile -o-` (a framed `CodeGeneratorRequest` message).
    pub fn from_code_generator_request(bytes: &[u8]) -> Result<Self, SchemaError> {
        let mut slice = bytes;
        let message = capnp::serialize::read_message_from_flat_slice(
            &mut slice,
            capnp::message::ReaderOptions::new(),
        )
        .map_err(|e| SchemaError::capnp("reading a CodeGeneratorRequest", e))?;
        let request: capnp::schema_capnp::code_generator_request::Reader<'_> =
            message
                .get_root()
                .map_err(|e| SchemaError::capnp("reading a CodeGeneratorRequest", e))?;
        let nodes = request
            .get_nodes()
            .map_err(|e| SchemaError::capnp("reading schema nodes", e))?;
        Self::from_nodes(nodes.iter())
    }

    /// Reads a schema section: a single-segment `CodeGeneratorRequest` whose root pointer is the
    /// first word (no stream framing). The bytes are copied, so they need no alignment.
    pub fn from_segment(bytes: &[u8]) -> Result<Self, SchemaError> {
        if !bytes.len().is_multiple_of(8) || bytes.is_empty() {
            return Err(SchemaError::Invalid {
                reason: format!("schema segment of {} bytes is not whole words", bytes.len()),
            });
        }
        let mut words = capnp::Word::allocate_zeroed_vec(bytes.len() / 8);
        capnp::Word::words_to_bytes_mut(&mut words).copy_from_slice(bytes);
        let segments = [capnp::Word::words_to_bytes(&words)];
        let message = capnp::message::Reader::new(
            capnp::message::SegmentArray::new(&segments),
            nodes::reader_options(),
        );
        let request: capnp::schema_capnp::code_generator_request::Reader<'_> =
            message
                .get_root()
                .map_err(|e| SchemaError::capnp("reading the schema section", e))?;
        let nodes = request
            .get_nodes()
            .map_err(|e| SchemaError::capnp("reading schema nodes", e))?;
        Self::from_nodes(nodes.iter())
    }

    /// Builds a schema from node readers (struct and enum nodes are kept, others dropped).
    pub fn from_nodes<'a>(
        nodes: impl IntoIterator<Item = node::Reader<'a>>,
    ) -> Result<Self, SchemaError> {
        let mut kept: BTreeMap<u64, node::Reader<'a>> = BTreeMap::new();
        for n in nodes {
            let keep = matches!(
                n.which().map_err(|e| SchemaError::Invalid {
                    reason: e.to_string()
                })?,
                node::Struct(_) | node::Enum(_)
            );
            if keep {
                kept.insert(n.get_id(), n);
            }
        }
        let segment = nodes::encode_canonical(kept.values().copied())?;
        let fingerprint = xxhash_rust::xxh3::xxh3_64(capnp::Word::words_to_bytes(&segment));
        let mut structs = HashMap::new();
        let mut enums = HashMap::new();
        let mut by_name = BTreeMap::new();
        for n in kept.values() {
            match n.which().map_err(|e| SchemaError::Invalid {
                reason: e.to_string(),
            })? {
                node::Struct(s) => {
                    let info = nodes::read_struct(*n, s)?;
                    if !info.is_group {
                        by_name.insert(info.name.clone(), info.id);
                    }
                    structs.insert(info.id, info);
                }
                node::Enum(e) => {
                    let info = nodes::read_enum(*n, e)?;
                    enums.insert(info.id, info);
                }
                _ => {}
            }
        }
        Ok(Self {
            inner: Arc::new(SchemaInner {
                structs,
                enums,
                by_name,
                segment,
                fingerprint,
            }),
        })
    }

    /// The struct with node id `id`.
    pub fn struct_by_id(&self, id: u64) -> Option<&StructInfo> {
        self.inner.structs.get(&id)
    }

    /// The (non-group) struct called `name`.
    pub fn struct_by_name(&self, name: &str) -> Option<&StructInfo> {
        self.inner
            .by_name
            .get(name)
            .and_then(|id| self.struct_by_id(*id))
    }

    /// The enum with node id `id`.
    pub fn enum_by_id(&self, id: u64) -> Option<&EnumInfo> {
        self.inner.enums.get(&id)
    }

    /// Names of all (non-group) structs, sorted.
    pub fn struct_names(&self) -> impl Iterator<Item = &str> {
        self.inner.by_name.keys().map(String::as_str)
    }

    /// Ids of the structs some struct of the schema uses as a field type (directly, inside a
    /// group or as list elements). Without a primary key such a struct is a value, not a
    /// dataset type: `Address` of `Customer.address`, `Author` of `Book.authors`.
    pub fn field_type_structs(&self) -> std::collections::BTreeSet<u64> {
        fn element(ty: &FieldType) -> Option<u64> {
            match ty {
                FieldType::Struct(id) => Some(*id),
                FieldType::List(inner) => element(inner),
                _ => None,
            }
        }
        let mut used = std::collections::BTreeSet::new();
        for id in self.inner.by_name.values() {
            // Groups are walked through their parent; `seen` stops a (malformed) cycle.
            let mut todo = vec![*id];
            let mut seen = std::collections::BTreeSet::new();
            while let Some(id) = todo.pop() {
                if !seen.insert(id) {
                    continue;
                }
                let Some(info) = self.struct_by_id(id) else {
                    continue;
                };
                for f in &info.fields {
                    match &f.kind {
                        FieldKind::Slot { ty, .. } => used.extend(element(ty)),
                        FieldKind::Group { type_id } => todo.push(*type_id),
                    }
                }
            }
        }
        used
    }

    /// Whether the struct `id` is a dataset type: it has a primary key, or no struct of the
    /// schema uses it as a field type (see [`Schema::field_type_structs`]).
    pub fn is_dataset_type(&self, id: u64) -> bool {
        let Some(info) = self.struct_by_id(id) else {
            return false;
        };
        !info.is_group
            && (info.primary_key_annotation.is_some() || !self.field_type_structs().contains(&id))
    }

    /// xxh3-64 of the canonical schema message: names the exact schema a blob was written with.
    pub fn fingerprint(&self) -> u64 {
        self.inner.fingerprint
    }

    /// The canonical single-segment message (the bytes a snapshot embeds).
    pub fn segment_bytes(&self) -> &[u8] {
        capnp::Word::words_to_bytes(&self.inner.segment)
    }

    /// The primary key of `type_id`, resolved to field paths (`None` for a keyless type).
    pub fn primary_key(&self, type_id: u64) -> Result<Option<KeyPath>, SchemaError> {
        let info = self
            .struct_by_id(type_id)
            .ok_or_else(|| SchemaError::UnknownType {
                name: format!("id {type_id:#x}"),
            })?;
        match &info.primary_key_annotation {
            None => Ok(None),
            Some(text) => KeyPath::resolve(self, info, text).map(Some),
        }
    }
}

/// Collects the schema nodes of generated Rust types (see [`Schema::builder`]).
///
/// It keeps each type's introspection function (a plain `fn`, so the builder is `Send` and can
/// live in a future that moves between threads) and walks the generated schema data in
/// [`SchemaBuilder::build`].
#[derive(Default)]
pub struct SchemaBuilder {
    types: Vec<fn() -> capnp::introspect::Type>,
}

impl SchemaBuilder {
    /// Adds the struct `T` and every struct, group and enum reachable from its fields.
    pub fn add<T: capnp::introspect::Introspect>(mut self) -> Self {
        self.types.push(T::introspect);
        self
    }

    /// The schema of every type added.
    pub fn build(self) -> Result<Schema, SchemaError> {
        let mut nodes: BTreeMap<u64, node::Reader<'static>> = BTreeMap::new();
        for introspect in self.types {
            nodes::collect(introspect(), &mut nodes)?;
        }
        Schema::from_nodes(nodes.into_values())
    }
}

pub(crate) fn read_type(t: type_::Reader<'_>) -> Result<FieldType, SchemaError> {
    let bad = |e: capnp::NotInSchema| SchemaError::Invalid {
        reason: e.to_string(),
    };
    Ok(match t.which().map_err(bad)? {
        type_::Void(()) => FieldType::Void,
        type_::Bool(()) => FieldType::Bool,
        type_::Int8(()) => FieldType::Int8,
        type_::Int16(()) => FieldType::Int16,
        type_::Int32(()) => FieldType::Int32,
        type_::Int64(()) => FieldType::Int64,
        type_::Uint8(()) => FieldType::UInt8,
        type_::Uint16(()) => FieldType::UInt16,
        type_::Uint32(()) => FieldType::UInt32,
        type_::Uint64(()) => FieldType::UInt64,
        type_::Float32(()) => FieldType::Float32,
        type_::Float64(()) => FieldType::Float64,
        type_::Text(()) => FieldType::Text,
        type_::Data(()) => FieldType::Data,
        type_::List(l) => {
            let element = l
                .get_element_type()
                .map_err(|e| SchemaError::capnp("reading a list element type", e))?;
            FieldType::List(Box::new(read_type(element)?))
        }
        type_::Enum(e) => FieldType::Enum(e.get_type_id()),
        type_::Struct(s) => FieldType::Struct(s.get_type_id()),
        type_::Interface(i) => FieldType::Interface(i.get_type_id()),
        type_::AnyPointer(_) => FieldType::AnyPointer,
    })
}

pub(crate) fn field_kind(f: field::Reader<'_>) -> Result<FieldKind, SchemaError> {
    let bad = |e: capnp::NotInSchema| SchemaError::Invalid {
        reason: e.to_string(),
    };
    Ok(match f.which().map_err(bad)? {
        field::Slot(slot) => {
            let ty = read_type(
                slot.get_type()
                    .map_err(|e| SchemaError::capnp("reading a field type", e))?,
            )?;
            let default_bits = match slot.get_default_value() {
                Ok(v) => nodes::default_bits(v)?,
                Err(_) => 0,
            };
            FieldKind::Slot {
                offset: slot.get_offset(),
                ty,
                default_bits,
            }
        }
        field::Group(g) => FieldKind::Group {
            type_id: g.get_type_id(),
        },
    })
}

#[cfg(test)]
mod tests;
