//! Opportunities: deals moving through a pipeline's stages. Entering a won or lost stage closes
//! one; every stage move and tracked field change leaves a history row; deleting archives.

use super::{PipelineState, events::emit, input, new_id, now, paging::Window};
use crate::store::{
    companies as company_store, contacts as contact_store, db_error,
    entities::{
        companies as co, contacts as ct, opportunities as o, opportunity_activities as a,
        opportunity_history as h, pipelines as p, stages as s,
    },
    opportunities::{self as store, Filter},
    pipelines as pipeline_store, record_tags, stages as stage_store,
};
use chrono::{DateTime, NaiveDate, Utc};
use crm_platform::error::ApiError;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Set, TransactionTrait};
use serde_json::json;
use std::collections::HashMap;
use tonic::Status;

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

/// Closing state an opportunity takes on entering `stage`.
fn closing(
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

fn money(value: Option<f64>, amount: Option<f64>) -> Result<Option<i64>, ApiError> {
    match (value, amount) {
        (Some(v), Some(a)) if input::cents("value", v)? != input::cents("amount", a)? => Err(
            ApiError::invalid_field("amount", "value and amount differ: give one of them"),
        ),
        (_, Some(a)) => input::cents("amount", a).map(Some),
        (Some(v), None) => input::cents("value", v).map(Some),
        (None, None) => Ok(None),
    }
}

fn currency(raw: &str) -> Result<String, ApiError> {
    let c = raw.trim().to_ascii_uppercase();
    if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
        return Err(ApiError::invalid_field(
            "currency",
            "must be a 3-letter ISO 4217 code such as USD",
        ));
    }
    Ok(c)
}

fn close_date(raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) => input::date("expected_close_date", d).map(Some),
    }
}

/// Checks that optional references point at records of the workspace.
async fn check_refs<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    contact_id: Option<&str>,
    company_id: Option<&str>,
) -> Result<(), Status> {
    if let Some(id) = contact_id {
        let id = input::id("contact_id", id)?;
        if contact_store::find_many(conn, workspace_id, &[id])
            .await
            .map_err(db_error("reading contact"))?
            .is_empty()
        {
            return Err(
                ApiError::invalid_field("contact_id", "no such contact in this workspace").into(),
            );
        }
    }
    if let Some(id) = company_id {
        let id = input::id("company_id", id)?;
        if company_store::find_many(conn, workspace_id, &[id])
            .await
            .map_err(db_error("reading company"))?
            .is_empty()
        {
            return Err(
                ApiError::invalid_field("company_id", "no such company in this workspace").into(),
            );
        }
    }
    Ok(())
}

fn summary(o: &o::Model, actor: &str) -> serde_json::Value {
    json!({
        "id": o.id, "title": o.title, "pipeline_id": o.pipeline_id, "stage_id": o.stage_id,
        "amount": input::major(o.amount_cents), "currency": o.currency,
        "probability": o.probability, "contact_id": o.contact_id, "company_id": o.company_id,
        "is_closed": o.is_closed, "is_won": o.is_won, "closed_at": o.closed_at,
        "changed_by": actor,
    })
}

fn activity(
    o: &o::Model,
    kind: &str,
    content: String,
    actor: &str,
    at: DateTime<Utc>,
) -> a::ActiveModel {
    a::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(o.workspace_id.clone()),
        opportunity_id: Set(o.id.clone()),
        kind: Set(kind.to_owned()),
        content: Set(content),
        created_by: Set(actor.to_owned()),
        created_at: Set(at),
    }
}

fn history_row(
    o: &o::Model,
    field: &str,
    old: Option<String>,
    new: Option<String>,
    actor: &str,
    at: DateTime<Utc>,
) -> h::ActiveModel {
    h::ActiveModel {
        id: Set(new_id()),
        workspace_id: Set(o.workspace_id.clone()),
        opportunity_id: Set(o.id.clone()),
        field_changed: Set(field.to_owned()),
        old_value: Set(old),
        new_value: Set(new),
        changed_by: Set(actor.to_owned()),
        changed_at: Set(at),
    }
}

