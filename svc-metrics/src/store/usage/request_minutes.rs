//! `request_minutes`: the per-minute rollup. Each ingested batch adds its requests to one
//! row per (key, minute, method, endpoint, status code); usage statistics are GROUP BYs over
//! it, so what comes back is one row per endpoint, time bucket or status code.

use super::{Sql, UsageDb, count, int, query};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

/// Upper bounds (ms, inclusive) of the cumulative latency histogram columns `le_N`.
pub const LATENCY_BOUNDS_MS: [i64; 7] = [10, 50, 100, 250, 500, 1000, 5000];

const BUCKET_COLUMNS: [&str; 7] = [
    "le_10", "le_50", "le_100", "le_250", "le_500", "le_1000", "le_5000",
];

/// What a rollup row is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MinuteKey {
    pub workspace_id: String,
    pub api_key_id: String,
    /// The minute's first instant.
    pub minute: DateTime<Utc>,
    pub method: String,
    pub endpoint: String,
    pub status_code: i32,
}

/// What a rollup row holds besides its key: its key's client and what it adds up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MinuteSums {
    /// The partner client owning the key (empty for a member's own key); written when the
    /// row is made, as a key's client never changes.
    pub api_client_id: String,
    pub requests: i64,
    pub latency_ms_sum: i64,
    /// Requests answered in at most [`LATENCY_BOUNDS_MS`]`[i]` ms.
    pub at_most: [i64; 7],
}

impl MinuteSums {
    /// Counts one request answered in `latency_ms`.
    pub fn add(&mut self, latency_ms: i64) {
        self.requests += 1;
        self.latency_ms_sum = self.latency_ms_sum.saturating_add(latency_ms);
        for (n, bound) in self.at_most.iter_mut().zip(LATENCY_BOUNDS_MS) {
            *n += i64::from(latency_ms <= bound);
        }
    }
}

/// Rollup rows per upsert (16 values a row).
pub const ROWS_PER_UPSERT: usize = 50;

/// Adds `groups` to the rollup on `db` (the caller's transaction). Callers pass them sorted
/// (`MinuteKey` order), so concurrent batches lock shared rows in the same order.
pub async fn add(
    db: &impl ConnectionTrait,
    groups: &[(MinuteKey, MinuteSums)],
) -> Result<(), DbErr> {
    let buckets = BUCKET_COLUMNS.join(", ");
    let mut update = vec![
        "requests = request_minutes.requests + excluded.requests".to_owned(),
        "latency_ms_sum = request_minutes.latency_ms_sum + excluded.latency_ms_sum".to_owned(),
    ];
    update.extend(
        BUCKET_COLUMNS
            .iter()
            .map(|c| format!("{c} = request_minutes.{c} + excluded.{c}")),
    );
    let update = update.join(", ");
    for chunk in groups.chunks(ROWS_PER_UPSERT) {
        let mut sql = Sql::new(&format!(
            "INSERT INTO request_minutes (workspace_id, api_key_id, minute, method, endpoint, \
             status_code, api_client_id, requests, latency_ms_sum, {buckets}) VALUES "
        ));
        for (i, (k, s)) in chunk.iter().enumerate() {
            let mut values = vec![
                sql.param(k.workspace_id.clone()),
                sql.param(k.api_key_id.clone()),
                sql.param(k.minute),
                sql.param(k.method.clone()),
                sql.param(k.endpoint.clone()),
                sql.param(k.status_code),
                sql.param(s.api_client_id.clone()),
                sql.param(s.requests),
                sql.param(s.latency_ms_sum),
            ];
            values.extend(s.at_most.iter().map(|n| sql.param(*n)));
            if i > 0 {
                sql.push(", ");
            }
            sql.push(&format!("({})", values.join(", ")));
        }
        sql.push(&format!(
            " ON CONFLICT (workspace_id, api_key_id, minute, method, endpoint, status_code) \
             DO UPDATE SET {update}"
        ));
        super::execute(db, sql).await?;
    }
    Ok(())
}

/// Whose requests a usage query counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keys {
    /// These keys.
    Ids(Vec<String>),
    /// Every key a partner client ever had (by the client recorded with each request).
    Client(String),
}

impl Keys {
    fn is_empty(&self) -> bool {
        matches!(self, Keys::Ids(ids) if ids.is_empty())
    }

    /// ` AND <test>` selecting these keys' rows.
    fn push_test(&self, sql: &mut Sql) {
        match self {
            Keys::Ids(ids) => {
                let list = sql.list(ids);
                sql.push(&format!(" AND api_key_id IN {list}"));
            }
            Keys::Client(id) => {
                let p = sql.param(id.clone());
                sql.push(&format!(" AND api_client_id = {p}"));
            }
        }
    }
}

