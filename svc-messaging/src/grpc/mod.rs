//! gRPC faces of svc-messaging. Thin: map proto <-> domain and call the domain.

pub mod callbacks;
pub mod messages;
pub mod sequences;

use crate::error::MessagingError;
use crm_platform::{Principal, PrincipalKind, error::ApiError, roles::role_allows};
use prost_types::{ListValue, Struct, Value, value::Kind};
use tonic::Status;

/// Checks that `principal` may perform `scope`; returns its workspace.
pub(crate) fn authorize<'p>(principal: &'p Principal, scope: &str) -> Result<&'p str, Status> {
    let workspace = principal.workspace()?;
    let allowed = match principal.kind {
        PrincipalKind::ApiKey => principal.allows(scope),
        PrincipalKind::User => role_allows(&principal.role, scope),
        PrincipalKind::Service => true,
        PrincipalKind::Anonymous => false,
    };
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "this action needs '{scope}'; ask a workspace admin for access"
        ))
        .with_meta("required_scope", scope)
        .into());
    }
    Ok(workspace)
}

fn json_of_value(v: Value) -> serde_json::Value {
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
        Some(Kind::StructValue(s)) => serde_json::Value::Object(object_of_struct(s)),
    }
}

pub(crate) fn object_of_struct(s: Struct) -> serde_json::Map<String, serde_json::Value> {
    s.fields
        .into_iter()
        .map(|(k, v)| (k, json_of_value(v)))
        .collect()
}

fn value_of_json(json: &serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(value_of_json).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(struct_of_object(map)),
    };
    Value { kind: Some(kind) }
}

pub(crate) fn struct_of_object(map: &serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), value_of_json(v)))
            .collect(),
    }
}

pub(crate) fn ts(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

pub(crate) fn uuid_field(field: &'static str, value: &str) -> Result<(), Status> {
    uuid::Uuid::parse_str(value).map_err(|_| {
        Status::from(MessagingError::InvalidField {
            field,
            message: "must be a UUID".into(),
        })
    })?;
    Ok(())
}
