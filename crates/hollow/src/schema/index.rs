//! Secondary indexes: unique and hash indexes declared with `$uniqueKey` / `$hashIndex` (or
//! added at run time, [`Schema::with_unique_index`], [`Schema::with_hash_index`]), resolved to
//! field paths that may cross lists, and the canonical keys a record has under an index.
//!
//! A field path walks struct fields, groups and lists: `"genres"` on a `List(Text)` indexes each
//! element, `"cast.actorId"` on a `List(CastMember)` indexes the `actorId` of each element. A
//! record therefore has any number of keys under an index: one per element (duplicates count
//! once), none for an empty or unset list, and for a composite index every combination of its
//! fields' values. Values follow Cap'n Proto's reading rules: an unset struct on the way reads as
//! its defaults, an unset Text or Data field is the null key ([`KeyValue::Null`]), and a field of
//! a union member that is not the active one gives the record no key. Floats compare by value
//! with `-0.0 == 0.0` and every NaN equal to every NaN (the canonical key bytes of
//! docs/FORMAT.md).

use capnp::private::layout::StructReader;
use capnp::traits::FromPointerReader;

use super::key::{
    Missing, NULL_LEN, UnionCheck, canonical_f32, canonical_f64, encode_slot, is_keyable,
    union_check, union_matches,
};
use super::{FieldKind, FieldType, KeyBytes, KeyPath, KeyValue, Schema, StructInfo};
use crate::error::{LookupError, Result, SchemaError};

/// The kind of a secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// At most one record per key: a cycle that would give two records one key fails.
    Unique,
    /// Any number of records per key.
    Hash,
}

impl IndexKind {
    /// "unique" or "hash".
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Unique => "unique",
            IndexKind::Hash => "hash",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// A group: same struct reader, maybe behind a union check.
    Group(Option<UnionCheck>),
    /// A struct field: follow pointer `index` (unset reads as an empty struct).
    Pointer(Option<UnionCheck>, u16),
    /// A list of structs: continue into every element.
    StructList(Option<UnionCheck>, u16),
}

#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    /// A primitive, enum, Text or Data slot.
    Slot {
        check: Option<UnionCheck>,
        ty: FieldType,
        offset: u32,
        default_bits: u64,
    },
    /// A list of primitives, enums, Text or Data: every element.
    List {
        check: Option<UnionCheck>,
        ty: FieldType,
        pointer: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct IndexField {
    steps: Vec<Step>,
    leaf: Leaf,
}

/// A resolved secondary index of one type: its kind, name and field paths.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPath {
    kind: IndexKind,
    name: String,
    fields: Vec<IndexField>,
    shape: KeyPath,
}

impl IndexPath {
    /// Resolves a comma-separated list of field paths on `info` (one index of a `$uniqueKey` or
    /// `$hashIndex` annotation).
    pub fn resolve(
        schema: &Schema,
        info: &StructInfo,
        kind: IndexKind,
        text: &str,
    ) -> Result<Self, SchemaError> {
        let mut fields = Vec::new();
        let mut shape = Vec::new();
        for path in text.split(',').map(str::trim) {
            if path.is_empty() {
                return Err(SchemaError::Invalid {
                    reason: format!("empty field path in index \"{text}\" of {}", info.name),
                });
            }
            let (field, ty) = resolve_field(schema, info, path)?;
            fields.push(field);
            shape.push((path.to_string(), ty));
        }
        let name = shape
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>()
            .join(",");
        Ok(Self {
            kind,
            name,
            fields,
            shape: KeyPath::query_shape(schema, &info.name, &shape),
        })
    }

    /// Unique or hash.
    pub fn kind(&self) -> IndexKind {
        self.kind
    }

    /// The index's name: its field paths joined by commas ("genres", "title,year").
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field paths, in order.
    pub fn field_paths(&self) -> impl Iterator<Item = &str> {
        self.shape.fields.iter().map(|f| f.path.as_str())
    }

    /// The type the index belongs to.
    pub fn type_name(&self) -> &str {
        &self.shape.type_name
    }

    /// Every distinct canonical key `record` has under this index (cleared first, sorted).
    pub(crate) fn record_keys(
        &self,
        record: StructReader<'_>,
        out: &mut Vec<KeyBytes>,
    ) -> std::result::Result<(), capnp::Error> {
        self.record_keys_within(record, out, usize::MAX).map(drop)
    }

