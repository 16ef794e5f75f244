//! What `GET /api/pipeline/metrics` must answer, computed deal by deal from the test's record
//! (docs/metrics.md's definitions, written again here in plain Rust).

use super::book::{Book, Deal, StageInfo};
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

/// A request as the model sees it.
pub struct Query {
    pub pipeline: Option<usize>,
    /// (pipeline, stage index)
    pub stage: Option<(usize, usize)>,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    /// The workspace's UTC offset (the tests use zones without DST).
    pub offset: FixedOffset,
    pub currency: &'static str,
    pub now: DateTime<Utc>,
}

impl Query {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            pipeline: None,
            stage: None,
            start: None,
            end: None,
            offset: FixedOffset::east_opt(0).unwrap(),
            currency: "USD",
            now,
        }
    }

    fn midnight(&self, day: NaiveDate) -> DateTime<Utc> {
        self.offset
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc)
    }

    fn start_at(&self) -> Option<DateTime<Utc>> {
        self.start.map(|d| self.midnight(d))
    }

    fn end_at(&self) -> DateTime<Utc> {
        self.end
            .map(|d| self.midnight(d.succ_opt().unwrap()))
            .unwrap_or(self.now)
    }

    fn in_range(&self, at: DateTime<Utc>) -> bool {
        self.start_at().is_none_or(|s| at >= s) && at < self.end_at()
    }

    /// The query string of this request.
    pub fn path(&self, book: &Book<'_>) -> String {
        let mut params = Vec::new();
        if let Some(p) = self.pipeline {
            params.push(format!("pipeline_id={}", book.pipelines[p].id));
        }
        if let Some((p, s)) = self.stage {
            params.push(format!("stageId={}", book.stage(p, s).id));
        }
        if let Some(d) = self.start {
            params.push(format!("startDate={d}"));
        }
        if let Some(d) = self.end {
            params.push(format!("endDate={d}"));
        }
        format!("/api/pipeline/metrics?{}", params.join("&"))
    }
}

fn major(cents: i128) -> f64 {
    cents as f64 / 100.0
}

fn rate(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 100.0 / whole as f64 * 100.0).round() / 100.0
}

fn avg_money(cents: i128, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as i128;
    major((2 * cents + n) / (2 * n))
}

fn weighted(deals: &[&Deal]) -> f64 {
    let cp: i128 = deals
        .iter()
        .map(|d| i128::from(d.amount_cents) * i128::from(d.probability))
        .sum();
    major((cp + 50) / 100)
}

fn days(secs: &[f64]) -> f64 {
    if secs.is_empty() {
        return 0.0;
    }
    (secs.iter().sum::<f64>() / secs.len() as f64 / 86_400.0 * 10.0).round() / 10.0
}

fn sum(deals: &[&Deal]) -> i128 {
    deals.iter().map(|d| i128::from(d.amount_cents)).sum()
}

/// Figures of a set of deals: (created, won, lost, open) as in docs/metrics.md.
struct Sets<'d> {
    created: Vec<&'d Deal>,
    won: Vec<&'d Deal>,
    lost: Vec<&'d Deal>,
    open: Vec<&'d Deal>,
}

impl<'d> Sets<'d> {
    fn of(q: &Query, deals: impl Iterator<Item = &'d Deal>) -> Self {
        let mut s = Sets {
            created: vec![],
            won: vec![],
            lost: vec![],
            open: vec![],
        };
        for d in deals {
            let created = q.in_range(d.created_at());
            if created {
                s.created.push(d);
                if d.closed.is_none() {
                    s.open.push(d);
                }
            }
            match d.closed {
                Some((true, at)) if q.in_range(at) => s.won.push(d),
                Some((false, at)) if q.in_range(at) => s.lost.push(d),
                _ => {}
            }
        }
        s
    }

    fn mine<'x>(list: &'x [&'d Deal], currency: &str) -> Vec<&'d Deal> {
        list.iter()
            .copied()
            .filter(|d| d.currency == currency)
            .collect()
    }
}

/// A stay: stage, entered, exited (None while still there).
type Stay<'d> = (&'d str, DateTime<Utc>, Option<DateTime<Utc>>);

/// The deal's stays with their ends.
fn stays(d: &Deal) -> Vec<Stay<'_>> {
    (0..d.stays.len())
        .map(|i| {
            let next = d.stays.get(i + 1).map(|s| s.1);
            (d.stays[i].0.as_str(), d.stays[i].1, next)
        })
        .collect()
}

