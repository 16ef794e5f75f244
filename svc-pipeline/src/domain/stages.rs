//! Stages: the ordered steps of a pipeline. Positions are 1..n without gaps; every change to
//! them runs in one transaction holding the pipeline's lock, so concurrent inserts, moves and
//! deletes cannot leave holes or duplicates.

use super::{PipelineState, events::emit, input, new_id, now};
use crate::store::{
    db_error,
    entities::{pipelines as p, stages as s},
    pipelines as pipeline_store,
    stages::{self as store, Figures},
};
use crm_platform::error::ApiError;
use sea_orm::{Set, TransactionTrait};
use serde_json::json;
use tonic::Status;

/// Color of a stage created without one.
const DEFAULT_COLOR: &str = "#3B82F6";
/// Probability of a stage created without one.
const DEFAULT_PROBABILITY: i32 = 50;

/// A stage with its figures and its pipeline's name.
#[derive(Clone, Debug)]
pub struct StageView {
    pub stage: s::Model,
    pub figures: Figures,
    pub pipeline_name: String,
    pub pipeline_description: Option<String>,
}

impl StageView {
    /// Joins a stage with its pipeline and figures.
    pub fn new(stage: s::Model, pipeline: &p::Model, figures: Option<Figures>) -> Self {
        Self {
            stage,
            figures: figures.unwrap_or_default(),
            pipeline_name: pipeline.name.clone(),
            pipeline_description: pipeline.description.clone(),
        }
    }
}

/// Stage fields as given; `None` means "not given".
#[derive(Clone, Debug, Default)]
pub struct StageFields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub color: Option<String>,
    pub default_probability: Option<i32>,
    pub is_won_stage: Option<bool>,
    pub is_lost_stage: Option<bool>,
}

/// Stage fields validated, with defaults applied.
#[derive(Clone, Debug)]
pub struct ValidStage {
    pub name: String,
    pub description: Option<String>,
    pub color: String,
    pub default_probability: i32,
    pub is_won_stage: bool,
    pub is_lost_stage: bool,
}

/// Validates a new stage's fields; `field` turns a field name into the name errors report.
pub fn validated(field: &dyn Fn(&str) -> String, f: StageFields) -> Result<ValidStage, ApiError> {
    let stage = ValidStage {
        name: input::required(&field("name"), f.name.as_deref().unwrap_or(""), 100)?,
        description: input::optional(&field("description"), f.description.as_deref(), 2000)?,
        color: match f.color.as_deref() {
            None | Some("") => DEFAULT_COLOR.to_owned(),
            Some(c) => color(&field("color"), c)?,
        },
        default_probability: input::percent(
            &field("default_probability"),
            f.default_probability.unwrap_or(DEFAULT_PROBABILITY),
        )?,
        is_won_stage: f.is_won_stage.unwrap_or(false),
        is_lost_stage: f.is_lost_stage.unwrap_or(false),
    };
    if stage.is_won_stage && stage.is_lost_stage {
        return Err(ApiError::invalid_field(
            &field("is_lost_stage"),
            "a stage cannot be both won and lost",
        ));
    }
    Ok(stage)
}

/// `#RRGGBB`, normalized to upper case.
fn color(field: &str, raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim();
    let hex = raw.strip_prefix('#').unwrap_or("");
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::invalid_field(
            field,
            "must be a hex color like #3B82F6",
        ));
    }
    Ok(format!("#{}", hex.to_ascii_uppercase()))
}

/// Stages of live pipelines (or of one pipeline), ordered by pipeline and position.
pub async fn list(
    state: &PipelineState,
    workspace_id: &str,
    pipeline_id: Option<&str>,
) -> Result<Vec<StageView>, Status> {
    let pipelines = match pipeline_id {
        Some(id) => vec![
            pipeline_store::find(&state.db, workspace_id, id)
                .await
                .map_err(db_error("reading pipeline"))?
                .ok_or_else(|| ApiError::not_found("pipeline", id))?,
        ],
        None => pipeline_store::list(&state.db, workspace_id, true)
            .await
            .map_err(db_error("listing pipelines"))?,
    };
    let ids: Vec<String> = pipelines.iter().map(|p| p.id.clone()).collect();
    let stages = store::of_pipelines(&state.db, workspace_id, &ids)
        .await
        .map_err(db_error("listing stages"))?;
    let stage_ids: Vec<String> = stages.iter().map(|s| s.id.clone()).collect();
    let figures = store::figures(&state.db, workspace_id, &stage_ids)
        .await
        .map_err(db_error("counting opportunities"))?;
    Ok(pipelines
        .iter()
        .flat_map(|pipeline| {
            stages
                .iter()
                .filter(|s| s.pipeline_id == pipeline.id)
                .map(|s| StageView::new(s.clone(), pipeline, figures.get(&s.id).copied()))
                .collect::<Vec<_>>()
        })
        .collect())
}