    /// [`IndexPath::record_keys`], but gives up (`Ok(false)`, `out` cleared) before building more
    /// than `max` key combinations: the keys of a record are the product of its fields' values,
    /// and a hostile record can make that product huge.
    pub(crate) fn record_keys_within(
        &self,
        record: StructReader<'_>,
        out: &mut Vec<KeyBytes>,
        max: usize,
    ) -> std::result::Result<bool, capnp::Error> {
        out.clear();
        let mut values = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            values.clear();
            f.collect(record, 0, &mut values)?;
            let combinations = if i == 0 {
                values.len()
            } else {
                out.len().saturating_mul(values.len())
            };
            if combinations > max {
                out.clear();
                return Ok(false);
            }
            if i == 0 {
                std::mem::swap(out, &mut values);
            } else {
                let prefixes = std::mem::take(out);
                for p in &prefixes {
                    for v in &values {
                        let mut k = p.clone();
                        k.extend_from_slice(v);
                        out.push(k);
                    }
                }
            }
            if out.is_empty() {
                return Ok(true);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(true)
    }

    /// True when `record` has the key `encoded` under this index (no allocation for a
    /// single-field index).
    pub(crate) fn record_has(&self, record: StructReader<'_>, encoded: &[u8]) -> bool {
        if let [field] = self.fields.as_slice() {
            return field.contains(record, encoded);
        }
        let mut keys = Vec::new();
        self.record_keys(record, &mut keys).is_ok() && keys.iter().any(|k| k.as_slice() == encoded)
    }

    /// Encodes lookup values, one per field, converted to each field's type.
    pub fn encode_values(&self, values: &[KeyValue<'_>]) -> Result<KeyBytes, LookupError> {
        let mut out = KeyBytes::new();
        self.shape.encode_values(values, &mut out)?;
        Ok(out)
    }

    /// Parses one string per field (command line, web) and encodes them; enums take names.
    pub fn encode_strings(&self, values: &[&str]) -> Result<KeyBytes, LookupError> {
        let mut out = KeyBytes::new();
        self.shape.encode_strings(values, &mut out)?;
        Ok(out)
    }

    /// Like [`IndexPath::encode_strings`], where `None` is the null key (an unset Text/Data).
    pub fn encode_optional_strings(
        &self,
        values: &[Option<&str>],
    ) -> Result<KeyBytes, LookupError> {
        let mut out = KeyBytes::new();
        self.shape.encode_optional_strings(values, &mut out)?;
        Ok(out)
    }

    /// Canonical key bytes back as lookup strings, one per field (see
    /// [`KeyPath::query_values`]).
    pub fn query_values(&self, bytes: &[u8]) -> Option<Vec<Option<String>>> {
        self.shape.query_values(bytes)
    }

    /// Renders canonical key bytes for messages.
    pub fn render(&self, bytes: &[u8]) -> String {
        self.shape.render(bytes)
    }
}

/// A value a record has for one index field: its canonical bytes are `head` then `tail` (a
/// length prefix then the bytes for Text/Data; the fixed bytes and an empty tail otherwise).
type Visit<'v> = dyn FnMut(&[u8], &[u8]) -> bool + 'v;

impl IndexField {
    /// Every value of this field in `record` (with repeats), as `collect` does.
    fn collect(
        &self,
        reader: StructReader<'_>,
        step: usize,
        out: &mut Vec<KeyBytes>,
    ) -> std::result::Result<(), capnp::Error> {
        self.visit(reader, step, &mut |head, tail| {
            let mut k = KeyBytes::from_slice(head);
            k.extend_from_slice(tail);
            out.push(k);
            false
        })
        .map(|_| ())
    }

    /// True when one of this field's values in `record` has the canonical bytes `encoded`;
    /// allocates nothing.
    fn contains(&self, reader: StructReader<'_>, encoded: &[u8]) -> bool {
        self.visit(reader, 0, &mut |head, tail| {
            encoded.len() == head.len() + tail.len()
                && encoded[..head.len()] == *head
                && encoded[head.len()..] == *tail
        })
        .unwrap_or(false)
    }

    /// Calls `f` with each value until it returns true; returns whether one did.
    fn visit(
        &self,
        reader: StructReader<'_>,
        step: usize,
        f: &mut Visit<'_>,
    ) -> std::result::Result<bool, capnp::Error> {
        let Some(s) = self.steps.get(step) else {
            return self.leaf(reader, f);
        };
        match s {
            Step::Group(check) => {
                if union_matches(&reader, *check) {
                    return self.visit(reader, step + 1, f);
                }
            }
            Step::Pointer(check, index) => {
                if union_matches(&reader, *check) {
                    let inner = reader
                        .get_pointer_field(usize::from(*index))
                        .get_struct(None)?;
                    return self.visit(inner, step + 1, f);
                }
            }
            Step::StructList(check, index) => {
                if union_matches(&reader, *check) {
                    let ptr = reader.get_pointer_field(usize::from(*index));
                    if !ptr.is_null() {
                        let list = capnp::struct_list::Reader::<crate::capnp_raw::AnyStruct>::get_from_pointer(&ptr, None)?;
                        for element in list.iter() {
                            if self.visit(element.raw(), step + 1, f)? {
                                return Ok(true);
                            }
                        }
                    }
                }
            }
        }
        Ok(false)
    }

    fn leaf(
        &self,
        reader: StructReader<'_>,
        f: &mut Visit<'_>,
    ) -> std::result::Result<bool, capnp::Error> {
        match &self.leaf {
            Leaf::Slot {
                check,
                ty,
                offset,
                default_bits,
            } => {
                if !union_matches(&reader, *check) {
                    return Ok(false);
                }
                if ty.is_pointer() && reader.get_pointer_field(*offset as usize).is_null() {
                    return Ok(f(&NULL_LEN.to_le_bytes(), &[]));
                }
                let mut k = KeyBytes::new();
                match encode_slot(&reader, ty, *offset, *default_bits, &mut k) {
                    Ok(()) => Ok(f(&k, &[])),
                    Err(Missing::Capnp(e)) => Err(e),
                    Err(Missing::Field) => Ok(false),
                }
            }
            Leaf::List { check, ty, pointer } => {
                if !union_matches(&reader, *check) {
                    return Ok(false);
                }
                let ptr = reader.get_pointer_field(*pointer as usize);
                if ptr.is_null() {
                    return Ok(false);
                }
                list_values(ptr, ty, f)
            }
        }
    }
}

fn list_values(
    ptr: capnp::private::layout::PointerReader<'_>,
    ty: &FieldType,
    f: &mut Visit<'_>,
) -> std::result::Result<bool, capnp::Error> {
    use capnp::{data_list, primitive_list, text_list};
    macro_rules! primitives {
        ($t:ty, $bits:expr) => {{
            let list = primitive_list::Reader::<$t>::get_from_pointer(&ptr, None)?;
            for v in list.iter() {
                if f(&$bits(v), &[]) {
                    return Ok(true);
                }
            }
        }};
    }
    let length = |len: usize| u32::try_from(len).unwrap_or(NULL_LEN - 1).to_le_bytes();
    match ty {
        FieldType::Bool => primitives!(bool, |v: bool| [u8::from(v)]),
        FieldType::Int8 => primitives!(i8, i8::to_le_bytes),
        FieldType::UInt8 => primitives!(u8, u8::to_le_bytes),
        FieldType::Int16 => primitives!(i16, i16::to_le_bytes),
        FieldType::UInt16 | FieldType::Enum(_) => primitives!(u16, u16::to_le_bytes),
        FieldType::Int32 => primitives!(i32, i32::to_le_bytes),
        FieldType::UInt32 => primitives!(u32, u32::to_le_bytes),
        FieldType::Int64 => primitives!(i64, i64::to_le_bytes),
        FieldType::UInt64 => primitives!(u64, u64::to_le_bytes),
        FieldType::Float32 => primitives!(f32, |v: f32| canonical_f32(v).to_le_bytes()),
        FieldType::Float64 => primitives!(f64, |v: f64| canonical_f64(v).to_le_bytes()),
        FieldType::Text => {
            let list = text_list::Reader::get_from_pointer(&ptr, None)?;
            for v in list.iter() {
                let bytes = v?.as_bytes();
                if f(&length(bytes.len()), bytes) {
                    return Ok(true);
                }
            }
        }
        FieldType::Data => {
            let list = data_list::Reader::get_from_pointer(&ptr, None)?;
            for v in list.iter() {
                let bytes = v?;
                if f(&length(bytes.len()), bytes) {
                    return Ok(true);
                }
            }
        }
        _ => {}
    }
    Ok(false)
}

fn resolve_field(
    schema: &Schema,
    root: &StructInfo,
    path: &str,
) -> Result<(IndexField, FieldType), SchemaError> {
    let unknown = || SchemaError::UnknownField {
        type_name: root.name.clone(),
        field: path.to_string(),
    };
    let invalid = |why: String| SchemaError::Invalid {
        reason: format!("index field {path} of {}: {why}", root.name),
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
                    return Err(invalid(format!("{name} is a group, not a value")));
                }
                steps.push(Step::Group(check));
                info = schema.struct_by_id(*type_id).ok_or_else(unknown)?;
            }
            FieldKind::Slot {
                offset,
                ty,
                default_bits,
            } => match ty {
                FieldType::Struct(id) if !last => {
                    let index = u16::try_from(*offset).map_err(|_| unknown())?;
                    steps.push(Step::Pointer(check, index));
                    info = schema.struct_by_id(*id).ok_or_else(unknown)?;
                }
                FieldType::List(element) => match &**element {
                    FieldType::Struct(id) if !last => {
                        let index = u16::try_from(*offset).map_err(|_| unknown())?;
                        steps.push(Step::StructList(check, index));
                        info = schema.struct_by_id(*id).ok_or_else(unknown)?;
                    }
                    element if last && is_keyable(element) => {
                        let leaf = Leaf::List {
                            check,
                            ty: element.clone(),
                            pointer: *offset,
                        };
                        return Ok((IndexField { steps, leaf }, element.clone()));
                    }
                    element => {
                        return Err(invalid(format!(
                            "{name} is a list of {element:?}; index a list of primitives, enums, \
                             Text or Data, or a field of a list of structs"
                        )));
                    }
                },
                ty if last && is_keyable(ty) => {
                    let leaf = Leaf::Slot {
                        check,
                        ty: ty.clone(),
                        offset: *offset,
                        default_bits: *default_bits,
                    };
                    return Ok((IndexField { steps, leaf }, ty.clone()));
                }
                ty => {
                    return Err(invalid(format!(
                        "{name} has type {ty:?}; index values are primitives, enums, Text or Data"
                    )));
                }
            },
        }
    }
    Err(unknown())
}

