//! Text cells (CSV) to JSON values of a field's type, before encoding.

use serde_json::Value;

use super::{EncodeError, EncodeErrorKind, Seg, type_name};
use crate::schema::{FieldType, Schema};

/// Parses one text cell (a CSV field) into the JSON value a field of type `ty` takes, for
/// [`RecordEncoder`](super::RecordEncoder) to encode; `path` names the field in errors.
///
/// An empty cell is `None` (the field is left unset). `Bool` takes `true` or `false`;
/// integers and floats take their decimal text (floats also `NaN`, `Infinity`, `-Infinity`);
/// `Text` is the cell as it is; `Data` is base64 (checked when encoded); an enum takes an
/// enumerant name or ordinal; lists, structs and groups take JSON text (`["a","b"]`,
/// `{"isbn":"x"}`).
///
/// ```
/// use hollow::encode::parse_cell;
/// use hollow::schema::FieldType;
/// let schema = hollow::Schema::builder().add::<hollow_movies::movies_capnp::movie::Owned>().build()?;
/// assert_eq!(parse_cell(&schema, &FieldType::UInt16, "year", "1999")?, Some(serde_json::json!(1999)));
/// assert_eq!(parse_cell(&schema, &FieldType::UInt16, "year", "")?, None);
/// let list = FieldType::List(Box::new(FieldType::Text));
/// assert_eq!(parse_cell(&schema, &list, "genres", r#"["Drama"]"#)?, Some(serde_json::json!(["Drama"])));
/// assert!(parse_cell(&schema, &FieldType::UInt16, "year", "soon").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_cell(
    schema: &Schema,
    ty: &FieldType,
    path: &str,
    cell: &str,
) -> Result<Option<Value>, EncodeError> {
    if cell.is_empty() {
        return Ok(None);
    }
    let root = Seg::Root;
    let seg = Seg::Field(&root, path);
    let text = Value::from(cell);
    let wrong = |expected: String| {
        seg.fail(
            &text,
            EncodeErrorKind::WrongType {
                expected: format!("{expected} ({})", type_name(schema, ty)),
            },
        )
    };
    let value = match ty {
        FieldType::Void => return Err(wrong("an empty cell".into())),
        FieldType::Bool => match cell {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(wrong("true or false".into())),
        },
        FieldType::Int8
        | FieldType::Int16
        | FieldType::Int32
        | FieldType::Int64
        | FieldType::UInt8
        | FieldType::UInt16
        | FieldType::UInt32
        | FieldType::UInt64 => integer(cell)
            .ok_or_else(|| wrong("an integer".into()))?
            .map_err(|()| {
                seg.fail(
                    &text,
                    EncodeErrorKind::OutOfRange {
                        ty: type_name(schema, ty),
                    },
                )
            })?,
        FieldType::Float32 | FieldType::Float64 => match cell {
            "NaN" | "Infinity" | "-Infinity" => text.clone(),
            _ => {
                let f: f64 = cell.parse().map_err(|_| wrong("a number".into()))?;
                match serde_json::Number::from_f64(f) {
                    Some(n) => Value::Number(n),
                    None if f.is_nan() => Value::from("NaN"),
                    None if f > 0.0 => Value::from("Infinity"),
                    None => Value::from("-Infinity"),
                }
            }
        },
        FieldType::Text | FieldType::Data => text.clone(),
        FieldType::Enum(_) => match integer(cell) {
            Some(Ok(n)) => n,
            _ => text.clone(),
        },
        _ => serde_json::from_str(cell).map_err(|e| wrong(format!("JSON text ({e})")))?,
    };
    Ok(Some(value))
}

/// `Some(Ok(n))` for an integer in the i64 ∪ u64 range, `Some(Err)` for an integer beyond it,
/// `None` for text that is not an integer.
fn integer(cell: &str) -> Option<Result<Value, ()>> {
    let n: i128 = cell.parse().ok()?;
    Some(if let Ok(i) = i64::try_from(n) {
        Ok(Value::from(i))
    } else if let Ok(u) = u64::try_from(n) {
        Ok(Value::from(u))
    } else {
        Err(())
    })
}
