//! Response message → `{"success": true, ...fields}` with proto field names. Fields with
//! presence (messages, `optional` scalars) that are unset read `null`, as the seed's
//! examples show (`"last_used_at": null`), instead of vanishing.

use crate::error::GatewayError;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, SerializeOptions,
};
use serde_json::{Map, Value};

const OPTIONS: SerializeOptions = SerializeOptions::new()
    .use_proto_field_name(true)
    .stringify_64_bit_integers(false)
    .skip_default_fields(false);

/// Serializes a response as the REST body. `fill_nulls` says whether the type has presence
/// fields to spell out as `null` (see [`needs_nulls`]); when it has none the message is
/// written straight to bytes.
pub fn to_body(message: &DynamicMessage, fill_nulls: bool) -> Result<Vec<u8>, GatewayError> {
    if !fill_nulls {
        let mut fields = Vec::with_capacity(256);
        message
            .serialize_with_options(&mut serde_json::Serializer::new(&mut fields), &OPTIONS)
            .map_err(|e| GatewayError::internal(format!("serializing response: {e}")))?;
        let mut body = Vec::with_capacity(fields.len() + 16);
        body.extend_from_slice(b"{\"success\":true");
        if fields.len() > 2 {
            body.push(b',');
        }
        body.extend_from_slice(&fields[1..]);
        return Ok(body);
    }
    let value = message
        .serialize_with_options(serde_json::value::Serializer, &OPTIONS)
        .map_err(|e| GatewayError::internal(format!("serializing response: {e}")))?;
    let Value::Object(mut fields) = value else {
        return Err(GatewayError::internal(
            "response did not serialize to an object",
        ));
    };
    fill(&mut fields, &message.descriptor());
    let mut body = Map::with_capacity(fields.len() + 1);
    body.insert("success".into(), Value::Bool(true));
    body.extend(fields);
    serde_json::to_vec(&Value::Object(body)).map_err(|e| GatewayError::internal(e.to_string()))
}

/// True when a message type (or one nested in it) has fields that [`fill`] would set to
/// `null`. Computed once per method at start-up.
pub fn needs_nulls(desc: &MessageDescriptor) -> bool {
    fn walk(desc: &MessageDescriptor, seen: &mut Vec<String>) -> bool {
        if seen.iter().any(|s| s == desc.full_name()) {
            return false;
        }
        seen.push(desc.full_name().to_owned());
        desc.fields()
            .any(|f| reads_null(&f) || nested(&f).is_some_and(|inner| walk(&inner, seen)))
    }
    walk(desc, &mut Vec::new())
}

/// An unset value of this field is written as `null`.
fn reads_null(field: &FieldDescriptor) -> bool {
    field.supports_presence() && !field.is_list() && !field.is_map()
}

/// The message type to recurse into for this field: our own types, not well-known types
/// (they serialize as strings, numbers or free-form JSON) and not maps.
fn nested(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    match field.kind() {
        Kind::Message(inner)
            if !inner.full_name().starts_with("google.protobuf.") && !field.is_map() =>
        {
            Some(inner)
        }
        _ => None,
    }
}

/// Inserts `null` for unset presence fields, recursing into nested messages.
fn fill(object: &mut Map<String, Value>, desc: &MessageDescriptor) {
    for field in desc.fields() {
        let name = field.name();
        match object.get_mut(name) {
            None if reads_null(&field) => {
                object.insert(name.to_owned(), Value::Null);
            }
            Some(value) => {
                if free_form(&field) {
                    whole_numbers(value);
                    continue;
                }
                let Some(inner) = nested(&field) else {
                    continue;
                };
                match value {
                    Value::Object(o) => fill(o, &inner),
                    Value::Array(items) => {
                        for item in items {
                            if let Value::Object(o) = item {
                                fill(o, &inner);
                            }
                        }
                    }
                    _ => {}
                }
            }
            None => {}
        }
    }
}

/// A free-form JSON field (`google.protobuf.Struct`, `Value`, `ListValue`).
fn free_form(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(m) if matches!(
        m.full_name(),
        "google.protobuf.Struct" | "google.protobuf.Value" | "google.protobuf.ListValue"
    ))
}

/// Free-form JSON carries every number as a double; a whole one reads back as the integer the
/// caller sent (`3`, not `3.0`).
fn whole_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15)
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(o) => o.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn output_of(grpc_path: &str) -> MessageDescriptor {
        let (table, _) = crate::transcode::table::RouteTable::from_descriptor_set(
            crm_proto::FILE_DESCRIPTOR_SET,
        )
        .unwrap();
        table.methods.get(grpc_path).unwrap().output.clone()
    }

    fn body(message: &DynamicMessage, fill_nulls: bool) -> Value {
        serde_json::from_slice(&to_body(message, fill_nulls).unwrap()).unwrap()
    }

    #[test]
    fn unset_presence_fields_read_null_and_defaults_are_kept() {
        let out = output_of("/crm.auth.v1.ApiKeyService/ListApiKeys");
        assert!(needs_nulls(&out));
        let typed = crm_proto::auth::ListApiKeysResponse {
            data: vec![crm_proto::auth::ApiKey {
                id: "k1".into(),
                is_active: false,
                ..Default::default()
            }],
        };
        let message = DynamicMessage::decode(out, typed.encode_to_vec().as_slice()).unwrap();
        let body = body(&message, true);
        assert_eq!(body["success"], true);
        assert_eq!(body["data"][0]["id"], "k1");
        assert_eq!(body["data"][0]["is_active"], false);
        assert_eq!(body["data"][0]["last_used_at"], Value::Null);
        assert_eq!(body["data"][0]["scopes"], serde_json::json!([]));
    }

    #[test]
    fn types_without_presence_fields_take_the_direct_path_with_the_same_shape() {
        let out = output_of("/crm.auth.v1.AuthService/GetMe");
        assert!(!needs_nulls(&out));
        let typed = crm_proto::auth::GetMeResponse {
            workspace_id: "w".into(),
            scopes: vec!["a:b".into()],
            ..Default::default()
        };
        let message = DynamicMessage::decode(out, typed.encode_to_vec().as_slice()).unwrap();
        let fast = body(&message, false);
        assert_eq!(fast, body(&message, true));
        assert_eq!(fast["success"], true);
        assert_eq!(fast["api_key_id"], "");
        let empty = DynamicMessage::new(output_of("/crm.auth.v1.ApiKeyService/DeleteApiKey"));
        assert_eq!(body(&empty, false)["success"], true);
    }
}
