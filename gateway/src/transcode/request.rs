//! REST → request message: path parameters, query string and JSON body become one JSON
//! object, parsed once through the descriptor (unknown fields rejected), with every error
//! naming the field it is about.

use crate::error::GatewayError;
use prost_reflect::{DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

/// The path (`field`, `field.inner`, `field[2]`) of the first text under `value` holding a
/// NUL character, keys included.
fn field_with_nul(path: &str, value: &Value) -> Option<String> {
    if path.contains('\0') {
        return Some(path.replace('\0', "\\u0000"));
    }
    match value {
        Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| field_with_nul(&format!("{path}[{i}]"), item)),
        Value::Object(fields) => fields
            .iter()
            .find_map(|(key, item)| field_with_nul(&format!("{path}.{key}"), item)),
        _ => None,
    }
}

/// Query parameters the gateway consumes itself and never passes on.
const RESERVED_QUERY: &[&str] = &["api_key"];

/// Builds the request message. `body_rule` is the http rule's `body` (`*` or empty).
pub fn build(
    input: &MessageDescriptor,
    body_rule: &str,
    path_params: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, GatewayError> {
    let mut object = if body_rule == "*" {
        parse_body(body)?
    } else {
        Map::new()
    };
    if body_rule != "*" && !body.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::bad_request(
            "body",
            "this endpoint takes no request body",
        ));
    }
    if let Some(query) = query {
        let mut repeated: Map<String, Value> = Map::new();
        for (key, value) in form_urlencoded(query) {
            if RESERVED_QUERY.contains(&key.as_str()) {
                continue;
            }
            let field = find_field(input, &key).ok_or_else(|| {
                GatewayError::bad_request(&key, format!("unknown query parameter '{key}'"))
            })?;
            let json = scalar_json(&field, &value);
            if field.is_list() {
                match repeated
                    .entry(field.name().to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(items) => items.push(json),
                    _ => unreachable!("only arrays are inserted"),
                }
            } else {
                object.insert(field.name().to_owned(), json);
            }
        }
        object.extend(repeated);
    }
    for (name, value) in path_params {
        let field = find_field(input, name)
            .ok_or_else(|| GatewayError::internal(format!("path variable {name} has no field")))?;
        // Path parameters win over body fields of the same name, as in google.api.http.
        object.remove(field.json_name());
        object.insert(field.name().to_owned(), scalar_json(&field, value));
    }
    if let Some(field) = object
        .iter()
        .find_map(|(key, value)| field_with_nul(key, value))
    {
        // Text never holds NUL: Postgres refuses it in `text` columns, and no field of ours
        // means anything by it.
        return Err(GatewayError::bad_request(
            &field,
            "must not contain NUL characters (\\u0000)",
        ));
    }
    for key in object.keys() {
        if find_field(input, key).is_none() {
            return Err(GatewayError::bad_request(
                key,
                format!("unknown field '{key}'"),
            ));
        }
    }
    if object.is_empty() {
        // Nothing to parse (a plain GET): skip the JSON round trip.
        return Ok(DynamicMessage::new(input.clone()));
    }
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    match DynamicMessage::deserialize_with_options(
        input.clone(),
        Value::Object(object.clone()),
        &options,
    ) {
        Ok(message) => Ok(message),
        Err(whole) => Err(name_the_field(input, &object, &options).unwrap_or_else(|| {
            GatewayError::bad_request("body", format!("invalid request: {whole}"))
        })),
    }
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(GatewayError::bad_request(
            "body",
            "request body must be a JSON object",
        )),
        Err(e) => Err(GatewayError::bad_request(
            "body",
            format!(
                "malformed JSON at line {} column {}: {}",
                e.line(),
                e.column(),
                strip_position(&e.to_string())
            ),
        )),
    }
}

fn strip_position(msg: &str) -> &str {
    msg.split(" at line ").next().unwrap_or(msg)
}

