//! Response message → `{"success": true, ...fields}` with proto field names. Fields with
//! presence (messages, `optional` scalars) that are unset read `null`, as the seed's
//! examples show (`"last_used_at": null`), instead of vanishing.

use crate::error::GatewayError;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, SerializeOptions};
use serde_json::{Map, Value};

const OPTIONS: SerializeOptions = SerializeOptions::new()
    .use_proto_field_name(true)
    .stringify_64_bit_integers(false)
    .skip_default_fields(false);

/// Serializes a response as the REST body.
pub fn to_body(message: &DynamicMessage) -> Result<Vec<u8>, GatewayError> {
    let value = message
        .serialize_with_options(serde_json::value::Serializer, &OPTIONS)
        .map_err(|e| GatewayError::internal(format!("serializing response: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(GatewayError::internal(
            "response did not serialize to an object",
        ));
    };
    let mut fields = fields;
    fill_nulls(&mut fields, &message.descriptor_ref());
    let mut body = Map::with_capacity(fields.len() + 1);
    body.insert("success".into(), Value::Bool(true));
    body.extend(fields);
    serde_json::to_vec(&Value::Object(body)).map_err(|e| GatewayError::internal(e.to_string()))
}

trait DescriptorRef {
    fn descriptor_ref(&self) -> MessageDescriptor;
}

impl DescriptorRef for DynamicMessage {
    fn descriptor_ref(&self) -> MessageDescriptor {
        prost_reflect::ReflectMessage::descriptor(self)
    }
}

fn is_well_known(desc: &MessageDescriptor) -> bool {
    desc.full_name().starts_with("google.protobuf.")
}

/// Inserts `null` for unset presence fields, recursing into nested messages.
fn fill_nulls(object: &mut Map<String, Value>, desc: &MessageDescriptor) {
    for field in desc.fields() {
        let name = field.name();
        match object.get_mut(name) {
            None if field.supports_presence() && !field.is_list() && !field.is_map() => {
                object.insert(name.to_owned(), Value::Null);
            }
            Some(value) => {
                if let Kind::Message(inner) = field.kind()
                    && !is_well_known(&inner)
                    && !field.is_map()
                {
                    match value {
                        Value::Object(o) => fill_nulls(o, &inner),
                        Value::Array(items) => {
                            for item in items {
                                if let Value::Object(o) = item {
                                    fill_nulls(o, &inner);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn unset_presence_fields_read_null_and_defaults_are_kept() {
        let (table, _) = crate::transcode::table::RouteTable::from_descriptor_set(
            crm_proto::FILE_DESCRIPTOR_SET,
        )
        .unwrap();
        let out = table
            .methods
            .get("/crm.auth.v1.ApiKeyService/ListApiKeys")
            .unwrap()
            .output
            .clone();
        let typed = crm_proto::auth::ListApiKeysResponse {
            data: vec![crm_proto::auth::ApiKey {
                id: "k1".into(),
                is_active: false,
                ..Default::default()
            }],
        };
        let message = DynamicMessage::decode(out, typed.encode_to_vec().as_slice()).unwrap();
        let body: Value = serde_json::from_slice(&to_body(&message).unwrap()).unwrap();
        assert_eq!(body["success"], true);
        assert_eq!(body["data"][0]["id"], "k1");
        assert_eq!(body["data"][0]["is_active"], false);
        assert_eq!(body["data"][0]["last_used_at"], Value::Null);
        assert_eq!(body["data"][0]["scopes"], serde_json::json!([]));
    }
}
