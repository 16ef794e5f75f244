//! Stays in stages, rebuilt from `opportunity_history`: an opportunity's first stay is in the
//! stage it was created in (the first move's `old_value`, or its current stage if it never
//! moved; creating writes no history row) from `created_at`; every move starts a stay in its
//! `new_value` that lasts until the next move (or is still open). Window functions (LEAD,
//! ROW_NUMBER, LAG) pair each move with the next on both backends.
//!
//! How the SQL is shaped, for speed (a workspace's every move is read on each call):
//! - the moves are numbered per opportunity before being joined to it, so svc-pipeline's
//!   `idx_history_stage_moves` hands them over already in that order (no sort);
//! - each opportunity's stays come from one outer join of the opportunity to its moves: a
//!   move gives its own stay, and the first move (or no move at all) also the creation stay
//!   ([`STAYS_FROM`]), instead of reading the moves twice and probing the history again for
//!   the opportunities that never moved;
//! - the funnel works on small integers (an opportunity and a stage numbered in the query),
//!   so what it sorts on are not text ids, whose comparisons dominated, and finds each step's
//!   figures in one sorted pass of window functions instead of joining the entries to
//!   themselves.

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

/// The CTE `moves`: each stage move of the workspace with its rank `n` among its
/// opportunity's moves and the time of the next one (`next_at`, NULL for the last).
const MOVES: &str = "\
moves AS ( \
  SELECT h.opportunity_id, h.old_value, h.new_value, h.changed_at, \
    ROW_NUMBER() OVER w AS n, LEAD(h.changed_at) OVER w AS next_at \
  FROM opportunity_history h \
  WHERE h.workspace_id = $1 AND h.field_changed = 'stage_id' \
  WINDOW w AS (PARTITION BY h.opportunity_id ORDER BY h.changed_at, h.id) \
)";

/// Every stay of the opportunities in `opp`: each (opportunity, move) row, or (opportunity,
/// NULL) for one that never moved, is paired with `part` 0 (the stay the move starts) and 1
/// (the creation stay, kept for the first move or no move). Selects from it use
/// [`STAY_STAGE`], [`STAY_ENTERED`] and [`STAY_EXITED`].
const STAYS_FROM: &str = "\
  opp LEFT JOIN moves m ON m.opportunity_id = opp.id \
  JOIN (SELECT 0 AS part UNION ALL SELECT 1) p \
    ON (p.part = 0 AND m.opportunity_id IS NOT NULL) \
    OR (p.part = 1 AND (m.opportunity_id IS NULL OR m.n = 1))";

/// A stay's stage: the move's `new_value`; for the creation stay the first move's
/// `old_value`, or the current stage of an opportunity that never moved.
const STAY_STAGE: &str = "CASE WHEN p.part = 0 THEN m.new_value \
  WHEN m.opportunity_id IS NULL THEN opp.stage_id ELSE m.old_value END";
/// When the stay began.
const STAY_ENTERED: &str = "CASE WHEN p.part = 0 THEN m.changed_at ELSE opp.created_at END";
/// When it ended: the next move (the first one, for the creation stay); NULL if still open.
const STAY_EXITED: &str = "CASE WHEN p.part = 0 THEN m.next_at ELSE m.changed_at END";

/// The live opportunities of the selection (not archived, in the pipeline if one is named).
const LIVE: &str =
    "o.workspace_id = $1 AND o.archived_at IS NULL AND ($4 = '' OR o.pipeline_id = $4)";

