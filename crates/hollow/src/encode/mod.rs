//! Encoding JSON into records of a run-time schema: the inverse of the JSON mapping of
//! [`DynRecord::to_json`](crate::DynRecord::to_json).
//!
//! A [`RecordEncoder`] is built from a [`Schema`] and a struct name and turns a
//! `serde_json::Value` object into a Cap'n Proto message whose root is that struct, laid out
//! from the schema's field offsets (no generated code). The message's root can be handed to
//! [`Cycle::add_dynamic`](crate::Cycle::add_dynamic) or
//! [`Incremental::upsert_dynamic`](crate::Incremental::upsert_dynamic).
//!
//! The mapping, exactly what `hollow scan` prints:
//!
//! | schema type | JSON |
//! |---|---|
//! | `Bool` | `true` / `false` |
//! | `Int8` … `UInt64` | an integer number, range-checked for the field's width |
//! | `Float32`, `Float64` | a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`; a `Float32` is rounded to the nearest `f32`, a finite value beyond its range is an error |
//! | `Text` | a string |
//! | `Data` | a standard base64 string (with padding) |
//! | an enum | the enumerant's name, or its ordinal as an integer |
//! | a struct, a group | an object of its fields |
//! | `List(T)` | an array of `T` values (`null` elements only in lists of pointers) |
//! | a union | the object holds at most one member (a `Void` member is given as `null`) |
//! | `Void` | `null` |
//!
//! `null` (or a missing field) leaves a field unset: its default value, or a null pointer. A
//! union member present with `null` is selected and left unset. Everything else is an
//! [`EncodeError`] naming the field path, the value and the reason: a value out of range, of
//! the wrong JSON type, an unknown field, an unknown enumerant, bad base64, two members of one
//! union, a value nested deeper than readers accept ([`RECORD_NESTING_LIMIT`]). Nothing is
//! truncated or defaulted silently.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hollow::encode::RecordEncoder;
//! use hollow_movies::movies_capnp::{actor, movie};
//!
//! let schema = hollow::Schema::builder().add::<movie::Owned>().add::<actor::Owned>().build()?;
//! let encoder = RecordEncoder::new(&schema, "Movie")?;
//! let json = serde_json::json!({"id": 7, "title": "Seven", "genres": ["Crime"], "castIds": [1, 2]});
//! let message = encoder.encode(&json)?;
//! let record: capnp::any_pointer::Reader<'_> = message.get_root_as_reader()?;
//! let mut state = hollow::WriteState::builder("movies").schema(schema.clone()).register_name("Movie").build()?;
//! state.add_dynamic("Movie", record)?;
//!
//! let Err(bad) = encoder.encode(&serde_json::json!({"id": 7, "year": 70000})) else { panic!("out of range") };
//! assert_eq!(bad.path, "year");
//! assert_eq!(bad.to_string(), "field year: value 70000 is out of range for UInt16");
//! # Ok(()) }
//! ```

mod cell;
mod raw;

use base64::Engine;
use capnp::private::layout::{PointerBuilder, StructBuilder, StructSize};
use capnp::traits::FromPointerBuilder;
use serde_json::{Map, Value};

pub use crate::capnp_raw::RECORD_NESTING_LIMIT;
pub use cell::parse_cell;

use crate::schema::{FieldKind, FieldType, KeyValue, Schema, StructInfo};
use raw::{ListElement, RawPointer};

