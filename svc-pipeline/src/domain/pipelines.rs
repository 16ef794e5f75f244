//! Pipelines: a workspace's sales processes. Each has ordered stages; one pipeline per
//! workspace is the default; deleting deactivates, and is refused while opportunities remain.

use super::{PipelineState, events::emit, input, new_id, now, stages::StageView};
use crate::store::{
    db_error,
    entities::{pipelines as p, stages as s},
    pipelines as store, stages as stage_store,
};
use crm_platform::error::ApiError;
use sea_orm::{Set, TransactionTrait};
use serde_json::json;
use tonic::Status;

/// A pipeline with its stages and live-opportunity figures.
#[derive(Clone, Debug)]
pub struct PipelineView {
    pub pipeline: p::Model,
    pub stages: Vec<StageView>,
    pub opportunity_count: i64,
    /// Summed amounts of its stages, in minor units (an `i128`, as [`Figures`] explains).
    ///
    /// [`Figures`]: crate::store::stages::Figures
    pub total_cents: i128,
}

/// A stage given when creating a pipeline.
#[derive(Clone, Debug, Default)]
pub struct StageSpec {
    pub name: String,
    pub description: Option<String>,
    pub color: Option<String>,
    pub default_probability: Option<i32>,
    pub is_won_stage: bool,
    pub is_lost_stage: bool,
}

/// A new pipeline.
#[derive(Clone, Debug, Default)]
pub struct NewPipeline {
    pub name: String,
    pub description: Option<String>,
    pub stages: Vec<StageSpec>,
    pub is_default: bool,
}

/// Changes to a pipeline; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct PipelineChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_active: Option<bool>,
    pub is_default: Option<bool>,
}

/// The stages a pipeline gets when none are given (seed 004).
fn default_stages() -> Vec<StageSpec> {
    [
        ("New", "#4299E1", 10, false),
        ("Pending", "#F6AD55", 50, false),
        ("Done", "#48BB78", 90, true),
    ]
    .into_iter()
    .map(|(name, color, probability, won)| StageSpec {
        name: name.into(),
        color: Some(color.into()),
        default_probability: Some(probability),
        is_won_stage: won,
        ..Default::default()
    })
    .collect()
}

/// Pipelines of the workspace with stages and figures, in three queries.
pub async fn list(
    state: &PipelineState,
    workspace_id: &str,
    include_inactive: bool,
) -> Result<Vec<PipelineView>, Status> {
    let pipelines = store::list(&state.db, workspace_id, include_inactive)
        .await
        .map_err(db_error("listing pipelines"))?;
    assemble(state, workspace_id, pipelines).await
}

/// One pipeline with stages and figures.
pub async fn get(
    state: &PipelineState,
    workspace_id: &str,
    id: &str,
) -> Result<PipelineView, Status> {
    let pipeline = store::find(&state.db, workspace_id, id)
        .await
        .map_err(db_error("reading pipeline"))?
        .ok_or_else(|| ApiError::not_found("pipeline", id))?;
    let mut views = assemble(state, workspace_id, vec![pipeline]).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::not_found("pipeline", id).into())
}

async fn assemble(
    state: &PipelineState,
    workspace_id: &str,
    pipelines: Vec<p::Model>,
) -> Result<Vec<PipelineView>, Status> {
    let ids: Vec<String> = pipelines.iter().map(|p| p.id.clone()).collect();
    let stages = stage_store::of_pipelines(&state.db, workspace_id, &ids)
        .await
        .map_err(db_error("listing stages"))?;
    let stage_ids: Vec<String> = stages.iter().map(|s| s.id.clone()).collect();
    let figures = stage_store::figures(&state.db, workspace_id, &stage_ids)
        .await
        .map_err(db_error("counting opportunities"))?;
    Ok(pipelines
        .into_iter()
        .map(|pipeline| {
            let stages: Vec<StageView> = stages
                .iter()
                .filter(|s| s.pipeline_id == pipeline.id)
                .map(|s| StageView::new(s.clone(), &pipeline, figures.get(&s.id).copied()))
                .collect();
            PipelineView {
                opportunity_count: stages.iter().map(|s| s.figures.count).sum(),
                total_cents: stages.iter().map(|s| s.figures.total_cents).sum(),
                pipeline,
                stages,
            }
        })
        .collect())
}

