//! One way to build a client-facing error: a gRPC code, a stable reason (`code` in the REST
//! body), a message saying what to do, and structured details (field violations, metadata)
//! carried as `google.rpc` status details so the gateway never parses message strings.

use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `domain` of every `ErrorInfo` we emit.
pub const ERROR_DOMAIN: &str = "crm";

/// `ErrorInfo` metadata keys with this prefix carry a JSON value the gateway puts at the top
/// level of the REST error body (the seeds' `opportunity_count`, `contact_id`).
pub const BODY_FIELD_PREFIX: &str = "body.";

/// `ErrorInfo` metadata key overriding the HTTP status the gateway derives from the gRPC code,
/// for the few seed errors whose HTTP status has no gRPC code of its own (a 409 for "still in
/// use", which gRPC calls `FAILED_PRECONDITION`).
pub const HTTP_STATUS_KEY: &str = "http_status";

/// A client-facing error under construction.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: Code,
    reason: &'static str,
    message: String,
    fields: Vec<(String, String)>,
    metadata: HashMap<String, String>,
}

impl ApiError {
    /// An error with the given gRPC code, stable reason and message.
    pub fn new(code: Code, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            fields: Vec::new(),
            metadata: HashMap::new(),
        }
    }

    /// Bad input in one field: `INVALID_ARGUMENT` / `VALIDATION_ERROR`, the field named.
    pub fn invalid_field(field: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        Self::new(
            Code::InvalidArgument,
            "VALIDATION_ERROR",
            format!("{field}: {description}"),
        )
        .with_field(field, description)
    }

    /// The thing asked for does not exist in the caller's workspace.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            Code::NotFound,
            "NOT_FOUND",
            format!("{what} '{id}' not found"),
        )
    }

    /// A unique value is already taken.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(Code::AlreadyExists, "CONFLICT", message)
    }

    /// The caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, "FORBIDDEN", message)
    }

    /// The caller is not authenticated.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, "UNAUTHORIZED", message)
    }

    /// Something broke on our side; the cause is logged where it happened, never sent.
    pub fn internal() -> Self {
        Self::new(
            Code::Internal,
            "INTERNAL_ERROR",
            "internal error; try again later",
        )
    }

    /// Adds a field violation.
    pub fn with_field(mut self, field: &str, description: impl Into<String>) -> Self {
        self.fields.push((field.to_owned(), description.into()));
        self
    }

    /// Adds a metadata entry (shown under `details` in the REST body).
    pub fn with_meta(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a field to the top level of the REST error body, e.g. `opportunity_count`.
    pub fn with_body_field(mut self, key: &str, value: serde_json::Value) -> Self {
        self.metadata
            .insert(format!("{BODY_FIELD_PREFIX}{key}"), value.to_string());
        self
    }

    /// The resource is still in use (`FAILED_PRECONDITION` over gRPC, 409 over REST).
    pub fn in_use(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, reason, message).with_meta(HTTP_STATUS_KEY, "409")
    }

    /// The status to return.
    pub fn into_status(self) -> Status {
        let mut details = ErrorDetails::new();
        for (field, description) in &self.fields {
            details.add_bad_request_violation(field.clone(), description.clone());
        }
        details.set_error_info(self.reason, ERROR_DOMAIN, self.metadata);
        Status::with_error_details(self.code, self.message, details)
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        e.into_status()
    }
}

/// Logs a storage failure where it happened and returns the opaque internal error.
pub fn internal(context: &'static str, err: impl std::fmt::Display) -> Status {
    tracing::error!(error = %err, context, "internal error");
    ApiError::internal().into_status()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_violation_travels_in_details() {
        let status = ApiError::invalid_field("name", "is required").into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "name");
        assert_eq!(details.error_info().unwrap().reason, "VALIDATION_ERROR");
    }
}