/// Why a JSON value could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// A number outside the range of the field's type.
    #[error("is out of range for {ty}")]
    OutOfRange {
        /// The field's type ("UInt16").
        ty: String,
    },
    /// A value of the wrong JSON type for the field.
    #[error("has the wrong type: expected {expected}")]
    WrongType {
        /// What the field takes ("an integer (Int32)").
        expected: String,
    },
    /// A JSON member naming no field of the struct.
    #[error("is given for an unknown field: {type_name} has no field {field}")]
    UnknownField {
        /// The struct (or group).
        type_name: String,
        /// The member's name.
        field: String,
    },
    /// A string naming no enumerant of the enum.
    #[error("is not an enumerant of {enum_name} (one of: {known})")]
    UnknownEnumerant {
        /// The enum.
        enum_name: String,
        /// Its enumerants, comma-separated.
        known: String,
    },
    /// A `Data` string that is not standard base64.
    #[error("is not valid base64: {reason}")]
    BadBase64 {
        /// The decoder's message.
        reason: String,
    },
    /// Two members of one union are present.
    #[error("sets two members of one union: {first} and {second} (give at most one)")]
    TwoUnionMembers {
        /// One member.
        first: String,
        /// The other member.
        second: String,
    },
    /// A primary-key field missing from a key object.
    #[error("lacks primary-key field {field}")]
    MissingKeyField {
        /// The key field's path.
        field: String,
    },
    /// A field type that JSON input cannot carry (`AnyPointer`, interfaces).
    #[error("cannot be encoded: {ty} fields are not supported")]
    Unsupported {
        /// The type.
        ty: String,
    },
    /// An array too long for a Cap'n Proto list, or longer than
    /// [`Limits::max_list_len`](crate::Limits::max_list_len).
    #[error("is too long for a list ({len} elements; the limit is {limit})")]
    TooLong {
        /// Its length.
        len: usize,
        /// The most elements a list may hold here.
        limit: u64,
    },
    /// The struct named is not in the schema.
    #[error("names no struct of the schema")]
    UnknownType,
    /// The schema refers to a node it does not hold, or has no primary key where one is needed.
    #[error("cannot be encoded with this schema: {reason}")]
    Schema {
        /// What is wrong.
        reason: String,
    },
    /// A value nested deeper than readers accept (see [`RECORD_NESTING_LIMIT`]): the record
    /// would be published but no consumer or later producer could read it.
    #[error(
        "nests too deeply: it would sit at pointer level {level}, and readers accept at most \
         {limit} levels (a struct inside a list counts two)"
    )]
    TooDeep {
        /// The level the value would have.
        level: u32,
        /// The limit ([`RECORD_NESTING_LIMIT`], or a lower
        /// [`Limits::max_nesting`](crate::Limits::max_nesting)).
        limit: u32,
    },
    /// The Cap'n Proto builder refused the value.
    #[error("could not be built: {reason}")]
    Capnp {
        /// capnp's message.
        reason: String,
    },
}

/// A JSON value that could not be encoded: the field path (`"details.isbn"`, `"castIds[2]"`,
/// empty for the record itself), the offending value (rendered as JSON, shortened to about 80
/// characters) and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} {}", self.subject(), self.kind)]
pub struct EncodeError {
    /// Path of the field from the record's root; empty for the record itself.
    pub path: String,
    /// The offending value as JSON text (shortened).
    pub value: String,
    /// Why.
    pub kind: EncodeErrorKind,
}

impl EncodeError {
    fn subject(&self) -> String {
        if self.path.is_empty() {
            format!("record value {}", self.value)
        } else {
            format!("field {}: value {}", self.path, self.value)
        }
    }
}

/// Longest rendering of an offending value in an error.
const MAX_VALUE_CHARS: usize = 80;

fn render_value(v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_else(|_| "?".to_string());
    if text.chars().count() <= MAX_VALUE_CHARS {
        text
    } else {
        let mut short: String = text.chars().take(MAX_VALUE_CHARS).collect();
        short.push('…');
        short
    }
}

/// A field path, built on the stack while walking and rendered only for an error.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Field(&'a Seg<'a>, &'a str),
    Index(&'a Seg<'a>, usize),
}

impl Seg<'_> {
    fn render(&self) -> String {
        match self {
            Seg::Root => String::new(),
            Seg::Field(Seg::Root, name) => (*name).to_string(),
            Seg::Field(parent, name) => format!("{}.{name}", parent.render()),
            Seg::Index(parent, i) => format!("{}[{i}]", parent.render()),
        }
    }

    fn fail(&self, value: &Value, kind: EncodeErrorKind) -> EncodeError {
        EncodeError {
            path: self.render(),
            value: render_value(value),
            kind,
        }
    }
}

/// A primary-key value parsed from JSON, owning its bytes (see
/// [`RecordEncoder::key_values`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OwnedKeyValue {
    /// A boolean.
    Bool(bool),
    /// An integer or an enum ordinal.
    Int(i128),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes (decoded from base64).
    Data(Vec<u8>),
}

impl OwnedKeyValue {
    /// The value as a lookup key value (borrowing).
    pub fn as_key_value(&self) -> KeyValue<'_> {
        match self {
            OwnedKeyValue::Bool(b) => KeyValue::Bool(*b),
            OwnedKeyValue::Int(i) => KeyValue::Int(*i),
            OwnedKeyValue::Float(f) => KeyValue::Float(*f),
            OwnedKeyValue::Text(t) => KeyValue::Text(t),
            OwnedKeyValue::Data(d) => KeyValue::Data(d),
        }
    }
}

