use super::*;
use crate::transcode::table::RouteTable;

fn doc() -> (RouteTable, Value) {
    let (table, _) = RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET).unwrap();
    let doc = document(&table);
    (table, doc)
}

/// The component a `#/components/schemas/...` reference names.
fn component<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let name = reference
        .strip_prefix("#/components/schemas/")
        .unwrap_or_else(|| panic!("{reference} points outside the components"));
    &doc["components"]["schemas"][name]
}

fn body_schema<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
}

fn query_param<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
}

#[test]
fn every_reference_resolves() {
    let (_, doc) = doc();
    let mut refs = BTreeSet::new();
    references(&doc, &mut refs);
    assert!(refs.contains("#/components/schemas/google.protobuf.Struct"));
    assert!(refs.contains("#/components/schemas/TimeZone"));
    assert!(refs.contains("#/components/schemas/Error"));
    for r in &refs {
        assert!(component(&doc, r).is_object(), "{r} does not resolve");
    }
    for wkt in [
        "Struct",
        "Value",
        "ListValue",
        "Timestamp",
        "Int64Value",
        "StringValue",
    ] {
        assert!(
            doc["components"]["schemas"][format!("google.protobuf.{wkt}")].is_object(),
            "{wkt}"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["google.protobuf.Timestamp"]["format"],
        "date-time"
    );
}

#[test]
fn every_routed_rpc_has_an_operation_with_a_unique_id() {
    let (table, doc) = doc();
    let mut ids = Vec::new();
    for ops in doc["paths"].as_object().unwrap().values() {
        for op in ops.as_object().unwrap().values() {
            ids.push(op["operationId"].as_str().unwrap().to_owned());
        }
    }
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operation ids are unique");
    for rpc in table.methods.values() {
        let has_rule = table
            .bindings
            .iter()
            .any(|b| b.rpc.grpc_path == rpc.grpc_path);
        if rpc.access == Access::Internal {
            assert!(!ids.iter().any(|id| id.starts_with(&rpc.operation_id)));
            continue;
        }
        if has_rule {
            assert!(
                ids.contains(&rpc.operation_id),
                "{} has no operation",
                rpc.operation_id
            );
        }
    }
    for b in &table.bindings {
        assert!(
            doc["paths"][&*b.path][b.method.as_str().to_ascii_lowercase()].is_object(),
            "{}",
            b.path
        );
    }
    assert!(doc["paths"]["/api/v1/api-keys/{id}"]["delete"].is_object());
    assert_eq!(
        doc["paths"]["/api/api-keys"]["post"]["operationId"],
        "ApiKeyService.CreateApiKey"
    );
    assert_eq!(
        doc["paths"]["/api/v1/api-keys"]["post"]["operationId"],
        "ApiKeyService.CreateApiKey.v1"
    );
}

#[test]
fn requests_say_what_is_required_and_in_which_format() {
    let (_, doc) = doc();
    let login = body_schema(&doc, "/api/auth/login", "post");
    assert_eq!(login["required"], json!(["email", "password"]));
    assert_eq!(login["additionalProperties"], false);
    let pipeline = body_schema(&doc, "/api/pipeline/pipelines", "post");
    assert!(
        pipeline["required"]
            .as_array()
            .unwrap()
            .contains(&json!("name"))
    );
    assert_eq!(pipeline["properties"]["name"]["maxLength"], 100);
    let opportunity = body_schema(&doc, "/api/pipeline/opportunities", "post");
    assert_eq!(opportunity["properties"]["stage_id"]["format"], "uuid");
    assert_eq!(
        opportunity["properties"]["priority"]["enum"],
        json!(["", "low", "medium", "high"]),
        "an empty priority means none"
    );
    let tags = &body_schema(&doc, "/api/contacts/{id}", "put")["properties"]["tags"];
    assert_eq!(
        (
            tags["type"].as_str(),
            tags["items"]["type"].as_str(),
            tags["maxItems"].as_u64()
        ),
        (Some("array"), Some("string"), Some(50)),
        "a ListValue of tags is documented as the list of strings it is"
    );
    assert_eq!(opportunity["properties"]["probability"]["maximum"], 100);
    let invite = body_schema(&doc, "/api/workspaces/{workspace_id}/invitations", "post");
    assert_eq!(invite["properties"]["email"]["format"], "email");
    let id = &doc["paths"]["/api/contacts/{id}"]["get"]["parameters"][0];
    assert_eq!(
        (id["in"].as_str(), id["schema"]["format"].as_str()),
        (Some("path"), Some("uuid"))
    );
    let limit = query_param(&doc, "/api/tags", "limit");
    assert_eq!(
        (
            limit["schema"]["minimum"].as_i64(),
            limit["schema"]["maximum"].as_i64()
        ),
        (Some(1), Some(100))
    );
    let key = component(&doc, "#/components/schemas/crm.auth.v1.ApiKey");
    assert_eq!(
        key["properties"]["last_used_at"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(key["properties"]["last_used_at"]["format"], "date-time");
}

#[test]
fn errors_security_and_tags() {
    let (_, doc) = doc();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for s in ["bearerJwt", "bearerApiKey", "apiKeyHeader", "apiKeyQuery"] {
        assert!(schemes.contains_key(s), "{s}");
    }
    assert_eq!(schemes["apiKeyHeader"]["name"], "X-API-Key");
    assert_eq!(schemes["apiKeyQuery"]["in"], "query");
    let create = &doc["paths"]["/api/pipeline/pipelines"]["post"];
    assert!(create["responses"]["201"].is_object(), "creates answer 201");
    for status in ["400", "401", "403", "404", "409", "429", "500"] {
        assert_eq!(
            create["responses"][status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["Error"]["required"],
        json!(["success", "error", "message", "code", "details"])
    );
    assert_eq!(create["tags"], json!(["PipelineService"]));
    assert_eq!(create["x-required-scopes"], json!(["pipelines:write"]));
    assert_eq!(
        doc["paths"]["/api/invitations/{token}/accept"]["post"]["security"],
        json!([{}, {"bearerJwt": []}]),
        "anonymous or a user token"
    );
    assert_eq!(
        doc["paths"]["/api/auth/login"]["post"]["security"],
        json!([])
    );
    let tags: Vec<_> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tags.contains(&"ContactService") && tags.contains(&"ApiKeyService"));
}

#[test]
fn operations_show_the_spec_examples_on_request_and_answer() {
    let (_, doc) = doc();
    for path in ["/api/pipeline/pipelines", "/api/v1/pipeline/pipelines"] {
        let op = &doc["paths"][path]["post"];
        let request = &op["requestBody"]["content"]["application/json"]["examples"]["seed"];
        assert_eq!(
            request["value"]["name"], "Customer Service Pipeline",
            "{path}"
        );
        let answer = &op["responses"]["201"]["content"]["application/json"]["examples"]["seed"];
        assert_eq!(
            answer["value"]["data"]["stages"][0]["name"], "New",
            "{path}"
        );
    }
    let trigger = &doc["paths"]["/api/triggers/webhooks/contact-field-changed"]["post"];
    assert!(
        trigger["requestBody"]["content"]["application/json"]["examples"]["seed"]["value"]
            .is_object()
    );
    // Operations the spec shows no example for carry none.
    assert!(
        doc["paths"]["/api/v1/webhook-events"]["get"]["responses"]["200"]["content"]
            ["application/json"]
            .get("examples")
            .is_none()
    );
}

#[test]
fn the_incoming_hook_takes_any_json_object() {
    let (_, doc) = doc();
    let op = &doc["paths"]["/api/v1/webhooks/incoming/{token}"]["post"];
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(schema["type"], "object");
    assert!(schema.get("properties").is_none(), "{schema}");
}