/// Creates an opportunity in a stage; its pipeline is the stage's.
pub async fn create(
    state: &PipelineState,
    workspace_id: &str,
    actor: &str,
    new: NewOpportunity,
) -> Result<OpportunityView, Status> {
    let title = input::required("title", &new.title, 200)?;
    let description = input::optional("description", new.description.as_deref(), 5000)?;
    if new.stage_id.trim().is_empty() {
        return Err(ApiError::invalid_field("stage_id", "is required").into());
    }
    let stage_id = input::id("stage_id", &new.stage_id)?;
    let amount_cents = money(new.value, new.amount)?.unwrap_or(0);
    let currency = match new.currency.as_deref() {
        None | Some("") => "USD".to_owned(),
        Some(c) => currency(c)?,
    };
    let probability = new
        .probability
        .map(|p| input::percent("probability", p))
        .transpose()?;
    let priority = match new.priority.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => Some(input::priority("priority", p)?),
    };
    let expected_close_date = close_date(new.expected_close_date.as_deref())?;
    let tags = input::tags("tags", &new.tags)?;
    let notes = input::optional("notes", new.notes.as_deref(), 5000)?;
    let source = input::optional("source", new.source.as_deref(), 100)?;
    let assigned_to = input::optional("assigned_to", new.assigned_to.as_deref(), 100)?
        .unwrap_or_else(|| actor.to_owned());
    let contact_id = input::optional("contact_id", new.contact_id.as_deref(), 64)?;
    let company_id = input::optional("company_id", new.company_id.as_deref(), 64)?;

    let stage = stage_store::find(&state.db, workspace_id, &stage_id)
        .await
        .map_err(db_error("reading stage"))?
        .ok_or_else(|| ApiError::invalid_field("stage_id", "no such stage in this workspace"))?;
    let pipeline = pipeline_store::find(&state.db, workspace_id, &stage.pipeline_id)
        .await
        .map_err(db_error("reading pipeline"))?
        .filter(|p| p.is_active)
        .ok_or_else(|| ApiError::invalid_field("stage_id", "the stage's pipeline is not active"))?;
    check_refs(
        &state.db,
        workspace_id,
        contact_id.as_deref(),
        company_id.as_deref(),
    )
    .await?;

    let at = now();
    let (is_closed, is_won, closed_at) = closing(&stage, None, at);
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    let row = store::save(
        &txn,
        o::ActiveModel {
            id: Set(new_id()),
            workspace_id: Set(workspace_id.to_owned()),
            pipeline_id: Set(pipeline.id.clone()),
            stage_id: Set(stage.id.clone()),
            title: Set(title),
            description: Set(description),
            contact_id: Set(contact_id.map(|c| c.to_ascii_lowercase())),
            company_id: Set(company_id.map(|c| c.to_ascii_lowercase())),
            amount_cents: Set(amount_cents),
            currency: Set(currency),
            probability: Set(probability.unwrap_or(stage.default_probability)),
            priority: Set(priority),
            expected_close_date: Set(expected_close_date),
            notes: Set(notes),
            source: Set(source),
            created_by: Set(actor.to_owned()),
            assigned_to: Set(Some(assigned_to)),
            is_closed: Set(is_closed),
            is_won: Set(is_won),
            closed_at: Set(closed_at),
            created_at: Set(at),
            updated_at: Set(at),
            archived_at: Set(None),
        },
    )
    .await
    .map_err(db_error("inserting opportunity"))?;
    record_tags::set(&txn, workspace_id, record_tags::OPPORTUNITY, &row.id, &tags)
        .await
        .map_err(db_error("writing tags"))?;
    store::add_activities(
        &txn,
        vec![activity(
            &row,
            "created",
            format!("Created in stage '{}'", stage.name),
            actor,
            at,
        )],
    )
    .await
    .map_err(db_error("writing activity"))?;
    let mut payload = summary(&row, actor);
    payload["tags"] = json!(tags);
    emit(
        &txn,
        workspace_id,
        "opportunity.created",
        "opportunity",
        &row.id,
        payload,
    )
    .await
    .map_err(db_error("recording event"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    get(state, workspace_id, &row.id).await
}

/// Updates fields; each tracked field that changes gets a history row.
pub async fn update(
    state: &PipelineState,
    workspace_id: &str,
    actor: &str,
    id: &str,
    c: OpportunityChanges,
) -> Result<OpportunityView, Status> {
    let amount = money(c.value, c.amount)?;
    let tags = c
        .tags
        .as_deref()
        .map(|t| input::tags("tags", t))
        .transpose()?;
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    if !store::lock(&txn, workspace_id, id)
        .await
        .map_err(db_error("locking opportunity"))?
    {
        return Err(ApiError::not_found("opportunity", id).into());
    }
    let current = store::find(&txn, workspace_id, id)
        .await
        .map_err(db_error("reading opportunity"))?
        .ok_or_else(|| ApiError::not_found("opportunity", id))?;
    let mut next = current.clone();
    if let Some(t) = &c.title {
        next.title = input::required("title", t, 200)?;
    }
    if let Some(d) = &c.description {
        next.description = input::optional("description", Some(d), 5000)?;
    }
    if let Some(cents) = amount {
        next.amount_cents = cents;
    }
    if let Some(cur) = &c.currency {
        next.currency = currency(cur)?;
    }
    if let Some(p) = c.probability {
        next.probability = input::percent("probability", p)?;
    }
    if let Some(p) = &c.priority {
        next.priority = match p.trim() {
            "" => None,
            p => Some(input::priority("priority", p)?),
        };
    }
    if let Some(d) = &c.expected_close_date {
        next.expected_close_date = close_date(Some(d))?;
    }
    if let Some(n) = &c.notes {
        next.notes = input::optional("notes", Some(n), 5000)?;
    }
    if let Some(s) = &c.source {
        next.source = input::optional("source", Some(s), 100)?;
    }
    if let Some(v) = &c.assigned_to {
        next.assigned_to = input::optional("assigned_to", Some(v), 100)?;
    }
    if let Some(v) = &c.contact_id {
        next.contact_id = input::optional("contact_id", Some(v), 64)?;
    }
    if let Some(v) = &c.company_id {
        next.company_id = input::optional("company_id", Some(v), 64)?;
    }
    if next.contact_id != current.contact_id || next.company_id != current.company_id {
        check_refs(
            &txn,
            workspace_id,
            next.contact_id
                .as_deref()
                .filter(|_| next.contact_id != current.contact_id),
            next.company_id
                .as_deref()
                .filter(|_| next.company_id != current.company_id),
        )
        .await?;
    }
    let at = now();
    let tracked: [(&str, Option<String>, Option<String>); 9] = [
        (
            "title",
            Some(current.title.clone()),
            Some(next.title.clone()),
        ),
        (
            "amount",
            Some(input::major(current.amount_cents).to_string()),
            Some(input::major(next.amount_cents).to_string()),
        ),
        (
            "currency",
            Some(current.currency.clone()),
            Some(next.currency.clone()),
        ),
        (
            "probability",
            Some(current.probability.to_string()),
            Some(next.probability.to_string()),
        ),
        ("priority", current.priority.clone(), next.priority.clone()),
        (
            "expected_close_date",
            current.expected_close_date.map(|d| d.to_string()),
            next.expected_close_date.map(|d| d.to_string()),
        ),
        (
            "assigned_to",
            current.assigned_to.clone(),
            next.assigned_to.clone(),
        ),
        (
            "contact_id",
            current.contact_id.clone(),
            next.contact_id.clone(),
        ),
        (
            "company_id",
            current.company_id.clone(),
            next.company_id.clone(),
        ),
    ];
    let history: Vec<h::ActiveModel> = tracked
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| history_row(&current, field, old, new, actor, at))
        .collect();
    let changed_fields = history.len();
    let mut model: o::ActiveModel = current.clone().into();
    model.title = Set(next.title.clone());
    model.description = Set(next.description.clone());
    model.amount_cents = Set(next.amount_cents);
    model.currency = Set(next.currency.clone());
    model.probability = Set(next.probability);
    model.priority = Set(next.priority.clone());
    model.expected_close_date = Set(next.expected_close_date);
    model.notes = Set(next.notes.clone());
    model.source = Set(next.source.clone());
    model.assigned_to = Set(next.assigned_to.clone());
    model.contact_id = Set(next.contact_id.clone());
    model.company_id = Set(next.company_id.clone());
    model.updated_at = Set(at);
    let updated = store::save(&txn, model)
        .await
        .map_err(db_error("updating opportunity"))?;
    store::add_history(&txn, history)
        .await
        .map_err(db_error("writing history"))?;
    if let Some(tags) = &tags {
        record_tags::set(&txn, workspace_id, record_tags::OPPORTUNITY, id, tags)
            .await
            .map_err(db_error("writing tags"))?;
    }
    let mut acts = Vec::new();
    if changed_fields > 0 || tags.is_some() {
        acts.push(activity(
            &updated,
            "updated",
            "Details updated".into(),
            actor,
            at,
        ));
    }
    if c.notes.is_some()
        && updated.notes != current.notes
        && let Some(n) = &updated.notes
    {
        acts.push(activity(&updated, "note", n.clone(), actor, at));
    }
    store::add_activities(&txn, acts)
        .await
        .map_err(db_error("writing activity"))?;
    emit(
        &txn,
        workspace_id,
        "opportunity.updated",
        "opportunity",
        id,
        summary(&updated, actor),
    )
    .await
    .map_err(db_error("recording event"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    state.events_committed();
    get(state, workspace_id, id).await
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
    if !store::lock(&txn, workspace_id, id)
        .await
        .map_err(db_error("locking opportunity"))?
    {
        return Err(ApiError::not_found("opportunity", id).into());
    }
    let current = store::find(&txn, workspace_id, id)
        .await
        .map_err(db_error("reading opportunity"))?
        .ok_or_else(|| ApiError::not_found("opportunity", id))?;
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

/// Archives an opportunity; returns its title.
pub async fn delete(
    state: &PipelineState,
    workspace_id: &str,
    actor: &str,
    id: &str,
) -> Result<String, Status> {
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    if !store::lock(&txn, workspace_id, id)
        .await
        .map_err(db_error("locking opportunity"))?
    {
        return Err(ApiError::not_found("opportunity", id).into());
    }
    let current = store::find(&txn, workspace_id, id)
        .await
        .map_err(db_error("reading opportunity"))?
        .ok_or_else(|| ApiError::not_found("opportunity", id))?;
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