impl Schema {
    /// The secondary indexes of `type_id`: its `$uniqueKey` indexes, then its `$hashIndex`
    /// indexes, in declaration order.
    pub fn indexes(&self, type_id: u64) -> Result<Vec<IndexPath>, SchemaError> {
        let info = self
            .struct_by_id(type_id)
            .ok_or_else(|| SchemaError::UnknownType {
                name: format!("id {type_id:#x}"),
            })?;
        let mut out: Vec<IndexPath> = Vec::new();
        let declared = [
            (IndexKind::Unique, &info.unique_key_annotation),
            (IndexKind::Hash, &info.hash_index_annotation),
        ];
        for (kind, text) in declared {
            let Some(text) = text else { continue };
            for one in text.split(';').map(str::trim).filter(|t| !t.is_empty()) {
                let index = IndexPath::resolve(self, info, kind, one)?;
                if out.iter().any(|i| i.name == index.name) {
                    return Err(SchemaError::Invalid {
                        reason: format!("{} declares index {} twice", info.name, index.name),
                    });
                }
                out.push(index);
            }
        }
        Ok(out)
    }

    /// This schema with a primary key set on `type_name` (replacing any `$primaryKey`), for
    /// schemas that do not carry the annotation. The key travels with the data: blobs embed the
    /// amended schema.
    ///
    /// ```
    /// use hollow_movies::movies_capnp::movie;
    /// let schema = hollow::Schema::builder().add::<movie::Owned>().build()?;
    /// let schema = schema.with_hash_index("Movie", "genres")?;
    /// let id = schema.struct_by_name("Movie").expect("Movie").id;
    /// assert_eq!(schema.indexes(id)?[0].name(), "genres");
    /// let schema = schema.with_primary_key("Movie", "title")?;
    /// assert_eq!(schema.primary_key(id)?.expect("key").field_names(), "title");
    /// # Ok::<(), hollow::Error>(())
    /// ```
    pub fn with_primary_key(&self, type_name: &str, fields: &str) -> Result<Schema, SchemaError> {
        let schema =
            self.with_annotation(type_name, super::PRIMARY_KEY_ANNOTATION_ID, fields, false)?;
        let id = schema.struct_id(type_name)?;
        schema.primary_key(id)?;
        Ok(schema)
    }

