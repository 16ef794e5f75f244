//! Opportunity figures per (pipeline, stage, currency): what was created and what closed in
//! the range, and what is open now among those created in it.

use super::{PipelineDb, Selection, cents, count, count_when, split_sum};
use sea_orm::DbErr;

/// One group's figures; amounts in minor units of `currency`.
#[derive(Clone, Debug, Default)]
pub struct GroupFigures {
    pub pipeline_id: String,
    pub stage_id: String,
    pub currency: String,
    /// Created in the range.
    pub created: i64,
    pub created_cents: i128,
    /// Closed won / lost in the range (the current closing: a reopened deal is open).
    pub won: i64,
    pub won_cents: i128,
    pub lost: i64,
    pub lost_cents: i128,
    /// Open now, among those created in the range.
    pub open: i64,
    pub open_cents: i128,
    /// Σ amount_cents × probability (percent) over the open ones: cents × 100.
    pub weighted_cent_percent: i128,
}

impl PipelineDb {
    /// Figures per (pipeline, stage, currency) over the live opportunities of the selection.
    pub async fn figures(&self, sel: &Selection) -> Result<Vec<GroupFigures>, DbErr> {
        let created = "o.created_at >= $2 AND o.created_at < $3";
        let won = "o.is_closed AND o.is_won AND o.closed_at >= $2 AND o.closed_at < $3";
        let lost = "o.is_closed AND NOT o.is_won AND o.closed_at >= $2 AND o.closed_at < $3";
        let open = format!("NOT o.is_closed AND {created}");
        let sql = format!(
            "SELECT o.pipeline_id, o.stage_id, o.currency, {}, {}, {}, {}, {}, {}, {}, {}, {} \
             FROM opportunities o \
             WHERE o.workspace_id = $1 AND o.archived_at IS NULL \
               AND ($4 = '' OR o.pipeline_id = $4) \
             GROUP BY o.pipeline_id, o.stage_id, o.currency",
            count_when(created, "created"),
            split_sum(created, "o.amount_cents", "created"),
            count_when(won, "won"),
            split_sum(won, "o.amount_cents", "won"),
            count_when(lost, "lost"),
            split_sum(lost, "o.amount_cents", "lost"),
            count_when(&open, "open"),
            split_sum(&open, "o.amount_cents", "open"),
            split_sum(&open, "o.amount_cents * o.probability", "weighted"),
        );
        let rows = self.rows(&sql, sel.params()).await?;
        rows.iter()
            .map(|r| {
                Ok(GroupFigures {
                    pipeline_id: r.try_get("", "pipeline_id")?,
                    stage_id: r.try_get("", "stage_id")?,
                    currency: r.try_get("", "currency")?,
                    created: count(r, "created")?,
                    created_cents: cents(r, "created")?,
                    won: count(r, "won")?,
                    won_cents: cents(r, "won")?,
                    lost: count(r, "lost")?,
                    lost_cents: cents(r, "lost")?,
                    open: count(r, "open")?,
                    open_cents: cents(r, "open")?,
                    weighted_cent_percent: cents(r, "weighted")?,
                })
            })
            .collect()
    }
}
