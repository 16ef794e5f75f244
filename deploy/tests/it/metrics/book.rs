//! The test's own record of what it did: pipelines and stages made over REST, opportunities
//! created, moved, closed and reopened over REST, then dated at planned instants (their
//! `created_at`, `closed_at` and history `changed_at` rows set in svc-pipeline's tables) so
//! stays span days and months. The expected figures are computed from this record alone
//! (`model.rs`), never from svc-metrics' SQL.

use crate::helpers::{Owner, TestApp};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};
use serde_json::{Value, json};
use svc_pipeline::store::entities::{opportunities as o, opportunity_history as h};

#[derive(Clone, Debug)]
pub struct StageInfo {
    pub id: String,
    pub pipeline_id: String,
    pub name: String,
    pub position: i64,
    pub probability: i32,
    pub won: bool,
    pub lost: bool,
}

#[derive(Clone, Debug)]
pub struct PipelineInfo {
    pub id: String,
    pub name: String,
    pub stages: Vec<StageInfo>,
}

/// One opportunity as the test made it.
#[derive(Clone, Debug)]
pub struct Deal {
    pub pipeline_id: String,
    pub amount_cents: i64,
    pub currency: String,
    /// Its probability now (the stage's default after a move).
    pub probability: i32,
    pub expected_close: Option<NaiveDate>,
    /// Stays in order: (stage id, entered at); the first is the creation.
    pub stays: Vec<(String, DateTime<Utc>)>,
    /// (won, closed_at) when closed now.
    pub closed: Option<(bool, DateTime<Utc>)>,
}

impl Deal {
    pub fn created_at(&self) -> DateTime<Utc> {
        self.stays[0].1
    }

    pub fn stage_id(&self) -> &str {
        &self.stays[self.stays.len() - 1].0
    }
}

/// What one opportunity should go through.
pub struct Plan<'a> {
    pub stage: &'a StageInfo,
    pub amount_cents: i64,
    pub currency: &'a str,
    pub probability: Option<i32>,
    pub expected_close: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub moves: Vec<(&'a StageInfo, DateTime<Utc>)>,
}

pub struct Book<'a> {
    pub app: &'a TestApp,
    pub owner: &'a Owner,
    pub pipelines: Vec<PipelineInfo>,
    pub deals: Vec<Deal>,
    /// svc-pipeline's database, connected once (a pool per deal would exhaust Postgres).
    db: tokio::sync::OnceCell<sea_orm::DatabaseConnection>,
}

impl<'a> Book<'a> {
    pub fn new(app: &'a TestApp, owner: &'a Owner) -> Self {
        Self {
            app,
            owner,
            pipelines: Vec::new(),
            deals: Vec::new(),
            db: tokio::sync::OnceCell::new(),
        }
    }