/// One stage with figures.
pub async fn get(state: &PipelineState, workspace_id: &str, id: &str) -> Result<StageView, Status> {
    let stage = store::find(&state.db, workspace_id, id)
        .await
        .map_err(db_error("reading stage"))?
        .ok_or_else(|| ApiError::not_found("stage", id))?;
    let pipeline = pipeline_store::find(&state.db, workspace_id, &stage.pipeline_id)
        .await
        .map_err(db_error("reading pipeline"))?
        .ok_or_else(|| ApiError::not_found("stage", id))?;
    let figures = store::figures(&state.db, workspace_id, std::slice::from_ref(&stage.id))
        .await
        .map_err(db_error("counting opportunities"))?;
    let f = figures.get(&stage.id).copied();
    Ok(StageView::new(stage, &pipeline, f))
}

/// Inserts a stage at `position` (1..=n+1; appended when absent), shifting later ones down.
pub async fn create(
    state: &PipelineState,
    workspace_id: &str,
    actor: &str,
    pipeline_id: &str,
    position: Option<i32>,
    fields: StageFields,
) -> Result<StageView, Status> {
    if pipeline_id.trim().is_empty() {
        return Err(ApiError::invalid_field("pipeline_id", "is required").into());
    }
    let fields = validated(&|f: &str| f.to_owned(), fields)?;
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    if !pipeline_store::lock(&txn, workspace_id, pipeline_id)
        .await
        .map_err(db_error("locking pipeline"))?
    {
        return Err(
            ApiError::invalid_field("pipeline_id", "no such pipeline in this workspace").into(),
        );
    }
    let n = store::count(&txn, pipeline_id)
        .await
        .map_err(db_error("counting stages"))?;
    let position = match position {
        None => n + 1,
        Some(p) if (1..=n + 1).contains(&p) => p,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "position",
                format!("must be between 1 and {}", n + 1),
            )
            .into());
        }
    };
    store::shift(&txn, pipeline_id, position, n, 1)
        .await
        .map_err(db_error("shifting stages"))?;
    let at = now();
    let id = new_id();
    let stage = store::save(
        &txn,
        s::ActiveModel {
            id: Set(id.clone()),
            workspace_id: Set(workspace_id.to_owned()),
            pipeline_id: Set(pipeline_id.to_owned()),
            name: Set(fields.name),
            description: Set(fields.description),
            position: Set(position),
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
    emit(
        &txn,
        workspace_id,
        "stage.created",
        "stage",
        &id,
        json!({"id": id, "pipeline_id": pipeline_id, "name": stage.name, "position": position}),
    )
    .await
    .map_err(db_error("recording event"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    get(state, workspace_id, &id).await
}

/// Updates a stage; a new `position` (1..=n) moves it and shifts the stages in between.
pub async fn update(
    state: &PipelineState,
    workspace_id: &str,
    id: &str,
    position: Option<i32>,
    changes: StageFields,
) -> Result<StageView, Status> {
    // A stage never changes pipeline, so its pipeline can be read before the lock is taken.
    let pipeline_id = store::find(&state.db, workspace_id, id)
        .await
        .map_err(db_error("reading stage"))?
        .ok_or_else(|| ApiError::not_found("stage", id))?
        .pipeline_id;
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    if !pipeline_store::lock(&txn, workspace_id, &pipeline_id)
        .await
        .map_err(db_error("locking pipeline"))?
    {
        return Err(ApiError::not_found("stage", id).into());
    }
    let current = store::find(&txn, workspace_id, id)
        .await
        .map_err(db_error("reading stage"))?
        .ok_or_else(|| ApiError::not_found("stage", id))?;
    let merged = validated(
        &|f: &str| f.to_owned(),
        StageFields {
            name: Some(changes.name.unwrap_or_else(|| current.name.clone())),
            description: changes.description.or_else(|| current.description.clone()),
            color: Some(changes.color.unwrap_or_else(|| current.color.clone())),
            default_probability: Some(
                changes
                    .default_probability
                    .unwrap_or(current.default_probability),
            ),
            is_won_stage: Some(changes.is_won_stage.unwrap_or(current.is_won_stage)),
            is_lost_stage: Some(changes.is_lost_stage.unwrap_or(current.is_lost_stage)),
        },
    )?;
    let old = current.position;
    let mut model: s::ActiveModel = current.into();
    if let Some(new) = position {
        let n = store::count(&txn, &pipeline_id)
            .await
            .map_err(db_error("counting stages"))?;
        if !(1..=n).contains(&new) {
            return Err(
                ApiError::invalid_field("position", format!("must be between 1 and {n}")).into(),
            );
        }
        if new < old {
            store::shift(&txn, &pipeline_id, new, old - 1, 1)
                .await
                .map_err(db_error("shifting stages"))?;
        } else if new > old {
            store::shift(&txn, &pipeline_id, old + 1, new, -1)
                .await
                .map_err(db_error("shifting stages"))?;
        }
        model.position = Set(new);
    }
    model.name = Set(merged.name);
    model.description = Set(merged.description);
    model.color = Set(merged.color);
    model.default_probability = Set(merged.default_probability);
    model.is_won_stage = Set(merged.is_won_stage);
    model.is_lost_stage = Set(merged.is_lost_stage);
    model.updated_at = Set(now());
    let updated = store::save(&txn, model)
        .await
        .map_err(db_error("updating stage"))?;
    emit(
        &txn,
        workspace_id,
        "stage.updated",
        "stage",
        id,
        json!({"id": id, "pipeline_id": pipeline_id, "name": updated.name, "position": updated.position}),
    )
    .await
    .map_err(db_error("recording event"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    get(state, workspace_id, id).await
}

/// What deleting a stage did.
#[derive(Clone, Debug)]
pub struct Deleted {
    pub name: String,
    /// Opportunities moved and the name of the stage they went to.
    pub moved: Option<(u64, String)>,
}

/// Deletes a stage. Its live opportunities must be moved first, or go to `move_to`.
pub async fn delete(
    state: &PipelineState,
    workspace_id: &str,
    actor: &str,
    id: &str,
    move_to: Option<&str>,
) -> Result<Deleted, Status> {
    let pipeline_id = store::find(&state.db, workspace_id, id)
        .await
        .map_err(db_error("reading stage"))?
        .ok_or_else(|| ApiError::not_found("stage", id))?
        .pipeline_id;
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    if !pipeline_store::lock(&txn, workspace_id, &pipeline_id)
        .await
        .map_err(db_error("locking pipeline"))?
    {
        return Err(ApiError::not_found("stage", id).into());
    }
    let stage = store::find(&txn, workspace_id, id)
        .await
        .map_err(db_error("reading stage"))?
        .ok_or_else(|| ApiError::not_found("stage", id))?;
    let n = store::count(&txn, &pipeline_id)
        .await
        .map_err(db_error("counting stages"))?;
    if n <= 1 {
        return Err(ApiError::in_use(
            "LAST_STAGE",
            "Cannot delete the only stage of a pipeline. Add another stage first.",
        )
        .into());
    }
    let live = store::figures(&txn, workspace_id, std::slice::from_ref(&stage.id))
        .await
        .map_err(db_error("counting opportunities"))?
        .get(&stage.id)
        .map_or(0, |f| f.count);
    let mut moved = None;
    match move_to {
        None if live > 0 => {
            return Err(ApiError::in_use(
                "STAGE_HAS_OPPORTUNITIES",
                "Cannot delete stage with active opportunities. Specify moveToStageId parameter or move opportunities first.",
            )
            .with_body_field("opportunity_count", json!(live))
            .into());
        }
        None => {}
        Some(target_id) => {
            let target = store::find(&txn, workspace_id, target_id)
                .await
                .map_err(db_error("reading stage"))?
                .filter(|t| t.pipeline_id == pipeline_id && t.id != stage.id)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "moveToStageId",
                        "must be another stage of the same pipeline",
                    )
                })?;
            let count =
                super::opportunities::move_all(&txn, workspace_id, &stage, &target, actor).await?;
            moved = Some((count, target.name));
        }
    }
    store::delete(&txn, id)
        .await
        .map_err(db_error("deleting stage"))?;
    store::shift(&txn, &pipeline_id, stage.position + 1, n, -1)
        .await
        .map_err(db_error("closing the gap"))?;
    emit(
        &txn,
        workspace_id,
        "stage.deleted",
        "stage",
        id,
        json!({"id": id, "pipeline_id": pipeline_id, "name": stage.name,
               "opportunities_moved": moved.as_ref().map(|m| m.0), "target_stage_id": move_to}),
    )
    .await
    .map_err(db_error("recording event"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    Ok(Deleted {
        name: stage.name,
        moved,
    })
}
