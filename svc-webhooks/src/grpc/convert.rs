//! Conversions between JSON values and protobuf's well-known `Struct` / `Value`.

use crm_platform::error::ApiError;
use prost_types::{ListValue, Struct, Value, value::Kind};
use std::collections::BTreeMap;
use tonic::Status;

/// A JSON value as a protobuf `Value`.
pub fn value(json: &serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(object(map)),
    };
    Value { kind: Some(kind) }
}

/// A JSON object as a protobuf `Struct`.
pub fn object(map: &serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
    }
}

/// String pairs as a protobuf `Struct`.
pub fn string_map(map: &BTreeMap<String, String>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value {
                        kind: Some(Kind::StringValue(v.clone())),
                    },
                )
            })
            .collect(),
    }
}

/// A `Struct` whose every value is a string, or a 400 naming `field`.
pub fn strings_of_struct(field: &str, s: Struct) -> Result<BTreeMap<String, String>, Status> {
    s.fields
        .into_iter()
        .map(|(k, v)| match v.kind {
            Some(Kind::StringValue(text)) => Ok((k, text)),
            _ => Err(ApiError::invalid_field(
                field,
                format!("the value of '{k}' must be a string"),
            )
            .into()),
        })
        .collect()
}

/// A `ListValue` whose every item is a string, or a 400 naming `field`.
pub fn strings_of_list(field: &str, l: ListValue) -> Result<Vec<String>, Status> {
    l.values
        .into_iter()
        .map(|v| match v.kind {
            Some(Kind::StringValue(text)) => Ok(text),
            _ => Err(ApiError::invalid_field(field, "must be a list of strings").into()),
        })
        .collect()
}

/// A time as a protobuf `Timestamp`.
pub fn ts(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// A protobuf `Value` as JSON (the reverse of [`value`]). Whole numbers come back as
/// integers, so `3` stays `3` rather than `3.0` in what receivers get.
pub fn json_of_value(v: Value) -> serde_json::Value {
    match v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(b),
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
            serde_json::Value::from(n as i64)
        }
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.into_iter().map(json_of_value).collect())
        }
        Some(Kind::StructValue(s)) => serde_json::Value::Object(
            s.fields
                .into_iter()
                .map(|(k, v)| (k, json_of_value(v)))
                .collect(),
        ),
    }
}