    /// This schema with one more unique index on `type_name` (comma-separated field paths);
    /// unchanged when the schema already declares it.
    pub fn with_unique_index(&self, type_name: &str, fields: &str) -> Result<Schema, SchemaError> {
        if self.declares(type_name, IndexKind::Unique, fields)? {
            return Ok(self.clone());
        }
        let schema =
            self.with_annotation(type_name, super::UNIQUE_KEY_ANNOTATION_ID, fields, true)?;
        let id = schema.struct_id(type_name)?;
        schema.indexes(id)?;
        Ok(schema)
    }

    /// This schema with one more hash index on `type_name` (comma-separated field paths);
    /// unchanged when the schema already declares it.
    pub fn with_hash_index(&self, type_name: &str, fields: &str) -> Result<Schema, SchemaError> {
        if self.declares(type_name, IndexKind::Hash, fields)? {
            return Ok(self.clone());
        }
        let schema =
            self.with_annotation(type_name, super::HASH_INDEX_ANNOTATION_ID, fields, true)?;
        let id = schema.struct_id(type_name)?;
        schema.indexes(id)?;
        Ok(schema)
    }

    /// True when `type_name` already declares this index (adding it again changes nothing).
    fn declares(
        &self,
        type_name: &str,
        kind: IndexKind,
        fields: &str,
    ) -> Result<bool, SchemaError> {
        let info = self
            .struct_by_name(type_name)
            .ok_or_else(|| SchemaError::UnknownType {
                name: type_name.to_string(),
            })?;
        let wanted = IndexPath::resolve(self, info, kind, fields)?;
        Ok(self
            .indexes(info.id)?
            .iter()
            .any(|i| i.name() == wanted.name() && i.kind() == kind))
    }

