//! `/openapi.json`, generated from the same descriptors as the routes, so the document and
//! the gateway cannot disagree.

use crate::transcode::table::{Access, RouteTable};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The OpenAPI 3.1 document for every REST binding.
pub fn document(table: &RouteTable) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut schemas = BTreeMap::new();
    for b in &table.bindings {
        let rpc = &b.rpc;
        collect_schema(&rpc.input, &mut schemas);
        collect_schema(&rpc.output, &mut schemas);
        let path_vars: Vec<String> = b
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let mut parameters: Vec<Value> = path_vars
            .iter()
            .map(|v| json!({"name": v, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if b.body != "*" {
            for f in rpc
                .input
                .fields()
                .filter(|f| !path_vars.iter().any(|v| v == f.name()))
            {
                parameters.push(json!({"name": f.name(), "in": "query", "required": false, "schema": field_schema(&f)}));
            }
        }
        let (security, scopes) = match &rpc.access {
            Access::Public => (json!([]), Vec::new()),
            Access::JwtOnly => (json!([{"bearerJwt": []}]), Vec::new()),
            // `{}` is OpenAPI's "no credentials": either anonymous or a user token.
            Access::OptionalUser => (json!([{}, {"bearerJwt": []}]), Vec::new()),
            Access::Scoped(s) => (
                json!([{"bearerJwt": []}, {"bearerApiKey": []}, {"apiKeyHeader": []}, {"apiKeyQuery": []}]),
                s.clone(),
            ),
            Access::Internal => continue,
        };
        let mut op = json!({
            "operationId": rpc.operation_id,
            "summary": rpc.description,
            "parameters": parameters,
            "security": security,
            "x-grpc-method": rpc.grpc_path,
            "x-required-scopes": scopes,
            "responses": {
                "200": {"description": "Success", "content": {"application/json": {"schema": {
                    "allOf": [{"type": "object", "properties": {"success": {"const": true}}}, {"$ref": format!("#/components/schemas/{}", rpc.output.full_name())}]
                }}}},
                "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if b.body == "*" {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", rpc.input.full_name())}}}});
        }
        paths
            .entry(b.path.to_string())
            .or_default()
            .insert(b.method.as_str().to_ascii_lowercase(), op);
    }
    schemas.insert(
        "Error".to_owned(),
        json!({"type": "object", "required": ["success", "error", "code"], "properties": {
            "success": {"const": false}, "error": {"type": "string"}, "message": {"type": "string"},
            "code": {"type": "string"}, "details": {"type": "object"}
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "CRM API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "bearerApiKey": {"type": "http", "scheme": "bearer", "description": "crm_live_... API key"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"}
            }
        }
    })
}

fn collect_schema(desc: &MessageDescriptor, out: &mut BTreeMap<String, Value>) {
    if out.contains_key(desc.full_name()) || desc.full_name().starts_with("google.protobuf.") {
        return;
    }
    out.insert(desc.full_name().to_owned(), Value::Null);
    let mut properties = Map::new();
    for f in desc.fields() {
        properties.insert(f.name().to_owned(), field_schema(&f));
        if let Kind::Message(inner) = f.kind() {
            collect_schema(&inner, out);
        }
    }
    out.insert(
        desc.full_name().to_owned(),
        json!({"type": "object", "properties": properties}),
    );
}

fn field_schema(f: &FieldDescriptor) -> Value {
    let item = match f.kind() {
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Double | Kind::Float => json!({"type": "number"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({"type": "integer", "format": "int64"})
        }
        Kind::Enum(e) => {
            json!({"type": "string", "enum": e.values().map(|v| v.name().to_owned()).collect::<Vec<_>>()})
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => {
                json!({"type": ["string", "null"], "format": "date-time"})
            }
            "google.protobuf.Struct" => json!({"type": ["object", "null"]}),
            "google.protobuf.Value" => json!({}),
            name => json!({"$ref": format!("#/components/schemas/{name}")}),
        },
    };
    if f.is_list() {
        json!({"type": "array", "items": item})
    } else {
        item
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rest_binding_is_documented() {
        let (table, _) = crate::transcode::table::RouteTable::from_descriptor_set(
            crm_proto::FILE_DESCRIPTOR_SET,
        )
        .unwrap();
        let doc = super::document(&table);
        assert!(doc["paths"]["/api/api-keys"]["post"]["requestBody"].is_object());
        assert!(doc["paths"]["/api/v1/api-keys/{id}"]["delete"].is_object());
        assert!(doc["components"]["schemas"]["crm.auth.v1.ApiKey"].is_object());
        assert_eq!(
            doc["paths"]["/api/invitations/{token}/accept"]["post"]["security"],
            serde_json::json!([{}, {"bearerJwt": []}]),
            "anonymous or a user token"
        );
        for b in &table.bindings {
            assert!(
                doc["paths"][&*b.path][b.method.as_str().to_ascii_lowercase()].is_object(),
                "{}",
                b.path
            );
        }
    }
}
