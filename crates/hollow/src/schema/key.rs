//! Primary keys: field paths resolved against the schema, extraction from a record, and the
//! canonical key bytes that indexes hash (byte layout in docs/FORMAT.md, "Canonical key bytes").

use capnp::private::layout::StructReader;

/// Canonical key bytes: on the stack for keys up to 32 bytes.
pub type KeyBytes = smallvec::SmallVec<[u8; 32]>;

use super::{FieldKind, FieldType, Schema, StructInfo};
use crate::error::{CycleError, LookupError, Result, SchemaError};

/// Length marker of an unset (null) Text/Data key field.
pub(super) const NULL_LEN: u32 = u32::MAX;
/// Canonical NaN bits of a Float32 key.
const F32_NAN: u32 = 0x7fc0_0000;
/// Canonical NaN bits of a Float64 key.
const F64_NAN: u64 = 0x7ff8_0000_0000_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UnionCheck {
    discriminant_offset: u32,
    value: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A group: same struct reader, maybe behind a union check.
    Group(Option<UnionCheck>),
    /// A struct field: follow pointer `index`.
    Pointer(Option<UnionCheck>, u16),
}

/// One field of a key: a path from the record to a primitive, Text or Data slot.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyField {
    /// The path as written in the annotation ("id", "details.isbn").
    pub path: String,
    /// The type of the value at the end of the path.
    pub ty: FieldType,
    steps: Vec<Step>,
    last_union: Option<UnionCheck>,
    offset: u32,
    default_bits: u64,
    /// Enumerant names, for an enum field (lookups may name them).
    enumerants: Vec<String>,
}

/// A resolved key: its fields in order.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPath {
    /// The type the key belongs to.
    pub type_name: String,
    /// Key fields in declaration order.
    pub fields: Vec<KeyField>,
}

/// A value given to a key lookup, converted to each field's type with range checks.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum KeyValue<'a> {
    /// A boolean.
    Bool(bool),
    /// Any integer (fits every integer width's range check).
    Int(i128),
    /// A float.
    Float(f64),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Data(&'a [u8]),
    /// An unset Text/Data field.
    Null,
}

macro_rules! key_value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for KeyValue<'_> {
            fn from(v: $t) -> Self { KeyValue::Int(i128::from(v)) }
        }
    )*};
}
key_value_from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! key_value_from_ref {
    ($($t:ty),*) => {$(
        impl From<&$t> for KeyValue<'_> {
            fn from(v: &$t) -> Self { KeyValue::from(*v) }
        }
    )*};
}
key_value_from_ref!(i8, i16, i32, i64, u8, u16, u32, u64, bool, f32, f64);

impl From<bool> for KeyValue<'_> {
    fn from(v: bool) -> Self {
        KeyValue::Bool(v)
    }
}
impl From<f32> for KeyValue<'_> {
    fn from(v: f32) -> Self {
        KeyValue::Float(f64::from(v))
    }
}
impl From<f64> for KeyValue<'_> {
    fn from(v: f64) -> Self {
        KeyValue::Float(v)
    }
}
impl<'a> From<&'a str> for KeyValue<'a> {
    fn from(v: &'a str) -> Self {
        KeyValue::Text(v)
    }
}
impl<'a> From<&'a String> for KeyValue<'a> {
    fn from(v: &'a String) -> Self {
        KeyValue::Text(v)
    }
}
impl<'a> From<&'a [u8]> for KeyValue<'a> {
    fn from(v: &'a [u8]) -> Self {
        KeyValue::Data(v)
    }
}

pub(super) fn union_check(info: &StructInfo, discriminant: Option<u16>) -> Option<UnionCheck> {
    match (info.discriminant_offset, discriminant) {
        (Some(discriminant_offset), Some(value)) => Some(UnionCheck {
            discriminant_offset,
            value,
        }),
        _ => None,
    }
}

impl KeyPath {
    /// Resolves a comma-separated list of field paths (the `$primaryKey` text) on `info`.
    pub fn resolve(schema: &Schema, info: &StructInfo, text: &str) -> Result<Self, SchemaError> {
        let mut fields = Vec::new();
        for path in text.split(',').map(str::trim) {
            if path.is_empty() {
                return Err(SchemaError::Invalid {
                    reason: format!("empty field path in key \"{text}\" of {}", info.name),
                });
            }
            fields.push(resolve_field(schema, info, path)?);
        }
        Ok(Self {
            type_name: info.name.clone(),
            fields,
        })
    }