    fn struct_id(&self, type_name: &str) -> Result<u64, SchemaError> {
        self.struct_by_name(type_name)
            .map(|i| i.id)
            .ok_or_else(|| SchemaError::UnknownType {
                name: type_name.to_string(),
            })
    }

    /// Rewrites the node of `type_name` with annotation `id` set to `text` (appended after a
    /// `;` to an existing one when `append`).
    fn with_annotation(
        &self,
        type_name: &str,
        id: u64,
        text: &str,
        append: bool,
    ) -> Result<Schema, SchemaError> {
        let target = self.struct_id(type_name)?;
        let ctx = "amending the schema";
        let segments = [self.segment_bytes()];
        let message = capnp::message::Reader::new(
            capnp::message::SegmentArray::new(&segments),
            super::nodes::reader_options(),
        );
        let request: capnp::schema_capnp::code_generator_request::Reader<'_> =
            message.get_root().map_err(|e| SchemaError::capnp(ctx, e))?;
        let nodes = request
            .get_nodes()
            .map_err(|e| SchemaError::capnp(ctx, e))?;
        let mut out = capnp::message::Builder::new_default();
        let mut list = out
            .init_root::<capnp::schema_capnp::code_generator_request::Builder<'_>>()
            .init_nodes(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            let i = u32::try_from(i).map_err(|_| SchemaError::Invalid {
                reason: "too many schema nodes".into(),
            })?;
            list.set_with_caveats(i, n)
                .map_err(|e| SchemaError::capnp(ctx, e))?;
            if n.get_id() != target {
                continue;
            }
            let old = n
                .get_annotations()
                .map_err(|e| SchemaError::capnp(ctx, e))?;
            let mut value = text.to_string();
            let mut kept = Vec::new();
            for a in old.iter() {
                if a.get_id() == id {
                    if append
                        && let Ok(capnp::schema_capnp::value::Text(t)) = a
                            .get_value()
                            .map_err(|e| SchemaError::capnp(ctx, e))?
                            .which()
                        && let Ok(t) = t.map_err(|e| SchemaError::capnp(ctx, e)).and_then(|t| {
                            t.to_str()
                                .map(str::to_string)
                                .map_err(|e| SchemaError::Invalid {
                                    reason: e.to_string(),
                                })
                        })
                    {
                        value = format!("{t};{text}");
                    }
                } else {
                    kept.push(a);
                }
            }
            let mut anns = list
                .reborrow()
                .get(i)
                .init_annotations(u32::try_from(kept.len() + 1).unwrap_or(u32::MAX));
            for (j, a) in kept.iter().enumerate() {
                anns.set_with_caveats(u32::try_from(j).unwrap_or(u32::MAX), *a)
                    .map_err(|e| SchemaError::capnp(ctx, e))?;
            }
            let mut new = anns.get(u32::try_from(kept.len()).unwrap_or(u32::MAX));
            new.set_id(id);
            new.init_value().set_text(value.as_str());
        }
        let reader = out
            .get_root_as_reader::<capnp::schema_capnp::code_generator_request::Reader<'_>>()
            .map_err(|e| SchemaError::capnp(ctx, e))?;
        let nodes = reader.get_nodes().map_err(|e| SchemaError::capnp(ctx, e))?;
        Schema::from_nodes(nodes.iter())
    }
}
