//! `/openapi.json`, generated from the same descriptors as the routes, so the document and
//! the gateway cannot disagree. What each request field must hold comes from the services'
//! field rules (`crm.options.v1.field`, see `rules`); `/docs` renders this document.

pub mod docs_page;
mod rules;
mod schema;
mod seed_examples;
mod well_known;

use crate::transcode::table::{Access, MethodInfo, RestBinding, RouteTable};
use schema::{Role, Schemas};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Error statuses a REST call may answer, with what each means for every operation.
const ERROR_STATUSES: &[(&str, &str)] = &[
    (
        "400",
        "A field is missing or invalid (`details.field` names it), or the body is not JSON.",
    ),
    (
        "401",
        "No credentials, or ones that are unknown, expired, revoked or inactive.",
    ),
    (
        "403",
        "The caller may not do this (role, missing scope named in `details`, IP allowlist).",
    ),
    ("404", "No such record in the caller's workspace."),
    (
        "409",
        "Conflicts with the current state (a duplicate, a record still in use).",
    ),
    (
        "429",
        "Rate limit exceeded: retry after `Retry-After` seconds.",
    ),
    ("500", "Internal error; try again later."),
    ("503", "A backend service is unavailable; retry shortly."),
];

/// The OpenAPI 3.1 document for every REST binding.
pub fn document(table: &RouteTable) -> Value {
    let response_types = Schemas::reachable(table.bindings.iter().map(|b| &b.rpc.output));
    let mut schemas = Schemas::new(response_types);
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    let mut primary_seen: HashSet<String> = HashSet::new();
    let mut ids: HashSet<String> = HashSet::new();
    for b in &table.bindings {
        let Some(security) = security(&b.rpc.access) else {
            continue;
        };
        let (service, tag_doc) = service_of(&b.rpc);
        tags.entry(service.clone()).or_insert(tag_doc);
        let id = operation_id(b, &mut primary_seen, &mut ids);
        let op = operation(b, id, service, security, &mut schemas);
        paths
            .entry(b.path.to_string())
            .or_default()
            .insert(b.method.as_str().to_ascii_lowercase(), op);
    }
    let mut components = schemas.into_components();
    components.insert("Error".to_owned(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "CRM API",
            "version": "1.0.0",
            "description": "REST face of the CRM platform: every operation is also a gRPC method \
                (`x-grpc-method`) on the same port, over gRPC and gRPC-web. Authenticate with a \
                user token (`POST /api/auth/login`) or an API key; a key needs the scopes an \
                operation lists in `x-required-scopes`. Successful answers carry \
                `\"success\": true` beside their fields; errors are the `Error` envelope."
        },
        "tags": tags.into_iter().map(|(name, description)| json!({"name": name, "description": description})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "A user token from `POST /api/auth/login` (1 hour)."},
                "bearerApiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "crm_live_...",
                    "description": "An API key as `Authorization: Bearer crm_live_...`."},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                    "description": "An API key in the `X-API-Key` header."},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key",
                    "description": "An API key in the `api_key` query parameter."}
            }
        }
    })
}

/// Who may call: `None` for internal RPCs, which are never documented (nor routed).
fn security(access: &Access) -> Option<Value> {
    Some(match access {
        Access::Public => json!([]),
        Access::JwtOnly => json!([{"bearerJwt": []}]),
        // `{}` is OpenAPI's "no credentials": either anonymous or a user token.
        Access::OptionalUser => json!([{}, {"bearerJwt": []}]),
        Access::Scoped(_) => {
            json!([{"bearerJwt": []}, {"bearerApiKey": []}, {"apiKeyHeader": []}, {"apiKeyQuery": []}])
        }
        Access::Internal => return None,
    })
}

