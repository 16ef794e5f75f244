//! `google.protobuf.Struct` (how metadata travels) to and from the JSON text we store.

/// A protobuf `Struct` as the JSON object it stands for.
pub fn struct_to_json(s: prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .into_iter()
            .map(|(k, v)| (k, value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(v: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    use serde_json::Value as J;
    match v.kind {
        None | Some(Kind::NullValue(_)) => J::Null,
        Some(Kind::BoolValue(b)) => J::Bool(b),
        Some(Kind::StringValue(s)) => J::String(s),
        // Whole numbers stay whole in the stored text (JSON numbers in a Struct are doubles).
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => J::from(n as i64),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(n).map_or(J::Null, J::Number),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(l)) => J::Array(l.values.into_iter().map(value_to_json).collect()),
    }
}

/// A stored JSON object as a protobuf `Struct`; `None` if the text is not an object.
pub fn json_to_struct(text: &str) -> Option<prost_types::Struct> {
    match serde_json::from_str(text).ok()? {
        serde_json::Value::Object(map) => Some(object_to_struct(map)),
        _ => None,
    }
}

fn object_to_struct(map: serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map
            .into_iter()
            .map(|(k, v)| (k, json_to_value(v)))
            .collect(),
    }
}

fn json_to_value(v: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    use serde_json::Value as J;
    let kind = match v {
        J::Null => Kind::NullValue(0),
        J::Bool(b) => Kind::BoolValue(b),
        J::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        J::String(s) => Kind::StringValue(s),
        J::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(json_to_value).collect(),
        }),
        J::Object(o) => Kind::StructValue(object_to_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_survives_the_round_trip() {
        let text =
            r#"{"plan":"gold","seats":3,"ratio":0.5,"tags":["a",null,true],"nested":{"x":{}}}"#;
        let back = struct_to_json(json_to_struct(text).unwrap());
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
        assert!(
            back.to_string().contains(r#""seats":3,"#),
            "whole numbers stay whole"
        );
        assert!(json_to_struct("[1]").is_none());
    }
}
