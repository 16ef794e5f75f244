//! The usage tables' upkeep: on Postgres, day partitions of `request_log` made ahead
//! (yesterday to the day after tomorrow, UTC), before serving and every interval; then, in
//! the background, requests and rollup minutes older than the retention period removed.

use crate::error::MetricsError;
use crate::store::usage::{
    UsageDb,
    retention::{DayPartition, Pruned, partition_name},
};
use chrono::{DateTime, Days, Utc};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Makes the day partitions around `now` (Postgres): yesterday to the day after tomorrow.
pub async fn prepare(db: &UsageDb, now: DateTime<Utc>) {
    let today = now.date_naive();
    let first = today.checked_sub_days(Days::new(1)).unwrap_or(today);
    for day in first.iter_days().take(4) {
        // One day failing (another instance made it at the same moment) leaves the others.
        match db.ensure_day_partition(day).await {
            Ok(DayPartition::Created) => {
                tracing::info!(partition = %partition_name(day), "made request log partition");
            }
            Ok(DayPartition::Existed | DayPartition::Unpartitioned) => {}
            Ok(DayPartition::RowsInDefault) => tracing::warn!(
                partition = %partition_name(day),
                "rows of this day are already in request_log_default; the day gets no partition"
            ),
            Err(e) => tracing::warn!(
                partition = %partition_name(day),
                error = %e,
                "could not make request log partition"
            ),
        }
    }
}

/// [`prepare`]s, then prunes what is older than `retention_days` before `now` (0 keeps
/// everything).
pub async fn maintain(
    db: &UsageDb,
    now: DateTime<Utc>,
    retention_days: u32,
) -> Result<Pruned, MetricsError> {
    prepare(db, now).await;
    if retention_days == 0 {
        return Ok(Pruned::default());
    }
    let cutoff = now - chrono::Duration::days(i64::from(retention_days));
    db.prune_before(cutoff)
        .await
        .map_err(MetricsError::db("pruning the request log"))
}

/// Runs [`maintain`] now and every `every` until `shutdown`.
pub fn spawn(
    db: UsageDb,
    retention_days: u32,
    every: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let task = async move {
        loop {
            match maintain(&db, Utc::now(), retention_days).await {
                Ok(p) if p == Pruned::default() => {}
                Ok(p) => tracing::info!(
                    partitions = p.partitions,
                    rows = p.rows,
                    minutes = p.minutes,
                    "pruned API usage past retention"
                ),
                Err(e) => tracing::warn!(error = %e, "API usage upkeep failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    };
    tokio::spawn(tracing::Instrument::instrument(
        task,
        tracing::info_span!("usage_retention"),
    ))
}
