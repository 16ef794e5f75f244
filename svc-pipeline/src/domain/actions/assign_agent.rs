//! `assign_agent` {agent_id}: assigns the contact to a member of the workspace through the
//! contact update path, which asks svc-auth (CheckMembership) whether the agent is one.

use super::{
    ActionContext, ActionHandler,
    config::{Configuration, blame},
};
use crate::domain::contacts::{self, ContactChanges};
use crm_platform::error::ApiError;
use serde_json::{Value, json};

/// The `assign_agent` action.
pub struct AssignAgent;

#[tonic::async_trait]
impl ActionHandler for AssignAgent {
    fn action_type(&self) -> &'static str {
        "assign_agent"
    }

    fn check(&self, config: &Configuration) -> Result<(), ApiError> {
        config.required_str("agent_id", 100).map(|_| ())
    }

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        config: &Configuration,
    ) -> Result<Value, ApiError> {
        let agent_id = config.required_str("agent_id", 100)?;
        let changes = ContactChanges {
            assigned_to: Some(agent_id.to_owned()),
            ..Default::default()
        };
        let updated = contacts::update(ctx.state, ctx.workspace_id, &ctx.contact.id, changes)
            .await
            .map_err(blame("agent_id"))?;
        Ok(json!({
            "assigned_to": updated.contact.assigned_to,
            "previous_assignee": ctx.contact.assigned_to,
            "contact_id": ctx.contact.id,
        }))
    }
}
