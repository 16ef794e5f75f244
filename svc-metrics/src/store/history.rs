//! Stays in stages, rebuilt from `opportunity_history`: an opportunity's first stay is in the
//! stage it was created in (the first move's `old_value`, or its current stage if it never
//! moved; creating writes no history row) from `created_at`; every move starts a stay in its
//! `new_value` that lasts until the next move (or is still open). Window functions (LEAD,
//! ROW_NUMBER) pair each move with the next on both backends.

use super::{PipelineDb, Selection, count};
use sea_orm::{DbErr, Value};

/// The conversion from one stage to the next by position, among opportunities created in
/// the range.
#[derive(Clone, Debug, Default)]
pub struct StepFigures {
    pub from_stage_id: String,
    pub to_stage_id: String,
    /// Opportunities that were ever in the `from` stage.
    pub reached: i64,
    /// Of those, the ones that entered the `to` stage after first entering `from`.
    pub moved: i64,
    /// Mean seconds from first entering `from` to the next entry into `to`, over `moved`.
    pub avg_secs: Option<f64>,
}

/// Mean length of the stays in a stage that overlap the range, each cut to the range.
#[derive(Clone, Debug, Default)]
pub struct StageTime {
    pub stage_id: String,
    pub avg_secs: Option<f64>,
}

/// The CTEs `opp` (live opportunities of the selection), `moves` (each stage move with the
/// moves before and after it) and `stays`: one per move (in `new_value`, until the next
/// move), the creation stay of each opportunity that moved (in the first move's
/// `old_value`, until that move) and of each that never moved (in its stage, still open).
const STAYS: &str = "\
WITH opp AS ( \
  SELECT o.id, o.stage_id, o.created_at FROM opportunities o \
  WHERE o.workspace_id = $1 AND o.archived_at IS NULL AND ($4 = '' OR o.pipeline_id = $4) \
), moves AS ( \
  SELECT h.opportunity_id, h.old_value, h.new_value, h.changed_at, opp.created_at, \
    LAG(h.changed_at) OVER (PARTITION BY h.opportunity_id ORDER BY h.changed_at, h.id) AS prev_at, \
    LEAD(h.changed_at) OVER (PARTITION BY h.opportunity_id ORDER BY h.changed_at, h.id) AS next_at \
  FROM opportunity_history h JOIN opp ON opp.id = h.opportunity_id \
  WHERE h.workspace_id = $1 AND h.field_changed = 'stage_id' \
), stays AS ( \
  SELECT opportunity_id, new_value AS stage_id, changed_at AS entered_at, next_at AS exited_at \
  FROM moves \
  UNION ALL \
  SELECT opportunity_id, old_value, created_at, changed_at FROM moves WHERE prev_at IS NULL \
  UNION ALL \
  SELECT opp.id, opp.stage_id, opp.created_at, NULL FROM opp \
  WHERE NOT EXISTS (SELECT 1 FROM opportunity_history x WHERE x.opportunity_id = opp.id \
    AND x.workspace_id = $1 AND x.field_changed = 'stage_id') \
)";

impl PipelineDb {
    /// Conversion between consecutive stages (by position) of each pipeline, counted over the
    /// opportunities created in the range.
    pub async fn funnel(&self, sel: &Selection) -> Result<Vec<StepFigures>, DbErr> {
        let moved_secs = format!("{} - {}", self.epoch("moved_at"), self.epoch("first_at"));
        // `first_in`: each opportunity created in the range, its first entry into each stage
        // that has a next one (numbered `k`, so the step per opportunity groups on one
        // integer); `steps`: the first entry into the next stage after it, for those that made
        // one.
        let sql = format!(
            "{STAYS}, nxt AS ( \
               SELECT s1.id AS from_id, s2.id AS to_id FROM stages s1 \
               JOIN stages s2 ON s2.pipeline_id = s1.pipeline_id AND s2.position = s1.position + 1 \
               WHERE s1.workspace_id = $1 AND s2.workspace_id = $1 \
             ), first_in AS ( \
               SELECT ROW_NUMBER() OVER () AS k, st.opportunity_id, n.from_id, n.to_id, \
                 MIN(st.entered_at) AS first_at \
               FROM stays st JOIN opp ON opp.id = st.opportunity_id \
               JOIN nxt n ON n.from_id = st.stage_id \
               WHERE opp.created_at >= $2 AND opp.created_at < $3 \
               GROUP BY st.opportunity_id, n.from_id, n.to_id \
             ), reached AS ( \
               SELECT from_id, to_id, COUNT(*) AS reached FROM first_in GROUP BY from_id, to_id \
             ), steps AS ( \
               SELECT a.k, MIN(a.from_id) AS from_id, MIN(a.to_id) AS to_id, \
                 MIN(a.first_at) AS first_at, MIN(b.entered_at) AS moved_at \
               FROM first_in a JOIN stays b ON b.opportunity_id = a.opportunity_id \
                 AND b.stage_id = a.to_id AND b.entered_at > a.first_at \
               GROUP BY a.k \
             ) \
             SELECT r.from_id, r.to_id, r.reached, COUNT(s.k) AS moved, AVG({moved_secs}) AS avg_secs \
             FROM reached r LEFT JOIN steps s ON s.from_id = r.from_id AND s.to_id = r.to_id \
             GROUP BY r.from_id, r.to_id, r.reached"
        );
        let rows = self.rows(&sql, sel.params()).await?;
        rows.iter()
            .map(|r| {
                Ok(StepFigures {
                    from_stage_id: r.try_get("", "from_id")?,
                    to_stage_id: r.try_get("", "to_id")?,
                    reached: count(r, "reached")?,
                    moved: count(r, "moved")?,
                    avg_secs: r.try_get("", "avg_secs")?,
                })
            })
            .collect()
    }

    /// Mean time in each stage over the stays overlapping `[start, end)`, each stay cut to
    /// the range; a stay still open runs to `now` (or to `end`, if sooner).
    pub async fn time_in_stage(&self, sel: &Selection) -> Result<Vec<StageTime>, DbErr> {
        let sql = format!(
            "{STAYS} \
             SELECT stage_id, \
               AVG((CASE WHEN ex < $6 THEN ex ELSE $6 END) - (CASE WHEN en > $5 THEN en ELSE $5 END)) AS avg_secs \
             FROM (SELECT stage_id, {en} AS en, COALESCE({ex}, $7) AS ex FROM stays) cut \
             WHERE en < $6 AND ex > $5 \
             GROUP BY stage_id",
            en = self.epoch("entered_at"),
            ex = self.epoch("exited_at"),
        );
        let mut params = sel.params();
        params.extend([
            Value::from(seconds(sel.start)),
            Value::from(seconds(sel.end)),
            Value::from(seconds(sel.now)),
        ]);
        let rows = self.rows(&sql, params).await?;
        rows.iter()
            .map(|r| {
                Ok(StageTime {
                    stage_id: r.try_get("", "stage_id")?,
                    avg_secs: r.try_get("", "avg_secs")?,
                })
            })
            .collect()
    }
}

fn seconds(at: chrono::DateTime<chrono::Utc>) -> f64 {
    at.timestamp_micros() as f64 / 1e6
}
