//! From a payload to record fields. A hook's mapping is `payload path -> record field`; a
//! path reads the payload like Laravel's `data_get`: dot-separated keys, numbers index
//! arrays (`contact.emails.0`); a top-level key that itself contains dots is read first.
//! Absent and `null` values leave the field unset. Each value is converted to its field's
//! type, and every value that cannot be is reported, named by its payload path.

use super::fields::{Kind, Module};
use crm_platform::error::ApiError;
use serde_json::Value;
use std::collections::BTreeMap;

/// Most entries a mapping may have.
pub const MAX_ENTRIES: usize = 100;
/// Longest payload path.
pub const MAX_PATH: usize = 200;

/// One record field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Text(String),
    List(Vec<String>),
    Number(f64),
    Integer(i32),
}

/// Record fields read from one payload, and the payload path each came from.
#[derive(Clone, Debug, Default)]
pub struct MappedRecord {
    pub values: BTreeMap<&'static str, FieldValue>,
    /// Record field -> the payload path it was read from (for errors).
    pub origins: BTreeMap<&'static str, String>,
}

impl MappedRecord {
    /// The text of `field`, when set.
    pub fn text(&self, field: &str) -> Option<&str> {
        match self.values.get(field) {
            Some(FieldValue::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The payload path a record field came from, or the field's own name when it was not
    /// read from the payload.
    pub fn path_of(&self, field: &str) -> String {
        self.origins
            .get(field)
            .cloned()
            .unwrap_or_else(|| field.to_owned())
    }

    fn set(&mut self, field: &'static str, path: &str, value: FieldValue) {
        self.values.insert(field, value);
        self.origins.insert(field, path.to_owned());
    }
}

/// A mapping checked against `module`: string targets that are fields the module may write,
/// at most 100 entries, paths of 1..200 characters. Errors name `field_mapping.<path>`.
pub fn validate(
    module: Module,
    raw: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::invalid_field(
            "field_mapping",
            "map at least one payload path to a record field, e.g. {\"email\": \"email\"}",
        ));
    }
    if raw.len() > MAX_ENTRIES {
        return Err(ApiError::invalid_field(
            "field_mapping",
            "at most 100 entries",
        ));
    }
    let mut out = BTreeMap::new();
    let mut targets: BTreeMap<String, String> = BTreeMap::new();
    for (path, target) in raw {
        let path = path.trim();
        if path.is_empty() || path.chars().count() > MAX_PATH {
            return Err(ApiError::invalid_field(
                "field_mapping",
                "payload paths must be 1 to 200 characters",
            ));
        }
        let target = target.trim();
        let field = format!("field_mapping.{path}");
        if module.kind_of(target).is_none() {
            let known: Vec<&str> = module.fields().iter().map(|(n, _)| *n).collect();
            return Err(ApiError::invalid_field(
                &field,
                format!(
                    "'{target}' is not a writable {} field; use one of: {}",
                    module.name(),
                    known.join(", ")
                ),
            ));
        }
        if let Some(other) = targets.insert(target.to_owned(), path.to_owned()) {
            return Err(ApiError::invalid_field(
                &field,
                format!("'{other}' already maps to '{target}'; map each field once"),
            ));
        }
        out.insert(path.to_owned(), target.to_owned());
    }
    if targets.contains_key("full_name")
        && (targets.contains_key("firstname") || targets.contains_key("lastname"))
    {
        return Err(ApiError::invalid_field(
            "field_mapping",
            "map either full_name or firstname/lastname, not both",
        ));
    }
    Ok(out)
}

/// The value at `path` in `payload` (`data_get`): the literal key first, then dotted steps.
pub fn data_get<'v>(payload: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(v) = payload.as_object().and_then(|o| o.get(path)) {
        return Some(v);
    }
    let mut at = payload;
    for step in path.split('.') {
        at = match at {
            Value::Object(map) => map.get(step)?,
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn convert(kind: Kind, value: &Value) -> Result<FieldValue, &'static str> {
    match kind {
        Kind::Text | Kind::FullName => scalar_text(value)
            .map(FieldValue::Text)
            .ok_or("must be text, a number or a boolean"),
        Kind::List => match value {
            Value::Array(items) => items
                .iter()
                .map(|item| scalar_text(item).ok_or("must be a list of strings"))
                .collect::<Result<Vec<_>, _>>()
                .map(FieldValue::List),
            Value::String(s) => Ok(FieldValue::List(
                s.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            _ => Err("must be a list of strings or comma-separated text"),
        },
        Kind::Number => match value {
            Value::Number(n) => n.as_f64().map(FieldValue::Number).ok_or("must be a number"),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(FieldValue::Number)
                .ok_or("must be a number"),
            _ => Err("must be a number"),
        },
        Kind::Integer => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            n.filter(|n| n.fract() == 0.0 && *n >= i32::MIN as f64 && *n <= i32::MAX as f64)
                .map(|n| FieldValue::Integer(n as i32))
                .ok_or("must be a whole number")
        }
    }
}

/// Reads `payload` through `mapping` into record fields; every value that cannot become its
/// field's type is a violation named by its payload path.
pub fn apply(
    module: Module,
    mapping: &BTreeMap<String, String>,
    payload: &Value,
) -> Result<MappedRecord, ApiError> {
    let mut record = MappedRecord::default();
    let mut errors: Vec<(String, String)> = Vec::new();
    for (path, target) in mapping {
        // Mappings are validated when saved; a field dropped since is skipped, not fatal.
        let Some((field, kind)) = module
            .fields()
            .iter()
            .find(|(name, _)| name == target)
            .copied()
        else {
            continue;
        };
        let Some(value) = data_get(payload, path).filter(|v| !v.is_null()) else {
            continue;
        };
        match convert(kind, value) {
            Ok(FieldValue::Text(full)) if kind == Kind::FullName => {
                let full = full.trim();
                let (first, last) = match full.split_once(char::is_whitespace) {
                    Some((first, last)) => (first, last.trim()),
                    None => (full, ""),
                };
                record.set("firstname", path, FieldValue::Text(first.to_owned()));
                if !last.is_empty() {
                    record.set("lastname", path, FieldValue::Text(last.to_owned()));
                } else {
                    // A missing last name is reported against the same path.
                    record.origins.insert("lastname", path.to_owned());
                }
            }
            Ok(v) => record.set(field, path, v),
            Err(why) => errors.push((path.clone(), why.to_owned())),
        }
    }
    if let Some((first_path, first_why)) = errors.first() {
        let mut e = ApiError::new(
            tonic::Code::InvalidArgument,
            "VALIDATION_ERROR",
            format!("{first_path}: {first_why}"),
        );
        for (path, why) in &errors {
            e = e.with_field(path, why.clone());
        }
        return Err(e);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn data_get_reads_dotted_paths_array_indexes_and_literal_keys() {
        let p = json!({"a": {"b": [{"c": 1}, {"c": 2}]}, "x.y": "literal"});
        assert_eq!(data_get(&p, "a.b.1.c"), Some(&json!(2)));
        assert_eq!(data_get(&p, "x.y"), Some(&json!("literal")));
        assert_eq!(data_get(&p, "a.b.9.c"), None);
        assert_eq!(data_get(&p, "a.z"), None);
    }

    #[test]
    fn applies_types_and_splits_full_names() {
        let m = mapping(&[
            ("person.name", "full_name"),
            ("labels", "tags"),
            ("phone", "phone_number"),
        ]);
        let p = json!({"person": {"name": "Ada  King Lovelace"}, "labels": "a, b,,c", "phone": 15551234567u64});
        let r = apply(Module::Contact, &m, &p).unwrap();
        assert_eq!(r.text("firstname"), Some("Ada"));
        assert_eq!(r.text("lastname"), Some("King Lovelace"));
        assert_eq!(r.text("phone_number"), Some("15551234567"));
        assert_eq!(
            r.values.get("tags"),
            Some(&FieldValue::List(vec!["a".into(), "b".into(), "c".into()]))
        );
        assert_eq!(r.path_of("lastname"), "person.name");
    }

    #[test]
    fn reports_every_bad_value_by_its_payload_path() {
        let m = mapping(&[("deal.amount", "amount"), ("deal.p", "probability")]);
        let p = json!({"deal": {"amount": "lots", "p": 12.5}});
        let status: tonic::Status = apply(Module::Opportunity, &m, &p).unwrap_err().into();
        assert!(status.message().contains("deal.amount"), "{status:?}");
    }

    #[test]
    fn a_mapping_names_the_unknown_target() {
        let e: tonic::Status = validate(Module::Contact, &mapping(&[("company", "company_name")]))
            .unwrap_err()
            .into();
        assert!(e.message().contains("field_mapping.company"), "{e:?}");
        assert!(validate(Module::Opportunity, &mapping(&[("t", "title")])).is_ok());
        assert!(validate(Module::Contact, &mapping(&[("t", "title")])).is_err());
    }
}
