//! svc-metrics's errors, mapped to `tonic::Status` in one place ([`From`] below). Client
//! mistakes keep their message and name their field; storage failures are logged here and
//! leave as an opaque internal error.

use crm_platform::error::{ApiError, internal};
use tonic::{Code, Status};

/// What can go wrong in svc-metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A field holds a value we do not accept.
    #[error("{field} {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// The query's `workspace_id` is not the caller's workspace.
    #[error(
        "workspace_id must be your own workspace (or left out); a key or token reads its own workspace only"
    )]
    ForeignWorkspace,
    /// No such pipeline in the caller's workspace.
    #[error("pipeline '{0}' not found in this workspace; list pipelines for valid ids")]
    PipelineNotFound(String),
    /// No such stage in the caller's workspace (or in the pipeline asked for).
    #[error("stage '{0}' not found in this workspace's pipeline; list stages for valid ids")]
    StageNotFound(String),
    /// The workspace's settings (timezone, currency) could not be read.
    #[error("workspace settings are unavailable; retry shortly")]
    Profile(Status),
    /// svc-auth's answer to a key or client lookup made as the caller (its not-found and
    /// permission errors are the caller's answer, passed on unchanged).
    #[error("{}", .0.message())]
    Auth(Status),
    /// Only our own services may call this RPC.
    #[error("internal RPC: only our own services may call it")]
    NotAService,
    /// A database error (logged where it is mapped; never shown).
    #[error("database error while {context}: {source}")]
    Db {
        context: &'static str,
        source: sea_orm::DbErr,
    },
}

impl MetricsError {
    /// Bad input in `field`; `message` completes the sentence ("must be YYYY-MM-DD").
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            message: message.into(),
        }
    }

    /// Wraps a database error with what was being done.
    pub fn db(context: &'static str) -> impl FnOnce(sea_orm::DbErr) -> Self {
        move |source| Self::Db { context, source }
    }
}

impl From<MetricsError> for Status {
    fn from(e: MetricsError) -> Self {
        let message = e.to_string();
        match e {
            MetricsError::InvalidField {
                field,
                message: what,
            } => ApiError::new(Code::InvalidArgument, "VALIDATION_ERROR", message)
                .with_field(field, what)
                .into(),
            MetricsError::ForeignWorkspace => ApiError::forbidden(message)
                .with_field("workspace_id", "is not the caller's workspace")
                .into(),
            MetricsError::PipelineNotFound(_) | MetricsError::StageNotFound(_) => {
                ApiError::new(Code::NotFound, "NOT_FOUND", message).into()
            }
            MetricsError::Profile(status) => {
                tracing::warn!(error = %status.message(), "workspace profile lookup failed");
                ApiError::new(Code::Unavailable, "WORKSPACE_UNAVAILABLE", message).into()
            }
            MetricsError::Auth(status) => status,
            MetricsError::NotAService => ApiError::forbidden(message).into(),
            MetricsError::Db { context, source } => internal(context, source),
        }
    }
}