/// The expected `data` of the comprehensive report.
pub fn report(book: &Book<'_>, q: &Query) -> Value {
    let pipeline = q.pipeline.or(q.stage.map(|(p, _)| p));
    let pipelines: Vec<usize> = match pipeline {
        Some(p) => vec![p],
        None => (0..book.pipelines.len()).collect(),
    };
    let ids: Vec<&str> = pipelines
        .iter()
        .map(|p| book.pipelines[*p].id.as_str())
        .collect();
    let deals: Vec<&Deal> = book
        .deals
        .iter()
        .filter(|d| ids.contains(&d.pipeline_id.as_str()))
        .collect();
    let all = Sets::of(q, deals.iter().copied());
    let cur = q.currency;

    let mut currencies: Vec<&str> = deals.iter().map(|d| d.currency.as_str()).collect();
    currencies.sort();
    currencies.dedup();
    let by_currency: Vec<Value> = currencies
        .iter()
        .filter_map(|c| {
            let s = Sets::of(q, deals.iter().copied().filter(|d| d.currency == *c));
            if s.created.len() + s.won.len() + s.lost.len() == 0 {
                return None;
            }
            Some(json!({
                "currency": c,
                "total_opportunities": s.created.len(),
                "total_value": major(sum(&s.created)),
                "won_opportunities": s.won.len(),
                "won_value": major(sum(&s.won)),
                "lost_opportunities": s.lost.len(),
                "lost_value": major(sum(&s.lost)),
                "average_deal_size": avg_money(sum(&s.created), s.created.len()),
                "open_opportunities": s.open.len(),
                "pipeline_value": major(sum(&s.open)),
                "weighted_pipeline_value": weighted(&s.open),
            }))
        })
        .collect();
    let created_mine = Sets::mine(&all.created, cur);
    let open_mine = Sets::mine(&all.open, cur);
    let closed = all.won.len() + all.lost.len();
    let summary = json!({
        "total_opportunities": all.created.len(),
        "total_value": major(sum(&created_mine)),
        "won_opportunities": all.won.len(),
        "won_value": major(sum(&Sets::mine(&all.won, cur))),
        "lost_opportunities": all.lost.len(),
        "lost_value": major(sum(&Sets::mine(&all.lost, cur))),
        "win_rate": rate(all.won.len(), closed),
        "loss_rate": rate(all.lost.len(), closed),
        "average_deal_size": avg_money(sum(&created_mine), created_mine.len()),
        "total_pipeline_value": major(sum(&open_mine)),
        "active_pipeline_value": major(sum(&open_mine)),
        "weighted_pipeline_value": weighted(&open_mine),
        "currency": cur,
        "by_currency": by_currency,
    });

    let by_pipeline: Vec<Value> = pipelines
        .iter()
        .map(|p| {
            let info = &book.pipelines[*p];
            let s = Sets::of(
                q,
                deals.iter().copied().filter(|d| d.pipeline_id == info.id),
            );
            json!({
                "pipeline_id": info.id,
                "pipeline_name": info.name,
                "total_opportunities": s.created.len(),
                "total_value": major(sum(&Sets::mine(&s.created, cur))),
                "win_rate": rate(s.won.len(), s.won.len() + s.lost.len()),
                "active_value": major(sum(&Sets::mine(&s.open, cur))),
            })
        })
        .collect();

    let mut funnel = Vec::new();
    let mut by_stage = Vec::new();
    for p in &pipelines {
        let info = &book.pipelines[*p];
        let stages = &info.stages;
        for (i, stage) in stages.iter().enumerate() {
            let step = stages.get(i + 1).map(|next| step(q, &deals, stage, next));
            if let Some((moved, reached, secs)) = &step {
                let next = &stages[i + 1];
                if q.stage.is_none_or(|(_, s)| s == i) {
                    funnel.push(json!({
                        "from_stage": stage.name,
                        "to_stage": next.name,
                        "from_stage_id": stage.id,
                        "to_stage_id": next.id,
                        "pipeline_name": info.name,
                        "conversion_rate": rate(*moved, *reached),
                        "opportunities_moved": moved,
                        "total_opportunities": reached,
                        "average_time_days": days(secs),
                    }));
                }
            }
            if q.stage.is_some_and(|(_, s)| s != i) {
                continue;
            }
            let here: Vec<&Deal> = all
                .created
                .iter()
                .copied()
                .filter(|d| d.stage_id() == stage.id)
                .collect();
            let here_mine = Sets::mine(&here, cur);
            by_stage.push(json!({
                "stage_id": stage.id,
                "stage_name": stage.name,
                "pipeline_id": info.id,
                "pipeline_name": info.name,
                "position": stage.position,
                "count": here.len(),
                "total_value": major(sum(&here_mine)),
                "average_value": avg_money(sum(&here_mine), here_mine.len()),
                "conversion_rate": step.map(|(m, r, _)| rate(m, r)).unwrap_or(0.0),
                "avg_time_in_stage_days": time_in_stage(q, &deals, stage),
            }));
        }
    }

    json!({
        "pipeline_info": pipeline.map(|p| json!({
            "id": book.pipelines[p].id, "name": book.pipelines[p].name, "description": null
        })),
        "summary": summary,
        "by_pipeline": by_pipeline,
        "by_stage": by_stage,
        "conversion_funnel": funnel,
        "trends": trends(q, &deals),
        "forecast": {
            "next_30_days": forecast(q, &deals, 30),
            "next_90_days": forecast(q, &deals, 90),
        },
    })
}

