//! The product spec's request and answer examples (seeds 002-004), shown on the operations
//! they belong to. They live in `seed_examples.json`, keyed by `METHOD /path` as the spec
//! writes it; the `/api/v1/...` alias of a 004 path shows the same example.

use serde::Deserialize;
use serde_json::{Value, json};
use std::{collections::HashMap, sync::LazyLock};

/// One operation's examples, as the spec shows them.
#[derive(Debug, Deserialize)]
pub struct SeedExample {
    pub request: Option<Value>,
    pub response: Option<Value>,
}

static EXAMPLES: LazyLock<HashMap<String, SeedExample>> = LazyLock::new(|| {
    let raw: HashMap<String, SeedExample> =
        serde_json::from_str(include_str!("seed_examples.json")).expect("seed_examples.json");
    raw.into_iter()
        .map(|(key, example)| (normalize(&key), example))
        .collect()
});

/// Path variables renamed to `{}`, so `/stages/{id}` and `/stages/{stage_id}` match.
fn normalize(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut in_var = false;
    for c in key.chars() {
        match c {
            '{' => {
                in_var = true;
                out.push_str("{}");
            }
            '}' => in_var = false,
            _ if in_var => {}
            _ => out.push(c),
        }
    }
    out
}

/// The spec's examples for `method path`, trying the 004 path an `/api/v1` alias stands for.
pub fn lookup(method: &http::Method, path: &str) -> Option<&'static SeedExample> {
    let key = normalize(&format!("{method} {path}"));
    EXAMPLES.get(&key).or_else(|| {
        let rest = path.strip_prefix("/api/v1/")?;
        EXAMPLES.get(&normalize(&format!("{method} /api/{rest}")))
    })
}

/// A media type's `examples` map holding one example taken from the spec.
pub fn media_examples(value: &Value) -> Value {
    json!({"seed": {"summary": "As the product spec shows it", "value": value}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_parses_and_aliases_find_the_004_example() {
        assert!(EXAMPLES.len() > 20);
        let direct = lookup(&http::Method::POST, "/api/pipeline/pipelines").unwrap();
        let alias = lookup(&http::Method::POST, "/api/v1/pipeline/pipelines").unwrap();
        assert!(std::ptr::eq(direct, alias));
        assert!(lookup(&http::Method::PUT, "/api/pipeline/stages/{stage_id}").is_some());
        assert!(lookup(&http::Method::GET, "/api/nowhere").is_none());
    }
}