/// Encodes JSON objects into records of one struct of a run-time schema (see the
/// [module docs](self) for the mapping).
#[derive(Debug, Clone)]
pub struct RecordEncoder {
    schema: Schema,
    type_id: u64,
    skip: Vec<String>,
    limits: crate::Limits,
}

impl RecordEncoder {
    /// An encoder for the (non-group) struct `type_name` of `schema`.
    pub fn new(schema: &Schema, type_name: &str) -> Result<Self, EncodeError> {
        let info = schema
            .struct_by_name(type_name)
            .ok_or_else(|| EncodeError {
                path: String::new(),
                value: render_value(&Value::from(type_name)),
                kind: EncodeErrorKind::UnknownType,
            })?;
        Ok(Self {
            schema: schema.clone(),
            type_id: info.id,
            skip: Vec::new(),
            limits: crate::Limits::default(),
        })
    }

    /// Applies `limits`' list length and nesting caps to every value encoded (the defaults
    /// are [`Limits::default`](crate::Limits::default)'s).
    pub fn with_limits(mut self, limits: crate::Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Ignores the top-level JSON member `name` (a discriminator such as `"type"` that the
    /// caller has already read). Has no effect on a field of that name: it is skipped too.
    pub fn skipping(mut self, name: &str) -> Self {
        self.skip.push(name.to_string());
        self
    }

    /// The struct this encoder writes.
    pub fn type_info(&self) -> &StructInfo {
        // The id came from this schema in `new`.
        self.schema
            .struct_by_id(self.type_id)
            .unwrap_or_else(|| unreachable!("type id from the same schema"))
    }

    /// The struct's name.
    pub fn type_name(&self) -> &str {
        &self.type_info().name
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Encodes `value` (a JSON object) into a new message whose root is the record. Read the
    /// root with `message.get_root_as_reader::<capnp::any_pointer::Reader>()`.
    pub fn encode(
        &self,
        value: &Value,
    ) -> Result<capnp::message::Builder<capnp::message::HeapAllocator>, EncodeError> {
        let mut message = capnp::message::Builder::new_default();
        self.encode_into(value, &mut message)?;
        Ok(message)
    }

    /// Encodes `value` as the root of `message` (replacing any root it had). On an error the
    /// message holds a partial record: drop it.
    pub fn encode_into<A: capnp::message::Allocator>(
        &self,
        value: &Value,
        message: &mut capnp::message::Builder<A>,
    ) -> Result<(), EncodeError> {
        let info = self.type_info();
        let root = Seg::Root;
        let Value::Object(object) = value else {
            return Err(root.fail(
                value,
                EncodeErrorKind::WrongType {
                    expected: format!("an object (struct {})", info.name),
                },
            ));
        };
        let RawPointer(pointer) = message.init_root::<RawPointer<'_>>();
        let mut builder = pointer.init_struct(struct_size(info));
        Writer {
            schema: &self.schema,
            limits: &self.limits,
        }
        .write_struct(info, &mut builder, object, &root, &self.skip, 0)
    }

    /// The type of the field at a dotted path (`"details.isbn"`) through groups and struct
    /// fields, for callers that parse text cells (see [`parse_cell`]).
    pub fn field_type(&self, path: &str) -> Option<&FieldType> {
        let mut info = self.type_info();
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let field = info.field(part)?;
            let last = parts.peek().is_none();
            match &field.kind {
                FieldKind::Slot { ty, .. } if last => return Some(ty),
                FieldKind::Slot {
                    ty: FieldType::Struct(id),
                    ..
                }
                | FieldKind::Group { type_id: id } => info = self.schema.struct_by_id(*id)?,
                FieldKind::Slot { .. } => return None,
            }
        }
        None
    }

    /// The primary-key values of a key object (`{"id": 5}`, nested objects for dotted key
    /// paths), in key field order, ready for
    /// [`Incremental::delete_key`](crate::Incremental::delete_key). Members that are not key
    /// fields are an error.
    pub fn key_values(&self, value: &Value) -> Result<Vec<OwnedKeyValue>, EncodeError> {
        let info = self.type_info();
        let root = Seg::Root;
        let key = self
            .schema
            .primary_key(info.id)
            .map_err(|e| {
                root.fail(
                    value,
                    EncodeErrorKind::Schema {
                        reason: e.to_string(),
                    },
                )
            })?
            .ok_or_else(|| {
                root.fail(
                    value,
                    EncodeErrorKind::Schema {
                        reason: format!("{} has no primary key", info.name),
                    },
                )
            })?;
        if !value.is_object() {
            return Err(root.fail(
                value,
                EncodeErrorKind::WrongType {
                    expected: format!("an object of {}'s key fields", info.name),
                },
            ));
        }
        check_only_key_members(value, &key.fields, info)?;
        let mut out = Vec::with_capacity(key.fields.len());
        for field in &key.fields {
            let mut at = value;
            for part in field.path.split('.') {
                at = at.get(part).unwrap_or(&Value::Null);
            }
            let seg_path = field.path.as_str();
            let seg = Seg::Field(&root, seg_path);
            if at.is_null() {
                return Err(root.fail(
                    value,
                    EncodeErrorKind::MissingKeyField {
                        field: field.path.clone(),
                    },
                ));
            }
            out.push(self.key_value(&field.ty, at, &seg)?);
        }
        Ok(out)
    }

    fn key_value(
        &self,
        ty: &FieldType,
        v: &Value,
        seg: &Seg<'_>,
    ) -> Result<OwnedKeyValue, EncodeError> {
        Ok(match ty {
            FieldType::Bool => OwnedKeyValue::Bool(bool_value(v, seg)?),
            FieldType::Float32 | FieldType::Float64 => OwnedKeyValue::Float(float_value(v, seg)?),
            FieldType::Text => OwnedKeyValue::Text(text_value(v, seg)?.to_string()),
            FieldType::Data => OwnedKeyValue::Data(data_value(v, seg)?),
            FieldType::Enum(id) => {
                OwnedKeyValue::Int(i128::from(enum_value(&self.schema, *id, v, seg)?))
            }
            other => {
                let n = int_value(v, seg, other)?;
                int_in_range(n, other, v, seg)?;
                OwnedKeyValue::Int(n)
            }
        })
    }
}

/// Every member of a key object (recursively) must be on a key path.
fn check_only_key_members(
    value: &Value,
    fields: &[crate::schema::KeyField],
    info: &StructInfo,
) -> Result<(), EncodeError> {
    fn walk(v: &Value, prefix: &str, paths: &[&str], info: &StructInfo) -> Result<(), EncodeError> {
        let Value::Object(map) = v else {
            return Ok(());
        };
        for (k, child) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let on_path = paths
                .iter()
                .any(|p| *p == path || p.starts_with(&format!("{path}.")));
            if !on_path {
                return Err(EncodeError {
                    path: path.clone(),
                    value: render_value(child),
                    kind: EncodeErrorKind::UnknownField {
                        type_name: format!("{}'s primary key", info.name),
                        field: path,
                    },
                });
            }
            if !paths.contains(&path.as_str()) {
                walk(child, &path, paths, info)?;
            }
        }
        Ok(())
    }
    let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
    walk(value, "", &paths, info)
}

fn struct_size(info: &StructInfo) -> StructSize {
    StructSize {
        data: info.data_words,
        pointers: info.pointer_count,
    }
}

/// A readable name of a field type for error messages.
fn type_name(schema: &Schema, ty: &FieldType) -> String {
    match ty {
        FieldType::Void => "Void".into(),
        FieldType::Bool => "Bool".into(),
        FieldType::Int8 => "Int8".into(),
        FieldType::Int16 => "Int16".into(),
        FieldType::Int32 => "Int32".into(),
        FieldType::Int64 => "Int64".into(),
        FieldType::UInt8 => "UInt8".into(),
        FieldType::UInt16 => "UInt16".into(),
        FieldType::UInt32 => "UInt32".into(),
        FieldType::UInt64 => "UInt64".into(),
        FieldType::Float32 => "Float32".into(),
        FieldType::Float64 => "Float64".into(),
        FieldType::Text => "Text".into(),
        FieldType::Data => "Data".into(),
        FieldType::List(e) => format!("List({})", type_name(schema, e)),
        FieldType::Enum(id) => schema
            .enum_by_id(*id)
            .map_or_else(|| format!("enum {id:#x}"), |e| format!("enum {}", e.name)),
        FieldType::Struct(id) => schema.struct_by_id(*id).map_or_else(
            || format!("struct {id:#x}"),
            |s| format!("struct {}", s.name),
        ),
        FieldType::AnyPointer => "AnyPointer".into(),
        FieldType::Interface(_) => "interface".into(),
        #[allow(unreachable_patterns)]
        _ => "an unsupported type".into(),
    }
}

fn low8(d: u64) -> u8 {
    d.to_le_bytes()[0]
}
fn low16(d: u64) -> u16 {
    let b = d.to_le_bytes();
    u16::from_le_bytes([b[0], b[1]])
}
fn low32(d: u64) -> u32 {
    let b = d.to_le_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn wrong(seg: &Seg<'_>, v: &Value, expected: impl Into<String>) -> EncodeError {
    seg.fail(
        v,
        EncodeErrorKind::WrongType {
            expected: expected.into(),
        },
    )
}

fn bool_value(v: &Value, seg: &Seg<'_>) -> Result<bool, EncodeError> {
    v.as_bool()
        .ok_or_else(|| wrong(seg, v, "true or false (Bool)"))
}

fn int_value(v: &Value, seg: &Seg<'_>, ty: &FieldType) -> Result<i128, EncodeError> {
    let name = || format!("an integer ({})", int_type_name(ty));
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else if n.as_f64().is_some_and(|f| {
                f.is_finite()
                    && !(-9_223_372_036_854_775_808.0..18_446_744_073_709_551_616.0).contains(&f)
            }) {
                // An integer beyond 64 bits reaches here as the float JSON parsers make of it:
                // it is out of range for every integer type, not of the wrong type.
                Err(seg.fail(
                    v,
                    EncodeErrorKind::OutOfRange {
                        ty: int_type_name(ty).to_string(),
                    },
                ))
            } else {
                Err(wrong(seg, v, name()))
            }
        }
        _ => Err(wrong(seg, v, name())),
    }
}

