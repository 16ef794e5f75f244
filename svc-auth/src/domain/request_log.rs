//! The request log of API-key calls: written in batches by gateways, read as filtered pages
//! (seed 002 "View request logs") and as usage statistics (seed 003), pruned after the
//! retention period.

use super::{AuthState, api_key, request_log_read as read};
use crate::store::log_chunk::time_of;
use crate::store::request_log::{self as store, LogFilter, StatusFilter};
use chrono::{DateTime, Utc};
use crm_platform::{Principal, error::ApiError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::Status;

pub use read::RequestLog;

/// Longest page.
pub const MAX_PAGE_SIZE: u32 = 100;

pub use super::request_log_batch::{BatchBuilder, LogBatch, NewLog, chunks_of};
/// Stores a gateway's batch; the caller has checked [`LogBatch::names_only_its_texts`].
pub async fn record(state: &AuthState, batch: LogBatch) -> Result<usize, Status> {
    let n = batch.entries.len();
    store::insert_chunks(&state.usage_writer, chunks_of(batch)).await?;
    Ok(n)
}

/// Filters of a log or usage query as the caller sent them.
#[derive(Default)]
pub struct Query {
    /// Status code, class (`4xx`), `success` or `error`.
    pub status: String,
    /// HTTP method.
    pub method: String,
    /// Endpoint substring.
    pub endpoint: String,
    /// From.
    pub from: Option<DateTime<Utc>>,
    /// Until.
    pub to: Option<DateTime<Utc>>,
}

fn status_filter(status: &str) -> Result<StatusFilter, ApiError> {
    let s = status.trim().to_ascii_lowercase();
    Ok(match s.as_str() {
        "" => StatusFilter::Any,
        "success" => StatusFilter::Range(0, 399),
        "error" => StatusFilter::Range(400, 999),
        class if class.len() == 3 && class.ends_with("xx") => {
            let d = class[..1]
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=5).contains(d))
                .ok_or_else(bad_status)?;
            StatusFilter::Range(d * 100, d * 100 + 99)
        }
        code => {
            let c = code
                .parse::<u32>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(bad_status)?;
            StatusFilter::Range(c, c)
        }
    })
}

fn bad_status() -> ApiError {
    ApiError::invalid_field(
        "status",
        "must be a status code (404), a class (4xx), 'success' or 'error'",
    )
}

fn filter(key_ids: Vec<String>, q: &Query) -> Result<LogFilter, ApiError> {
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from >= to
    {
        return Err(ApiError::invalid_field(
            "date_to",
            "must be after date_from",
        ));
    }
    let method = q.method.trim().to_ascii_uppercase();
    if !method.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(ApiError::invalid_field("method", "must be an HTTP method"));
    }
    Ok(LogFilter {
        api_key_ids: key_ids,
        status: status_filter(&q.status)?,
        method: (!method.is_empty()).then_some(method),
        endpoint: (!q.endpoint.trim().is_empty()).then(|| q.endpoint.trim().to_owned()),
        from: q.from,
        to: q.to,
    })
}

/// One page of a key's log.
pub struct Page {
    /// Rows, newest first.
    pub rows: Vec<RequestLog>,
    /// 1-based page.
    pub page: u32,
    /// Page size.
    pub limit: u32,
    /// Matching rows in all.
    pub total: u64,
}

/// A page of the log of a key the caller may see.
pub async fn logs(
    state: &AuthState,
    principal: &Principal,
    key_id: &str,
    q: &Query,
    page: u32,
    limit: u32,
) -> Result<Page, Status> {
    let key = api_key::get(state, principal, key_id).await?;
    let page = page.max(1);
    let limit = if limit == 0 { 20 } else { limit };
    if limit > MAX_PAGE_SIZE {
        return Err(
            ApiError::invalid_field("limit", format!("must be at most {MAX_PAGE_SIZE}")).into(),
        );
    }
    let f = filter(vec![key.id.clone()], q)?;
    let (rows, total) = read::page(
        &state.db,
        &key.workspace_id,
        &f,
        u64::from(page),
        u64::from(limit),
    )
    .await?;
    Ok(Page {
        rows,
        page,
        limit,
        total,
    })
}

