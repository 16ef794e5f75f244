//! Conversions shared by the gRPC faces.

use chrono::{DateTime, NaiveDate, Utc};
use prost_types::Timestamp;

/// A stored instant as a protobuf timestamp.
pub fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// An optional stored instant.
pub fn ts_opt(t: Option<DateTime<Utc>>) -> Option<Timestamp> {
    t.map(ts)
}

/// A calendar date as the timestamp of its midnight UTC (the seed writes
/// `"2025-08-15T00:00:00.000Z"` for dates).
pub fn date_ts(d: Option<NaiveDate>) -> Option<Timestamp> {
    d.and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| ts(t.and_utc()))
}

use crate::domain::{
    input::major, opportunities::OpportunityView, pipelines::PipelineView, stages::StageView,
};
use crate::store::entities::{opportunity_history as h, pipelines as p};
use crm_proto::pipeline as pb;

fn pipeline_ref(id: &str, name: &str, description: Option<String>) -> pb::PipelineRef {
    pb::PipelineRef {
        id: id.to_owned(),
        name: name.to_owned(),
        description,
    }
}

/// A stage as the seed's stage object.
pub fn stage(v: StageView) -> pb::Stage {
    let s = v.stage;
    pb::Stage {
        pipeline: Some(pipeline_ref(
            &s.pipeline_id,
            &v.pipeline_name,
            v.pipeline_description,
        )),
        id: s.id,
        pipeline_id: s.pipeline_id,
        workspace_id: s.workspace_id,
        name: s.name,
        description: s.description,
        position: s.position,
        color: s.color,
        default_probability: s.default_probability,
        is_won_stage: s.is_won_stage,
        is_lost_stage: s.is_lost_stage,
        opportunity_count: v.figures.count,
        total_value: major(v.figures.total_cents),
        created_at: Some(ts(s.created_at)),
        updated_at: Some(ts(s.updated_at)),
        created_by: s.created_by,
    }
}

/// A pipeline with stages and figures.
pub fn pipeline(v: PipelineView) -> pb::Pipeline {
    let p = v.pipeline;
    pb::Pipeline {
        id: p.id,
        name: p.name,
        description: p.description,
        workspace_id: p.workspace_id,
        is_default: p.is_default,
        is_active: p.is_active,
        created_at: Some(ts(p.created_at)),
        updated_at: Some(ts(p.updated_at)),
        created_by: p.created_by,
        opportunity_count: v.opportunity_count,
        total_value: major(v.total_cents),
        stages: v.stages.into_iter().map(stage).collect(),
    }
}

/// A history row.
pub fn history(h: h::Model) -> pb::HistoryEntry {
    pb::HistoryEntry {
        id: h.id,
        opportunity_id: h.opportunity_id,
        field_changed: h.field_changed,
        old_value: h.old_value,
        new_value: h.new_value,
        changed_by: h.changed_by,
        changed_at: Some(ts(h.changed_at)),
    }
}

fn pipeline_of(p: p::Model) -> pb::PipelineRef {
    pipeline_ref(&p.id, &p.name, p.description)
}

/// An opportunity with what the read nests in it.
pub fn opportunity(v: OpportunityView) -> pb::Opportunity {
    let o = v.opportunity;
    pb::Opportunity {
        stage: v.stage.map(|s| pb::StageRef {
            id: s.id,
            name: s.name,
            color: s.color,
            default_probability: s.default_probability,
            pipeline_id: s.pipeline_id,
            is_won_stage: s.is_won_stage,
            is_lost_stage: s.is_lost_stage,
        }),
        pipeline: v.pipeline.map(pipeline_of),
        contact: v.contact.map(|c| pb::ContactRef {
            id: c.id,
            firstname: c.firstname,
            lastname: c.lastname,
            email: c.email,
            phone_number: c.phone_number,
            company: v.company.as_ref().map(|co| co.name.clone()),
        }),
        company: v.company.map(super::companies::company),
        activities: v
            .activities
            .into_iter()
            .map(|a| pb::Activity {
                id: a.id,
                r#type: a.kind,
                content: a.content,
                created_at: Some(ts(a.created_at)),
                created_by: a.created_by,
            })
            .collect(),
        history: v.history.into_iter().map(history).collect(),
        tags: v.tags,
        id: o.id,
        title: o.title,
        description: o.description,
        contact_id: o.contact_id,
        company_id: o.company_id,
        workspace_id: o.workspace_id,
        stage_id: o.stage_id,
        pipeline_id: o.pipeline_id,
        amount: major(o.amount_cents),
        currency: o.currency,
        probability: o.probability,
        priority: o.priority,
        expected_close_date: date_ts(o.expected_close_date),
        notes: o.notes,
        source: o.source,
        created_by: o.created_by,
        assigned_to: o.assigned_to,
        created_at: Some(ts(o.created_at)),
        updated_at: Some(ts(o.updated_at)),
        is_closed: o.is_closed,
        is_won: o.is_won,
        closed_at: ts_opt(o.closed_at),
    }
}