fn int_type_name(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Int8 => "Int8",
        FieldType::Int16 => "Int16",
        FieldType::Int32 => "Int32",
        FieldType::Int64 => "Int64",
        FieldType::UInt8 => "UInt8",
        FieldType::UInt16 => "UInt16",
        FieldType::UInt32 => "UInt32",
        FieldType::UInt64 => "UInt64",
        _ => "integer",
    }
}

/// Checks `n` fits the integer type `ty`.
fn int_in_range(n: i128, ty: &FieldType, v: &Value, seg: &Seg<'_>) -> Result<(), EncodeError> {
    let ok = match ty {
        FieldType::Int8 => i8::try_from(n).is_ok(),
        FieldType::Int16 => i16::try_from(n).is_ok(),
        FieldType::Int32 => i32::try_from(n).is_ok(),
        FieldType::Int64 => i64::try_from(n).is_ok(),
        FieldType::UInt8 => u8::try_from(n).is_ok(),
        FieldType::UInt16 => u16::try_from(n).is_ok(),
        FieldType::UInt32 => u32::try_from(n).is_ok(),
        FieldType::UInt64 => u64::try_from(n).is_ok(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(seg.fail(
            v,
            EncodeErrorKind::OutOfRange {
                ty: int_type_name(ty).to_string(),
            },
        ))
    }
}

/// An integer JSON value converted to `T`, range-checked.
fn int_as<T: TryFrom<i128>>(v: &Value, seg: &Seg<'_>, ty: &FieldType) -> Result<T, EncodeError> {
    let n = int_value(v, seg, ty)?;
    T::try_from(n).map_err(|_| {
        seg.fail(
            v,
            EncodeErrorKind::OutOfRange {
                ty: int_type_name(ty).to_string(),
            },
        )
    })
}

fn float_value(v: &Value, seg: &Seg<'_>) -> Result<f64, EncodeError> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| wrong(seg, v, "a number, \"NaN\", \"Infinity\" or \"-Infinity\"")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(wrong(
                seg,
                v,
                "a number, \"NaN\", \"Infinity\" or \"-Infinity\"",
            )),
        },
        _ => Err(wrong(
            seg,
            v,
            "a number, \"NaN\", \"Infinity\" or \"-Infinity\"",
        )),
    }
}

