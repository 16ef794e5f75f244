//! An action's `configuration` (a free JSON object) read field by field, each mistake a 400
//! naming `configuration.<field>`.

use crm_platform::error::ApiError;
use serde_json::{Map, Value};
use tonic::{Code, Status};

/// The `configuration` object of one execute request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Configuration(pub Map<String, Value>);

/// `configuration.<key>`, the name errors use.
pub fn field(key: &str) -> String {
    format!("configuration.{key}")
}

impl Configuration {
    /// A string the action needs: present, a string, not blank, at most `max` characters.
    pub fn required_str(&self, key: &str, max: usize) -> Result<&str, ApiError> {
        match self.optional_str(key, max)? {
            Some(v) => Ok(v),
            None => Err(ApiError::invalid_field(&field(key), "is required")),
        }
    }

    /// A string the action may take: absent, null and blank are all "not given".
    pub fn optional_str(&self, key: &str, max: usize) -> Result<Option<&str>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if s.trim().chars().count() > max => Err(
                ApiError::invalid_field(&field(key), format!("at most {max} characters")),
            ),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(_) => Err(ApiError::invalid_field(&field(key), "must be a string")),
        }
    }

    /// The raw value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

/// A failure of a reused domain path (the contact update, the opportunity move), blamed on
/// configuration field `key` when it is the caller's: a 400 naming the field. Our own
/// trouble (svc-auth away, the database) passes on with its code.
pub fn blame(key: &'static str) -> impl Fn(Status) -> ApiError {
    move |status| match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::OutOfRange => failed(key, status.message()),
        _ => ours(status),
    }
}

/// Our own trouble as the answer: svc-auth away stays a 503 saying to retry; anything else
/// (the database, logged where it happened) is the opaque internal error.
pub fn ours(status: Status) -> ApiError {
    match status.code() {
        Code::Unavailable => ApiError::new(
            Code::Unavailable,
            "SERVICE_UNAVAILABLE",
            status.message().to_owned(),
        ),
        _ => ApiError::internal(),
    }
}

/// A failure the action itself finds, naming configuration field `key`.
pub fn failed(key: &str, description: impl Into<String>) -> ApiError {
    let description = description.into();
    ApiError::new(
        Code::InvalidArgument,
        "ACTION_FAILED",
        format!("{}: {description}", field(key)),
    )
    .with_field(&field(key), description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value) -> Configuration {
        match v {
            Value::Object(map) => Configuration(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn strings_are_checked_and_named() {
        let c = config(json!({"a": " x ", "b": 3, "c": "", "d": "toolong"}));
        assert_eq!(c.required_str("a", 10).unwrap(), "x");
        let e = c.required_str("b", 10).unwrap_err().into_status();
        assert_eq!(e.message(), "configuration.b: must be a string");
        assert!(c.required_str("c", 10).is_err());
        assert_eq!(c.optional_str("c", 10).unwrap(), None);
        assert!(c.optional_str("d", 3).is_err());
        assert!(c.required_str("missing", 3).is_err());
    }

    #[test]
    fn domain_failures_are_blamed_on_a_field() {
        let e = blame("value")(Status::invalid_argument("email: not an email")).into_status();
        assert_eq!(e.code(), Code::InvalidArgument);
        let e = blame("value")(Status::internal("db")).into_status();
        assert_eq!(e.code(), Code::Internal);
    }
}
