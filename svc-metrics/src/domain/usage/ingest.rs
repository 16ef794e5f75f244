//! A gateway's batch: checked, turned into rows (ids and times made here) and grouped into
//! the rollup's minutes in memory, then stored in one transaction.

use super::{UsageState, floor_minute, floor_ms, time_of};
use crate::error::MetricsError;
use crate::store::usage::{
    request_log::LogRow,
    request_minutes::{MinuteKey, MinuteSums},
};
use chrono::{DateTime, Utc};
use crm_proto::metrics::RequestLog;
use std::collections::HashMap;

/// Longest stored `user_agent`, `request_id` and `endpoint` (characters); longer ones are cut.
pub const MAX_USER_AGENT: usize = 512;
pub const MAX_REQUEST_ID: usize = 128;
pub const MAX_ENDPOINT: usize = 256;
/// Longest stored `method` and `request_ip`; no real one comes near.
const MAX_METHOD: usize = 16;
const MAX_REQUEST_IP: usize = 64;
const MAX_ID: usize = 64;

/// A batch ready to store.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<LogRow>,
    /// The rollup's additions, in key order (so concurrent batches lock shared rows in the
    /// same order).
    pub minutes: Vec<(MinuteKey, MinuteSums)>,
}

/// `text` cut to its first `most` characters (in place: most texts are far shorter).
fn cut(mut text: String, most: usize) -> String {
    // At most `most` bytes is at most `most` characters, so short texts skip the walk.
    if text.len() > most
        && let Some((end, _)) = text.char_indices().nth(most)
    {
        text.truncate(end);
    }
    text
}