/// The slow path, taken only on error: parse field by field to say which one is wrong.
fn name_the_field(
    input: &MessageDescriptor,
    object: &Map<String, Value>,
    options: &DeserializeOptions,
) -> Option<GatewayError> {
    for (key, value) in object {
        let mut single = Map::new();
        single.insert(key.clone(), value.clone());
        if let Err(e) =
            DynamicMessage::deserialize_with_options(input.clone(), Value::Object(single), options)
        {
            return Some(GatewayError::bad_request(
                key,
                format!("invalid value for '{key}': {e}"),
            ));
        }
    }
    None
}

/// A field by proto name or JSON (camelCase) name.
fn find_field(input: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    input
        .get_field_by_name(name)
        .or_else(|| input.get_field_by_json_name(name))
}

/// A path or query string value as the JSON the field's type expects. Integers and enums may
/// stay strings (protobuf JSON accepts both); booleans and floats must be parsed.
fn scalar_json(field: &FieldDescriptor, raw: &str) -> Value {
    match field.kind() {
        Kind::Bool => match raw {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        },
        Kind::Double | Kind::Float => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(raw.to_owned())),
        _ => Value::String(raw.to_owned()),
    }
}

fn form_urlencoded(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
            {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::table::RouteTable;

    fn input(path: &str) -> MessageDescriptor {
        let (table, _) = RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET).unwrap();
        table.methods.get(path).unwrap().input.clone()
    }

    #[test]
    fn nul_in_any_text_is_refused_naming_the_field() {
        let desc = input("/crm.auth.v1.ApiKeyService/UpdateApiKey");
        let err = build(&desc, "*", &[], None, br#"{"name": "a\u0000b"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("name"));
        let err = build(
            &desc,
            "*",
            &[],
            None,
            br#"{"allowed_ips": ["1.2.3.4", "\u0000"]}"#,
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("allowed_ips[1]"));
        let desc = input("/crm.auth.v1.AuthService/ListAgents");
        let err = build(&desc, "", &[], Some("search=a%00b"), b"").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("search"));
    }

    #[test]
    fn body_path_and_query_merge_into_one_message() {
        let desc = input("/crm.auth.v1.ApiKeyService/UpdateApiKey");
        let msg = build(
            &desc,
            "*",
            &[("id".into(), "k1".into())],
            None,
            br#"{"name":"x","isActive":false,"id":"ignored"}"#,
        )
        .unwrap();
        assert_eq!(msg.get_field_by_name("id").unwrap().as_str(), Some("k1"));
        assert_eq!(msg.get_field_by_name("name").unwrap().as_str(), Some("x"));
        assert_eq!(
            msg.get_field_by_name("is_active").unwrap().as_bool(),
            Some(false)
        );
        let list = input("/crm.auth.v1.ApiKeyService/ListApiKeys");
        let msg = build(
            &list,
            "",
            &[],
            Some("workspace_id=w%201&api_key=secret"),
            b"",
        )
        .unwrap();
        assert_eq!(
            msg.get_field_by_name("workspace_id").unwrap().as_str(),
            Some("w 1")
        );
    }

    #[test]
    fn errors_name_the_field() {
        let desc = input("/crm.auth.v1.ApiKeyService/CreateApiKey");
        let e = build(&desc, "*", &[], None, br#"{"name":"x","colour":"red"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("colour"));
        let e = build(
            &desc,
            "*",
            &[],
            None,
            br#"{"name":"x","expires_at":"tomorrow"}"#,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("expires_at"));
        let e = build(&desc, "*", &[], None, br#"{"name": "#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body"));
        assert!(e.message.contains("malformed JSON"));
        let list = input("/crm.auth.v1.ApiKeyService/ListApiKeys");
        let e = build(&list, "", &[], Some("limit=5"), b"").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("limit"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decode("a%20b+c%2"), "a b c%2");
        assert_eq!(decode("%e2%9c%93"), "✓");
    }
}
