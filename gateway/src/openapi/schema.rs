//! JSON schemas of messages and fields, as the gateway's REST face reads and writes them:
//! proto field names, 64-bit integers as numbers, unset presence fields of responses as `null`.

use super::{rules, well_known};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Which way a message travels: requests state what is required and refuse unknown fields;
/// responses spell unset presence fields as `null`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// Read from a caller's JSON body.
    Request,
    /// Read from a caller's path or query string, where there is no `null`.
    Parameter,
    /// Written to a caller.
    Response,
}

/// The component schemas an OpenAPI document refers to, collected as operations are written.
pub struct Schemas {
    schemas: BTreeMap<String, Value>,
    /// Messages that responses use: one also read from requests is named `<name>.Input` there.
    response_types: BTreeSet<String>,
}

impl Schemas {
    /// `response_types`: every message type reachable from a response.
    pub fn new(response_types: BTreeSet<String>) -> Self {
        let mut schemas = well_known::schemas();
        schemas.insert("TimeZone".to_owned(), rules::time_zone_schema());
        Self {
            schemas,
            response_types,
        }
    }

    /// Every message type reachable from `roots` (through fields, list items and map values).
    pub fn reachable<'a>(roots: impl Iterator<Item = &'a MessageDescriptor>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<MessageDescriptor> = roots.cloned().collect();
        while let Some(m) = stack.pop() {
            if !seen.insert(m.full_name().to_owned()) {
                continue;
            }
            for f in m.fields() {
                if let Kind::Message(inner) = f.kind() {
                    stack.push(inner);
                }
            }
        }
        seen
    }

    /// The component name of `desc` in `role`.
    pub fn name(&self, desc: &MessageDescriptor, role: Role) -> String {
        let full = desc.full_name();
        if role != Role::Response && self.response_types.contains(full) {
            format!("{full}.Input")
        } else {
            full.to_owned()
        }
    }

    /// A `$ref` to the schema of `desc` in `role`, writing it (and what it uses) on first use.
    pub fn reference(&mut self, desc: &MessageDescriptor, role: Role) -> Value {
        let name = self.name(desc, role);
        if !self.schemas.contains_key(&name) {
            // Placeholder first: recursive types refer to themselves.
            self.schemas.insert(name.clone(), Value::Null);
            let schema = self.message(desc, role, &[]);
            self.schemas.insert(name.clone(), schema);
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// The schema of a message's fields, leaving out `skip` (those bound to the path).
    pub fn message(&mut self, desc: &MessageDescriptor, role: Role, skip: &[String]) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for f in desc
            .fields()
            .filter(|f| !skip.iter().any(|s| s == f.name()))
        {
            if role == Role::Request && rules::required(&f) {
                required.push(f.name().to_owned());
            }
            properties.insert(f.name().to_owned(), self.field(&f, role));
        }
        let mut schema = Map::new();
        schema.insert("type".into(), json!("object"));
        if let Some(doc) = well_known::comment(desc.parent_file_descriptor_proto(), desc.path()) {
            schema.insert("description".into(), json!(doc));
        }
        schema.insert("properties".into(), Value::Object(properties));
        if !required.is_empty() {
            schema.insert("required".into(), json!(required));
        }
        if role == Role::Request {
            // The gateway refuses fields it does not know (400 naming the field).
            schema.insert("additionalProperties".into(), json!(false));
        }
        Value::Object(schema)
    }

    /// The schema of one field as it appears in JSON.
    pub fn field(&mut self, f: &FieldDescriptor, role: Role) -> Value {
        let rule = rules::of(f);
        if let Some(whole) = rule.as_ref().and_then(rules::whole_schema) {
            let whole = if role != Role::Response
                && matches!(f.kind(), Kind::String)
                && !f.supports_presence()
                && !rule.as_ref().is_some_and(|r| r.required)
            {
                allow_empty(whole)
            } else {
                whole
            };
            let whole = if role == Role::Request && !rule.as_ref().is_some_and(|r| r.required) {
                nullable(whole)
            } else {
                whole
            };
            return annotate(whole, f, rule.as_ref());
        }
        if f.is_map() {
            let Kind::Message(entry) = f.kind() else {
                return json!({"type": "object"});
            };
            let value = entry.map_entry_value_field();
            let values = self.value(&value, role, None);
            return annotate(
                json!({"type": "object", "additionalProperties": values}),
                f,
                rule.as_ref(),
            );
        }
        if let (Some(rule), true) = (&rule, is_list_value(f)) {
            // A `google.protobuf.ListValue` with a rule is a list of strings the service reads
            // item by item (a replacing `tags` list): the rule is about its strings.
            let mut item = Map::new();
            item.insert("type".into(), json!("string"));
            rules::apply(rule, true, false, &mut item);
            let mut list = Map::new();
            list.insert("type".into(), json!("array"));
            list.insert("items".into(), Value::Object(item));
            rules::apply_to_list(rule, &mut list);
            return annotate(Value::Object(list), f, Some(rule));
        }
        let item = self.value(f, role, rule.as_ref());
        let schema = if f.is_list() {
            let mut list = Map::new();
            list.insert("type".into(), json!("array"));
            list.insert("items".into(), item);
            if let Some(rule) = &rule {
                rules::apply_to_list(rule, &mut list);
            }
            Value::Object(list)
        } else if role == Role::Response && f.supports_presence() {
            nullable(item)
        } else if role != Role::Response
            && matches!(f.kind(), Kind::String)
            && !f.supports_presence()
            && !rule.as_ref().is_some_and(|r| r.required)
        {
            // proto3: an empty string is a string not sent, whatever the rule on a sent one.
            allow_empty(item)
        } else {
            item
        };
        let schema = if role == Role::Request && !rule.as_ref().is_some_and(|r| r.required) {
            // proto3 JSON reads `null` as "not sent".
            nullable(schema)
        } else {
            schema
        };
        annotate(schema, f, rule.as_ref())
    }

    /// The schema of one value of the field (an item, for a list).
    fn value(
        &mut self,
        f: &FieldDescriptor,
        role: Role,
        rule: Option<&crm_proto::crm::options::v1::FieldRule>,
    ) -> Value {
        let mut schema = match f.kind() {
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Double => json!({"type": "number"}),
            Kind::Float => {
                json!({"type": "number", "minimum": -f32::MAX, "maximum": f32::MAX})
            }
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32", "minimum": i32::MIN, "maximum": i32::MAX})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": u32::MAX})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX})
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": u64::MAX})
            }
            Kind::Enum(e) => {
                json!({"type": "string", "enum": e.values().map(|v| v.name().to_owned()).collect::<Vec<_>>()})
            }
            Kind::Message(m) => match well_known::inline(m.full_name()) {
                Some(inline) => inline,
                None if well_known::is_well_known(m.full_name()) => {
                    json!({"$ref": format!("#/components/schemas/{}", m.full_name())})
                }
                None => self.reference(&m, role),
            },
        };
        if let (Some(rule), Value::Object(map)) = (rule, &mut schema) {
            rules::apply(rule, matches!(f.kind(), Kind::String), f.is_list(), map);
        }
        schema
    }

    /// The collected schemas.
    pub fn into_components(self) -> Map<String, Value> {
        self.schemas.into_iter().collect()
    }
}