/// (moved, reached, seconds to move) from `from` to `to` among deals created in the range.
fn step(q: &Query, deals: &[&Deal], from: &StageInfo, to: &StageInfo) -> (usize, usize, Vec<f64>) {
    let (mut moved, mut reached, mut secs) = (0, 0, Vec::new());
    for d in deals.iter().filter(|d| q.in_range(d.created_at())) {
        let Some(first) = d.stays.iter().find(|s| s.0 == from.id).map(|s| s.1) else {
            continue;
        };
        reached += 1;
        if let Some(next) = d.stays.iter().find(|s| s.0 == to.id && s.1 > first) {
            moved += 1;
            secs.push((next.1 - first).num_milliseconds() as f64 / 1000.0);
        }
    }
    (moved, reached, secs)
}

fn time_in_stage(q: &Query, deals: &[&Deal], stage: &StageInfo) -> f64 {
    let end = q.end_at();
    let mut secs = Vec::new();
    for d in deals {
        for (id, entered, exited) in stays(d) {
            let exited = exited.unwrap_or(q.now);
            if id != stage.id || entered >= end || q.start_at().is_some_and(|s| exited <= s) {
                continue;
            }
            let from = q.start_at().map_or(entered, |s| entered.max(s));
            let until = exited.min(end);
            secs.push((until - from).num_milliseconds() as f64 / 1000.0);
        }
    }
    days(&secs)
}

fn trends(q: &Query, deals: &[&Deal]) -> Vec<Value> {
    let end = q.end_at();
    let start = q.start_at();
    let local_last = (end - Duration::microseconds(1)).with_timezone(&q.offset);
    let (mut year, mut month) = (local_last.year(), local_last.month());
    let max = if start.is_some() { 24 } else { 12 };
    let mut out = Vec::new();
    while out.len() < max {
        let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap();
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1).unwrap()
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap()
        };
        let (b_start, b_end) = (q.midnight(first), q.midnight(next));
        if start.is_some_and(|s| b_end <= s) {
            break;
        }
        let lo = start.map_or(b_start, |s| b_start.max(s));
        let hi = b_end.min(end);
        let inside = |at: DateTime<Utc>| at >= lo && at < hi;
        let created: Vec<&Deal> = deals
            .iter()
            .copied()
            .filter(|d| inside(d.created_at()))
            .collect();
        let won: Vec<&Deal> = deals
            .iter()
            .copied()
            .filter(|d| matches!(d.closed, Some((true, at)) if inside(at)))
            .collect();
        let lost = deals
            .iter()
            .filter(|d| matches!(d.closed, Some((false, at)) if inside(at)))
            .count();
        out.push(json!({
            "period": format!("{year}-{month:02}"),
            "new_opportunities": created.len(),
            "closed_won": won.len(),
            "closed_lost": lost,
            "revenue": major(sum(&Sets::mine(&won, q.currency))),
            "pipeline_value": major(sum(&Sets::mine(&created, q.currency))),
        }));
        (year, month) = if month == 1 {
            (year - 1, 12)
        } else {
            (year, month - 1)
        };
    }
    out
}

pub fn forecast(q: &Query, deals: &[&Deal], days_ahead: i64) -> Value {
    let today = q.now.with_timezone(&q.offset).date_naive();
    let until = today + Duration::days(days_ahead);
    let closing: Vec<&Deal> = deals
        .iter()
        .copied()
        .filter(|d| d.closed.is_none() && q.in_range(d.created_at()))
        .filter(|d| d.expected_close.is_some_and(|e| e >= today && e < until))
        .collect();
    let mine = Sets::mine(&closing, q.currency);
    let likely: Vec<&Deal> = mine
        .iter()
        .copied()
        .filter(|d| d.probability >= 75)
        .collect();
    json!({
        "expected_revenue": major(sum(&mine)),
        "weighted_revenue": weighted(&mine),
        "best_case": major(sum(&mine)),
        "worst_case": major(sum(&likely)),
        "opportunities_closing": closing.len(),
    })
}