/// The RPC's service name (the operation's tag) and its comment.
fn service_of(rpc: &MethodInfo) -> (String, String) {
    let full = rpc
        .grpc_path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let service = rpc.input.parent_pool().get_service_by_name(full);
    let name = full.rsplit('.').next().unwrap_or(full).to_owned();
    let doc = service
        .and_then(|s| well_known::comment(s.parent_file_descriptor_proto(), s.path()))
        .unwrap_or_else(|| format!("`{full}`"));
    (name, doc)
}

/// `ApiKeyService.CreateApiKey` for an RPC's first binding; its other bindings (the same
/// call under `/api/v1` or without it) add `.v1` or `.unversioned`, so ids stay unique and do
/// not change when bindings are added.
fn operation_id(
    b: &RestBinding,
    primary: &mut HashSet<String>,
    ids: &mut HashSet<String>,
) -> String {
    let base = b.rpc.operation_id.clone();
    let mut id = if primary.insert(base.clone()) {
        base
    } else if b.path.starts_with("/api/v1/") {
        format!("{base}.v1")
    } else {
        format!("{base}.unversioned")
    };
    let stem = id.clone();
    let mut n = 2;
    while !ids.insert(id.clone()) {
        id = format!("{stem}.{n}");
        n += 1;
    }
    id
}

