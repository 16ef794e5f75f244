//! What a change to an opportunity leaves behind: the event payload, activity rows and
//! history rows.

use super::super::{input, new_id};
use crate::store::entities::{
    opportunities as o, opportunity_activities as a, opportunity_history as h,
};
use chrono::{DateTime, Utc};
use sea_orm::Set;
use serde_json::json;

pub(super) fn summary(o: &o::Model, actor: &str) -> serde_json::Value {
    json!({
        "id": o.id, "title": o.title, "pipeline_id": o.pipeline_id, "stage_id": o.stage_id,
        "amount": input::major(o.amount_cents), "currency": o.currency,
        "probability": o.probability, "contact_id": o.contact_id, "company_id": o.company_id,
        "is_closed": o.is_closed, "is_won": o.is_won, "closed_at": o.closed_at,
        "changed_by": actor,
    })
}

pub(super) fn activity(
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

pub(super) fn history_row(
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
