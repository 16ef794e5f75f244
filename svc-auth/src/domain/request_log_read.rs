//! Reads of the request log: a page of entries newest first, usage aggregates and window
//! counts, each computed from the stored chunks of the keys asked about in one pass
//! (`store::request_log::for_each_match`).

use crate::store::{
    log_chunk::{Entry, time_of},
    request_log::{self as store, LogFilter},
};
use chrono::{DateTime, Utc};
use crm_platform::error::ApiError;
use sea_orm::DatabaseConnection;
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
};
use tonic::Status;

/// Most entries a page may reach into (page × limit): a page is picked from all matching
/// entries, so the ones before it are held while reading. Past it, callers narrow the range
/// with `date_from`/`date_to`.
pub const MAX_WINDOW: u64 = 10_000;

/// One logged request.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestLog {
    pub id: String,
    pub workspace_id: String,
    pub api_key_id: String,
    pub method: String,
    pub endpoint: String,
    pub status_code: u32,
    pub response_time_ms: u32,
    pub request_ip: String,
    pub user_agent: String,
    pub request_size: u64,
    pub response_size: u64,
    pub request_id: String,
    pub timestamp: DateTime<Utc>,
}

impl RequestLog {
    fn of(workspace_id: &str, api_key_id: &str, e: &Entry<'_>) -> Self {
        Self {
            id: uuid::Uuid::from_bytes(e.id).to_string(),
            workspace_id: workspace_id.to_owned(),
            api_key_id: api_key_id.to_owned(),
            method: e.method.to_owned(),
            endpoint: e.endpoint.to_owned(),
            status_code: e.status_code,
            response_time_ms: e.response_time_ms,
            request_ip: e.request_ip.to_owned(),
            user_agent: e.user_agent.to_owned(),
            request_size: e.request_size,
            response_size: e.response_size,
            request_id: e.request_id.to_owned(),
            timestamp: time_of(e.at_ms),
        }
    }
}

/// Where an entry sorts in a page: newest first, ties by id.
type Rank = (i64, [u8; 16]);

/// Page `page` (1-based) of `limit` matching entries, newest first, and how many match.
pub async fn page(
    db: &DatabaseConnection,
    workspace_id: &str,
    filter: &LogFilter,
    page: u64,
    limit: u64,
) -> Result<(Vec<RequestLog>, u64), Status> {
    let window = page.saturating_mul(limit);
    if window > MAX_WINDOW {
        let most = MAX_WINDOW / limit.max(1);
        return Err(ApiError::invalid_field(
            "page",
            format!(
                "must be at most {most} with this limit (the first {MAX_WINDOW} requests); narrow date_from/date_to for older ones"
            ),
        )
        .into());
    }
    let mut total = 0u64;
    // The `window` newest so far, oldest on top.
    let mut kept: BinaryHeap<Reverse<(Rank, RequestLog)>> = BinaryHeap::new();
    store::for_each_match(db, workspace_id, filter, |key, e| {
        total += 1;
        let rank = (e.at_ms, e.id);
        let full = kept.len() as u64 >= window;
        if full
            && kept
                .peek()
                .is_none_or(|Reverse((oldest, _))| rank <= *oldest)
        {
            return;
        }
        kept.push(Reverse((rank, RequestLog::of(workspace_id, key, e))));
        if full {
            kept.pop();
        }
    })
    .await?;
    let mut newest: Vec<RequestLog> = kept
        .into_sorted_vec()
        .into_iter()
        .map(|Reverse((_, l))| l)
        .collect();
    let skip = ((page - 1) * limit) as usize;
    newest.drain(..skip.min(newest.len()));
    Ok((newest, total))
}

/// Requests of the filter's keys at or after each of `starts` that a rate limit did not
/// refuse (429), counted in one pass so the three counts see the same entries.
pub async fn accepted_since(
    db: &DatabaseConnection,
    workspace_id: &str,
    api_key_ids: &[String],
    starts: [DateTime<Utc>; 3],
) -> Result<[u64; 3], Status> {
    let filter = LogFilter {
        api_key_ids: api_key_ids.to_vec(),
        from: starts.iter().min().copied(),
        ..LogFilter::default()
    };
    let starts = starts.map(store::ceil_ms);
    let mut counts = [0u64; 3];
    store::for_each_match(db, workspace_id, &filter, |_, e| {
        if e.status_code == 429 {
            return;
        }
        for (n, start) in counts.iter_mut().zip(starts) {
            *n += u64::from(e.at_ms >= start);
        }
    })
    .await?;
    Ok(counts)
}

/// Sums over matching entries, before means and ordering.
#[derive(Debug, Default)]
pub struct Sums {
    /// Requests.
    pub total: u64,
    /// Requests answered below 400.
    pub successful: u64,
    /// Summed latency, ms.
    pub ms: u64,
    /// Per endpoint: requests, summed latency.
    pub by_endpoint: HashMap<String, (u64, u64)>,
    /// Per hour or day (the bucket's first millisecond): requests.
    pub by_time: HashMap<i64, u64>,
    /// Per error status (>= 400): requests.
    pub by_error: HashMap<u32, u64>,
}

/// Sums over the filter's entries, grouped in time by buckets of `bucket_ms`.
pub async fn sums(
    db: &DatabaseConnection,
    workspace_id: &str,
    filter: &LogFilter,
    bucket_ms: i64,
) -> Result<Sums, Status> {
    let mut s = Sums::default();
    store::for_each_match(db, workspace_id, filter, |_, e| {
        let ms = u64::from(e.response_time_ms);
        s.total += 1;
        s.successful += u64::from(e.status_code < 400);
        s.ms += ms;
        match s.by_endpoint.get_mut(e.endpoint) {
            Some((n, sum)) => {
                *n += 1;
                *sum += ms;
            }
            None => {
                s.by_endpoint.insert(e.endpoint.to_owned(), (1, ms));
            }
        }
        *s.by_time
            .entry(e.at_ms.div_euclid(bucket_ms) * bucket_ms)
            .or_default() += 1;
        if e.status_code >= 400 {
            *s.by_error.entry(e.status_code).or_default() += 1;
        }
    })
    .await?;
    Ok(s)
}