fn size(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Checks `requests` and makes the rows (timestamps missing: `now`) and their minutes.
pub fn batch(requests: Vec<RequestLog>, now: DateTime<Utc>) -> Result<Batch, MetricsError> {
    let rows = requests
        .into_iter()
        .map(|r| row(r, now))
        .collect::<Result<Vec<_>, _>>()?;
    let minutes = rollup(&rows);
    Ok(Batch { rows, minutes })
}

/// One request checked and made a row.
fn row(r: RequestLog, now: DateTime<Utc>) -> Result<LogRow, MetricsError> {
    if r.workspace_id.trim().is_empty() {
        return Err(MetricsError::invalid(
            "requests.workspace_id",
            "is required",
        ));
    }
    if r.api_key_id.trim().is_empty() {
        return Err(MetricsError::invalid("requests.api_key_id", "is required"));
    }
    if r.status_code > 999 {
        return Err(MetricsError::invalid(
            "requests.status_code",
            format!("must be at most 999 (got {})", r.status_code),
        ));
    }
    let at = match &r.timestamp {
        Some(t) => floor_ms(time_of(t, "requests.timestamp")?),
        None => floor_ms(now),
    };
    Ok(LogRow {
        id: uuid::Uuid::now_v7().to_string(),
        workspace_id: r.workspace_id,
        api_key_id: r.api_key_id,
        api_client_id: cut(r.api_client_id, MAX_ID),
        method: cut(r.method, MAX_METHOD),
        endpoint: cut(r.endpoint, MAX_ENDPOINT),
        status_code: i32::try_from(r.status_code).unwrap_or(999),
        response_time_ms: i64::from(r.response_time_ms),
        request_ip: cut(r.request_ip, MAX_REQUEST_IP),
        user_agent: cut(r.user_agent, MAX_USER_AGENT),
        request_size: size(r.request_size),
        response_size: size(r.response_size),
        request_id: cut(r.request_id, MAX_REQUEST_ID),
        at,
    })
}

/// The rows' additions to the rollup, in key order. Grouped by borrowed keys: a batch has
/// far fewer minutes than rows, and only those are copied.
fn rollup(rows: &[LogRow]) -> Vec<(MinuteKey, MinuteSums)> {
    type Borrowed<'a> = (&'a str, &'a str, DateTime<Utc>, &'a str, &'a str, i32);
    let mut groups: HashMap<Borrowed<'_>, MinuteSums> = HashMap::new();
    for row in rows {
        let key = (
            row.workspace_id.as_str(),
            row.api_key_id.as_str(),
            floor_minute(row.at),
            row.method.as_str(),
            row.endpoint.as_str(),
            row.status_code,
        );
        groups
            .entry(key)
            .or_insert_with(|| MinuteSums {
                api_client_id: row.api_client_id.clone(),
                ..MinuteSums::default()
            })
            .add(row.response_time_ms);
    }
    let mut minutes: Vec<_> = groups
        .into_iter()
        .map(
            |((workspace_id, api_key_id, minute, method, endpoint, status_code), sums)| {
                let key = MinuteKey {
                    workspace_id: workspace_id.to_owned(),
                    api_key_id: api_key_id.to_owned(),
                    minute,
                    method: method.to_owned(),
                    endpoint: endpoint.to_owned(),
                    status_code,
                };
                (key, sums)
            },
        )
        .collect();
    minutes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    minutes
}

/// Stores `requests`; returns how many.
pub async fn record(state: &UsageState, requests: Vec<RequestLog>) -> Result<usize, MetricsError> {
    let batch = batch(requests, Utc::now())?;
    if batch.rows.is_empty() {
        return Ok(0);
    }
    state
        .db
        .record(&batch.rows, &batch.minutes)
        .await
        .map_err(MetricsError::db("recording API requests"))?;
    Ok(batch.rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(status_code: u32, ms: u32, at_ms: i64) -> RequestLog {
        RequestLog {
            workspace_id: "w".into(),
            api_key_id: "k".into(),
            method: "GET".into(),
            endpoint: "/a".into(),
            status_code,
            response_time_ms: ms,
            timestamp: Some(prost_types::Timestamp {
                seconds: at_ms.div_euclid(1000),
                nanos: (at_ms.rem_euclid(1000) * 1_000_000) as i32 + 999,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn groups_by_minute_and_status() {
        let now = Utc::now();
        let b = batch(
            vec![
                request(200, 5, 60_000),
                request(200, 60, 119_999),
                request(200, 7, 120_000),
                request(500, 6_000, 60_001),
            ],
            now,
        )
        .unwrap();
        assert_eq!(b.rows.len(), 4);
        assert_eq!(
            b.rows[1].at.timestamp_millis(),
            119_999,
            "whole milliseconds"
        );
        let sums: Vec<(i64, i32, i64, i64, [i64; 7])> = b
            .minutes
            .iter()
            .map(|(k, s)| {
                (
                    k.minute.timestamp(),
                    k.status_code,
                    s.requests,
                    s.latency_ms_sum,
                    s.at_most,
                )
            })
            .collect();
        assert_eq!(
            sums,
            [
                (60, 200, 2, 65, [1, 1, 2, 2, 2, 2, 2]),
                (60, 500, 1, 6_000, [0; 7]),
                (120, 200, 1, 7, [1; 7]),
            ]
        );
    }

    #[test]
    fn checks_and_cuts() {
        let now = Utc::now();
        let mut long = request(200, 1, 0);
        long.user_agent = "é".repeat(600);
        long.endpoint = "x".repeat(300);
        long.request_size = u64::MAX;
        long.timestamp = None;
        let b = batch(vec![long], now).unwrap();
        assert_eq!(b.rows[0].user_agent.chars().count(), MAX_USER_AGENT);
        assert_eq!(b.rows[0].endpoint.len(), MAX_ENDPOINT);
        assert_eq!(b.rows[0].request_size, i64::MAX);
        assert_eq!(b.rows[0].at, floor_ms(now));
        assert!(matches!(
            batch(vec![request(1000, 1, 0)], now),
            Err(MetricsError::InvalidField {
                field: "requests.status_code",
                ..
            })
        ));
        let mut keyless = request(200, 1, 0);
        keyless.api_key_id.clear();
        assert!(batch(vec![keyless], now).is_err());
    }
}