fn f32_value(v: &Value, seg: &Seg<'_>) -> Result<f32, EncodeError> {
    let wide = float_value(v, seg)?;
    #[allow(clippy::cast_possible_truncation)]
    let narrow = wide as f32;
    if wide.is_finite() && !narrow.is_finite() {
        return Err(seg.fail(
            v,
            EncodeErrorKind::OutOfRange {
                ty: "Float32".into(),
            },
        ));
    }
    Ok(narrow)
}

fn text_value<'v>(v: &'v Value, seg: &Seg<'_>) -> Result<&'v str, EncodeError> {
    v.as_str().ok_or_else(|| wrong(seg, v, "a string (Text)"))
}

fn data_value(v: &Value, seg: &Seg<'_>) -> Result<Vec<u8>, EncodeError> {
    let s = v
        .as_str()
        .ok_or_else(|| wrong(seg, v, "a base64 string (Data)"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| {
            seg.fail(
                v,
                EncodeErrorKind::BadBase64 {
                    reason: e.to_string(),
                },
            )
        })
}

fn enum_value(schema: &Schema, id: u64, v: &Value, seg: &Seg<'_>) -> Result<u16, EncodeError> {
    let info = schema.enum_by_id(id).ok_or_else(|| {
        seg.fail(
            v,
            EncodeErrorKind::Schema {
                reason: format!("enum {id:#x} is not in the schema"),
            },
        )
    })?;
    match v {
        Value::String(s) => info
            .enumerants
            .iter()
            .position(|e| e == s)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| {
                seg.fail(
                    v,
                    EncodeErrorKind::UnknownEnumerant {
                        enum_name: info.name.clone(),
                        known: info.enumerants.join(", "),
                    },
                )
            }),
        Value::Number(_) => int_as::<u16>(v, seg, &FieldType::UInt16),
        _ => Err(wrong(
            seg,
            v,
            format!("an enumerant name of {} (or its ordinal)", info.name),
        )),
    }
}