fn is_list_value(f: &FieldDescriptor) -> bool {
    matches!(f.kind(), Kind::Message(m) if m.full_name() == "google.protobuf.ListValue")
}

/// `schema` or `""`: an enum gains `""`, a constrained string becomes either.
fn allow_empty(schema: Value) -> Value {
    let Value::Object(mut map) = schema else {
        return schema;
    };
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        if !values.contains(&json!("")) {
            values.insert(0, json!(""));
        }
        return Value::Object(map);
    }
    let constrained = ["format", "pattern", "minLength", "$ref", "anyOf"]
        .iter()
        .any(|k| map.contains_key(*k));
    if constrained {
        json!({"anyOf": [Value::Object(map), {"type": "string", "maxLength": 0}]})
    } else {
        Value::Object(map)
    }
}

/// `schema` or `null`.
fn nullable(schema: Value) -> Value {
    match schema {
        Value::Object(mut map) if map.get("type").is_some_and(Value::is_string) => {
            let t = map.remove("type").unwrap_or(Value::Null);
            map.insert("type".into(), json!([t, "null"]));
            Value::Object(map)
        }
        other => json!({"anyOf": [other, {"type": "null"}]}),
    }
}

/// Adds the field's comment and its example.
fn annotate(
    mut schema: Value,
    f: &FieldDescriptor,
    rule: Option<&crm_proto::crm::options::v1::FieldRule>,
) -> Value {
    let Value::Object(map) = &mut schema else {
        return schema;
    };
    let doc = well_known::comment(f.parent_file().file_descriptor_proto(), f.path());
    let example = rule.and_then(rules::example);
    if map.contains_key("$ref") && (doc.is_some() || example.is_some()) {
        // Siblings of `$ref` are allowed in 3.1, but some renderers drop them: wrap instead.
        let reference = std::mem::take(map);
        map.insert("allOf".into(), json!([reference]));
    }
    if let Some(doc) = doc {
        map.insert("description".into(), json!(doc));
    }
    if let Some(example) = example {
        map.insert("examples".into(), json!([example]));
    }
    schema
}
