//! Seed 003's usage statistics over a set of keys of one workspace, from the per-minute
//! rollup: a request counts when its minute is in [date_from floored to the minute,
//! date_to).

use super::{UsageState, floor_minute, logs::check_range};
use crate::error::MetricsError;
use crate::store::usage::request_minutes::{Keys, MinuteSelection, TimeBucket};
use chrono::{DateTime, Utc};

/// At most this many status codes in `topErrorCodes`.
pub const TOP_ERRORS: u32 = 5;

/// What a usage request covers.
#[derive(Clone, Debug, Default)]
pub struct UsageQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// "", "day" or "hour".
    pub group_by: String,
}

/// Seed 003's usage statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub total: u64,
    /// Requests answered below 400.
    pub successful: u64,
    /// Mean latency, ms, rounded.
    pub average_ms: u64,
    /// (endpoint, requests, mean latency), busiest first.
    pub by_endpoint: Vec<(String, u64, u64)>,
    /// (bucket, requests), oldest first.
    pub by_time: Vec<(String, u64)>,
    /// (status, requests), commonest first, at most [`TOP_ERRORS`].
    pub top_errors: Vec<(u32, u64)>,
}

/// `sum / n` rounded half up; 0 for no requests.
pub fn mean(sum: u64, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let (sum, n) = (u128::from(sum), u128::from(n));
    u64::try_from((2 * sum + n) / (2 * n)).unwrap_or(u64::MAX)
}

/// The keys an internal call names: exactly one of `api_key_ids` (non-empty) and
/// `api_client_id`.
pub fn keys_of(api_key_ids: Vec<String>, api_client_id: String) -> Result<Keys, MetricsError> {
    let client = api_client_id.trim();
    match (api_key_ids.is_empty(), client.is_empty()) {
        (false, true) => Ok(Keys::Ids(api_key_ids)),
        (true, false) => Ok(Keys::Client(client.to_owned())),
        _ => Err(MetricsError::invalid(
            "api_key_ids",
            "and api_client_id: set exactly one of them",
        )),
    }
}

/// The time bucket `group_by` names.
pub fn bucket(group_by: &str) -> Result<TimeBucket, MetricsError> {
    match group_by.trim() {
        "" | "day" => Ok(TimeBucket::Day),
        "hour" => Ok(TimeBucket::Hour),
        _ => Err(MetricsError::invalid("group_by", "must be 'hour' or 'day'")),
    }
}

/// Usage of `keys` (of `workspace_id`, which the caller may see).
pub async fn usage(
    state: &UsageState,
    workspace_id: &str,
    keys: Keys,
    q: &UsageQuery,
) -> Result<Usage, MetricsError> {
    let bucket = bucket(&q.group_by)?;
    check_range(q.from, q.to)?;
    let sel = MinuteSelection {
        workspace_id: workspace_id.to_owned(),
        keys,
        from: q.from.map(floor_minute),
        to: q.to,
    };
    let (endpoints, times, top_errors) = tokio::try_join!(
        state.db.endpoint_sums(&sel),
        state.db.time_counts(&sel, bucket),
        state.db.top_errors(&sel, TOP_ERRORS),
    )
    .map_err(MetricsError::db("reading usage statistics"))?;
    let mut usage = Usage {
        top_errors,
        ..Usage::default()
    };
    let mut latency_ms = 0u64;
    for e in &endpoints {
        usage.total += e.requests;
        usage.successful += e.successful;
        latency_ms = latency_ms.saturating_add(e.latency_ms_sum);
    }
    usage.average_ms = mean(latency_ms, usage.total);
    usage.by_endpoint = endpoints
        .into_iter()
        .map(|e| {
            let avg = mean(e.latency_ms_sum, e.requests);
            (e.endpoint, e.requests, avg)
        })
        .collect();
    // Sorted here rather than in SQL: the database's collation need not be byte order.
    usage
        .by_endpoint
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    usage.by_time = times;
    usage.by_time.sort();
    Ok(usage)
}

/// For each of `since`, the requests of `keys` from its minute on that a rate limit did not
/// refuse.
pub async fn accepted_since(
    state: &UsageState,
    workspace_id: &str,
    keys: &Keys,
    since: &[DateTime<Utc>],
) -> Result<Vec<u64>, MetricsError> {
    let since: Vec<DateTime<Utc>> = since.iter().copied().map(floor_minute).collect();
    state
        .db
        .accepted_since(workspace_id, keys, &since)
        .await
        .map_err(MetricsError::db("counting accepted requests"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_round_half_up() {
        assert_eq!(mean(0, 0), 0);
        assert_eq!(mean(5, 2), 3);
        assert_eq!(mean(4, 3), 1);
        assert_eq!(mean(u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn group_by_values() {
        assert_eq!(bucket("").unwrap(), TimeBucket::Day);
        assert_eq!(bucket("hour").unwrap(), TimeBucket::Hour);
        assert!(matches!(
            bucket("week"),
            Err(MetricsError::InvalidField {
                field: "group_by",
                ..
            })
        ));
    }
}