fn capnp_err(seg: &Seg<'_>, v: &Value, e: &capnp::Error) -> EncodeError {
    seg.fail(
        v,
        EncodeErrorKind::Capnp {
            reason: e.to_string(),
        },
    )
}

fn list_len(
    arr: &[Value],
    seg: &Seg<'_>,
    v: &Value,
    limits: &crate::Limits,
) -> Result<u32, EncodeError> {
    // A list pointer counts elements in 29 bits.
    let limit = limits.list_len().min((1 << 29) - 1);
    u32::try_from(arr.len())
        .ok()
        .filter(|n| *n <= limit)
        .ok_or_else(|| {
            seg.fail(
                v,
                EncodeErrorKind::TooLong {
                    len: arr.len(),
                    limit: u64::from(limit),
                },
            )
        })
}

struct Writer<'s> {
    schema: &'s Schema,
    limits: &'s crate::Limits,
}

impl Writer<'_> {
    fn struct_info(&self, id: u64, seg: &Seg<'_>, v: &Value) -> Result<&StructInfo, EncodeError> {
        self.schema.struct_by_id(id).ok_or_else(|| {
            seg.fail(
                v,
                EncodeErrorKind::Schema {
                    reason: format!("struct {id:#x} is not in the schema"),
                },
            )
        })
    }

    fn write_struct(
        &self,
        info: &StructInfo,
        builder: &mut StructBuilder<'_>,
        object: &Map<String, Value>,
        seg: &Seg<'_>,
        skip: &[String],
        level: u32,
    ) -> Result<(), EncodeError> {
        let mut chosen: Option<&str> = None;
        for (name, value) in object {
            if skip.iter().any(|s| s == name) {
                continue;
            }
            let here = Seg::Field(seg, name);
            let field = info.field(name).ok_or_else(|| {
                here.fail(
                    value,
                    EncodeErrorKind::UnknownField {
                        type_name: info.name.clone(),
                        field: name.clone(),
                    },
                )
            })?;
            if let Some(d) = field.discriminant {
                if let Some(first) = chosen {
                    return Err(seg.fail(
                        &Value::Object(object.clone()),
                        EncodeErrorKind::TwoUnionMembers {
                            first: first.to_string(),
                            second: name.clone(),
                        },
                    ));
                }
                chosen = Some(name);
                let offset = info.discriminant_offset.ok_or_else(|| {
                    here.fail(
                        value,
                        EncodeErrorKind::Schema {
                            reason: format!("{} has a union member but no union", info.name),
                        },
                    )
                })?;
                builder.set_data_field::<u16>(offset as usize, d);
            }
            self.write_field(&field.kind, builder, value, &here, level)?;
        }
        Ok(())
    }

    /// Writes a field of a struct at pointer level `level` (the record is level 0).
    fn write_field(
        &self,
        kind: &FieldKind,
        builder: &mut StructBuilder<'_>,
        v: &Value,
        seg: &Seg<'_>,
        level: u32,
    ) -> Result<(), EncodeError> {
        if v.is_null() {
            return Ok(());
        }
        let (offset, ty, d) = match kind {
            FieldKind::Group { type_id } => {
                let group = self.struct_info(*type_id, seg, v)?;
                let Value::Object(object) = v else {
                    return Err(wrong(seg, v, format!("an object (group {})", group.name)));
                };
                return self.write_struct(group, builder, object, seg, &[], level);
            }
            FieldKind::Slot {
                offset,
                ty,
                default_bits,
            } => (*offset as usize, ty, *default_bits),
        };
        match ty {
            FieldType::Void => return Err(wrong(seg, v, "null (Void)")),
            FieldType::Bool => builder.set_bool_field(offset, bool_value(v, seg)? ^ (d != 0)),
            FieldType::Int8 => builder
                .set_data_field::<u8>(offset, int_as::<i8>(v, seg, ty)?.cast_unsigned() ^ low8(d)),
            FieldType::Int16 => builder.set_data_field::<u16>(
                offset,
                int_as::<i16>(v, seg, ty)?.cast_unsigned() ^ low16(d),
            ),
            FieldType::Int32 => builder.set_data_field::<u32>(
                offset,
                int_as::<i32>(v, seg, ty)?.cast_unsigned() ^ low32(d),
            ),
            FieldType::Int64 => builder
                .set_data_field::<u64>(offset, int_as::<i64>(v, seg, ty)?.cast_unsigned() ^ d),
            FieldType::UInt8 => {
                builder.set_data_field::<u8>(offset, int_as::<u8>(v, seg, ty)? ^ low8(d));
            }
            FieldType::UInt16 => {
                builder.set_data_field::<u16>(offset, int_as::<u16>(v, seg, ty)? ^ low16(d));
            }
            FieldType::UInt32 => {
                builder.set_data_field::<u32>(offset, int_as::<u32>(v, seg, ty)? ^ low32(d));
            }
            FieldType::UInt64 => {
                builder.set_data_field::<u64>(offset, int_as::<u64>(v, seg, ty)? ^ d);
            }
            FieldType::Float32 => {
                builder.set_data_field::<u32>(offset, f32_value(v, seg)?.to_bits() ^ low32(d));
            }
            FieldType::Float64 => {
                builder.set_data_field::<u64>(offset, float_value(v, seg)?.to_bits() ^ d);
            }
            FieldType::Enum(id) => builder
                .set_data_field::<u16>(offset, enum_value(self.schema, *id, v, seg)? ^ low16(d)),
            _ => {
                let pointer = builder.reborrow().get_pointer_field(offset);
                self.write_pointer(ty, pointer, v, seg, level + 1)?;
            }
        }
        Ok(())
    }

    /// Writes a non-null value behind a pointer at pointer level `level`.
    fn write_pointer(
        &self,
        ty: &FieldType,
        mut pointer: PointerBuilder<'_>,
        v: &Value,
        seg: &Seg<'_>,
        level: u32,
    ) -> Result<(), EncodeError> {
        let limit = self.limits.nesting();
        if level > limit {
            return Err(seg.fail(v, EncodeErrorKind::TooDeep { level, limit }));
        }
        match ty {
            FieldType::Text => pointer.set_text(text_value(v, seg)?.into()),
            FieldType::Data => pointer.set_data(&data_value(v, seg)?),
            FieldType::Struct(id) => {
                let info = self.struct_info(*id, seg, v)?;
                let Value::Object(object) = v else {
                    return Err(wrong(seg, v, format!("an object (struct {})", info.name)));
                };
                let mut builder = pointer.init_struct(struct_size(info));
                self.write_struct(info, &mut builder, object, seg, &[], level)?;
            }
            FieldType::List(element) => {
                let Value::Array(items) = v else {
                    return Err(wrong(
                        seg,
                        v,
                        format!("an array ({})", type_name(self.schema, ty)),
                    ));
                };
                self.write_list(element, pointer, items, v, seg, level)?;
            }
            other => {
                return Err(seg.fail(
                    v,
                    EncodeErrorKind::Unsupported {
                        ty: type_name(self.schema, other),
                    },
                ));
            }
        }
        Ok(())
    }

    fn write_list(
        &self,
        element: &FieldType,
        pointer: PointerBuilder<'_>,
        items: &[Value],
        v: &Value,
        seg: &Seg<'_>,
        level: u32,
    ) -> Result<(), EncodeError> {
        let n = list_len(items, seg, v, self.limits)?;
        macro_rules! prim {
            ($t:ty, $convert:expr) => {{
                let mut list = capnp::primitive_list::Builder::<$t>::init_pointer(pointer, n);
                for (i, item) in (0..n).zip(items) {
                    let here = Seg::Index(seg, i as usize);
                    if item.is_null() {
                        return Err(wrong(
                            &here,
                            item,
                            format!(
                                "a value ({}): lists of values have no nulls",
                                type_name(self.schema, element)
                            ),
                        ));
                    }
                    let convert = $convert;
                    list.set(i, convert(item, &here)?);
                }
            }};
        }
        match element {
            FieldType::Void => {
                if let Some((i, item)) = items.iter().enumerate().find(|(_, x)| !x.is_null()) {
                    return Err(wrong(&Seg::Index(seg, i), item, "null (Void)"));
                }
                capnp::primitive_list::Builder::<()>::init_pointer(pointer, n);
            }
            FieldType::Bool => prim!(bool, |x: &Value, s: &Seg<'_>| bool_value(x, s)),
            FieldType::Int8 => prim!(i8, |x: &Value, s: &Seg<'_>| int_as::<i8>(x, s, element)),
            FieldType::Int16 => {
                prim!(i16, |x: &Value, s: &Seg<'_>| int_as::<i16>(x, s, element))
            }
            FieldType::Int32 => {
                prim!(i32, |x: &Value, s: &Seg<'_>| int_as::<i32>(x, s, element))
            }
            FieldType::Int64 => {
                prim!(i64, |x: &Value, s: &Seg<'_>| int_as::<i64>(x, s, element))
            }
            FieldType::UInt8 => prim!(u8, |x: &Value, s: &Seg<'_>| int_as::<u8>(x, s, element)),
            FieldType::UInt16 => {
                prim!(u16, |x: &Value, s: &Seg<'_>| int_as::<u16>(x, s, element))
            }
            FieldType::UInt32 => {
                prim!(u32, |x: &Value, s: &Seg<'_>| int_as::<u32>(x, s, element))
            }
            FieldType::UInt64 => {
                prim!(u64, |x: &Value, s: &Seg<'_>| int_as::<u64>(x, s, element))
            }
            FieldType::Float32 => prim!(f32, |x: &Value, s: &Seg<'_>| f32_value(x, s)),
            FieldType::Float64 => prim!(f64, |x: &Value, s: &Seg<'_>| float_value(x, s)),
            FieldType::Enum(id) => prim!(u16, |x: &Value, s: &Seg<'_>| enum_value(
                self.schema,
                *id,
                x,
                s
            )),
            FieldType::Struct(id) => {
                let info = self.struct_info(*id, seg, v)?;
                let mut pointer = pointer;
                pointer.reborrow().init_struct_list(n, struct_size(info));
                let mut list =
                    capnp::struct_list::Builder::<ListElement>::get_from_pointer(pointer, None)
                        .map_err(|e| capnp_err(seg, v, &e))?;
                for (i, item) in (0..n).zip(items) {
                    let here = Seg::Index(seg, i as usize);
                    let Value::Object(object) = item else {
                        return Err(wrong(
                            &here,
                            item,
                            format!("an object (struct {})", info.name),
                        ));
                    };
                    let mut builder = list.reborrow().get(i).0;
                    // Readers spend a level on the list and one on the element.
                    self.write_struct(info, &mut builder, object, &here, &[], level + 1)?;
                }
            }
            // Lists of pointers: each element is a pointer written with the element type.
            _ => {
                let mut list = capnp::any_pointer_list::Builder::init_pointer(pointer, n);
                for (i, item) in (0..n).zip(items) {
                    if item.is_null() {
                        continue;
                    }
                    let here = Seg::Index(seg, i as usize);
                    let RawPointer(element_pointer) = list
                        .reborrow()
                        .get(i)
                        .get_as::<RawPointer<'_>>()
                        .map_err(|e| capnp_err(&here, item, &e))?;
                    self.write_pointer(element, element_pointer, item, &here, level + 1)?;
                }
            }
        }
        Ok(())
    }
}
