//! The request log of API-key calls: written in batches by gateways, read as filtered pages
//! (seed 002 "View request logs") and as usage statistics (seed 003), pruned after the
//! retention period.

use super::{AuthState, api_key};
use crate::store::request_log::{self as store, LogFilter, StatusFilter};
use chrono::{DateTime, SubsecRound, Utc};
use crm_platform::{Principal, error::ApiError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::Status;

pub use store::Model as RequestLog;

/// Longest page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Longest text kept of a user agent.
const MAX_USER_AGENT: usize = 512;

/// One request as a gateway reported it.
pub struct NewLog {
    /// Workspace of the key.
    pub workspace_id: String,
    /// Key used.
    pub api_key_id: String,
    /// HTTP method (gRPC calls: `POST`).
    pub method: String,
    /// Route template or gRPC path.
    pub endpoint: String,
    /// HTTP status.
    pub status_code: u32,
    /// Latency.
    pub response_time_ms: u32,
    /// Client address.
    pub request_ip: String,
    /// User agent.
    pub user_agent: String,
    /// Request body bytes.
    pub request_size: u64,
    /// Response body bytes.
    pub response_size: u64,
    /// Request id.
    pub request_id: String,
    /// When the request arrived.
    pub timestamp: DateTime<Utc>,
}

/// Stores a gateway's batch.
pub async fn record(state: &AuthState, batch: Vec<NewLog>) -> Result<usize, Status> {
    let n = batch.len();
    store::insert_batch(&state.usage_writer, rows_of(batch)).await?;
    Ok(n)
}

/// A gateway's batch as rows to store, in the order of the per-key index, so that the rows
/// of one key go in one after another onto the same index page instead of each insert
/// seeking a different key's page.
pub fn rows_of(mut batch: Vec<NewLog>) -> Vec<RequestLog> {
    batch.sort_unstable_by(|a, b| (&a.api_key_id, a.timestamp).cmp(&(&b.api_key_id, b.timestamp)));
    // A batch spans a second or so: format each hour once, not once per row.
    let mut hour: Option<(i64, String)> = None;
    batch
        .into_iter()
        .map(|l| store::Model {
            id: uuid::Uuid::now_v7().to_string(),
            hour_bucket: hour_bucket(&mut hour, l.timestamp),
            workspace_id: l.workspace_id,
            api_key_id: l.api_key_id,
            method: l.method,
            endpoint: l.endpoint,
            status_code: l.status_code.min(999) as i32,
            response_time_ms: l.response_time_ms.min(i32::MAX as u32) as i32,
            request_ip: l.request_ip,
            user_agent: truncated(l.user_agent, MAX_USER_AGENT),
            request_size: l.request_size.min(i64::MAX as u64) as i64,
            response_size: l.response_size.min(i64::MAX as u64) as i64,
            request_id: l.request_id,
            // Millisecond precision, as every other stored time (the README's decision).
            timestamp: l.timestamp.trunc_subsecs(3),
        })
        .collect()
}

/// `2024-01-15T10:00:00Z` for a time in that hour; `last` holds the hour formatted last.
fn hour_bucket(last: &mut Option<(i64, String)>, at: DateTime<Utc>) -> String {
    let h = at.timestamp().div_euclid(3600);
    match last {
        Some((seen, text)) if *seen == h => text.clone(),
        _ => {
            let text = at.format("%Y-%m-%dT%H:00:00Z").to_string();
            *last = Some((h, text.clone()));
            text
        }
    }
}

/// The first `max` characters of `text`, reusing its buffer.
fn truncated(mut text: String, max: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
    }
    text
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
                .parse::<i32>()
                .ok()
                .filter(|d| (1..=5).contains(d))
                .ok_or_else(bad_status)?;
            StatusFilter::Range(d * 100, d * 100 + 99)
        }
        code => {
            let c = code
                .parse::<i32>()
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
    let (rows, total) = store::page(
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

fn mean(sum: i64, n: i64) -> u64 {
    if n <= 0 {
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
    let db = &state.db;
    let (total, ok, ms) = store::totals(db, workspace_id, &f).await?;
    let mut by_endpoint: Vec<(String, u64, u64)> = store::by_endpoint(db, workspace_id, &f)
        .await?
        .into_iter()
        .map(|(e, n, ms)| (e, n.max(0) as u64, mean(ms, n)))
        .collect();
    by_endpoint.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut by_time: Vec<(String, u64)> = store::by_time(db, workspace_id, &f, by_day)
        .await?
        .into_iter()
        .map(|(t, n)| (t, n.max(0) as u64))
        .collect();
    by_time.sort();
    let mut top_errors: Vec<(u32, u64)> = store::by_error_status(db, workspace_id, &f)
        .await?
        .into_iter()
        .map(|(s, n)| (s.max(0) as u32, n.max(0) as u64))
        .collect();
    top_errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top_errors.truncate(5);
    Ok(Usage {
        total: total.max(0) as u64,
        successful: ok.max(0) as u64,
        average_ms: mean(ms, total),
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
                Ok(n) => tracing::info!(rows = n, "pruned request logs past retention"),
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

    #[test]
    fn hour_buckets_and_truncation() {
        let mut last = None;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            hour_bucket(&mut last, at("2024-01-15T10:59:59Z")),
            "2024-01-15T10:00:00Z"
        );
        assert_eq!(
            hour_bucket(&mut last, at("2024-01-15T10:00:00Z")),
            "2024-01-15T10:00:00Z"
        );
        assert_eq!(
            hour_bucket(&mut last, at("2024-01-15T11:00:00Z")),
            "2024-01-15T11:00:00Z"
        );
        assert_eq!(truncated("ağc".into(), 2), "ağ");
        assert_eq!(truncated("abc".into(), 5), "abc");
    }
}
