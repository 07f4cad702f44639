//! Schema-driven access to records of any type, without generated code: the view the CLI and
//! the web explorer use to print records as JSON.
//!
//! JSON mapping (also used to encode JSON input): integers and finite floats are numbers; NaN and
//! infinities are the strings `"NaN"`, `"Infinity"`, `"-Infinity"`; Text is a string; Data is
//! standard base64; enums are enumerant names (an unknown ordinal is its number); Void is `null`;
//! an unset pointer field is `null`; a union shows only its active member; a group is an object.
//! Float32 values are shown in their shortest round-trip form as f32 (8.56).
//!
//! [`DynRecord`] implements `serde::Serialize`: it streams into any serializer with its
//! members in schema order (as the `.capnp` file declares them), the primary-key fields first.

use base64::Engine;
use capnp::private::layout::{PointerReader, StructReader};
use capnp::traits::FromPointerReader;
use serde_json::{Map, Number, Value};

use super::TypeView;
use crate::capnp_raw::{AnyStruct, AnyStructReader};
use crate::error::{LookupError, Result};
use crate::schema::{FieldKind, FieldType, Schema, StructInfo};

/// Records of one type, read through the schema embedded in the blob: no generated code needed.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use hollow::{ReadState, StateId, WriteState};
/// use hollow_movies::movies_capnp::movie;
///
/// let mut state = WriteState::builder("movies").register::<movie::Owned>().build()?;
/// let mut message = capnp::message::Builder::new_default();
/// let mut m = message.init_root::<movie::Builder>();
/// m.set_id(42);
/// m.set_title("Answer");
/// state.add::<movie::Owned>(m.into_reader())?;
/// let read = ReadState::from_bytes(state.write_snapshot(&StateId { version: 1, tag: 1 })?, "<mem>")?;
///
/// let movies = read.dyn_table("Movie")?;
/// let (_, record) = movies.get_by_key_strings(&["42"])?.expect("present");
/// assert_eq!(record.field_json("title")?, serde_json::json!("Answer"));
/// assert_eq!(record.to_json()?["genres"], serde_json::Value::Null); // unset pointer
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct DynTable<'s> {
    view: TypeView<'s>,
    schema: &'s Schema,
}

/// One record read through the schema.
#[derive(Clone, Copy)]
pub struct DynRecord<'s> {
    schema: &'s Schema,
    info: &'s StructInfo,
    reader: StructReader<'s>,
}

impl<'s> DynTable<'s> {
    pub(super) fn new(view: TypeView<'s>, schema: &'s Schema) -> Self {
        Self { view, schema }
    }

    /// The type as the state's current schema describes it (a delta written with a grown
    /// schema makes its new fields visible here), else as the snapshot's.
    fn info(&self) -> &'s StructInfo {
        self.schema
            .struct_by_id(self.view.ty.type_id)
            .unwrap_or(&self.view.ty.info)
    }

    /// Type name.
    pub fn name(&self) -> &'s str {
        &self.view.ty.name
    }

    /// Number of records.
    pub fn len(&self) -> u32 {
        self.view.record_count
    }

    /// True when the type has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The record at `ordinal`.
    pub fn get(&self, ordinal: u32) -> Option<DynRecord<'s>> {
        let info = self.info();
        let schema = self.schema;
        self.view.get(ordinal).map(|reader| DynRecord {
            schema,
            info,
            reader,
        })
    }

    /// Records with their ordinals, in ordinal order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, DynRecord<'s>)> + 's {
        let (schema, info) = (self.schema, self.info());
        self.view.records().map(move |(o, reader)| {
            (
                o,
                DynRecord {
                    schema,
                    info,
                    reader,
                },
            )
        })
    }

    pub(super) fn view(&self) -> TypeView<'s> {
        self.view
    }

    /// A record of this table from its struct reader.
    pub(super) fn record_of(&self, reader: StructReader<'s>) -> DynRecord<'s> {
        DynRecord {
            schema: self.schema,
            info: self.info(),
            reader,
        }
    }

    /// Primary-key field paths, empty for a keyless type.
    pub fn primary_key(&self) -> Vec<&'s str> {
        self.view
            .ty
            .key
            .iter()
            .flat_map(|k| k.fields.iter().map(|f| f.path.as_str()))
            .collect()
    }

    /// Looks a record up by its primary key given as one string per key field.
    pub fn get_by_key_strings(
        &self,
        values: &[&str],
    ) -> Result<Option<(u32, DynRecord<'s>)>, LookupError> {
        Ok(self
            .view
            .ordinal_by_strings(values)?
            .and_then(|o| self.get(o).map(|r| (o, r))))
    }
}