    /// Writes the canonical key bytes of `record` into `out` (cleared first).
    pub(crate) fn encode_record(
        &self,
        record: StructReader<'_>,
        out: &mut KeyBytes,
    ) -> Result<(), CycleError> {
        out.clear();
        for f in &self.fields {
            f.encode_from_record(record, out)
                .map_err(|missing| match missing {
                    Missing::Field => CycleError::MissingKey {
                        type_name: self.type_name.clone(),
                        field: f.path.clone(),
                    },
                    Missing::Capnp(e) => {
                        CycleError::capnp(format!("reading key field {}", f.path), e)
                    }
                })?;
        }
        Ok(())
    }

    /// Writes the canonical key bytes of a lookup key into `out` (cleared first).
    pub fn encode_values(
        &self,
        values: &[KeyValue<'_>],
        out: &mut KeyBytes,
    ) -> Result<(), LookupError> {
        out.clear();
        if values.len() != self.fields.len() {
            return Err(LookupError::InvalidKey {
                type_name: self.type_name.clone(),
                reason: format!(
                    "the key has {} field(s) ({}), {} value(s) given",
                    self.fields.len(),
                    self.field_names(),
                    values.len()
                ),
            });
        }
        for (f, v) in self.fields.iter().zip(values) {
            encode_value(&f.ty, *v, out).map_err(|reason| LookupError::InvalidKey {
                type_name: self.type_name.clone(),
                reason: format!("field {}: {reason}", f.path),
            })?;
        }
        Ok(())
    }

    /// Parses one string per key field (for command-line lookups) and encodes them. A `Data`
    /// field takes standard base64, as `hollow scan` prints it and `hollow produce` reads it.
    pub fn encode_strings(&self, values: &[&str], out: &mut KeyBytes) -> Result<(), LookupError> {
        let values: Vec<Option<&str>> = values.iter().copied().map(Some).collect();
        self.encode_optional_strings(&values, out)
    }

    /// Like [`KeyPath::encode_strings`], where `None` is the null key of an unset Text or Data
    /// field ([`KeyValue::Null`]).
    pub fn encode_optional_strings(
        &self,
        values: &[Option<&str>],
        out: &mut KeyBytes,
    ) -> Result<(), LookupError> {
        if values.len() != self.fields.len() {
            return self.encode_values(&vec![KeyValue::Null; values.len()], out);
        }
        let mut floats = Vec::new();
        // Data values decoded from base64 first, for the key values below to borrow.
        let mut datas = Vec::with_capacity(values.len());
        for (f, s) in self.fields.iter().zip(values) {
            datas.push(match (&f.ty, s) {
                (FieldType::Data, Some(s)) => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|e| {
                            self.parse_error(f, s, &format!("expected base64 (as printed): {e}"))
                        })?
                }
                _ => Vec::new(),
            });
        }
        let mut parsed = Vec::with_capacity(values.len());
        for ((f, s), data) in self.fields.iter().zip(values).zip(&datas) {
            let Some(s) = s else {
                parsed.push(KeyValue::Null);
                continue;
            };
            let v = match f.ty {
                FieldType::Bool => match *s {
                    "true" => KeyValue::Bool(true),
                    "false" => KeyValue::Bool(false),
                    _ => return Err(self.parse_error(f, s, "expected true or false")),
                },
                FieldType::Float32 | FieldType::Float64 => {
                    floats.push(
                        s.parse::<f64>()
                            .map_err(|e| self.parse_error(f, s, &e.to_string()))?,
                    );
                    KeyValue::Float(floats[floats.len() - 1])
                }
                FieldType::Text => KeyValue::Text(s),
                FieldType::Data => KeyValue::Data(data),
                FieldType::Enum(_) if s.parse::<i128>().is_err() => {
                    let Some(n) = f.enumerants.iter().position(|e| e == s) else {
                        return Err(self.parse_error(
                            f,
                            s,
                            &format!("expected one of {}", f.enumerants.join(", ")),
                        ));
                    };
                    KeyValue::Int(n as i128)
                }
                _ => KeyValue::Int(
                    s.parse::<i128>()
                        .map_err(|e| self.parse_error(f, s, &e.to_string()))?,
                ),
            };
            parsed.push(v);
        }
        self.encode_values(&parsed, out)
    }

    fn parse_error(&self, f: &KeyField, s: &str, why: &str) -> LookupError {
        LookupError::InvalidKey {
            type_name: self.type_name.clone(),
            reason: format!("field {} cannot take \"{s}\": {why}", f.path),
        }
    }

    /// Width of the canonical key bytes when every field is fixed-width and they total at most
    /// 8 bytes: such keys are stored whole in the primary-key index (the inline-key layout).
    pub fn inline_width(&self) -> Option<usize> {
        let mut width = 0;
        for f in &self.fields {
            width += match f.ty {
                FieldType::Bool | FieldType::Int8 | FieldType::UInt8 => 1,
                FieldType::Int16 | FieldType::UInt16 | FieldType::Enum(_) => 2,
                FieldType::Int32 | FieldType::UInt32 | FieldType::Float32 => 4,
                FieldType::Int64 | FieldType::UInt64 | FieldType::Float64 => 8,
                _ => return None,
            };
        }
        (width <= 8).then_some(width)
    }

    /// "id" or "country, code".
    pub fn field_names(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Canonical key bytes back as the strings a lookup takes, one per field (`None` for an
    /// unset Text or Data field): text as is, Data in base64, an enum by enumerant name, numbers
    /// in shortest form. `None` when the bytes do not decode as this key.
    pub fn query_values(&self, bytes: &[u8]) -> Option<Vec<Option<String>>> {
        let mut out = Vec::with_capacity(self.fields.len());
        let mut rest = bytes;
        for f in &self.fields {
            let (value, tail) = query_value_one(f, rest)?;
            out.push(value);
            rest = tail;
        }
        rest.is_empty().then_some(out)
    }

    /// Renders canonical key bytes for messages ("100042", "(\"US\", 7)").
    pub fn render(&self, bytes: &[u8]) -> String {
        let mut parts = Vec::new();
        let mut rest = bytes;
        for f in &self.fields {
            let (part, tail) = render_one(&f.ty, rest);
            parts.push(part);
            rest = tail;
        }
        if parts.len() == 1 {
            parts.swap_remove(0)
        } else {
            format!("({})", parts.join(", "))
        }
    }
}

fn resolve_field(schema: &Schema, root: &StructInfo, path: &str) -> Result<KeyField, SchemaError> {
    let unknown = || SchemaError::UnknownField {
        type_name: root.name.clone(),
        field: path.to_string(),
    };
    let mut steps = Vec::new();
    let mut info = root;
    let mut parts = path.split('.').peekable();
    while let Some(name) = parts.next() {
        let field = info.field(name).ok_or_else(unknown)?;
        let check = union_check(info, field.discriminant);
        let last = parts.peek().is_none();
        match &field.kind {
            FieldKind::Group { type_id } => {
                if last {
                    return Err(SchemaError::Invalid {
                        reason: format!(
                            "key field {path} of {} is a group, not a value",
                            root.name
                        ),
                    });
                }
                steps.push(Step::Group(check));
                info = schema.struct_by_id(*type_id).ok_or_else(unknown)?;
            }
            FieldKind::Slot {
                offset,
                ty,
                default_bits,
            } => {
                if last {
                    let keyable = is_keyable(ty);
                    if !keyable {
                        return Err(SchemaError::Invalid {
                            reason: format!(
                                "key field {path} of {} has type {ty:?}; keys are primitives, enums, Text or Data",
                                root.name
                            ),
                        });
                    }
                    return Ok(KeyField {
                        path: path.to_string(),
                        ty: ty.clone(),
                        steps,
                        last_union: check,
                        offset: *offset,
                        default_bits: *default_bits,
                        enumerants: enumerants_of(schema, ty),
                    });
                }
                let FieldType::Struct(id) = ty else {
                    return Err(SchemaError::Invalid {
                        reason: format!(
                            "key path {path} of {} walks through {name}, which is not a struct",
                            root.name
                        ),
                    });
                };
                let index = u16::try_from(*offset).map_err(|_| unknown())?;
                steps.push(Step::Pointer(check, index));
                info = schema.struct_by_id(*id).ok_or_else(unknown)?;
            }
        }
    }
    Err(unknown())
}

pub(super) enum Missing {
    Field,
    Capnp(capnp::Error),
}

pub(super) fn union_matches(reader: &StructReader<'_>, check: Option<UnionCheck>) -> bool {
    match check {
        None => true,
        Some(c) => reader.get_data_field::<u16>(c.discriminant_offset as usize) == c.value,
    }
}

impl KeyField {
    fn encode_from_record(
        &self,
        record: StructReader<'_>,
        out: &mut KeyBytes,
    ) -> Result<(), Missing> {
        let mut reader = record;
        for step in &self.steps {
            match step {
                Step::Group(check) => {
                    if !union_matches(&reader, *check) {
                        return Err(Missing::Field);
                    }
                }
                Step::Pointer(check, index) => {
                    if !union_matches(&reader, *check) {
                        return Err(Missing::Field);
                    }
                    let ptr = reader.get_pointer_field(usize::from(*index));
                    if ptr.is_null() {
                        return Err(Missing::Field);
                    }
                    reader = ptr.get_struct(None).map_err(Missing::Capnp)?;
                }
            }
        }
        if !union_matches(&reader, self.last_union) {
            return Err(Missing::Field);
        }
        encode_slot(&reader, &self.ty, self.offset, self.default_bits, out)
    }
}

/// Appends the canonical bytes of the primitive, Text or Data slot at `offset` of `reader`.
pub(super) fn encode_slot(
    reader: &StructReader<'_>,
    ty: &FieldType,
    offset: u32,
    default_bits: u64,
    out: &mut KeyBytes,
) -> Result<(), Missing> {
    let off = offset as usize;
    let d = default_bits;
    // Stored primitive values are XORed with the field's default (Cap'n Proto encoding).
    match ty {
        FieldType::Bool => out.push(u8::from(reader.get_bool_field(off) ^ (d != 0))),
        FieldType::Int8 | FieldType::UInt8 => {
            out.push(reader.get_data_field::<u8>(off) ^ d.to_le_bytes()[0]);
        }
        FieldType::Int16 | FieldType::UInt16 | FieldType::Enum(_) => {
            let v = reader.get_data_field::<u16>(off)
                ^ u16::from_le_bytes([d.to_le_bytes()[0], d.to_le_bytes()[1]]);
            out.extend_from_slice(&v.to_le_bytes());
        }
        FieldType::Int32 | FieldType::UInt32 => {
            let v = reader.get_data_field::<u32>(off) ^ low32(d);
            out.extend_from_slice(&v.to_le_bytes());
        }
        FieldType::Int64 | FieldType::UInt64 => {
            let v = reader.get_data_field::<u64>(off) ^ d;
            out.extend_from_slice(&v.to_le_bytes());
        }
        FieldType::Float32 => {
            let v = f32::from_bits(reader.get_data_field::<u32>(off) ^ low32(d));
            out.extend_from_slice(&canonical_f32(v).to_le_bytes());
        }
        FieldType::Float64 => {
            let v = f64::from_bits(reader.get_data_field::<u64>(off) ^ d);
            out.extend_from_slice(&canonical_f64(v).to_le_bytes());
        }
        FieldType::Text | FieldType::Data => {
            let ptr = reader.get_pointer_field(off);
            if ptr.is_null() {
                return Err(Missing::Field);
            }
            let bytes = if *ty == FieldType::Text {
                ptr.get_text(None).map_err(Missing::Capnp)?.as_bytes()
            } else {
                ptr.get_data(None).map_err(Missing::Capnp)?
            };
            push_len_prefixed(bytes, out);
        }
        _ => return Err(Missing::Field),
    }
    Ok(())
}

/// Canonical key bytes of an inline key (at most 8) as a zero-padded little-endian u64.
pub(crate) fn inline_key(bytes: &[u8]) -> u64 {
    let mut padded = [0u8; 8];
    let n = bytes.len().min(8);
    padded[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(padded)
}

fn low32(bits: u64) -> u32 {
    u32::try_from(bits & 0xffff_ffff).unwrap_or(0)
}

pub(super) fn push_len_prefixed(bytes: &[u8], out: &mut KeyBytes) {
    // Keys longer than 4 GiB cannot occur: a Cap'n Proto list holds < 2^29 words.
    let len = u32::try_from(bytes.len()).unwrap_or(NULL_LEN - 1);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Canonical bits of a Float32 key: -0.0 is 0.0 and every NaN is one NaN.
pub(crate) fn canonical_f32(v: f32) -> u32 {
    if v.is_nan() {
        F32_NAN
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// Canonical bits of a Float64 key: -0.0 is 0.0 and every NaN is one NaN.
pub(crate) fn canonical_f64(v: f64) -> u64 {
    if v.is_nan() {
        F64_NAN
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

fn int_in<T: TryFrom<i128>>(v: i128, name: &str) -> Result<T, String> {
    T::try_from(v).map_err(|_| format!("{v} does not fit {name}"))
}

fn encode_value(ty: &FieldType, v: KeyValue<'_>, out: &mut KeyBytes) -> Result<(), String> {
    match (ty, v) {
        (FieldType::Bool, KeyValue::Bool(b)) => out.push(u8::from(b)),
        (FieldType::Int8, KeyValue::Int(i)) => {
            out.extend_from_slice(&int_in::<i8>(i, "Int8")?.to_le_bytes())
        }
        (FieldType::UInt8, KeyValue::Int(i)) => {
            out.extend_from_slice(&int_in::<u8>(i, "UInt8")?.to_le_bytes())
        }
        (FieldType::Int16, KeyValue::Int(i)) => {
            out.extend_from_slice(&int_in::<i16>(i, "Int16")?.to_le_bytes())
        }
        (FieldType::UInt16 | FieldType::Enum(_), KeyValue::Int(i)) => {
            out.extend_from_slice(&int_in::<u16>(i, "UInt16")?.to_le_bytes());
        }
        (FieldType::Int32, KeyValue::Int(i)) => {
            out.extend_from_slice(&int_in::<i32>(i, "Int32")?.to_le_bytes())
        }
        (FieldType::UInt32, KeyValue::Int(i)) => {
            out.extend_from_slice(&int_in::<u32>(i, "UInt32")?.to_le_bytes())
        }
        (FieldType::Int64, KeyValue::Int(i)) => {
            out.extend_from_slice(&int_in::<i64>(i, "Int64")?.to_le_bytes())
        }
        (FieldType::UInt64, KeyValue::Int(i)) => {
            out.extend_from_slice(&int_in::<u64>(i, "UInt64")?.to_le_bytes())
        }
        (FieldType::Float32, KeyValue::Float(f)) => {
            #[allow(clippy::cast_possible_truncation)]
            let narrow = f as f32;
            if !f.is_nan() && f64::from(narrow) != f {
                return Err(format!("{f} is not exactly representable as Float32"));
            }
            out.extend_from_slice(&canonical_f32(narrow).to_le_bytes());
        }
        (FieldType::Float64, KeyValue::Float(f)) => {
            out.extend_from_slice(&canonical_f64(f).to_le_bytes())
        }
        (FieldType::Float32 | FieldType::Float64, KeyValue::Int(i)) => {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let f = i as f64;
            #[allow(clippy::cast_possible_truncation)]
            if f as i128 != i {
                return Err(format!("{i} is not exactly representable as a float"));
            }
            encode_value(ty, KeyValue::Float(f), out)?;
        }
        (FieldType::Text, KeyValue::Text(s)) => push_len_prefixed(s.as_bytes(), out),
        (FieldType::Data, KeyValue::Data(d)) => push_len_prefixed(d, out),
        (FieldType::Data, KeyValue::Text(s)) => push_len_prefixed(s.as_bytes(), out),
        (FieldType::Text | FieldType::Data, KeyValue::Null) => {
            out.extend_from_slice(&NULL_LEN.to_le_bytes())
        }
        (ty, v) => return Err(format!("a {v:?} cannot be a {ty:?}")),
    }
    Ok(())
}

/// One field of [`KeyPath::query_values`].
fn query_value_one<'b>(f: &KeyField, bytes: &'b [u8]) -> Option<(Option<String>, &'b [u8])> {
    use base64::Engine;
    match f.ty {
        FieldType::Text | FieldType::Data => {
            let (len, t) = bytes.split_at_checked(4)?;
            let len = u32::from_le_bytes(len.try_into().ok()?);
            if len == NULL_LEN {
                return Some((None, t));
            }
            let (s, t) = t.split_at_checked(len as usize)?;
            let value = if matches!(f.ty, FieldType::Text) {
                String::from_utf8(s.to_vec()).ok()?
            } else {
                base64::engine::general_purpose::STANDARD.encode(s)
            };
            Some((Some(value), t))
        }
        FieldType::Enum(_) => {
            let (b, t) = bytes.split_at_checked(2)?;
            let n = u16::from_le_bytes(b.try_into().ok()?);
            let name = f
                .enumerants
                .get(usize::from(n))
                .cloned()
                .unwrap_or_else(|| n.to_string());
            Some((Some(name), t))
        }
        _ => {
            let (rendered, t) = render_one(&f.ty, bytes);
            (rendered != "?").then_some((Some(rendered), t))
        }
    }
}

fn render_one<'b>(ty: &FieldType, bytes: &'b [u8]) -> (String, &'b [u8]) {
    fn take<const N: usize>(b: &[u8]) -> Option<([u8; N], &[u8])> {
        let (head, tail) = b.split_at_checked(N)?;
        Some((head.try_into().ok()?, tail))
    }
    let rendered = match ty {
        FieldType::Bool => take::<1>(bytes).map(|(b, t)| ((b[0] != 0).to_string(), t)),
        FieldType::Int8 => take::<1>(bytes).map(|(b, t)| (i8::from_le_bytes(b).to_string(), t)),
        FieldType::UInt8 => take::<1>(bytes).map(|(b, t)| (b[0].to_string(), t)),
        FieldType::Int16 => take::<2>(bytes).map(|(b, t)| (i16::from_le_bytes(b).to_string(), t)),
        FieldType::UInt16 | FieldType::Enum(_) => {
            take::<2>(bytes).map(|(b, t)| (u16::from_le_bytes(b).to_string(), t))
        }
        FieldType::Int32 => take::<4>(bytes).map(|(b, t)| (i32::from_le_bytes(b).to_string(), t)),
        FieldType::UInt32 => take::<4>(bytes).map(|(b, t)| (u32::from_le_bytes(b).to_string(), t)),
        FieldType::Int64 => take::<8>(bytes).map(|(b, t)| (i64::from_le_bytes(b).to_string(), t)),
        FieldType::UInt64 => take::<8>(bytes).map(|(b, t)| (u64::from_le_bytes(b).to_string(), t)),
        FieldType::Float32 => take::<4>(bytes).map(|(b, t)| (f32::from_le_bytes(b).to_string(), t)),
        FieldType::Float64 => take::<8>(bytes).map(|(b, t)| (f64::from_le_bytes(b).to_string(), t)),
        FieldType::Text | FieldType::Data => take::<4>(bytes).and_then(|(b, t)| {
            let len = u32::from_le_bytes(b);
            if len == NULL_LEN {
                return Some(("null".to_string(), t));
            }
            let (s, t) = t.split_at_checked(len as usize)?;
            Some((format!("{:?}", String::from_utf8_lossy(s)), t))
        }),
        _ => None,
    };
    rendered.unwrap_or_else(|| ("?".to_string(), &[]))
}

/// Enumerant names of an enum type (empty for other types).
pub(super) fn enumerants_of(schema: &Schema, ty: &FieldType) -> Vec<String> {
    match ty {
        FieldType::Enum(id) => schema
            .enum_by_id(*id)
            .map(|e| e.enumerants.clone())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Whether `ty` can be (part of) a key: primitives, enums, Text and Data.
pub(super) fn is_keyable(ty: &FieldType) -> bool {
    matches!(
        ty,
        FieldType::Bool
            | FieldType::Int8
            | FieldType::Int16
            | FieldType::Int32
            | FieldType::Int64
            | FieldType::UInt8
            | FieldType::UInt16
            | FieldType::UInt32
            | FieldType::UInt64
            | FieldType::Float32
            | FieldType::Float64
            | FieldType::Enum(_)
            | FieldType::Text
            | FieldType::Data
    )
}

impl KeyPath {
    /// A key path used only to encode, parse and render lookup values of the given
    /// `(path, type)` fields (an index's query shape); it never reads records.
    pub(super) fn query_shape(
        schema: &Schema,
        type_name: &str,
        fields: &[(String, FieldType)],
    ) -> Self {
        Self {
            type_name: type_name.to_string(),
            fields: fields
                .iter()
                .map(|(path, ty)| KeyField {
                    path: path.clone(),
                    ty: ty.clone(),
                    steps: Vec::new(),
                    last_union: None,
                    offset: 0,
                    default_bits: 0,
                    enumerants: enumerants_of(schema, ty),
                })
                .collect(),
        }
    }
}
