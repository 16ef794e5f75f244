//! Errors as callers see them: the seed-004 envelope
//! `{"success": false, "error", "code", "details"}` for REST, a `Status` with the same
//! details for gRPC. Backend statuses map here, in one table, from their structured details.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use crm_platform::error::{BODY_FIELD_PREFIX, HTTP_STATUS_KEY};
use http::StatusCode;
use serde_json::{Map, Value, json};
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// An error on its way to a caller.
#[derive(Debug, Clone)]
pub struct GatewayError {
    /// gRPC code (the HTTP status derives from it).
    pub grpc: Code,
    /// Stable machine-readable reason.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
    /// The request field at fault, if one is.
    pub field: Option<String>,
    /// Extra facts (`expired_at`, `required_scope`, field violations...).
    pub details: Box<Map<String, Value>>,
    /// Fields the seed puts beside `error` (`opportunity_count`, `contact_id`), plus an HTTP
    /// status a backend chose; both rare, so boxed to keep the error small.
    pub extra: Option<Box<Extra>>,
}

/// The rarely used parts of an error.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Top-level body fields.
    pub body: Map<String, Value>,
    /// HTTP status chosen by the backend.
    pub http: Option<StatusCode>,
}

impl GatewayError {
    /// A new error.
    pub fn new(grpc: Code, code: &str, message: impl Into<String>) -> Self {
        Self {
            grpc,
            code: code.to_owned(),
            message: message.into(),
            field: None,
            details: Box::default(),
            extra: None,
        }
    }

    /// 400 about one field.
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(Code::InvalidArgument, "VALIDATION_ERROR", message);
        e.field = Some(field.to_owned());
        e.details
            .insert("field".into(), Value::String(field.to_owned()));
        e
    }

    /// 413: a request body over `max_bytes`. Built as a backend would send it, so it carries
    /// the same field violation and the chosen HTTP status over REST and gRPC alike.
    pub fn payload_too_large(max_bytes: usize) -> Self {
        Self::from_status(
            &crm_platform::error::ApiError::new(
                Code::InvalidArgument,
                "PAYLOAD_TOO_LARGE",
                format!("request body exceeds {max_bytes} bytes"),
            )
            .with_field("body", "too large")
            .with_meta(HTTP_STATUS_KEY, "413")
            .into_status(),
        )
    }

    /// 401.
    pub fn unauthenticated(code: &str, message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, code, message)
    }

    /// 403.
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, code, message)
    }

    /// 500 that says nothing about internals (the cause is logged by the caller).
    pub fn internal(log: impl Into<String>) -> Self {
        tracing::error!(cause = %log.into(), "gateway internal error");
        Self::new(
            Code::Internal,
            "INTERNAL_ERROR",
            "internal error; try again later",
        )
    }

    /// Adds a detail.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// Reads a backend status: reason and field violations from its details, never from
    /// the message text.
    pub fn from_status(status: &tonic::Status) -> Self {
        let details = status.get_error_details();
        let code = details
            .error_info()
            .map(|i| i.reason.clone())
            .unwrap_or_else(|| default_code(status.code()).to_owned());
        let mut e = Self::new(status.code(), &code, status.message());
        if let Some(info) = details.error_info() {
            for (k, v) in &info.metadata {
                if let Some(name) = k.strip_prefix(BODY_FIELD_PREFIX) {
                    let value =
                        serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()));
                    e.extra_mut().body.insert(name.to_owned(), value);
                } else if k == HTTP_STATUS_KEY {
                    e.extra_mut().http = v.parse().ok().and_then(|s| StatusCode::from_u16(s).ok());
                } else {
                    e.details.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        if let Some(bad) = details.bad_request() {
            let violations: Vec<Value> = bad
                .field_violations
                .iter()
                .map(|v| json!({"field": v.field, "description": v.description}))
                .collect();
            if let Some(first) = bad.field_violations.first() {
                e.field = Some(first.field.clone());
                e.details
                    .insert("field".into(), Value::String(first.field.clone()));
            }
            e.details
                .insert("field_violations".into(), Value::Array(violations));
        }
        if status.code() == Code::Internal || status.code() == Code::Unknown {
            e.message = "internal error; try again later".into();
        }
        e
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The HTTP status for this error.
    pub fn http_status(&self) -> StatusCode {
        self.extra
            .as_ref()
            .and_then(|x| x.http)
            .unwrap_or_else(|| http_status(self.grpc))
    }

    /// The same error as a gRPC status with structured details.
    pub fn to_status(&self) -> tonic::Status {
        let mut d = ErrorDetails::new();
        if let Some(field) = &self.field {
            d.add_bad_request_violation(field.clone(), self.message.clone());
        }
        let mut metadata: std::collections::HashMap<String, String> = self
            .details
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect();
        if let Some(extra) = &self.extra {
            for (k, v) in &extra.body {
                metadata.insert(format!("{BODY_FIELD_PREFIX}{k}"), v.to_string());
            }
            if let Some(http) = extra.http {
                metadata.insert(HTTP_STATUS_KEY.to_owned(), http.as_u16().to_string());
            }
        }
        d.set_error_info(
            self.code.clone(),
            crm_platform::error::ERROR_DOMAIN,
            metadata,
        );
        tonic::Status::with_error_details(self.grpc, self.message.clone(), d)
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.http_status();
        let mut body = json!({
            "success": false,
            "error": self.message,
            "message": self.message,
            "code": self.code,
            "details": Value::Object(*self.details),
        });
        if let (Some(extra), Value::Object(fields)) = (self.extra, &mut body) {
            for (k, v) in extra.body {
                fields.entry(k).or_insert(v);
            }
        }
        (status, Json(body)).into_response()
    }
}

/// gRPC code → HTTP status, as google.api's mapping.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Internal | Code::Unknown | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn default_code(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument | Code::OutOfRange => "VALIDATION_ERROR",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Unauthenticated => "UNAUTHORIZED",
        Code::PermissionDenied => "FORBIDDEN",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists | Code::Aborted => "CONFLICT",
        Code::ResourceExhausted => "RATE_LIMITED",
        Code::Unavailable => "SERVICE_UNAVAILABLE",
        Code::DeadlineExceeded => "TIMEOUT",
        Code::Unimplemented => "NOT_IMPLEMENTED",
        _ => "INTERNAL_ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_platform::error::ApiError;

    #[test]
    fn backend_field_errors_keep_their_field_and_reason() {
        let status = ApiError::invalid_field("name", "is required").into_status();
        let e = GatewayError::from_status(&status);
        assert_eq!(e.http_status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.code, "VALIDATION_ERROR");
        assert_eq!(e.field.as_deref(), Some("name"));
    }

    #[test]
    fn body_fields_go_top_level_and_in_use_is_409() {
        let status = ApiError::in_use("PIPELINE_IN_USE", "move them first")
            .with_body_field("opportunity_count", json!(12))
            .into_status();
        let e = GatewayError::from_status(&status);
        assert_eq!(e.http_status(), StatusCode::CONFLICT);
        let back = GatewayError::from_status(&e.to_status());
        assert_eq!(back.http_status(), StatusCode::CONFLICT);
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
    }

    #[test]
    fn internal_messages_never_leak() {
        let e =
            GatewayError::from_status(&tonic::Status::internal("db password wrong at 10.0.0.1"));
        assert_eq!(e.http_status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("10.0.0.1"));
    }
}
