//! Field rules (`crm.options.v1.field`): what a request field must hold, as its service
//! enforces it, read from the descriptors and written into the field's JSON schema.

use crm_proto::crm::options::v1::FieldRule;
use prost_reflect::{FieldDescriptor, Value as ProtoValue};
use serde_json::{Map, Value, json};

/// The option's full name in the descriptor set.
const EXTENSION: &str = "crm.options.v1.field";

/// Not blank: at least one character that is not whitespace as the services trim it (Rust's
/// `char::is_whitespace`). Spelled out rather than `\S`, because a JSON Schema tool's `\s`
/// (Python's, say) also counts U+001C..U+001F, which our services keep.
pub const NOT_BLANK: &str = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

/// The `format` of IANA time-zone fields: written as a reference to the `TimeZone` schema.
pub const TIME_ZONE: &str = "iana-time-zone";

/// Every IANA zone name the services accept (they parse with the same `chrono-tz`).
pub fn time_zone_schema() -> Value {
    let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    json!({
        "type": "string",
        "description": "An IANA time zone name.",
        "enum": names,
        "examples": ["Europe/Paris", "America/New_York"],
    })
}

/// The rule on a field, if it carries one.
pub fn of(field: &FieldDescriptor) -> Option<FieldRule> {
    let pool = field.parent_pool();
    let ext = pool.get_extension_by_name(EXTENSION)?;
    let options = field.options();
    if !options.has_extension(&ext) {
        return None;
    }
    match options.get_extension(&ext).as_ref() {
        ProtoValue::Message(m) => m.transcode_to::<FieldRule>().ok(),
        _ => None,
    }
}

/// Whether the field must be sent.
pub fn required(field: &FieldDescriptor) -> bool {
    of(field).is_some_and(|r| r.required)
}

/// Writes `rule` into `schema`, the schema of one value of the field (of each item, for a
/// list; the list's own bounds are [`apply_to_list`]'s).
pub fn apply(rule: &FieldRule, is_string: bool, is_list: bool, schema: &mut Map<String, Value>) {
    if rule.format == TIME_ZONE {
        // Not a format tools know: the zone names themselves say it exactly.
        schema.remove("type");
        schema.insert("$ref".into(), json!("#/components/schemas/TimeZone"));
    } else if !rule.format.is_empty() {
        schema.insert("format".into(), json!(rule.format));
    }
    if !rule.enum_values.is_empty() {
        schema.insert("enum".into(), json!(rule.enum_values));
    }
    if let Some(min) = rule.min {
        schema.insert("minimum".into(), number(min));
    }
    if let Some(max) = rule.max {
        schema.insert("maximum".into(), number(max));
    }
    if is_string {
        // An empty string is proto3's "not sent": a required string has a character at least.
        let required = rule.required && !is_list;
        let min = rule.min_length.unwrap_or(0).max(u32::from(required));
        if min > 0 {
            schema.insert("minLength".into(), json!(min));
        }
        if let Some(max) = rule.max_length {
            schema.insert("maxLength".into(), json!(max));
        }
        if rule.not_blank {
            schema.insert("pattern".into(), json!(NOT_BLANK));
        }
    }
    if !rule.pattern.is_empty() {
        schema.insert("pattern".into(), json!(rule.pattern));
    }
}

/// The bounds of a list as a whole: how many items; a required list has one at least.
pub fn apply_to_list(rule: &FieldRule, schema: &mut Map<String, Value>) {
    let min = rule.min_items.unwrap_or(0).max(u32::from(rule.required));
    if min > 0 {
        schema.insert("minItems".into(), json!(min));
    }
    if let Some(max) = rule.max_items {
        schema.insert("maxItems".into(), json!(max));
    }
}

/// The rule's example, parsed (the option holds JSON text).
pub fn example(rule: &FieldRule) -> Option<Value> {
    (!rule.example.is_empty())
        .then(|| serde_json::from_str(&rule.example).unwrap_or_else(|_| json!(rule.example)))
}

/// The rule's whole schema, for free-form fields.
pub fn whole_schema(rule: &FieldRule) -> Option<Value> {
    (!rule.schema_json.is_empty()).then(|| {
        serde_json::from_str(&rule.schema_json).unwrap_or_else(|e| {
            // A typo in a proto option must not take the gateway down: say so and describe
            // the field as free-form.
            tracing::error!(error = %e, "crm.options.v1.field schema_json is not JSON");
            json!({})
        })
    })
}

/// Bounds as JSON numbers: whole ones as integers (`100`, not `100.0`), so tools that
/// compare types strictly take them for integer bounds.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}
