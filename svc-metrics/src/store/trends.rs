//! Counts and amounts per time bucket (trends), and open opportunities by expected close date
//! (forecast). Buckets are computed by the caller in the workspace's timezone and passed in
//! as UTC instants, so the database only compares timestamps.

use super::{PipelineDb, Selection, cents, count, count_when, split_sum};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{DbErr, Value};
use std::collections::HashMap;

/// A bucket `[start, end)`, already cut to the selection's range.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One bucket's figures. Amounts in minor units of the selection's currency; counts over
/// every currency.
#[derive(Clone, Debug, Default)]
pub struct BucketFigures {
    pub created: i64,
    pub created_cents: i128,
    pub won: i64,
    pub lost: i64,
    pub won_cents: i128,
}

/// A forecast window of expected close dates `[from, until)`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub from: NaiveDate,
    pub until: NaiveDate,
}

/// One window's open opportunities. Amounts in minor units of the selection's currency.
#[derive(Clone, Debug, Default)]
pub struct WindowFigures {
    pub closing: i64,
    pub expected_cents: i128,
    /// Σ amount × probability: cents × 100.
    pub weighted_cent_percent: i128,
    /// Those at a probability of 75 % or more.
    pub likely_cents: i128,
}

impl PipelineDb {
    /// Figures per bucket label: opportunities created in it, and closed in it.
    pub async fn trends(
        &self,
        sel: &Selection,
        buckets: &[Bucket],
    ) -> Result<HashMap<String, BucketFigures>, DbErr> {
        let mut out: HashMap<String, BucketFigures> = HashMap::new();
        if buckets.is_empty() {
            return Ok(out);
        }
        // $5 is the currency; the buckets' (label, start, end) follow from $6.
        let values: Vec<String> = (0..buckets.len())
            .map(|i| format!("(${}, ${}, ${})", 6 + 3 * i, 7 + 3 * i, 8 + 3 * i))
            .collect();
        let cte = format!(
            "WITH b(label, b_start, b_end) AS (VALUES {})",
            values.join(", ")
        );
        let mine = "o.currency = $5";
        let live =
            "o.workspace_id = $1 AND o.archived_at IS NULL AND ($4 = '' OR o.pipeline_id = $4)";
        let created_sql = format!(
            "{cte} SELECT b.label, COUNT(*) AS created, {} FROM b JOIN opportunities o \
               ON o.created_at >= b.b_start AND o.created_at < b.b_end \
             WHERE {live} GROUP BY b.label",
            split_sum(mine, "o.amount_cents", "created"),
        );
        let won_mine = format!("o.is_won AND {mine}");
        let closed_sql = format!(
            "{cte} SELECT b.label, {}, {}, {} FROM b JOIN opportunities o \
               ON o.closed_at >= b.b_start AND o.closed_at < b.b_end \
             WHERE {live} AND o.is_closed GROUP BY b.label",
            count_when("o.is_won", "won"),
            count_when("NOT o.is_won", "lost"),
            split_sum(&won_mine, "o.amount_cents", "won"),
        );
        let mut params = sel.params();
        params.push(sel.currency.clone().into());
        for b in buckets {
            params.extend([
                Value::from(b.label.clone()),
                Value::from(b.start),
                Value::from(b.end),
            ]);
        }
        for r in self.rows(&created_sql, params.clone()).await? {
            let label: String = r.try_get("", "label")?;
            let entry = out.entry(label).or_default();
            entry.created = count(&r, "created")?;
            entry.created_cents = cents(&r, "created")?;
        }
        for r in self.rows(&closed_sql, params).await? {
            let label: String = r.try_get("", "label")?;
            let entry = out.entry(label).or_default();
            entry.won = count(&r, "won")?;
            entry.lost = count(&r, "lost")?;
            entry.won_cents = cents(&r, "won")?;
        }
        Ok(out)
    }

    /// Open opportunities of the selection (created in the range, as for the pipeline value)
    /// by expected close date, one answer per window.
    pub async fn forecast(
        &self,
        sel: &Selection,
        windows: &[Window],
    ) -> Result<Vec<WindowFigures>, DbErr> {
        let mut columns = Vec::new();
        let mut params = sel.params();
        params.push(sel.currency.clone().into());
        for (i, w) in windows.iter().enumerate() {
            let (from, until) = (6 + 2 * i, 7 + 2 * i);
            params.extend([Value::from(w.from), Value::from(w.until)]);
            let inside =
                format!("o.expected_close_date >= ${from} AND o.expected_close_date < ${until}");
            let mine = format!("{inside} AND o.currency = $5");
            columns.push(count_when(&inside, &format!("closing{i}")));
            columns.push(split_sum(&mine, "o.amount_cents", &format!("expected{i}")));
            columns.push(split_sum(
                &mine,
                "o.amount_cents * o.probability",
                &format!("weighted{i}"),
            ));
            columns.push(split_sum(
                &format!("{mine} AND o.probability >= 75"),
                "o.amount_cents",
                &format!("likely{i}"),
            ));
        }
        if columns.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM opportunities o \
             WHERE o.workspace_id = $1 AND o.archived_at IS NULL AND ($4 = '' OR o.pipeline_id = $4) \
               AND NOT o.is_closed AND o.expected_close_date IS NOT NULL \
               AND o.created_at >= $2 AND o.created_at < $3",
            columns.join(", ")
        );
        let rows = self.rows(&sql, params).await?;
        let Some(r) = rows.first() else {
            return Ok(vec![WindowFigures::default(); windows.len()]);
        };
        (0..windows.len())
            .map(|i| {
                Ok(WindowFigures {
                    closing: count(r, &format!("closing{i}"))?,
                    expected_cents: cents(r, &format!("expected{i}"))?,
                    weighted_cent_percent: cents(r, &format!("weighted{i}"))?,
                    likely_cents: cents(r, &format!("likely{i}"))?,
                })
            })
            .collect()
    }
}