/// Creates a pipeline with its stages (New / Pending / Done when none are given). The first
/// pipeline of a workspace becomes its default.
pub async fn create(
    state: &PipelineState,
    workspace_id: &str,
    actor: &str,
    input: NewPipeline,
) -> Result<PipelineView, Status> {
    let name = input::required("name", &input.name, 100)?;
    let description = input::optional("description", input.description.as_deref(), 2000)?;
    let specs = if input.stages.is_empty() {
        default_stages()
    } else {
        input.stages
    };
    if specs.len() > 50 {
        return Err(ApiError::invalid_field("stages", "at most 50 stages").into());
    }
    let mut stage_rows = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let field = |f: &str| format!("stages[{i}].{f}");
        stage_rows.push(super::stages::validated(
            &field,
            super::stages::StageFields {
                name: Some(spec.name),
                description: spec.description,
                color: spec.color,
                default_probability: spec.default_probability,
                is_won_stage: Some(spec.is_won_stage),
                is_lost_stage: Some(spec.is_lost_stage),
            },
        )?);
    }
    let at = now();
    let id = new_id();
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    // The insert comes first: on SQLite a transaction must write before it reads, or two
    // writers can deadlock upgrading their locks.
    let mut pipeline = store::save(
        &txn,
        p::ActiveModel {
            id: Set(id.clone()),
            workspace_id: Set(workspace_id.to_owned()),
            name: Set(name),
            description: Set(description),
            is_default: Set(false),
            is_active: Set(true),
            created_by: Set(actor.to_owned()),
            created_at: Set(at),
            updated_at: Set(at),
            deleted_at: Set(None),
        },
    )
    .await
    .map_err(db_error("inserting pipeline"))?;
    let make_default = input.is_default
        || !store::has_default(&txn, workspace_id)
            .await
            .map_err(db_error("reading default pipeline"))?;
    if make_default {
        store::clear_default(&txn, workspace_id)
            .await
            .map_err(db_error("clearing default pipeline"))?;
        let mut model: p::ActiveModel = pipeline.into();
        model.is_default = Set(true);
        pipeline = store::save(&txn, model).await.map_err(|e| {
            if crate::store::is_unique_violation(&e) {
                ApiError::new(
                    tonic::Code::Aborted,
                    "CONCURRENT_CHANGE",
                    "another pipeline became the default at the same moment; retry the request",
                )
                .into()
            } else {
                db_error("setting default pipeline")(e)
            }
        })?;
    }
    let mut stages = Vec::with_capacity(stage_rows.len());
    for (i, fields) in stage_rows.into_iter().enumerate() {
        let stage = stage_store::save(
            &txn,
            s::ActiveModel {
                id: Set(new_id()),
                workspace_id: Set(workspace_id.to_owned()),
                pipeline_id: Set(id.clone()),
                name: Set(fields.name),
                description: Set(fields.description),
                position: Set(i as i32 + 1),
                color: Set(fields.color),
                default_probability: Set(fields.default_probability),
                is_won_stage: Set(fields.is_won_stage),
                is_lost_stage: Set(fields.is_lost_stage),
                created_by: Set(actor.to_owned()),
                created_at: Set(at),
                updated_at: Set(at),
            },
        )
        .await
        .map_err(db_error("inserting stage"))?;
        stages.push(StageView::new(stage, &pipeline, None));
    }
    emit(
        &txn,
        workspace_id,
        "pipeline.created",
        "pipeline",
        &id,
        json!({"id": id, "name": pipeline.name, "is_default": make_default,
               "stages": stages.iter().map(|s| json!({"id": s.stage.id, "name": s.stage.name, "position": s.stage.position})).collect::<Vec<_>>(),
               "created_by": actor}),
    )
    .await
    .map_err(db_error("recording event"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    Ok(PipelineView {
        pipeline,
        stages,
        opportunity_count: 0,
        total_cents: 0,
    })
}

/// Updates name, description, active flag or default flag.
pub async fn update(
    state: &PipelineState,
    workspace_id: &str,
    id: &str,
    changes: PipelineChanges,
) -> Result<PipelineView, Status> {
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    if !store::lock(&txn, workspace_id, id)
        .await
        .map_err(db_error("locking pipeline"))?
    {
        return Err(ApiError::not_found("pipeline", id).into());
    }
    let current = store::find(&txn, workspace_id, id)
        .await
        .map_err(db_error("reading pipeline"))?
        .ok_or_else(|| ApiError::not_found("pipeline", id))?;
    let mut model: p::ActiveModel = current.clone().into();
    if let Some(name) = &changes.name {
        model.name = Set(input::required("name", name, 100)?);
    }
    if let Some(description) = &changes.description {
        model.description = Set(input::optional("description", Some(description), 2000)?);
    }
    if let Some(active) = changes.is_active {
        model.is_active = Set(active);
    }
    match changes.is_default {
        Some(true) if !current.is_default => {
            store::clear_default(&txn, workspace_id)
                .await
                .map_err(db_error("clearing default pipeline"))?;
            model.is_default = Set(true);
        }
        Some(false) if current.is_default => {
            return Err(ApiError::invalid_field(
                "is_default",
                "a workspace always has a default pipeline: make another pipeline the default instead",
            )
            .into());
        }
        _ => {}
    }
    model.updated_at = Set(now());
    let updated = store::save(&txn, model)
        .await
        .map_err(db_error("updating pipeline"))?;
    emit(
        &txn,
        workspace_id,
        "pipeline.updated",
        "pipeline",
        id,
        json!({"id": id, "name": updated.name, "is_active": updated.is_active, "is_default": updated.is_default}),
    )
    .await
    .map_err(db_error("recording event"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    get(state, workspace_id, id).await
}

/// Deactivates a pipeline that holds no live opportunities; returns its name.
pub async fn delete(state: &PipelineState, workspace_id: &str, id: &str) -> Result<String, Status> {
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    if !store::lock(&txn, workspace_id, id)
        .await
        .map_err(db_error("locking pipeline"))?
    {
        return Err(ApiError::not_found("pipeline", id).into());
    }
    let current = store::find(&txn, workspace_id, id)
        .await
        .map_err(db_error("reading pipeline"))?
        .ok_or_else(|| ApiError::not_found("pipeline", id))?;
    let stages = stage_store::of_pipelines(&txn, workspace_id, &[id.to_owned()])
        .await
        .map_err(db_error("listing stages"))?;
    let stage_ids: Vec<String> = stages.into_iter().map(|s| s.id).collect();
    let live: i64 = stage_store::figures(&txn, workspace_id, &stage_ids)
        .await
        .map_err(db_error("counting opportunities"))?
        .values()
        .map(|f| f.count)
        .sum();
    if live > 0 {
        return Err(ApiError::in_use(
            "PIPELINE_HAS_OPPORTUNITIES",
            format!(
                "Cannot delete pipeline with active opportunities. Move or delete {live} opportunities first."
            ),
        )
        .with_body_field("opportunity_count", json!(live))
        .into());
    }
    let at = now();
    let name = current.name.clone();
    let mut model: p::ActiveModel = current.into();
    model.is_active = Set(false);
    model.is_default = Set(false);
    model.deleted_at = Set(Some(at));
    model.updated_at = Set(at);
    store::save(&txn, model)
        .await
        .map_err(db_error("deactivating pipeline"))?;
    emit(
        &txn,
        workspace_id,
        "pipeline.deleted",
        "pipeline",
        id,
        json!({"id": id, "name": name}),
    )
    .await
    .map_err(db_error("recording event"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    Ok(name)
}
