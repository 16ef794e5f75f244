//! The request log of API-key calls: written in batches by gateways, read as filtered pages
//! (seed 002 "View request logs") and as usage statistics (seed 003), pruned after the
//! retention period.

use super::{AuthState, api_key};
use crate::store::request_log::{self as store, LogFilter, NewRow, StatusFilter};
use chrono::{DateTime, SubsecRound, Utc};
use crm_platform::{Principal, error::ApiError};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;
use tonic::Status;

pub use store::Model as RequestLog;

/// Longest page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Longest text kept of a user agent.
const MAX_USER_AGENT: usize = 512;

/// A gateway's batch: each entry names its texts by their index in `texts`, so a text that
/// many entries share (a key's ids, a route, a user agent) is held, and bound, once.
#[derive(Default)]
pub struct LogBatch {
    /// Texts the entries name.
    pub texts: Vec<Arc<str>>,
    /// Entries, in any order.
    pub entries: Vec<NewLog>,
}

/// One request as a gateway reported it; texts are indexes into [`LogBatch::texts`].
#[derive(Clone, Copy, Debug)]
pub struct NewLog {
    /// Workspace of the key.
    pub workspace_id: u32,
    /// Key used.
    pub api_key_id: u32,
    /// HTTP method (gRPC calls: `POST`).
    pub method: u32,
    /// Route template or gRPC path.
    pub endpoint: u32,
    /// Client address.
    pub request_ip: u32,
    /// User agent.
    pub user_agent: u32,
    /// Request id.
    pub request_id: u32,
    /// HTTP status.
    pub status_code: u32,
    /// Latency.
    pub response_time_ms: u32,
    /// Request body bytes.
    pub request_size: u64,
    /// Response body bytes.
    pub response_size: u64,
    /// When the request arrived.
    pub timestamp: DateTime<Utc>,
}

impl LogBatch {
    /// Whether every text index of every entry names a text.
    pub fn names_only_its_texts(&self) -> bool {
        let n = self.texts.len() as u64;
        self.entries.iter().all(|e| {
            [
                e.workspace_id,
                e.api_key_id,
                e.method,
                e.endpoint,
                e.request_ip,
                e.user_agent,
                e.request_id,
            ]
            .iter()
            .all(|&i| u64::from(i) < n)
        })
    }
}

/// Builds a [`LogBatch`] from entries given with their texts, holding each distinct text once.
#[derive(Default)]
pub struct BatchBuilder {
    batch: LogBatch,
    index: HashMap<Arc<str>, u32>,
}

impl BatchBuilder {
    /// The index of `text` in the batch's texts, adding it if new.
    pub fn text(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        let i = self.batch.texts.len() as u32;
        let text: Arc<str> = text.into();
        self.batch.texts.push(text.clone());
        self.index.insert(text, i);
        i
    }

    /// Adds an entry whose texts came from [`BatchBuilder::text`].
    pub fn push(&mut self, entry: NewLog) {
        self.batch.entries.push(entry);
    }

    /// The batch.
    pub fn finish(self) -> LogBatch {
        self.batch
    }
}

/// Stores a gateway's batch; the caller has checked [`LogBatch::names_only_its_texts`].
pub async fn record(state: &AuthState, batch: LogBatch) -> Result<usize, Status> {
    let n = batch.entries.len();
    store::insert_batch(&state.usage_writer, rows_of(batch)).await?;
    Ok(n)
}

/// A gateway's batch as rows to store, in the order of the per-key index, so that the rows
/// of one key go in one after another onto the same index page instead of each insert
/// seeking a different key's page. Keys are ranked by their text once, and the entries
/// sorted by rank and time: comparing integers, not key texts, for every pair.
pub fn rows_of(batch: LogBatch) -> Vec<NewRow> {
    let LogBatch {
        mut texts,
        mut entries,
    } = batch;
    cap_user_agents(&mut texts, &mut entries);
    let mut keys: Vec<u32> = entries.iter().map(|e| e.api_key_id).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.sort_unstable_by(|a, b| texts[*a as usize].cmp(&texts[*b as usize]));
    let mut rank = vec![0u32; texts.len()];
    for (r, k) in keys.iter().enumerate() {
        rank[*k as usize] = r as u32;
    }
    entries.sort_unstable_by_key(|e| (rank[e.api_key_id as usize], e.timestamp));
    // A batch spans a second or so: format each hour once, not once per row.
    let mut hour: Option<(i64, Arc<str>)> = None;
    let text = |i: u32| texts[i as usize].clone();
    entries
        .into_iter()
        .map(|l| NewRow {
            id: new_id(),
            hour_bucket: hour_bucket(&mut hour, l.timestamp),
            workspace_id: text(l.workspace_id),
            api_key_id: text(l.api_key_id),
            method: text(l.method),
            endpoint: text(l.endpoint),
            status_code: l.status_code.min(999) as i32,
            response_time_ms: l.response_time_ms.min(i32::MAX as u32) as i32,
            request_ip: text(l.request_ip),
            user_agent: text(l.user_agent),
            request_size: l.request_size.min(i64::MAX as u64) as i64,
            response_size: l.response_size.min(i64::MAX as u64) as i64,
            request_id: text(l.request_id),
            // Millisecond precision, as every other stored time (the README's decision).
            timestamp: l.timestamp.trunc_subsecs(3),
        })
        .collect()
}