fn operation(
    b: &RestBinding,
    id: String,
    tag: String,
    security: Value,
    schemas: &mut Schemas,
) -> Value {
    let rpc = &b.rpc;
    let path_vars: Vec<String> = b
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect();
    let mut parameters = Vec::new();
    for var in &path_vars {
        let mut schema = match rpc.input.get_field_by_name(var) {
            Some(f) => schemas.field(&f, Role::Parameter),
            None => json!({"type": "string"}),
        };
        // A path segment is never empty.
        if let Value::Object(map) = &mut schema
            && map.get("type") == Some(&json!("string"))
            && !map.contains_key("minLength")
        {
            map.insert("minLength".into(), json!(1));
        }
        parameters.push(json!({"name": var, "in": "path", "required": true, "schema": schema}));
    }
    if b.body != "*" {
        for f in rpc
            .input
            .fields()
            .filter(|f| !path_vars.iter().any(|v| v == f.name()))
        {
            let mut p = json!({
                "name": f.name(),
                "in": "query",
                "required": rules::required(&f),
                "schema": schemas.field(&f, Role::Parameter),
            });
            if let Some(doc) = p["schema"]["description"].as_str().map(str::to_owned) {
                p["description"] = json!(doc);
            }
            if f.is_list() {
                p["style"] = json!("form");
                p["explode"] = json!(true);
            }
            parameters.push(p);
        }
    }
    let success = if b.method == http::Method::POST && rpc.operation_id.contains(".Create") {
        "201"
    } else {
        "200"
    };
    let output = schemas.reference(&rpc.output, Role::Response);
    let seed = seed_examples::lookup(&b.method, &b.path);
    let mut answer = json!({"schema": {
        "allOf": [
            {"type": "object", "required": ["success"], "properties": {"success": {"const": true}}},
            output
        ]
    }});
    if let Some(example) = seed.and_then(|s| s.response.as_ref()) {
        answer["examples"] = seed_examples::media_examples(example);
    }
    let mut responses = Map::new();
    responses.insert(
        success.to_owned(),
        json!({"description": "Success", "content": {"application/json": answer}}),
    );
    for (status, description) in ERROR_STATUSES {
        responses.insert((*status).to_owned(), error_response(description));
    }
    responses.insert("default".into(), error_response("Any other error."));
    let (summary, description) = summary(rpc);
    let scopes = match &rpc.access {
        Access::Scoped(s) => s.clone(),
        _ => Vec::new(),
    };
    let mut op = json!({
        "operationId": id,
        "summary": summary,
        "description": description,
        "tags": [tag],
        "parameters": parameters,
        "security": security,
        "x-grpc-method": rpc.grpc_path,
        "x-required-scopes": scopes,
        "responses": responses,
    });
    if &*b.path == crate::transcode::raw_body::TWILIO_STATUS.path {
        // Served raw: Twilio posts a form, signed with X-Twilio-Signature over the URL svc-
        // messaging gave it and the sorted parameters.
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/x-www-form-urlencoded": {"schema": {
                "type": "object",
                "description": "Twilio's message status callback, signed with X-Twilio-Signature.",
                "properties": {
                    "MessageSid": {"type": "string"},
                    "MessageStatus": {"type": "string", "enum": ["queued", "sending", "sent", "delivered", "undelivered", "failed", "read"]},
                    "ErrorCode": {"type": "string"},
                    "AccountSid": {"type": "string"}
                },
                "additionalProperties": {"type": "string"}
            }}}
        });
        if let Some(responses) = op["responses"].as_object_mut() {
            responses.remove("200");
            responses.insert("204".into(), json!({"description": "Recorded."}));
        }
    } else if &*b.path == crate::transcode::raw_body::INCOMING_WEBHOOK.path {
        // Served raw (the signature covers the bytes sent): the message's `body` and
        // `headers` are filled by the gateway, and callers send any JSON object.
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {
                "type": "object",
                "description": "Any JSON object: the hook's field_mapping reads it by dotted paths. Signed hooks need the hex HMAC-SHA256 of the raw body in their signature header.",
                "examples": [{"contact": {"email": "ann@example.com", "phones": ["+15551234567"]}, "full_name": "Ann Lee"}]
            }}}
        });
    } else if b.body == "*" {
        let body = schemas.message(&rpc.input, Role::Request, &path_vars);
        let required = body
            .get("required")
            .is_some_and(|r| r.as_array().is_some_and(|a| !a.is_empty()));
        let mut media = json!({"schema": body});
        if let Some(example) = seed.and_then(|s| s.request.as_ref()) {
            media["examples"] = seed_examples::media_examples(example);
        }
        op["requestBody"] = json!({
            "required": required,
            "content": {"application/json": media}
        });
    }
    op
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The REST error body (`gateway::error`).
fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "Every REST error. Some carry extra top-level fields (`opportunity_count`, `contact_id`).",
        "required": ["success", "error", "message", "code", "details"],
        "properties": {
            "success": {"const": false},
            "error": {"type": "string", "description": "What went wrong and what to do."},
            "message": {"type": "string", "description": "The same text as `error`."},
            "code": {"type": "string", "description": "Stable machine-readable reason, e.g. VALIDATION_ERROR, RATE_LIMIT_EXCEEDED.", "examples": ["VALIDATION_ERROR"]},
            "details": {"type": "object", "description": "Facts about the error: `field` (the request field at fault), `field_violations`, `required_scope`, ...",
                "properties": {"field": {"type": "string"}}}
        },
        "examples": [{
            "success": false,
            "error": "name: is required",
            "message": "name: is required",
            "code": "VALIDATION_ERROR",
            "details": {"field": "name", "field_violations": [{"field": "name", "description": "is required"}]}
        }]
    })
}

/// The first sentence of the RPC's comment as the summary (or its name in words), the whole
/// comment as the description.
fn summary(rpc: &MethodInfo) -> (String, String) {
    let method = rpc.operation_id.rsplit('.').next().unwrap_or_default();
    let mut words = String::new();
    for (i, c) in method.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
            words.extend(c.to_lowercase());
        } else {
            words.push(c);
        }
    }
    let words = words.replace("api ", "API ").replace(" api", " API");
    if rpc.description.is_empty() {
        return (words.clone(), String::new());
    }
    let first = rpc
        .description
        .split_inclusive(". ")
        .next()
        .unwrap_or(&rpc.description)
        .replace('\n', " ");
    let first = first.trim().trim_end_matches('.').to_owned();
    let summary = if first.len() > 80 { words } else { first };
    (summary, rpc.description.clone())
}

#[cfg(test)]
mod tests;

/// Every `$ref` in `value` (the tests check that each resolves).
pub fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(r) = v.as_str()
                {
                    out.insert(r.to_owned());
                }
                references(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}
