//! Schema-driven access to records of any type, without generated code: the view the CLI and
//! the web explorer use to print records as JSON.
//!
//! JSON mapping (also used to encode JSON input): integers and finite floats are numbers; NaN and
//! infinities are the strings `"NaN"`, `"Infinity"`, `"-Infinity"`; Text is a string; Data is
//! standard base64; enums are enumerant names (an unknown ordinal is its number); Void is `null`;
//! an unset pointer field is `null`; a union shows only its active member; a group is an object.

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
    pub fn to_json_string(&self, pretty: bool) -> Result<String, LookupError> {
        let value = self.to_json()?;
        let text = if pretty {
            serde_json::to_string_pretty(&value)
        } else {
            serde_json::to_string(&value)
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

    /// The record as a JSON object (see the module docs for the mapping).
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
                FieldType::Float32 => float_json(f64::from(f32::from_bits(
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
        FieldType::Float32 => prim_list::<f32>(w, ptr, |v| float_json(f64::from(v))),
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
