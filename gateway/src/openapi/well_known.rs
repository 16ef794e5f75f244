//! The protobuf well-known types as their JSON mapping reads them, and comments from the
//! descriptors' source info.

use prost_types::FileDescriptorProto;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Well-known types written inline where a field uses them: they are JSON scalars.
pub fn inline(full_name: &str) -> Option<Value> {
    Some(match full_name {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"})
        }
        "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.StringValue" => json!({"type": "string"}),
        "google.protobuf.BytesValue" => json!({"type": "string", "contentEncoding": "base64"}),
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => json!({"type": "number"}),
        "google.protobuf.Int32Value" => {
            json!({"type": "integer", "format": "int32", "minimum": i32::MIN, "maximum": i32::MAX})
        }
        "google.protobuf.UInt32Value" => {
            json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": u32::MAX})
        }
        "google.protobuf.Int64Value" => {
            json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX})
        }
        "google.protobuf.UInt64Value" => {
            json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": u64::MAX})
        }
        _ => return None,
    })
}

/// Whether `full_name` is a well-known type (defined in the document's components).
pub fn is_well_known(full_name: &str) -> bool {
    full_name.starts_with("google.protobuf.")
}

/// Component schemas for every well-known type, so any `$ref` to one resolves.
pub fn schemas() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    out.insert(
        "google.protobuf.Struct".to_owned(),
        json!({"type": "object", "description": "Any JSON object."}),
    );
    out.insert(
        "google.protobuf.Value".to_owned(),
        json!({"description": "Any JSON value."}),
    );
    out.insert(
        "google.protobuf.ListValue".to_owned(),
        json!({"type": "array", "description": "Any JSON array.", "items": {}}),
    );
    out.insert(
        "google.protobuf.NullValue".to_owned(),
        json!({"type": "null"}),
    );
    out.insert(
        "google.protobuf.Empty".to_owned(),
        json!({"type": "object", "properties": {}}),
    );
    out.insert(
        "google.protobuf.Any".to_owned(),
        json!({"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]}),
    );
    for name in [
        "Timestamp",
        "Duration",
        "FieldMask",
        "BoolValue",
        "StringValue",
        "BytesValue",
        "DoubleValue",
        "FloatValue",
        "Int32Value",
        "UInt32Value",
        "Int64Value",
        "UInt64Value",
    ] {
        let full = format!("google.protobuf.{name}");
        if let Some(schema) = inline(&full) {
            out.insert(full, schema);
        }
    }
    if let Some(Value::Object(t)) = out.get_mut("google.protobuf.Timestamp") {
        t.insert(
            "description".into(),
            json!("An RFC 3339 time, e.g. 2024-01-15T10:30:00Z; answers are UTC at millisecond precision."),
        );
    }
    out
}

/// The leading comment of the element at `path` in `file`, trimmed, if it has one.
pub fn comment(file: &FileDescriptorProto, path: &[i32]) -> Option<String> {
    let info = file.source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let text = location.leading_comments.as_deref()?;
    let joined = text
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned();
    (!joined.is_empty()).then_some(joined)
}
