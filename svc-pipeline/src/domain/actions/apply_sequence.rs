//! `apply_sequence` {sequence_id}: starts one of the workspace's sequences for the contact in
//! svc-messaging, as the caller (see [`super::messaging`]); the execution's id is the result,
//! svc-messaging's per-contact refusal (inactive sequence, already running...) the failure.

use super::{
    ActionContext, ActionHandler,
    config::{Configuration, failed, field},
    messaging::not_configured,
};
use crm_platform::error::ApiError;
use crm_proto::messaging::ApplySequenceRequest;
use serde_json::{Value, json};

/// The `apply_sequence` action.
pub struct ApplySequence;

fn sequence_id(config: &Configuration) -> Result<String, ApiError> {
    let raw = config.required_str("sequence_id", 64)?;
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| {
            ApiError::invalid_field(&field("sequence_id"), "must be a sequence's id (a UUID)")
        })
}

#[tonic::async_trait]
impl ActionHandler for ApplySequence {
    fn action_type(&self) -> &'static str {
        "apply_sequence"
    }

    fn check(&self, config: &Configuration) -> Result<(), ApiError> {
        sequence_id(config).map(|_| ())
    }

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        config: &Configuration,
    ) -> Result<Value, ApiError> {
        let client = ctx.state.messaging.as_ref().ok_or_else(not_configured)?;
        let sequence_id = sequence_id(config)?;
        let answer = client
            .apply_sequence(
                ctx.caller,
                ApplySequenceRequest {
                    workspace_id: ctx.workspace_id.to_owned(),
                    id: sequence_id.clone(),
                    contact_ids: vec![ctx.contact.id.clone()],
                },
            )
            .await?;
        if let Some(started) = answer.succeeded.into_iter().next() {
            return Ok(json!({
                "execution_id": started.execution_id,
                "sequence_id": sequence_id,
                "contact_id": ctx.contact.id,
            }));
        }
        let reason = answer
            .failed
            .into_iter()
            .next()
            .map(|f| f.error)
            .unwrap_or_else(|| "the sequence was not started".to_owned());
        Err(failed("sequence_id", reason))
    }
}
