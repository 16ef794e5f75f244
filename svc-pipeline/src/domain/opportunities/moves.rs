//! Moving opportunities between the stages of their pipeline: one at a time (the move
//! endpoint, idempotent when the stage is already the target) or every opportunity of a stage
//! being deleted. A move recomputes the closing state, and leaves a history row, an activity
//! and its events.

use super::{
    OpportunityView, get,
    history::{activity, history_row, summary},
    locked,
};
use crate::domain::{PipelineState, events::emit, input, now};
use crate::store::{
    db_error,
    entities::{opportunities as o, opportunity_history as h, stages as s},
    opportunities as store, stages as stage_store,
};
use chrono::{DateTime, Utc};
use crm_platform::error::ApiError;
use sea_orm::{DatabaseTransaction, Set, TransactionTrait};
use serde_json::json;
use tonic::Status;

/// Closing state an opportunity takes on entering `stage`.
pub(super) fn closing(
    stage: &s::Model,
    current: Option<&o::Model>,
    at: DateTime<Utc>,
) -> (bool, Option<bool>, Option<DateTime<Utc>>) {
    let won = if stage.is_won_stage {
        Some(true)
    } else if stage.is_lost_stage {
        Some(false)
    } else {
        return (false, None, None);
    };
    let closed_at = match current {
        Some(c) if c.is_closed && c.is_won == won => c.closed_at.or(Some(at)),
        _ => Some(at),
    };
    (true, won, closed_at)
}

/// Moves to another stage of the same pipeline; returns the opportunity and the history row
/// (moving to the stage it is already in changes nothing and returns the last move, so a
/// retried request is harmless).
pub async fn move_to(
    state: &PipelineState,
    workspace_id: &str,
    actor: &str,
    id: &str,
    stage_id: &str,
) -> Result<(OpportunityView, Option<h::Model>), Status> {
    if stage_id.trim().is_empty() {
        return Err(ApiError::invalid_field("stage_id", "is required").into());
    }
    let stage_id = input::id("stage_id", stage_id)?;
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    let current = locked(&txn, workspace_id, id).await?;
    let target = stage_store::find(&txn, workspace_id, &stage_id)
        .await
        .map_err(db_error("reading stage"))?
        .ok_or_else(|| ApiError::invalid_field("stage_id", "no such stage in this workspace"))?;
    if target.pipeline_id != current.pipeline_id {
        return Err(ApiError::invalid_field(
            "stage_id",
            "must be a stage of the opportunity's pipeline",
        )
        .into());
    }
    if target.id == current.stage_id {
        let last = store::last_change(&txn, workspace_id, id, "stage_id")
            .await
            .map_err(db_error("reading history"))?;
        txn.commit().await.map_err(db_error("commit"))?;
        return Ok((get(state, workspace_id, id).await?, last));
    }
    let moved = apply_move(&txn, &current, &target, actor, now()).await?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    Ok((get(state, workspace_id, id).await?, Some(moved)))
}

/// Moves one opportunity inside `txn`: row, history, activity and events.
async fn apply_move(
    txn: &DatabaseTransaction,
    current: &o::Model,
    target: &s::Model,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<h::Model, Status> {
    let (is_closed, is_won, closed_at) = closing(target, Some(current), at);
    let mut model: o::ActiveModel = current.clone().into();
    model.stage_id = Set(target.id.clone());
    model.probability = Set(target.default_probability);
    model.is_closed = Set(is_closed);
    model.is_won = Set(is_won);
    model.closed_at = Set(closed_at);
    model.updated_at = Set(at);
    let updated = store::save(txn, model)
        .await
        .map_err(db_error("moving opportunity"))?;
    let history = history_row(
        current,
        "stage_id",
        Some(current.stage_id.clone()),
        Some(target.id.clone()),
        actor,
        at,
    );
    let history_model = h::Model {
        id: history.id.clone().unwrap(),
        workspace_id: current.workspace_id.clone(),
        opportunity_id: current.id.clone(),
        field_changed: "stage_id".into(),
        old_value: Some(current.stage_id.clone()),
        new_value: Some(target.id.clone()),
        changed_by: actor.to_owned(),
        changed_at: at,
    };
    store::add_history(txn, vec![history])
        .await
        .map_err(db_error("writing history"))?;
    store::add_activities(
        txn,
        vec![activity(
            &updated,
            "stage_changed",
            format!("Moved to stage '{}'", target.name),
            actor,
            at,
        )],
    )
    .await
    .map_err(db_error("writing activity"))?;
    let mut payload = summary(&updated, actor);
    payload["old_stage_id"] = json!(current.stage_id);
    payload["new_stage_id"] = json!(target.id);
    payload["stage_name"] = json!(target.name);
    let ws = current.workspace_id.as_str();
    emit(
        txn,
        ws,
        "opportunity.stage_changed",
        "opportunity",
        &current.id,
        payload.clone(),
    )
    .await
    .map_err(db_error("recording event"))?;
    let outcome = match (current.is_closed, is_closed, is_won) {
        (_, true, Some(true)) if current.is_won != Some(true) => Some("opportunity.won"),
        (_, true, Some(false)) if current.is_won != Some(false) => Some("opportunity.lost"),
        (true, false, _) => Some("opportunity.reopened"),
        _ => None,
    };
    if let Some(event) = outcome {
        emit(txn, ws, event, "opportunity", &current.id, payload)
            .await
            .map_err(db_error("recording event"))?;
    }
    Ok(history_model)
}

/// Moves every live opportunity of `from` into `to` (stage deletion with `moveToStageId`),
/// inside the caller's transaction; returns how many moved.
pub async fn move_all(
    txn: &DatabaseTransaction,
    workspace_id: &str,
    from: &s::Model,
    to: &s::Model,
    actor: &str,
) -> Result<u64, Status> {
    let rows = store::in_stage(txn, workspace_id, &from.id)
        .await
        .map_err(db_error("reading opportunities"))?;
    let at = now();
    for row in &rows {
        apply_move(txn, row, to, actor, at).await?;
    }
    Ok(rows.len() as u64)
}