/// The minutes usage statistics cover: keys of one workspace, `from <= minute < to`.
#[derive(Clone, Debug)]
pub struct MinuteSelection {
    pub workspace_id: String,
    pub keys: Keys,
    /// A minute's first instant (callers floor it).
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Time buckets of `requestsByTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBucket {
    /// `2024-01-15`
    Day,
    /// `2024-01-15T10:00:00Z`
    Hour,
}

/// One endpoint's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointSums {
    pub endpoint: String,
    pub requests: u64,
    /// Requests answered below 400.
    pub successful: u64,
    pub latency_ms_sum: u64,
}

impl UsageDb {
    /// `SELECT {select} FROM request_minutes WHERE <selection>`.
    fn selected(sel: &MinuteSelection, select: &str) -> Sql {
        let mut sql = Sql::new(select);
        let workspace = sql.param(sel.workspace_id.clone());
        sql.push(&format!(
            " FROM request_minutes WHERE workspace_id = {workspace}"
        ));
        sel.keys.push_test(&mut sql);
        if let Some(from) = sel.from {
            let p = sql.param(from);
            sql.push(&format!(" AND minute >= {p}"));
        }
        if let Some(to) = sel.to {
            let p = sql.param(to);
            sql.push(&format!(" AND minute < {p}"));
        }
        sql
    }

    /// Requests, successes and summed latency per endpoint (unordered).
    pub async fn endpoint_sums(&self, sel: &MinuteSelection) -> Result<Vec<EndpointSums>, DbErr> {
        if sel.keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Self::selected(
            sel,
            "SELECT endpoint, CAST(SUM(requests) AS BIGINT) AS requests, \
             CAST(SUM(CASE WHEN status_code < 400 THEN requests ELSE 0 END) AS BIGINT) \
               AS successful, \
             CAST(SUM(latency_ms_sum) AS BIGINT) AS latency_ms_sum",
        );
        sql.push(" GROUP BY endpoint");
        query(&self.conn, sql)
            .await?
            .iter()
            .map(|r| {
                Ok(EndpointSums {
                    endpoint: r.try_get("", "endpoint")?,
                    requests: count(r, "requests")?,
                    successful: count(r, "successful")?,
                    latency_ms_sum: count(r, "latency_ms_sum")?,
                })
            })
            .collect()
    }

    /// Requests per time bucket, labelled as the answer shows them (unordered).
    pub async fn time_counts(
        &self,
        sel: &MinuteSelection,
        bucket: TimeBucket,
    ) -> Result<Vec<(String, u64)>, DbErr> {
        if sel.keys.is_empty() {
            return Ok(Vec::new());
        }
        let label = match (self.is_postgres(), bucket) {
            (true, TimeBucket::Day) => "to_char(minute AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            (true, TimeBucket::Hour) => {
                "to_char(minute AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24\":00:00Z\"')"
            }
            (false, TimeBucket::Day) => "strftime('%Y-%m-%d', minute)",
            (false, TimeBucket::Hour) => "strftime('%Y-%m-%dT%H:00:00Z', minute)",
        };
        let mut sql = Self::selected(
            sel,
            &format!("SELECT {label} AS bucket, CAST(SUM(requests) AS BIGINT) AS requests"),
        );
        sql.push(&format!(" GROUP BY {label}"));
        query(&self.conn, sql)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("", "bucket")?, count(r, "requests")?)))
            .collect()
    }

    /// The `n` commonest status codes >= 400 and their requests, commonest first (ties by
    /// code).
    pub async fn top_errors(
        &self,
        sel: &MinuteSelection,
        n: u32,
    ) -> Result<Vec<(u32, u64)>, DbErr> {
        if sel.keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Self::selected(
            sel,
            "SELECT status_code, CAST(SUM(requests) AS BIGINT) AS requests",
        );
        let n = sql.param(i64::from(n));
        sql.push(&format!(
            " AND status_code >= 400 GROUP BY status_code \
             ORDER BY 2 DESC, status_code LIMIT {n}"
        ));
        query(&self.conn, sql)
            .await?
            .iter()
            .map(|r| {
                let code: i32 = r.try_get("", "status_code")?;
                Ok((u32::try_from(code).unwrap_or(0), count(r, "requests")?))
            })
            .collect()
    }

    /// For each of `since` (minute starts), the requests in minutes at or after it that a
    /// rate limit did not refuse (status 429); one query, so the counts see the same rows.
    pub async fn accepted_since(
        &self,
        workspace_id: &str,
        keys: &Keys,
        since: &[DateTime<Utc>],
    ) -> Result<Vec<u64>, DbErr> {
        let Some(earliest) = since.iter().min().copied() else {
            return Ok(Vec::new());
        };
        if keys.is_empty() {
            return Ok(vec![0; since.len()]);
        }
        let mut sql = Sql::default();
        let columns: Vec<String> = since
            .iter()
            .enumerate()
            .map(|(i, at)| {
                let p = sql.param(*at);
                format!(
                    "CAST(SUM(CASE WHEN minute >= {p} THEN requests ELSE 0 END) AS BIGINT) AS c{i}"
                )
            })
            .collect();
        let workspace = sql.param(workspace_id.to_owned());
        let earliest = sql.param(earliest);
        sql.push(&format!(
            "SELECT {} FROM request_minutes WHERE workspace_id = {workspace} \
             AND minute >= {earliest} AND status_code <> 429",
            columns.join(", ")
        ));
        keys.push_test(&mut sql);
        let rows = query(&self.conn, sql).await?;
        (0..since.len())
            .map(|i| match rows.first() {
                Some(r) => Ok(u64::try_from(int(r, &format!("c{i}"))?).unwrap_or(0)),
                None => Ok(0),
            })
            .collect()
    }
}