impl<'s> DynRecord<'s> {
    /// The record as JSON text: compact (one line) or pretty (indented).
    /// Members in schema order, the primary key first (see `impl Serialize`).
    pub fn to_json_string(&self, pretty: bool) -> Result<String, LookupError> {
        let text = if pretty {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_string(self)
        };
        text.map_err(|e| LookupError::InvalidKey {
            type_name: self.info.name.clone(),
            reason: format!("JSON: {e}"),
        })
    }

    /// The record's type.
    pub fn type_info(&self) -> &'s StructInfo {
        self.info
    }

    /// The raw struct reader.
    pub(crate) fn raw(&self) -> capnp::private::layout::StructReader<'s> {
        self.reader
    }

    /// The record as a JSON object (see the module docs for the mapping). A `Value` keeps its
    /// members in name order; to print a record, serialize it (`serde_json::to_writer(w,
    /// &record)`), which streams it in schema order with no tree in between.
    pub fn to_json(&self) -> Result<Value, LookupError> {
        struct_json(&mut Walk::new(self.schema), self.info, self.reader)
    }

    /// The value of the top-level field `name` as JSON (`null` when unset).
    pub fn field_json(&self, name: &str) -> Result<Value, LookupError> {
        let f = self
            .info
            .field(name)
            .ok_or_else(|| LookupError::UnknownField {
                type_name: self.info.name.clone(),
                field: name.to_string(),
            })?;
        if !active(self.info, self.reader, f.discriminant) {
            return Ok(Value::Null);
        }
        field_json(&mut Walk::new(self.schema), &f.kind, self.reader)
    }
}

/// Values one rendering may visit. Pointer aliasing lets a hostile blob (with valid checksums)
/// describe a graph whose full traversal is exponential; a record of a real dataset never comes
/// near this many values.
const MAX_VALUES_PER_RECORD: u64 = 1 << 24;

/// State of one rendering: the schema and the remaining value budget.
struct Walk<'a> {
    schema: &'a Schema,
    remaining: u64,
}

impl<'a> Walk<'a> {
    fn new(schema: &'a Schema) -> Self {
        Self {
            schema,
            remaining: MAX_VALUES_PER_RECORD,
        }
    }

    fn visit(&mut self, count: u64) -> Result<(), LookupError> {
        self.remaining = self.remaining.checked_sub(count).ok_or_else(|| {
            LookupError::capnp(
                "rendering a record",
                capnp::Error::failed(format!(
                    "the record expands to more than {MAX_VALUES_PER_RECORD} values"
                )),
            )
        })?;
        Ok(())
    }
}

fn err(context: &str, e: capnp::Error) -> LookupError {
    LookupError::capnp(format!("reading {context}"), e)
}

fn active(info: &StructInfo, reader: StructReader<'_>, discriminant: Option<u16>) -> bool {
    match (discriminant, info.discriminant_offset) {
        (Some(d), Some(off)) => reader.get_data_field::<u16>(off as usize) == d,
        _ => true,
    }
}

fn struct_json(
    w: &mut Walk<'_>,
    info: &StructInfo,
    reader: StructReader<'_>,
) -> Result<Value, LookupError> {
    w.visit(1 + info.fields.len() as u64)?;
    let mut map = Map::new();
    for f in &info.fields {
        if !active(info, reader, f.discriminant) {
            continue;
        }
        map.insert(f.name.clone(), field_json(w, &f.kind, reader)?);
    }
    Ok(Value::Object(map))
}

