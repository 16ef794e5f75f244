//! `GET /api/pipeline/metrics`: the comprehensive report, assembled from the store's grouped
//! figures. Counts and rates cover every currency; money covers the workspace's default
//! currency, with `summary.by_currency` giving each currency's money.

use super::{Catalog, MetricsState, Settings, numbers, optional_id, range};
use crate::error::MetricsError;
use crate::store::{
    Selection,
    figures::GroupFigures,
    history::{StageTime, StepFigures},
    trends::{Bucket, Window, WindowFigures},
};
use chrono::{DateTime, Utc};
use crm_proto::metrics as pb;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The comprehensive report's parameters, as received.
pub struct MetricsQuery<'a> {
    pub pipeline_id: &'a str,
    pub start_date: &'a str,
    pub end_date: &'a str,
    pub stage_id: &'a str,
}

/// Figures summed over groups. Counts over every currency; money (`*_cents`) over one.
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    pub created: i64,
    pub won: i64,
    pub lost: i64,
    pub open: i64,
    /// Created in the range in the money's currency (the average's denominator).
    pub created_in_currency: i64,
    pub created_cents: i128,
    pub won_cents: i128,
    pub lost_cents: i128,
    pub open_cents: i128,
    pub weighted_cent_percent: i128,
}

impl Totals {
    /// Adds a group; its money counts when it is in `currency`.
    pub fn add(&mut self, g: &GroupFigures, currency: &str) {
        self.created += g.created;
        self.won += g.won;
        self.lost += g.lost;
        self.open += g.open;
        if g.currency.eq_ignore_ascii_case(currency) {
            self.created_in_currency += g.created;
            self.created_cents += g.created_cents;
            self.won_cents += g.won_cents;
            self.lost_cents += g.lost_cents;
            self.open_cents += g.open_cents;
            self.weighted_cent_percent += g.weighted_cent_percent;
        }
    }

    fn average(&self) -> f64 {
        numbers::average(self.created_cents, self.created_in_currency)
    }
}