impl PipelineDb {
    /// Conversion between consecutive stages (by position) of each pipeline, counted over the
    /// opportunities created in the range.
    pub async fn funnel(&self, sel: &Selection) -> Result<Vec<StepFigures>, DbErr> {
        // `opp`: those created in the range, numbered `k`. `sn`: the workspace's stages
        // numbered `sk` by pipeline and position, so a stage's next one (same pipeline, next
        // position) is `sk + 1`; `has_next`/`has_prev` say whether that step exists. `entries`:
        // each stay's entry as (k, sk, time). Sorted by opportunity, stage and time, one pass of
        // two windows marks each entry with the opportunity's first entry into the stage before
        // (`from_first`: the `sk - 1` rows, a RANGE frame) and its previous entry into the same
        // stage (`prev_at`). So, with no join or grouping per opportunity: the first entry into
        // a stage is the one without `prev_at` (it counts as reached for the step from there);
        // the first entry into a stage after first entering the one before is the one entered
        // after `from_first` whose `prev_at` (if any) was not (it counts as moved for the step
        // into there). Per stage: reached from it, moved into it; steps pair them.
        let sql = format!(
            "WITH opp AS ( \
               SELECT ROW_NUMBER() OVER () AS k, o.id, o.stage_id, o.created_at \
               FROM opportunities o WHERE {LIVE} AND o.created_at >= $2 AND o.created_at < $3 \
             ), {MOVES}, sn AS ( \
               SELECT id, sk, \
                 CASE WHEN LEAD(position) OVER w = position + 1 THEN 1 ELSE 0 END AS has_next, \
                 CASE WHEN LAG(position) OVER w = position - 1 THEN 1 ELSE 0 END AS has_prev \
               FROM (SELECT id, pipeline_id, position, \
                   ROW_NUMBER() OVER (ORDER BY pipeline_id, position, id) AS sk \
                 FROM stages WHERE workspace_id = $1) s \
               WINDOW w AS (PARTITION BY pipeline_id ORDER BY position, id) \
             ), entries AS ( \
               SELECT opp.k, sn.sk, sn.has_next, sn.has_prev, {STAY_ENTERED} AS entered_at \
               FROM {STAYS_FROM} JOIN sn ON sn.id = {STAY_STAGE} \
             ), marked AS ( \
               SELECT sk, has_next, has_prev, entered_at, \
                 MIN(entered_at) OVER (PARTITION BY k ORDER BY sk \
                   RANGE BETWEEN 1 PRECEDING AND 1 PRECEDING) AS from_first, \
                 LAG(entered_at) OVER (PARTITION BY k, sk ORDER BY entered_at) AS prev_at \
               FROM entries \
             ), per_stage AS ( \
               SELECT sk, \
                 SUM(CASE WHEN prev_at IS NULL AND has_next = 1 THEN 1 ELSE 0 END) AS reached, \
                 SUM(moved) AS moved, \
                 AVG(CASE WHEN moved = 1 THEN {entered} - {from_first} END) AS avg_secs \
               FROM (SELECT sk, has_next, prev_at, entered_at, from_first, \
                   CASE WHEN has_prev = 1 AND entered_at > from_first \
                     AND (prev_at IS NULL OR prev_at <= from_first) THEN 1 ELSE 0 END AS moved \
                 FROM marked) x \
               GROUP BY sk \
             ) \
             SELECT f.id AS from_id, t.id AS to_id, a.reached, \
               COALESCE(b.moved, 0) AS moved, b.avg_secs \
             FROM per_stage a JOIN sn f ON f.sk = a.sk JOIN sn t ON t.sk = a.sk + 1 \
             LEFT JOIN per_stage b ON b.sk = a.sk + 1 \
             WHERE a.reached > 0",
            entered = self.epoch("entered_at"),
            from_first = self.epoch("from_first"),
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
            "WITH opp AS ( \
               SELECT o.id, o.stage_id, o.created_at FROM opportunities o WHERE {LIVE} \
             ), {MOVES} \
             SELECT stage_id, \
               AVG((CASE WHEN ex < $6 THEN ex ELSE $6 END) - (CASE WHEN en > $5 THEN en ELSE $5 END)) AS avg_secs \
             FROM (SELECT {STAY_STAGE} AS stage_id, {en} AS en, COALESCE({ex}, $7) AS ex \
               FROM {STAYS_FROM}) cut \
             WHERE en < $6 AND ex > $5 \
             GROUP BY stage_id",
            en = self.epoch(&format!("({STAY_ENTERED})")),
            ex = self.epoch(&format!("({STAY_EXITED})")),
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