fn field_json(
    w: &mut Walk<'_>,
    kind: &FieldKind,
    reader: StructReader<'_>,
) -> Result<Value, LookupError> {
    match kind {
        FieldKind::Group { type_id } => {
            let group =
                w.schema
                    .struct_by_id(*type_id)
                    .ok_or_else(|| LookupError::UnknownType {
                        name: format!("group {type_id:#x}"),
                    })?;
            struct_json(w, group, reader)
        }
        FieldKind::Slot {
            offset,
            ty,
            default_bits,
        } => {
            let off = *offset as usize;
            let d = *default_bits;
            Ok(match ty {
                FieldType::Void => Value::Null,
                FieldType::Bool => Value::Bool(reader.get_bool_field(off) ^ (d != 0)),
                FieldType::Int8 => {
                    Value::from((reader.get_data_field::<u8>(off) ^ low8(d)).cast_signed())
                }
                FieldType::Int16 => {
                    Value::from((reader.get_data_field::<u16>(off) ^ low16(d)).cast_signed())
                }
                FieldType::Int32 => {
                    Value::from((reader.get_data_field::<u32>(off) ^ low32(d)).cast_signed())
                }
                FieldType::Int64 => {
                    Value::from((reader.get_data_field::<u64>(off) ^ d).cast_signed())
                }
                FieldType::UInt8 => Value::from(reader.get_data_field::<u8>(off) ^ low8(d)),
                FieldType::UInt16 => Value::from(reader.get_data_field::<u16>(off) ^ low16(d)),
                FieldType::UInt32 => Value::from(reader.get_data_field::<u32>(off) ^ low32(d)),
                FieldType::UInt64 => Value::from(reader.get_data_field::<u64>(off) ^ d),
                FieldType::Float32 => float_json(f32_shortest(f32::from_bits(
                    reader.get_data_field::<u32>(off) ^ low32(d),
                ))),
                FieldType::Float64 => {
                    float_json(f64::from_bits(reader.get_data_field::<u64>(off) ^ d))
                }
                FieldType::Enum(id) => {
                    enum_json(w.schema, *id, reader.get_data_field::<u16>(off) ^ low16(d))
                }
                _ => pointer_json(w, ty, &reader.get_pointer_field(off))?,
            })
        }
    }
}

