//! svc-messaging's errors, mapped to `tonic::Status` in one place ([`From`] below). Client
//! mistakes keep their message and name their field; storage failures are logged here and
//! leave as an opaque internal error.

use crm_platform::error::{ApiError, HTTP_STATUS_KEY, internal};
use tonic::{Code, Status};

/// What can go wrong in svc-messaging.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// Required fields were not sent (or were blank).
    #[error("Missing required fields: {}", .0.join(", "))]
    Missing(Vec<&'static str>),
    /// A field holds a value we do not accept.
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// The body's `workspaceId` is not the caller's workspace.
    #[error("workspaceId must be your own workspace; a key or token acts in its workspace only")]
    ForeignWorkspace,
    /// No such contact in the caller's workspace.
    #[error("contact '{0}' not found in this workspace; create it first or check contactId")]
    ContactNotFound(String),
    /// No such message job in the caller's workspace.
    #[error("message job '{0}' not found")]
    JobNotFound(String),
    /// The job is no longer pending, so it cannot be cancelled.
    #[error("message job '{id}' is {status} and can no longer be cancelled; only pending jobs can")]
    NotPending { id: String, status: String },
    /// No such sequence in the caller's workspace.
    #[error("sequence '{0}' not found")]
    SequenceNotFound(String),
    /// No such sequence execution in the caller's workspace.
    #[error("sequence execution '{0}' not found")]
    ExecutionNotFound(String),
    /// The sequence is inactive, so it cannot be applied.
    #[error("sequence '{0}' is inactive; set its status to active to apply it")]
    SequenceInactive(String),
    /// The execution already ended.
    #[error("sequence execution '{id}' is {status}; only active executions can be cancelled")]
    ExecutionNotActive { id: String, status: String },
    /// svc-pipeline refused or failed the contact check; its answer is passed on.
    #[error("checking the contact: {0}")]
    Contacts(Status),
    /// A provider callback arrived, but that provider is not configured here.
    #[error("delivery reports of this provider are not taken here: SMS does not go through it")]
    CallbackNotConfigured,
    /// A provider callback whose signature does not verify.
    #[error("the request's provider signature does not verify")]
    BadSignature,
    /// Reports on one message kept racing; the provider retries.
    #[error("the message is being updated by another report; retry")]
    Busy,
    /// svc-auth did not tell the workspace's timezone (a sequence's days need it).
    #[error("reading the workspace's settings: {0}")]
    Workspace(Status),
    /// A database error (logged where it is mapped; never shown).
    #[error("database error while {context}: {source}")]
    Db {
        context: &'static str,
        source: sea_orm::DbErr,
    },
}

impl MessagingError {
    /// Wraps a database error with what was being done.
    pub fn db(context: &'static str) -> impl FnOnce(sea_orm::DbErr) -> Self {
        move |source| Self::Db { context, source }
    }
}

impl From<MessagingError> for Status {
    fn from(e: MessagingError) -> Self {
        let message = e.to_string();
        match e {
            MessagingError::Missing(fields) => {
                let mut error = ApiError::new(Code::InvalidArgument, "VALIDATION_ERROR", message);
                for field in fields {
                    error = error.with_field(field, "is required");
                }
                error.into()
            }
            MessagingError::InvalidField { field, message } => {
                ApiError::invalid_field(field, message).into()
            }
            MessagingError::ForeignWorkspace => ApiError::forbidden(message)
                .with_field("workspaceId", "is not the caller's workspace")
                .into(),
            MessagingError::ContactNotFound(_) => {
                ApiError::new(Code::NotFound, "CONTACT_NOT_FOUND", message).into()
            }
            MessagingError::JobNotFound(_) => {
                ApiError::new(Code::NotFound, "NOT_FOUND", message).into()
            }
            MessagingError::SequenceNotFound(_) | MessagingError::ExecutionNotFound(_) => {
                ApiError::new(Code::NotFound, "NOT_FOUND", message).into()
            }
            MessagingError::SequenceInactive(_) => {
                ApiError::new(Code::FailedPrecondition, "SEQUENCE_INACTIVE", message)
                    .with_meta(HTTP_STATUS_KEY, "409")
                    .into()
            }
            MessagingError::ExecutionNotActive { .. } => {
                ApiError::new(Code::FailedPrecondition, "EXECUTION_NOT_ACTIVE", message)
                    .with_meta(HTTP_STATUS_KEY, "409")
                    .into()
            }
            MessagingError::NotPending { .. } => {
                ApiError::new(Code::FailedPrecondition, "MESSAGE_NOT_PENDING", message)
                    .with_meta(HTTP_STATUS_KEY, "409")
                    .into()
            }
            MessagingError::CallbackNotConfigured => {
                ApiError::new(Code::NotFound, "NOT_FOUND", message).into()
            }
            MessagingError::BadSignature => {
                ApiError::new(Code::PermissionDenied, "INVALID_SIGNATURE", message)
                    .with_field("x-twilio-signature", "does not verify")
                    .into()
            }
            MessagingError::Busy => ApiError::new(Code::Unavailable, "BUSY", message).into(),
            MessagingError::Workspace(status) => {
                tracing::warn!(error = %status.message(), "workspace lookup failed");
                ApiError::new(
                    Code::Unavailable,
                    "WORKSPACE_UNAVAILABLE",
                    "the workspace's timezone could not be read right now; try again shortly",
                )
                .into()
            }
            MessagingError::Contacts(status) => match status.code() {
                // The caller's own standing (a key without contacts:read) travels unchanged.
                Code::PermissionDenied | Code::Unauthenticated | Code::InvalidArgument => status,
                _ => {
                    tracing::warn!(error = %status.message(), "contact check failed");
                    ApiError::new(
                        Code::Unavailable,
                        "CONTACTS_UNAVAILABLE",
                        "the contact could not be checked right now; try again shortly",
                    )
                    .into()
                }
            },
            MessagingError::Db { context, source } => internal(context, source),
        }
    }
}