/// Seed 003's usage statistics.
#[derive(Debug, Default)]
pub struct Usage {
    /// Requests.
    pub total: u64,
    /// Requests answered below 400.
    pub successful: u64,
    /// Mean latency, ms.
    pub average_ms: u64,
    /// (endpoint, requests, mean latency), busiest first.
    pub by_endpoint: Vec<(String, u64, u64)>,
    /// (bucket, requests), oldest first.
    pub by_time: Vec<(String, u64)>,
    /// (status, requests), commonest first, at most five.
    pub top_errors: Vec<(u32, u64)>,
}

fn mean(sum: u64, n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        ((sum as f64) / (n as f64)).round() as u64
    }
}

/// Usage statistics over the requests of `key_ids` (all in `workspace_id`).
pub async fn usage(
    state: &AuthState,
    workspace_id: &str,
    key_ids: Vec<String>,
    q: &Query,
    group_by: &str,
) -> Result<Usage, Status> {
    let by_day = match group_by.trim() {
        "" | "day" => true,
        "hour" => false,
        _ => return Err(ApiError::invalid_field("group_by", "must be 'hour' or 'day'").into()),
    };
    let f = filter(key_ids, q)?;
    let bucket_ms = if by_day { 86_400_000 } else { 3_600_000 };
    let sums = read::sums(&state.db, workspace_id, &f, bucket_ms).await?;
    let mut by_endpoint: Vec<(String, u64, u64)> = sums
        .by_endpoint
        .into_iter()
        .map(|(e, (n, ms))| (e, n, mean(ms, n)))
        .collect();
    by_endpoint.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut by_time: Vec<(i64, u64)> = sums.by_time.into_iter().collect();
    by_time.sort();
    let format = if by_day {
        "%Y-%m-%d"
    } else {
        "%Y-%m-%dT%H:00:00Z"
    };
    let by_time = by_time
        .into_iter()
        .map(|(at, n)| (time_of(at).format(format).to_string(), n))
        .collect();
    let mut top_errors: Vec<(u32, u64)> = sums.by_error.into_iter().collect();
    top_errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top_errors.truncate(5);
    Ok(Usage {
        total: sums.total,
        successful: sums.successful,
        average_ms: mean(sums.ms, sums.total),
        by_endpoint,
        by_time,
        top_errors,
    })
}

/// Usage of one key the caller may see.
pub async fn key_usage(
    state: &AuthState,
    principal: &Principal,
    key_id: &str,
    q: &Query,
    group_by: &str,
) -> Result<Usage, Status> {
    let key = api_key::get(state, principal, key_id).await?;
    usage(state, &key.workspace_id, vec![key.id], q, group_by).await
}

/// Deletes rows older than `retention` every `every` until `shutdown`; a zero retention keeps
/// everything.
pub fn spawn_pruning(
    state: AuthState,
    retention: Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    if retention.is_zero() {
        return;
    }
    let task = async move {
        loop {
            let cutoff = Utc::now() - chrono::Duration::from_std(retention).unwrap_or_default();
            match store::prune_before_global(&state.db, cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(chunks = n, "pruned request logs past retention"),
                Err(e) => tracing::warn!(code = ?e.code(), "request log prune failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    };
    tokio::spawn(tracing::Instrument::instrument(
        task,
        tracing::info_span!("request_log_retention"),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters() {
        assert_eq!(status_filter("").unwrap(), StatusFilter::Any);
        assert_eq!(status_filter("4xx").unwrap(), StatusFilter::Range(400, 499));
        assert_eq!(status_filter("429").unwrap(), StatusFilter::Range(429, 429));
        assert_eq!(
            status_filter("error").unwrap(),
            StatusFilter::Range(400, 999)
        );
        assert!(status_filter("7xx").is_err());
        assert!(status_filter("abc").is_err());
    }
}