fn low8(d: u64) -> u8 {
    d.to_le_bytes()[0]
}
fn low16(d: u64) -> u16 {
    u16::from_le_bytes([d.to_le_bytes()[0], d.to_le_bytes()[1]])
}
fn low32(d: u64) -> u32 {
    let b = d.to_le_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The f64 that prints as the f32's shortest round-trip form (8.56, not 8.5600004196167).
fn f32_shortest(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

fn float_json(v: f64) -> Value {
    if v.is_nan() {
        Value::from("NaN")
    } else if v.is_infinite() {
        Value::from(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

fn enum_json(schema: &Schema, id: u64, ordinal: u16) -> Value {
    match schema
        .enum_by_id(id)
        .and_then(|e| e.enumerants.get(usize::from(ordinal)))
    {
        Some(name) => Value::from(name.as_str()),
        None => Value::from(ordinal),
    }
}

fn text_json(t: capnp::text::Reader<'_>) -> Value {
    Value::from(String::from_utf8_lossy(t.as_bytes()).into_owned())
}

fn data_json(d: &[u8]) -> Value {
    Value::from(base64::engine::general_purpose::STANDARD.encode(d))
}

fn pointer_json(
    w: &mut Walk<'_>,
    ty: &FieldType,
    ptr: &PointerReader<'_>,
) -> Result<Value, LookupError> {
    if ptr.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        FieldType::Text => text_json(ptr.get_text(None).map_err(|e| err("Text", e))?),
        FieldType::Data => data_json(ptr.get_data(None).map_err(|e| err("Data", e))?),
        FieldType::Struct(id) => {
            let info = w
                .schema
                .struct_by_id(*id)
                .ok_or_else(|| LookupError::UnknownType {
                    name: format!("struct {id:#x}"),
                })?;
            struct_json(
                w,
                info,
                ptr.get_struct(None).map_err(|e| err(&info.name, e))?,
            )?
        }
        FieldType::List(element) => list_json(w, element, ptr)?,
        FieldType::AnyPointer | FieldType::Interface(_) => Value::from("<opaque pointer>"),
        _ => Value::Null,
    })
}

fn prim_list<'a, T>(
    w: &mut Walk<'_>,
    ptr: &PointerReader<'a>,
    f: impl Fn(T) -> Value,
) -> Result<Value, LookupError>
where
    T: capnp::private::layout::PrimitiveElement + capnp::introspect::Introspect,
{
    let list = capnp::primitive_list::Reader::<'a, T>::get_from_pointer(ptr, None)
        .map_err(|e| err("a list", e))?;
    // Charged before allocating: a list of Void costs no bytes but claims up to 2^29 elements.
    w.visit(1 + u64::from(list.len()))?;
    Ok(Value::Array(list.iter().map(f).collect()))
}

fn list_json(
    w: &mut Walk<'_>,
    element: &FieldType,
    ptr: &PointerReader<'_>,
) -> Result<Value, LookupError> {
    match element {
        FieldType::Void => prim_list::<()>(w, ptr, |()| Value::Null),
        FieldType::Bool => prim_list::<bool>(w, ptr, Value::Bool),
        FieldType::Int8 => prim_list::<i8>(w, ptr, Value::from),
        FieldType::Int16 => prim_list::<i16>(w, ptr, Value::from),
        FieldType::Int32 => prim_list::<i32>(w, ptr, Value::from),
        FieldType::Int64 => prim_list::<i64>(w, ptr, Value::from),
        FieldType::UInt8 => prim_list::<u8>(w, ptr, Value::from),
        FieldType::UInt16 => prim_list::<u16>(w, ptr, Value::from),
        FieldType::UInt32 => prim_list::<u32>(w, ptr, Value::from),
        FieldType::UInt64 => prim_list::<u64>(w, ptr, Value::from),
        FieldType::Float32 => prim_list::<f32>(w, ptr, |v| float_json(f32_shortest(v))),
        FieldType::Float64 => prim_list::<f64>(w, ptr, float_json),
        FieldType::Enum(id) => {
            let schema = w.schema;
            prim_list::<u16>(w, ptr, |v| enum_json(schema, *id, v))
        }
        FieldType::Struct(id) => {
            let info = w
                .schema
                .struct_by_id(*id)
                .ok_or_else(|| LookupError::UnknownType {
                    name: format!("struct {id:#x}"),
                })?;
            let list = capnp::struct_list::Reader::<AnyStruct>::get_from_pointer(ptr, None)
                .map_err(|e| err("a struct list", e))?;
            w.visit(u64::from(list.len()))?;
            let mut out = Vec::with_capacity(list.len() as usize);
            for r in list.iter() {
                out.push(struct_json(w, info, AnyStructReader::raw(r))?);
            }
            Ok(Value::Array(out))
        }
        // Lists of pointers: each element is itself a pointer read with the element type.
        _ => {
            let list = capnp::any_pointer_list::Reader::get_from_pointer(ptr, None)
                .map_err(|e| err("a list of pointers", e))?;
            w.visit(u64::from(list.len()))?;
            let mut out = Vec::with_capacity(list.len() as usize);
            for i in 0..list.len() {
                let item: capnp::any_pointer::Reader<'_> = list.get(i);
                out.push(pointer_json(w, element, &pointer_of(item)?)?);
            }
            Ok(Value::Array(out))
        }
    }
}

/// The pointer reader behind an `any_pointer::Reader` (read back through `FromPointerReader`).
fn pointer_of(item: capnp::any_pointer::Reader<'_>) -> Result<PointerReader<'_>, LookupError> {
    item.get_as::<RawPointer<'_>>()
        .map(|p| p.0)
        .map_err(|e| err("a nested list", e))
}

struct RawPointer<'a>(PointerReader<'a>);

impl<'a> FromPointerReader<'a> for RawPointer<'a> {
    fn get_from_pointer(
        reader: &PointerReader<'a>,
        _default: Option<&'a [capnp::Word]>,
    ) -> capnp::Result<Self> {
        Ok(RawPointer(*reader))
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming serialization: `impl Serialize for DynRecord` writes the record straight into any
// serde serializer (`serde_json::to_writer`), with no `Value` tree in between. Members come in
// schema order (the order the `.capnp` file declares them), the primary-key fields first;
// Float32 is serialized as f32, so JSON shows its shortest round-trip form (8.56, not
// 8.5600004196167). Values otherwise follow the module's mapping.

use std::cell::Cell;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// The remaining value budget of one serialization (see [`MAX_VALUES_PER_RECORD`]).
struct Budget(Cell<u64>);

impl Budget {
    fn visit<E: serde::ser::Error>(&self, count: u64) -> Result<(), E> {
        match self.0.get().checked_sub(count) {
            Some(left) => {
                self.0.set(left);
                Ok(())
            }
            None => Err(E::custom(format!(
                "the record expands to more than {MAX_VALUES_PER_RECORD} values"
            ))),
        }
    }
}

impl Serialize for DynRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let budget = Budget(Cell::new(MAX_VALUES_PER_RECORD));
        let key = key_fields(self.info);
        StructSer {
            schema: self.schema,
            budget: &budget,
            info: self.info,
            reader: self.reader,
            key_first: &key,
        }
        .serialize(serializer)
    }
}

/// The top-level fields named by the primary-key annotation ("country, code", "details.isbn"
/// → details), in key order.
fn key_fields(info: &StructInfo) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    if let Some(text) = &info.primary_key_annotation {
        for path in text.split(',') {
            let top = path.trim().split('.').next().unwrap_or_default();
            if !top.is_empty() && !out.contains(&top) {
                out.push(top);
            }
        }
    }
    out
}

