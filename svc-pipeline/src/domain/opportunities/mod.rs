//! Opportunities: deals moving through a pipeline's stages. Entering a won or lost stage closes
//! one; every stage move and tracked field change leaves a history row; deleting archives.

use super::{PipelineState, events::emit, now, paging::Window};
use crate::store::{
    companies as company_store, contacts as contact_store, db_error,
    entities::{
        companies as co, contacts as ct, opportunities as o, opportunity_activities as a,
        opportunity_history as h, pipelines as p, stages as s,
    },
    opportunities::{self as store, Filter},
    pipelines as pipeline_store, record_tags, stages as stage_store,
};
use crm_platform::error::ApiError;
use sea_orm::{ConnectionTrait, Set, TransactionTrait};
use std::collections::HashMap;
use tonic::Status;

mod fields;
mod history;
mod moves;
mod write;

use history::summary;
pub use moves::{move_all, move_to};
pub use write::{create, update};

/// An opportunity with what reads nest in it.
#[derive(Clone, Debug)]
pub struct OpportunityView {
    pub opportunity: o::Model,
    pub tags: Vec<String>,
    pub stage: Option<s::Model>,
    pub pipeline: Option<p::Model>,
    pub contact: Option<ct::Model>,
    pub company: Option<co::Model>,
    pub activities: Vec<a::Model>,
    pub history: Vec<h::Model>,
}

/// A page of opportunities.
pub struct Page {
    pub rows: Vec<OpportunityView>,
    pub total: u64,
    pub window: Window,
}

/// A new opportunity as given.
#[derive(Clone, Debug, Default)]
pub struct NewOpportunity {
    pub title: String,
    pub description: Option<String>,
    pub contact_id: Option<String>,
    pub company_id: Option<String>,
    pub stage_id: String,
    pub value: Option<f64>,
    pub amount: Option<f64>,
    pub currency: Option<String>,
    pub probability: Option<i32>,
    pub priority: Option<String>,
    pub expected_close_date: Option<String>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub source: Option<String>,
    pub assigned_to: Option<String>,
}

/// Changes to an opportunity; `None` leaves a field alone, `Some("")` clears an optional one.
#[derive(Clone, Debug, Default)]
pub struct OpportunityChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub amount: Option<f64>,
    pub value: Option<f64>,
    pub currency: Option<String>,
    pub probability: Option<i32>,
    pub priority: Option<String>,
    pub expected_close_date: Option<String>,
    pub tags: Option<Vec<String>>,
    pub notes: Option<String>,
    pub source: Option<String>,
    pub contact_id: Option<String>,
    pub company_id: Option<String>,
    pub assigned_to: Option<String>,
}

/// Lists opportunities: six queries per page (count, page, stages, contacts, companies, tags),
/// never one per row.
pub async fn list(
    state: &PipelineState,
    workspace_id: &str,
    filter: &Filter,
    window: Window,
) -> Result<Page, Status> {
    let (rows, total) = store::page(&state.db, workspace_id, filter, window.offset, window.limit)
        .await
        .map_err(db_error("listing opportunities"))?;
    let rows = decorate(&state.db, workspace_id, rows).await?;
    Ok(Page {
        rows,
        total,
        window,
    })
}

async fn decorate<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    rows: Vec<o::Model>,
) -> Result<Vec<OpportunityView>, Status> {
    fn distinct(ids: impl Iterator<Item = Option<String>>) -> Vec<String> {
        let mut v: Vec<String> = ids.flatten().collect();
        v.sort();
        v.dedup();
        v
    }
    let stage_ids = distinct(rows.iter().map(|r| Some(r.stage_id.clone())));
    let contact_ids = distinct(rows.iter().map(|r| r.contact_id.clone()));
    let company_ids = distinct(rows.iter().map(|r| r.company_id.clone()));
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let stages: HashMap<String, s::Model> = stage_store::by_ids(conn, workspace_id, &stage_ids)
        .await
        .map_err(db_error("reading stages"))?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let contacts = contact_store::find_many(conn, workspace_id, &contact_ids)
        .await
        .map_err(db_error("reading contacts"))?;
    let companies = company_store::find_many(conn, workspace_id, &company_ids)
        .await
        .map_err(db_error("reading companies"))?;
    let mut tags = record_tags::load(conn, workspace_id, record_tags::OPPORTUNITY, &ids)
        .await
        .map_err(db_error("reading tags"))?;
    Ok(rows
        .into_iter()
        .map(|r| OpportunityView {
            tags: tags.remove(&r.id).unwrap_or_default(),
            stage: stages.get(&r.stage_id).cloned(),
            contact: r
                .contact_id
                .as_ref()
                .and_then(|id| contacts.get(id).cloned()),
            company: r
                .company_id
                .as_ref()
                .and_then(|id| companies.get(id).cloned()),
            pipeline: None,
            activities: Vec::new(),
            history: Vec::new(),
            opportunity: r,
        })
        .collect())
}

/// One opportunity with stage, pipeline, contact, company, activities and history.
pub async fn get(
    state: &PipelineState,
    workspace_id: &str,
    id: &str,
) -> Result<OpportunityView, Status> {
    let row = store::find(&state.db, workspace_id, id)
        .await
        .map_err(db_error("reading opportunity"))?
        .ok_or_else(|| ApiError::not_found("opportunity", id))?;
    let pipeline = pipeline_store::find(&state.db, workspace_id, &row.pipeline_id)
        .await
        .map_err(db_error("reading pipeline"))?;
    let mut view = decorate(&state.db, workspace_id, vec![row])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("opportunity", id))?;
    view.pipeline = pipeline;
    view.activities = store::activities(&state.db, workspace_id, id)
        .await
        .map_err(db_error("reading activities"))?;
    view.history = store::history(&state.db, workspace_id, id)
        .await
        .map_err(db_error("reading history"))?;
    Ok(view)
}

/// The opportunity `id`, locked for the rest of `txn` so concurrent changes to it queue.
async fn locked(
    txn: &sea_orm::DatabaseTransaction,
    workspace_id: &str,
    id: &str,
) -> Result<o::Model, Status> {
    if !store::lock(txn, workspace_id, id)
        .await
        .map_err(db_error("locking opportunity"))?
    {
        return Err(ApiError::not_found("opportunity", id).into());
    }
    store::find(txn, workspace_id, id)
        .await
        .map_err(db_error("reading opportunity"))?
        .ok_or_else(|| ApiError::not_found("opportunity", id).into())
}

/// Archives an opportunity; returns its title.
pub async fn delete(
    state: &PipelineState,
    workspace_id: &str,
    actor: &str,
    id: &str,
) -> Result<String, Status> {
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    let current = locked(&txn, workspace_id, id).await?;
    let at = now();
    let title = current.title.clone();
    let mut model: o::ActiveModel = current.clone().into();
    model.archived_at = Set(Some(at));
    model.updated_at = Set(at);
    store::save(&txn, model)
        .await
        .map_err(db_error("archiving opportunity"))?;
    // An archived opportunity no longer counts as a use of its tags.
    record_tags::set(&txn, workspace_id, record_tags::OPPORTUNITY, id, &[])
        .await
        .map_err(db_error("clearing tags"))?;
    emit(
        &txn,
        workspace_id,
        "opportunity.deleted",
        "opportunity",
        id,
        summary(&current, actor),
    )
    .await
    .map_err(db_error("recording event"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    Ok(title)
}
