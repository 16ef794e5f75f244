//! Creating and updating opportunities.

use super::{
    NewOpportunity, OpportunityChanges, OpportunityView,
    fields::{check_refs, close_date, currency, money},
    get,
    history::{activity, history_row, summary},
    locked,
    moves::closing,
};
use crate::domain::{PipelineState, assignments, events::emit, input, new_id, now};
use crate::store::{
    db_error,
    entities::{opportunities as o, opportunity_history as h},
    opportunities as store, pipelines as pipeline_store, record_tags, stages as stage_store,
};
use crm_platform::error::ApiError;
use sea_orm::{Set, TransactionTrait};
use serde_json::json;
use tonic::Status;

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
    // A named assignee must be a member; left out, the creator is (as before).
    let assigned_to = match input::optional("assigned_to", new.assigned_to.as_deref(), 100)? {
        Some(raw) => assignments::assignee(state, workspace_id, "assigned_to", &raw)
            .await?
            .unwrap_or_else(|| actor.to_owned()),
        None => actor.to_owned(),
    };
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
    // Asked before the transaction: a call to svc-auth never holds the write lock.
    let assigned_to = match &c.assigned_to {
        Some(v) => {
            input::optional("assigned_to", Some(v), 100)?;
            Some(assignments::assignee(state, workspace_id, "assigned_to", v).await?)
        }
        None => None,
    };
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    let current = locked(&txn, workspace_id, id).await?;
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
    if let Some(v) = assigned_to {
        next.assigned_to = v;
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
