//! The seed's legacy endpoints (`/overview`, `/conversion`, `/performance`), over every
//! pipeline of the workspace, with the definitions of the comprehensive report except the
//! legacy `winRate` (won / total).

use super::{
    MetricsState, check_workspace, numbers, range,
    report::{
        Totals, forecast_window, funnel_steps, range_of, selection, stage_days, store_buckets,
        trend_points,
    },
};
use crate::error::MetricsError;
use crate::store::trends::Window;
use chrono::Utc;
use crm_proto::metrics as pb;
use std::collections::HashMap;

/// `GET /api/pipeline/metrics/overview`.
pub async fn overview(
    state: &MetricsState,
    workspace_id: &str,
    given_workspace: &str,
    date_from: &str,
    date_to: &str,
) -> Result<pb::MetricsOverview, MetricsError> {
    check_workspace(workspace_id, given_workspace)?;
    let settings = state.settings(workspace_id).await?;
    let now = Utc::now();
    let range = range_of(
        &settings,
        now,
        ("date_from", date_from),
        ("date_to", date_to),
    )?;
    let catalog = state.catalog(workspace_id).await?;
    let sel = selection(workspace_id, "", &range, now, &settings);
    let groups = state
        .db
        .figures(&sel)
        .await
        .map_err(MetricsError::db("computing the overview"))?;
    let mut total = Totals::default();
    let mut per_stage: HashMap<&str, Totals> = HashMap::new();
    for g in groups
        .iter()
        .filter(|g| catalog.pipeline(&g.pipeline_id).is_some())
    {
        total.add(g, &settings.currency);
        per_stage
            .entry(g.stage_id.as_str())
            .or_default()
            .add(g, &settings.currency);
    }
    let stage_distribution = catalog
        .pipelines
        .iter()
        .flat_map(|p| catalog.stages_of(&p.id))
        .map(|s| {
            let t = per_stage.get(s.id.as_str()).cloned().unwrap_or_default();
            pb::StageDistribution {
                stage_id: s.id.clone(),
                stage_name: s.name.clone(),
                count: t.created,
                value: numbers::major(t.created_cents),
            }
        })
        .collect();
    Ok(pb::MetricsOverview {
        total_opportunities: total.created,
        total_value: numbers::major(total.created_cents),
        avg_deal_size: numbers::average(total.created_cents, total.created_in_currency),
        won_opportunities: total.won,
        won_value: numbers::major(total.won_cents),
        win_rate: numbers::percent(total.won, total.created),
        stage_distribution,
    })
}

/// `GET /api/pipeline/metrics/conversion`.
pub async fn conversion(
    state: &MetricsState,
    workspace_id: &str,
    given_workspace: &str,
    date_from: &str,
    date_to: &str,
) -> Result<pb::ConversionMetrics, MetricsError> {
    check_workspace(workspace_id, given_workspace)?;
    let settings = state.settings(workspace_id).await?;
    let now = Utc::now();
    let range = range_of(
        &settings,
        now,
        ("date_from", date_from),
        ("date_to", date_to),
    )?;
    let catalog = state.catalog(workspace_id).await?;
    let sel = selection(workspace_id, "", &range, now, &settings);
    let (steps, times) = tokio::try_join!(state.db.funnel(&sel), state.db.time_in_stage(&sel))
        .map_err(MetricsError::db("computing conversion"))?;
    let pipelines: Vec<&str> = catalog.pipelines.iter().map(|p| p.id.as_str()).collect();
    let conversion_rates = funnel_steps(&catalog, &pipelines, &steps)
        .into_iter()
        .map(|s| pb::ConversionRate {
            from_stage: s.from_stage,
            to_stage: s.to_stage,
            conversion_rate: s.conversion_rate,
            opportunities_moved: s.opportunities_moved,
            total_opportunities: s.total_opportunities,
        })
        .collect();
    let days = stage_days(&times);
    let avg_time_in_stage = pipelines
        .iter()
        .flat_map(|p| catalog.stages_of(p))
        .map(|s| pb::StageTime {
            stage_id: s.id.clone(),
            stage_name: s.name.clone(),
            avg_days: days.get(s.id.as_str()).copied().unwrap_or(0.0),
        })
        .collect();
    Ok(pb::ConversionMetrics {
        conversion_rates,
        avg_time_in_stage,
    })
}

/// `GET /api/pipeline/metrics/performance`.
pub async fn performance(
    state: &MetricsState,
    workspace_id: &str,
    given_workspace: &str,
    period: &str,
) -> Result<pb::PerformanceMetrics, MetricsError> {
    check_workspace(workspace_id, given_workspace)?;
    let period = range::Period::parse(period)?;
    let settings = state.settings(workspace_id).await?;
    let now = Utc::now();
    let range = range_of(&settings, now, ("date_from", ""), ("date_to", ""))?;
    let sel = selection(workspace_id, "", &range, now, &settings);
    let buckets = store_buckets(range::buckets(settings.tz, period, &range, 12));
    let (from, until) = range::window(settings.tz, now, period.forecast_days());
    let windows = [Window { from, until }];
    let (trends, forecast) = tokio::try_join!(
        state.db.trends(&sel, &buckets),
        state.db.forecast(&sel, &windows),
    )
    .map_err(MetricsError::db("computing performance"))?;
    Ok(pb::PerformanceMetrics {
        period: period.name().to_owned(),
        forecast: forecast.first().map(forecast_window),
        trends: trend_points(&buckets, &trends),
    })
}
