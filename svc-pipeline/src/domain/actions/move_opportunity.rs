//! `move_opportunity` {opportunity_id, stage_id}: moves an opportunity of the workspace to
//! another stage of its pipeline through the move path (history row, activity, events).

use super::{
    ActionContext, ActionHandler,
    config::{Configuration, blame, failed, ours},
};
use crate::domain::opportunities;
use crate::store::{db_error, opportunities as store};
use crm_platform::error::ApiError;
use serde_json::{Value, json};
use tonic::Code;

/// The `move_opportunity` action.
pub struct MoveOpportunity;

const ID_MAX: usize = 100;

#[tonic::async_trait]
impl ActionHandler for MoveOpportunity {
    fn action_type(&self) -> &'static str {
        "move_opportunity"
    }

    fn check(&self, config: &Configuration) -> Result<(), ApiError> {
        config.required_str("opportunity_id", ID_MAX)?;
        config.required_str("stage_id", ID_MAX).map(|_| ())
    }

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        config: &Configuration,
    ) -> Result<Value, ApiError> {
        let id = config.required_str("opportunity_id", ID_MAX)?;
        let stage_id = config.required_str("stage_id", ID_MAX)?;
        let not_found = || failed("opportunity_id", "no such opportunity in this workspace");
        let before = store::find(&ctx.state.db, ctx.workspace_id, id)
            .await
            .map_err(|e| ours(db_error("find opportunity")(e)))?
            .filter(|o| o.archived_at.is_none())
            .ok_or_else(not_found)?;
        let (view, _) =
            opportunities::move_to(ctx.state, ctx.workspace_id, ctx.actor, id, stage_id)
                .await
                .map_err(|status| match status.code() {
                    // Archived or gone since the read above.
                    Code::NotFound => not_found(),
                    _ => blame("stage_id")(status),
                })?;
        Ok(json!({
            "opportunity_id": view.opportunity.id,
            "from_stage_id": before.stage_id,
            "stage_id": view.opportunity.stage_id,
            "moved": before.stage_id != view.opportunity.stage_id,
            "contact_id": ctx.contact.id,
        }))
    }
}