fn ser_err<E: serde::ser::Error>(e: impl std::fmt::Display) -> E {
    E::custom(e)
}

struct StructSer<'a, 'r> {
    schema: &'a Schema,
    budget: &'a Budget,
    info: &'a StructInfo,
    reader: StructReader<'r>,
    /// Fields to put first (the primary key's), in this order.
    key_first: &'a [&'a str],
}

impl Serialize for StructSer<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.budget.visit(1 + self.info.fields.len() as u64)?;
        let mut fields: Vec<&crate::schema::FieldInfo> = self
            .info
            .fields
            .iter()
            .filter(|f| active(self.info, self.reader, f.discriminant))
            .collect();
        fields.sort_by_key(|f| {
            (
                self.key_first
                    .iter()
                    .position(|k| *k == f.name)
                    .unwrap_or(usize::MAX),
                f.code_order,
            )
        });
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for f in fields {
            map.serialize_entry(
                &f.name,
                &FieldSer {
                    schema: self.schema,
                    budget: self.budget,
                    kind: &f.kind,
                    reader: self.reader,
                },
            )?;
        }
        map.end()
    }
}

struct FieldSer<'a, 'r> {
    schema: &'a Schema,
    budget: &'a Budget,
    kind: &'a FieldKind,
    reader: StructReader<'r>,
}

impl Serialize for FieldSer<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let reader = self.reader;
        match self.kind {
            FieldKind::Group { type_id } => {
                let group = self
                    .schema
                    .struct_by_id(*type_id)
                    .ok_or_else(|| ser_err::<S::Error>(format!("unknown group {type_id:#x}")))?;
                StructSer {
                    schema: self.schema,
                    budget: self.budget,
                    info: group,
                    reader,
                    key_first: &[],
                }
                .serialize(s)
            }
            FieldKind::Slot {
                offset,
                ty,
                default_bits,
            } => {
                let off = *offset as usize;
                let d = *default_bits;
                match ty {
                    FieldType::Void => s.serialize_unit(),
                    FieldType::Bool => s.serialize_bool(reader.get_bool_field(off) ^ (d != 0)),
                    FieldType::Int8 => {
                        s.serialize_i8((reader.get_data_field::<u8>(off) ^ low8(d)).cast_signed())
                    }
                    FieldType::Int16 => s.serialize_i16(
                        (reader.get_data_field::<u16>(off) ^ low16(d)).cast_signed(),
                    ),
                    FieldType::Int32 => s.serialize_i32(
                        (reader.get_data_field::<u32>(off) ^ low32(d)).cast_signed(),
                    ),
                    FieldType::Int64 => {
                        s.serialize_i64((reader.get_data_field::<u64>(off) ^ d).cast_signed())
                    }
                    FieldType::UInt8 => s.serialize_u8(reader.get_data_field::<u8>(off) ^ low8(d)),
                    FieldType::UInt16 => {
                        s.serialize_u16(reader.get_data_field::<u16>(off) ^ low16(d))
                    }
                    FieldType::UInt32 => {
                        s.serialize_u32(reader.get_data_field::<u32>(off) ^ low32(d))
                    }
                    FieldType::UInt64 => s.serialize_u64(reader.get_data_field::<u64>(off) ^ d),
                    FieldType::Float32 => ser_f32(
                        s,
                        f32::from_bits(reader.get_data_field::<u32>(off) ^ low32(d)),
                    ),
                    FieldType::Float64 => {
                        ser_f64(s, f64::from_bits(reader.get_data_field::<u64>(off) ^ d))
                    }
                    FieldType::Enum(id) => ser_enum(
                        s,
                        self.schema,
                        *id,
                        reader.get_data_field::<u16>(off) ^ low16(d),
                    ),
                    _ => PointerSer {
                        schema: self.schema,
                        budget: self.budget,
                        ty,
                        ptr: reader.get_pointer_field(off),
                    }
                    .serialize(s),
                }
            }
        }
    }
}

fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

fn ser_f32<S: Serializer>(s: S, v: f32) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f32(v)
    } else {
        s.serialize_str(non_finite(f64::from(v)))
    }
}

fn ser_f64<S: Serializer>(s: S, v: f64) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(v)
    } else {
        s.serialize_str(non_finite(v))
    }
}

fn ser_enum<S: Serializer>(
    s: S,
    schema: &Schema,
    id: u64,
    ordinal: u16,
) -> Result<S::Ok, S::Error> {
    match schema
        .enum_by_id(id)
        .and_then(|e| e.enumerants.get(usize::from(ordinal)))
    {
        Some(name) => s.serialize_str(name),
        None => s.serialize_u16(ordinal),
    }
}

struct PointerSer<'a, 'r> {
    schema: &'a Schema,
    budget: &'a Budget,
    ty: &'a FieldType,
    ptr: PointerReader<'r>,
}

impl Serialize for PointerSer<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ptr = &self.ptr;
        if ptr.is_null() {
            return s.serialize_unit();
        }
        match self.ty {
            FieldType::Text => {
                let t = ptr
                    .get_text(None)
                    .map_err(|e| ser_err::<S::Error>(err("Text", e)))?;
                match t.to_str() {
                    Ok(text) => s.serialize_str(text),
                    Err(_) => s.serialize_str(&String::from_utf8_lossy(t.as_bytes())),
                }
            }
            FieldType::Data => {
                let d = ptr
                    .get_data(None)
                    .map_err(|e| ser_err::<S::Error>(err("Data", e)))?;
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(d))
            }
            FieldType::Struct(id) => {
                let info = self
                    .schema
                    .struct_by_id(*id)
                    .ok_or_else(|| ser_err::<S::Error>(format!("unknown struct {id:#x}")))?;
                let reader = ptr
                    .get_struct(None)
                    .map_err(|e| ser_err::<S::Error>(err(&info.name, e)))?;
                StructSer {
                    schema: self.schema,
                    budget: self.budget,
                    info,
                    reader,
                    key_first: &[],
                }
                .serialize(s)
            }
            FieldType::List(element) => ListSer {
                schema: self.schema,
                budget: self.budget,
                element,
                ptr: self.ptr,
            }
            .serialize(s),
            FieldType::AnyPointer | FieldType::Interface(_) => s.serialize_str("<opaque pointer>"),
            _ => s.serialize_unit(),
        }
    }
}

struct ListSer<'a, 'r> {
    schema: &'a Schema,
    budget: &'a Budget,
    element: &'a FieldType,
    ptr: PointerReader<'r>,
}

/// A primitive list, each element through `f`.
fn ser_prims<'r, T, S, F>(
    s: S,
    budget: &Budget,
    ptr: &PointerReader<'r>,
    f: F,
) -> Result<S::Ok, S::Error>
where
    T: capnp::private::layout::PrimitiveElement + capnp::introspect::Introspect,
    S: Serializer,
    F: Fn(T, &mut S::SerializeSeq) -> Result<(), S::Error>,
{
    let list = capnp::primitive_list::Reader::<'r, T>::get_from_pointer(ptr, None)
        .map_err(|e| ser_err::<S::Error>(err("a list", e)))?;
    budget.visit(1 + u64::from(list.len()))?;
    let mut seq = s.serialize_seq(Some(list.len() as usize))?;
    for v in list.iter() {
        f(v, &mut seq)?;
    }
    seq.end()
}

