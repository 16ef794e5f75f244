//! Comparing an answer with the model's, naming the first field that differs.

use serde_json::Value;

/// Asserts `actual` equals `expected`: numbers compared as numbers (days within 0.1, the
/// rounding step, since SQLite's and the test's float sums may round a .x5 differently).
pub fn assert_matches(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (key, ev) in e {
                let av = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key} missing in {actual}"));
                assert_matches(av, ev, &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: {actual} vs expected {expected}");
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                assert_matches(av, ev, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
            let tolerance = if path.ends_with("_days") {
                0.100_001
            } else {
                0.0
            };
            assert!((a - e).abs() <= tolerance, "{path}: {a} but expected {e}");
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}