/// A new row id: UUID v7, whose order is the order rows are stored in.
fn new_id() -> Arc<str> {
    let mut buf = uuid::Uuid::encode_buffer();
    Arc::from(&*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf))
}

/// Points entries whose user agent is longer than the stored maximum at a copy cut to it.
fn cap_user_agents(texts: &mut Vec<Arc<str>>, entries: &mut [NewLog]) {
    let mut capped: HashMap<u32, u32> = HashMap::new();
    for e in entries {
        // A text of at most that many bytes has at most that many characters.
        if texts[e.user_agent as usize].len() <= MAX_USER_AGENT {
            continue;
        }
        e.user_agent = *capped.entry(e.user_agent).or_insert_with(|| {
            let t = texts[e.user_agent as usize].clone();
            match t.char_indices().nth(MAX_USER_AGENT) {
                Some((at, _)) => {
                    texts.push(Arc::from(&t[..at]));
                    (texts.len() - 1) as u32
                }
                None => e.user_agent,
            }
        });
    }
}

/// `2024-01-15T10:00:00Z` for a time in that hour; `last` holds the hour formatted last.
fn hour_bucket(last: &mut Option<(i64, Arc<str>)>, at: DateTime<Utc>) -> Arc<str> {
    let h = at.timestamp().div_euclid(3600);
    match last {
        Some((seen, text)) if *seen == h => text.clone(),
        _ => {
            let text: Arc<str> = at.format("%Y-%m-%dT%H:00:00Z").to_string().into();
            *last = Some((h, text.clone()));
            text
        }
    }
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
    fn hour_buckets() {
        let mut last = None;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            &*hour_bucket(&mut last, at("2024-01-15T10:59:59Z")),
            "2024-01-15T10:00:00Z"
        );
        assert_eq!(
            &*hour_bucket(&mut last, at("2024-01-15T10:00:00Z")),
            "2024-01-15T10:00:00Z"
        );
        assert_eq!(
            &*hour_bucket(&mut last, at("2024-01-15T11:00:00Z")),
            "2024-01-15T11:00:00Z"
        );
    }

    #[test]
    fn a_batch_becomes_rows_in_key_order_sharing_its_texts() {
        let mut b = BatchBuilder::default();
        let at = |ms: i64| DateTime::from_timestamp_millis(1_764_590_000_000 + ms).unwrap();
        let long_agent = "ğ".repeat(600);
        let mut entry = |key: &str, ms: i64, agent: &str| {
            let e = NewLog {
                workspace_id: b.text("w"),
                api_key_id: b.text(key),
                method: b.text("GET"),
                endpoint: b.text("/api/auth/me"),
                request_ip: b.text("127.0.0.1"),
                user_agent: b.text(agent),
                request_id: b.text(""),
                status_code: 1_000,
                response_time_ms: 3,
                request_size: u64::MAX,
                response_size: 7,
                timestamp: at(ms),
            };
            b.push(e);
        };
        entry("k2", 5, "sdk");
        entry("k1", 9, &long_agent);
        entry("k2", 1, "sdk");
        entry("k1", 2, "sdk");
        let batch = b.finish();
        assert!(batch.names_only_its_texts());
        assert_eq!(batch.texts.len(), 9, "each distinct text once");
        let rows = rows_of(batch);
        let order: Vec<(&str, i64)> = rows
            .iter()
            .map(|r| (&*r.api_key_id, r.timestamp.timestamp_millis() % 1_000))
            .collect();
        assert_eq!(order, [("k1", 2), ("k1", 9), ("k2", 1), ("k2", 5)]);
        assert_eq!(rows[1].user_agent.chars().count(), MAX_USER_AGENT);
        assert!(long_agent.starts_with(&*rows[1].user_agent));
        assert_eq!(&*rows[0].user_agent, "sdk");
        assert!(Arc::ptr_eq(&rows[0].api_key_id, &rows[1].api_key_id));
        assert_eq!(rows[0].status_code, 999);
        assert_eq!(rows[0].request_size, i64::MAX);
        assert!(rows.windows(2).all(|w| w[0].id != w[1].id));
    }
}