/// The range of a request in the workspace's timezone.
pub(crate) fn range_of(
    settings: &Settings,
    now: DateTime<Utc>,
    from: (&'static str, &str),
    to: (&'static str, &str),
) -> Result<range::Range, MetricsError> {
    let start = range::parse_date(from.0, from.1)?;
    let end = range::parse_date(to.0, to.1)?;
    range::Range::new(settings.tz, now, (from.0, start), (to.0, end))
}

pub(crate) fn selection(
    workspace_id: &str,
    pipeline_id: &str,
    range: &range::Range,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Selection {
    Selection {
        workspace_id: workspace_id.to_owned(),
        pipeline_id: pipeline_id.to_owned(),
        start: range.start,
        end: range.end,
        now,
        currency: settings.currency.clone(),
    }
}

/// Funnel steps between consecutive stages of `pipelines`, zero where nobody reached a stage.
pub(crate) fn funnel_steps(
    catalog: &Catalog,
    pipelines: &[&str],
    steps: &[StepFigures],
) -> Vec<pb::FunnelStep> {
    let by_pair: HashMap<(&str, &str), &StepFigures> = steps
        .iter()
        .map(|s| ((s.from_stage_id.as_str(), s.to_stage_id.as_str()), s))
        .collect();
    let mut out = Vec::new();
    for pipeline in pipelines {
        let name = catalog
            .pipeline(pipeline)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        for pair in catalog.stages_of(pipeline).windows(2) {
            let (from, to) = (pair[0], pair[1]);
            let step = by_pair
                .get(&(from.id.as_str(), to.id.as_str()))
                .copied()
                .cloned()
                .unwrap_or_default();
            out.push(pb::FunnelStep {
                from_stage: from.name.clone(),
                to_stage: to.name.clone(),
                from_stage_id: from.id.clone(),
                to_stage_id: to.id.clone(),
                pipeline_name: name.clone(),
                conversion_rate: numbers::percent(step.moved, step.reached),
                opportunities_moved: step.moved,
                total_opportunities: step.reached,
                average_time_days: numbers::days(step.avg_secs),
            });
        }
    }
    out
}

/// Trend points for `buckets` (newest first), zero where nothing happened.
pub(crate) fn trend_points(
    buckets: &[Bucket],
    figures: &HashMap<String, crate::store::trends::BucketFigures>,
) -> Vec<pb::TrendPoint> {
    buckets
        .iter()
        .map(|b| {
            let f = figures.get(&b.label).cloned().unwrap_or_default();
            pb::TrendPoint {
                period: b.label.clone(),
                new_opportunities: f.created,
                closed_won: f.won,
                closed_lost: f.lost,
                revenue: numbers::major(f.won_cents),
                pipeline_value: numbers::major(f.created_cents),
            }
        })
        .collect()
}

pub(crate) fn store_buckets(buckets: Vec<range::Bucket>) -> Vec<Bucket> {
    buckets
        .into_iter()
        .map(|b| Bucket {
            label: b.label,
            start: b.start,
            end: b.end,
        })
        .collect()
}

pub(crate) fn forecast_window(f: &WindowFigures) -> pb::ForecastWindow {
    let expected = numbers::major(f.expected_cents);
    pb::ForecastWindow {
        expected_revenue: expected,
        weighted_revenue: numbers::weighted_major(f.weighted_cent_percent),
        // Every open opportunity expected to close in the window is won.
        best_case: expected,
        // Only those at 75 % or more are won.
        worst_case: numbers::major(f.likely_cents),
        opportunities_closing: f.closing,
    }
}

pub(crate) fn stage_days(times: &[StageTime]) -> HashMap<&str, f64> {
    times
        .iter()
        .map(|t| (t.stage_id.as_str(), numbers::days(t.avg_secs)))
        .collect()
}

/// The comprehensive report for the caller's workspace.
pub async fn pipeline_metrics(
    state: &MetricsState,
    workspace_id: &str,
    query: MetricsQuery<'_>,
) -> Result<pb::PipelineMetrics, MetricsError> {
    let pipeline_id = optional_id("pipeline_id", query.pipeline_id)?;
    let stage_id = optional_id("stageId", query.stage_id)?;
    let settings = state.settings(workspace_id).await?;
    let now = Utc::now();
    let range = range_of(
        &settings,
        now,
        ("startDate", query.start_date),
        ("endDate", query.end_date),
    )?;
    let catalog = state.catalog(workspace_id).await?;

    // One pipeline when named (or implied by the stage), else all of them.
    let mut pipeline = match &pipeline_id {
        Some(id) => Some(
            catalog
                .pipeline(id)
                .ok_or_else(|| MetricsError::PipelineNotFound(id.clone()))?,
        ),
        None => None,
    };
    if let Some(id) = &stage_id {
        let stage = catalog
            .stages
            .iter()
            .find(|s| &s.id == id)
            .filter(|s| pipeline.is_none_or(|p| p.id == s.pipeline_id))
            .ok_or_else(|| MetricsError::StageNotFound(id.clone()))?;
        pipeline = Some(
            catalog
                .pipeline(&stage.pipeline_id)
                .ok_or_else(|| MetricsError::StageNotFound(id.clone()))?,
        );
    }
    let pipelines: Vec<&str> = match pipeline {
        Some(p) => vec![p.id.as_str()],
        None => catalog.pipelines.iter().map(|p| p.id.as_str()).collect(),
    };
    let sel = selection(
        workspace_id,
        pipeline.map(|p| p.id.as_str()).unwrap_or(""),
        &range,
        now,
        &settings,
    );
    let buckets = range::buckets(
        settings.tz,
        range::Period::Month,
        &range,
        if range.bounded_start { 24 } else { 12 },
    );
    let buckets = store_buckets(buckets);
    let windows: Vec<Window> = [30, 90]
        .into_iter()
        .map(|days| {
            let (from, until) = range::window(settings.tz, now, days);
            Window { from, until }
        })
        .collect();
    let db = &state.db;
    let (groups, steps, times, trends, forecast) = tokio::try_join!(
        db.figures(&sel),
        db.funnel(&sel),
        db.time_in_stage(&sel),
        db.trends(&sel, &buckets),
        db.forecast(&sel, &windows),
    )
    .map_err(MetricsError::db("computing pipeline metrics"))?;

    let known: HashSet<&str> = pipelines.iter().copied().collect();
    let groups: Vec<&GroupFigures> = groups
        .iter()
        .filter(|g| known.contains(g.pipeline_id.as_str()))
        .collect();
    let currency = settings.currency.as_str();

    let mut total = Totals::default();
    let mut per_currency: BTreeMap<String, Totals> = BTreeMap::new();
    let mut per_pipeline: HashMap<&str, Totals> = HashMap::new();
    let mut per_stage: HashMap<&str, Totals> = HashMap::new();
    for g in &groups {
        total.add(g, currency);
        per_currency
            .entry(g.currency.to_ascii_uppercase())
            .or_default()
            .add(g, &g.currency);
        per_pipeline
            .entry(g.pipeline_id.as_str())
            .or_default()
            .add(g, currency);
        per_stage
            .entry(g.stage_id.as_str())
            .or_default()
            .add(g, currency);
    }

    let pipeline_value = numbers::major(total.open_cents);
    let summary = pb::MetricsSummary {
        total_opportunities: total.created,
        total_value: numbers::major(total.created_cents),
        won_opportunities: total.won,
        won_value: numbers::major(total.won_cents),
        lost_opportunities: total.lost,
        lost_value: numbers::major(total.lost_cents),
        win_rate: numbers::percent(total.won, total.won + total.lost),
        loss_rate: numbers::percent(total.lost, total.won + total.lost),
        average_deal_size: total.average(),
        total_pipeline_value: pipeline_value,
        active_pipeline_value: pipeline_value,
        weighted_pipeline_value: numbers::weighted_major(total.weighted_cent_percent),
        currency: currency.to_owned(),
        by_currency: per_currency
            .into_iter()
            .filter(|(_, t)| t.created + t.won + t.lost + t.open > 0)
            .map(|(code, t)| pb::CurrencyFigures {
                currency: code,
                total_opportunities: t.created,
                total_value: numbers::major(t.created_cents),
                won_opportunities: t.won,
                won_value: numbers::major(t.won_cents),
                lost_opportunities: t.lost,
                lost_value: numbers::major(t.lost_cents),
                average_deal_size: t.average(),
                open_opportunities: t.open,
                pipeline_value: numbers::major(t.open_cents),
                weighted_pipeline_value: numbers::weighted_major(t.weighted_cent_percent),
            })
            .collect(),
    };

    let by_pipeline = pipelines
        .iter()
        .filter_map(|id| catalog.pipeline(id))
        .map(|p| {
            let t = per_pipeline.get(p.id.as_str()).cloned().unwrap_or_default();
            pb::PipelineFigures {
                pipeline_id: p.id.clone(),
                pipeline_name: p.name.clone(),
                total_opportunities: t.created,
                total_value: numbers::major(t.created_cents),
                win_rate: numbers::percent(t.won, t.won + t.lost),
                active_value: numbers::major(t.open_cents),
            }
        })
        .collect();

    let mut funnel = funnel_steps(&catalog, &pipelines, &steps);
    let rate_from: HashMap<String, f64> = funnel
        .iter()
        .map(|s| (s.from_stage_id.clone(), s.conversion_rate))
        .collect();
    let days = stage_days(&times);
    let mut by_stage = Vec::new();
    for pid in &pipelines {
        let pipeline_name = catalog.pipeline(pid).map(|p| p.name.clone());
        for s in catalog.stages_of(pid) {
            if stage_id.as_ref().is_some_and(|id| id != &s.id) {
                continue;
            }
            let t = per_stage.get(s.id.as_str()).cloned().unwrap_or_default();
            by_stage.push(pb::StageFigures {
                stage_id: s.id.clone(),
                stage_name: s.name.clone(),
                pipeline_id: s.pipeline_id.clone(),
                pipeline_name: pipeline_name.clone().unwrap_or_default(),
                position: s.position,
                count: t.created,
                total_value: numbers::major(t.created_cents),
                average_value: t.average(),
                conversion_rate: rate_from.get(&s.id).copied().unwrap_or(0.0),
                avg_time_in_stage_days: days.get(s.id.as_str()).copied().unwrap_or(0.0),
            });
        }
    }
    if let Some(id) = &stage_id {
        funnel.retain(|s| &s.from_stage_id == id);
    }

    let forecast_of = |i: usize| forecast.get(i).map(forecast_window);
    Ok(pb::PipelineMetrics {
        pipeline_info: pipeline.map(|p| pb::PipelineInfo {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
        }),
        summary: Some(summary),
        by_pipeline,
        by_stage,
        conversion_funnel: funnel,
        trends: trend_points(&buckets, &trends),
        forecast: Some(pb::Forecast {
            next_30_days: forecast_of(0),
            next_90_days: forecast_of(1),
        }),
    })
}