    /// Creates a pipeline with `stages` (`{"name", "default_probability", "is_won_stage",
    /// "is_lost_stage"}`; null for the default New / Pending / Done); returns its index.
    pub async fn pipeline(&mut self, name: &str, stages: Value) -> usize {
        let mut body = json!({"name": name});
        if !stages.is_null() {
            body["stages"] = stages;
        }
        let p = crate::pipelines::pipeline(self.app, self.owner, body).await;
        let id = p["id"].as_str().unwrap().to_owned();
        let stages = p["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| StageInfo {
                id: s["id"].as_str().unwrap().to_owned(),
                pipeline_id: id.clone(),
                name: s["name"].as_str().unwrap().to_owned(),
                position: s["position"].as_i64().unwrap(),
                probability: s["default_probability"].as_i64().unwrap() as i32,
                won: s["is_won_stage"].as_bool().unwrap(),
                lost: s["is_lost_stage"].as_bool().unwrap(),
            })
            .collect();
        self.pipelines.push(PipelineInfo {
            id,
            name: name.to_owned(),
            stages,
        });
        self.pipelines.len() - 1
    }

    pub fn stage(&self, pipeline: usize, position: usize) -> &StageInfo {
        &self.pipelines[pipeline].stages[position]
    }

    /// Creates, moves and dates one opportunity as planned.
    pub async fn deal(&mut self, plan: Plan<'_>) {
        let app = self.app;
        let token = &self.owner.token;
        let mut body = json!({
            "title": "Deal",
            "amount": plan.amount_cents as f64 / 100.0,
            "currency": plan.currency,
        });
        if let Some(p) = plan.probability {
            body["probability"] = json!(p);
        }
        if let Some(d) = plan.expected_close {
            body["expected_close_date"] = json!(d.to_string());
        }
        let created = crate::pipelines::opportunity(app, self.owner, &plan.stage.id, body).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let mut previous = plan.stage.id.clone();
        for (stage, _) in &plan.moves {
            assert_ne!(
                stage.id, previous,
                "the plan moves to another stage each time"
            );
            let (s, b) = app
                .send(
                    app.put_as(token, &format!("/api/pipeline/opportunities/{id}/move"))
                        .json(&json!({"stage_id": stage.id})),
                )
                .await;
            assert_eq!(s, 200, "{b}");
            previous = stage.id.clone();
        }

        // The record: stays, closing as svc-pipeline's `closing` rules it (a move between two
        // stages of the same outcome keeps the first closing time), probability.
        let mut stays = vec![(plan.stage.id.clone(), plan.created_at)];
        let mut closed = closing(plan.stage, None, plan.created_at);
        let mut probability = plan.probability.unwrap_or(plan.stage.probability);
        for (stage, at) in &plan.moves {
            stays.push((stage.id.clone(), *at));
            closed = closing(stage, closed, *at);
            probability = stage.probability;
        }

        // Date it: the history rows in the order the moves were made.
        let db = self.db.get_or_init(|| app.pipeline_db()).await;
        let rows = h::Entity::find()
            .filter(h::Column::OpportunityId.eq(id.as_str()))
            .filter(h::Column::FieldChanged.eq("stage_id"))
            .order_by_asc(h::Column::ChangedAt)
            .all(db)
            .await
            .unwrap();
        assert_eq!(rows.len(), plan.moves.len());
        for (row, (_, at)) in rows.iter().zip(&plan.moves) {
            h::Entity::update_many()
                .col_expr(h::Column::ChangedAt, Expr::value(*at))
                .filter(h::Column::Id.eq(row.id.as_str()))
                .exec(db)
                .await
                .unwrap();
        }
        o::Entity::update_many()
            .col_expr(o::Column::CreatedAt, Expr::value(plan.created_at))
            .col_expr(o::Column::ClosedAt, Expr::value(closed.map(|(_, at)| at)))
            .filter(o::Column::Id.eq(id.as_str()))
            .exec(db)
            .await
            .unwrap();

        self.deals.push(Deal {
            pipeline_id: plan.stage.pipeline_id.clone(),
            amount_cents: plan.amount_cents,
            currency: plan.currency.to_owned(),
            probability,
            expected_close: plan.expected_close,
            stays,
            closed,
        });
    }

    /// GET `path` as the owner; returns the body's `data`.
    pub async fn get(&self, path: &str) -> Value {
        let (s, b) = self
            .app
            .send(self.app.get_as(&self.owner.token, path))
            .await;
        assert_eq!(s, 200, "{path}: {b}");
        assert_eq!(b["success"], true, "{b}");
        b["data"].clone()
    }
}

/// The closing state after entering `stage` at `at`.
fn closing(
    stage: &StageInfo,
    current: Option<(bool, DateTime<Utc>)>,
    at: DateTime<Utc>,
) -> Option<(bool, DateTime<Utc>)> {
    let won = if stage.won {
        true
    } else if stage.lost {
        false
    } else {
        return None;
    };
    match current {
        Some((was_won, since)) if was_won == won => Some((won, since)),
        _ => Some((won, at)),
    }
}