/// A serializable float that writes the non-finite strings.
struct F32(f32);
impl Serialize for F32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser_f32(s, self.0)
    }
}
struct F64(f64);
impl Serialize for F64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser_f64(s, self.0)
    }
}
struct EnumSer<'a>(&'a Schema, u64, u16);
impl Serialize for EnumSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser_enum(s, self.0, self.1, self.2)
    }
}

impl Serialize for ListSer<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (b, p) = (self.budget, &self.ptr);
        match self.element {
            FieldType::Void => ser_prims::<(), _, _>(s, b, p, |(), q| q.serialize_element(&())),
            FieldType::Bool => ser_prims::<bool, _, _>(s, b, p, |v, q| q.serialize_element(&v)),
            FieldType::Int8 => ser_prims::<i8, _, _>(s, b, p, |v, q| q.serialize_element(&v)),
            FieldType::Int16 => ser_prims::<i16, _, _>(s, b, p, |v, q| q.serialize_element(&v)),
            FieldType::Int32 => ser_prims::<i32, _, _>(s, b, p, |v, q| q.serialize_element(&v)),
            FieldType::Int64 => ser_prims::<i64, _, _>(s, b, p, |v, q| q.serialize_element(&v)),
            FieldType::UInt8 => ser_prims::<u8, _, _>(s, b, p, |v, q| q.serialize_element(&v)),
            FieldType::UInt16 => ser_prims::<u16, _, _>(s, b, p, |v, q| q.serialize_element(&v)),
            FieldType::UInt32 => ser_prims::<u32, _, _>(s, b, p, |v, q| q.serialize_element(&v)),
            FieldType::UInt64 => ser_prims::<u64, _, _>(s, b, p, |v, q| q.serialize_element(&v)),
            FieldType::Float32 => {
                ser_prims::<f32, _, _>(s, b, p, |v, q| q.serialize_element(&F32(v)))
            }
            FieldType::Float64 => {
                ser_prims::<f64, _, _>(s, b, p, |v, q| q.serialize_element(&F64(v)))
            }
            FieldType::Enum(id) => ser_prims::<u16, _, _>(s, b, p, |v, q| {
                q.serialize_element(&EnumSer(self.schema, *id, v))
            }),
            FieldType::Struct(id) => {
                let info = self
                    .schema
                    .struct_by_id(*id)
                    .ok_or_else(|| ser_err::<S::Error>(format!("unknown struct {id:#x}")))?;
                let list = capnp::struct_list::Reader::<AnyStruct>::get_from_pointer(p, None)
                    .map_err(|e| ser_err::<S::Error>(err("a struct list", e)))?;
                b.visit(u64::from(list.len()))?;
                let mut seq = s.serialize_seq(Some(list.len() as usize))?;
                for r in list.iter() {
                    seq.serialize_element(&StructSer {
                        schema: self.schema,
                        budget: b,
                        info,
                        reader: AnyStructReader::raw(r),
                        key_first: &[],
                    })?;
                }
                seq.end()
            }
            // Lists of pointers: each element is itself a pointer read with the element type.
            element => {
                let list = capnp::any_pointer_list::Reader::get_from_pointer(p, None)
                    .map_err(|e| ser_err::<S::Error>(err("a list of pointers", e)))?;
                b.visit(u64::from(list.len()))?;
                let mut seq = s.serialize_seq(Some(list.len() as usize))?;
                for i in 0..list.len() {
                    let item: capnp::any_pointer::Reader<'_> = list.get(i);
                    let ptr = pointer_of(item).map_err(ser_err::<S::Error>)?;
                    seq.serialize_element(&PointerSer {
                        schema: self.schema,
                        budget: b,
                        ty: element,
                        ptr,
                    })?;
                }
                seq.end()
            }
        }
    }
}
