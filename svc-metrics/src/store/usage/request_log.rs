//! `request_log`: one row per request. Inserted in fixed-size multi-row statements; read
//! newest first by key through the index (workspace_id, api_key_id, at, id).

use super::{Sql, UsageDb, count, query};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

/// One stored request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRow {
    /// UUID v7, made at ingest.
    pub id: String,
    pub workspace_id: String,
    pub api_key_id: String,
    /// The partner client owning the key; empty for a member's own key.
    pub api_client_id: String,
    pub method: String,
    pub endpoint: String,
    pub status_code: i32,
    pub response_time_ms: i64,
    pub request_ip: String,
    pub user_agent: String,
    pub request_size: i64,
    pub response_size: i64,
    pub request_id: String,
    /// Whole milliseconds.
    pub at: DateTime<Utc>,
}

const COLUMNS: &str = "id, workspace_id, api_key_id, api_client_id, method, endpoint, status_code, \
    response_time_ms, request_ip, user_agent, request_size, response_size, request_id, at";

/// Rows per INSERT: a fixed size keeps the SQL text (and its prepared statement) the same
/// from batch to batch; 14 values a row stays far below either backend's parameter limit.
pub const ROWS_PER_INSERT: usize = 100;

/// Inserts `rows` on `db` (the caller's transaction).
pub async fn insert(db: &impl ConnectionTrait, rows: &[LogRow]) -> Result<(), DbErr> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = Sql::new(&format!("INSERT INTO request_log ({COLUMNS}) VALUES "));
        for (i, r) in chunk.iter().enumerate() {
            let values = [
                sql.param(r.id.clone()),
                sql.param(r.workspace_id.clone()),
                sql.param(r.api_key_id.clone()),
                sql.param(r.api_client_id.clone()),
                sql.param(r.method.clone()),
                sql.param(r.endpoint.clone()),
                sql.param(r.status_code),
                sql.param(r.response_time_ms),
                sql.param(r.request_ip.clone()),
                sql.param(r.user_agent.clone()),
                sql.param(r.request_size),
                sql.param(r.response_size),
                sql.param(r.request_id.clone()),
                sql.param(r.at),
            ];
            if i > 0 {
                sql.push(", ");
            }
            sql.push(&format!("({})", values.join(", ")));
        }
        super::execute(db, sql).await?;
    }
    Ok(())
}

/// Which requests of one key a log page lists.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    pub workspace_id: String,
    pub api_key_id: String,
    /// Inclusive range of status codes.
    pub status: Option<(i32, i32)>,
    /// Exact method, upper case.
    pub method: Option<String>,
    /// Substring of the endpoint (case-sensitive).
    pub endpoint: Option<String>,
    /// `at >= from` (whole milliseconds).
    pub from: Option<DateTime<Utc>>,
    /// `at < to` (whole milliseconds).
    pub to: Option<DateTime<Utc>>,
}

/// Where a page ends: the (at, id) of its last row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPosition {
    pub at: DateTime<Utc>,
    pub id: String,
}

impl UsageDb {
    fn filtered(&self, select: &str, f: &LogFilter) -> Sql {
        let mut sql = Sql::new(select);
        let workspace = sql.param(f.workspace_id.clone());
        let key = sql.param(f.api_key_id.clone());
        sql.push(&format!(
            " FROM request_log WHERE workspace_id = {workspace} AND api_key_id = {key}"
        ));
        if let Some((low, high)) = f.status {
            let (low, high) = (sql.param(low), sql.param(high));
            sql.push(&format!(" AND status_code BETWEEN {low} AND {high}"));
        }
        if let Some(method) = &f.method {
            let p = sql.param(method.clone());
            sql.push(&format!(" AND method = {p}"));
        }
        if let Some(endpoint) = &f.endpoint {
            // A plain substring test: LIKE would need the text's % and _ escaped and folds
            // case on SQLite only.
            let p = sql.param(endpoint.clone());
            let find = if self.is_postgres() {
                "strpos"
            } else {
                "instr"
            };
            sql.push(&format!(" AND {find}(endpoint, {p}) > 0"));
        }
        if let Some(from) = f.from {
            let p = sql.param(from);
            sql.push(&format!(" AND at >= {p}"));
        }
        if let Some(to) = f.to {
            let p = sql.param(to);
            sql.push(&format!(" AND at < {p}"));
        }
        sql
    }

    /// Up to `fetch` rows matching `f`, newest first (ties by id, descending), strictly older
    /// than `after` when given, skipping the first `offset`.
    pub async fn log_page(
        &self,
        f: &LogFilter,
        after: Option<&LogPosition>,
        offset: u64,
        fetch: u64,
    ) -> Result<Vec<LogRow>, DbErr> {
        let mut sql = self.filtered(&format!("SELECT {COLUMNS}"), f);
        if let Some(after) = after {
            let at = sql.param(after.at);
            let at_again = sql.param(after.at);
            let id = sql.param(after.id.clone());
            sql.push(&format!(
                " AND (at < {at} OR (at = {at_again} AND id < {id}))"
            ));
        }
        let limit = sql.param(i64::try_from(fetch).unwrap_or(i64::MAX));
        let offset = sql.param(i64::try_from(offset).unwrap_or(i64::MAX));
        sql.push(&format!(
            " ORDER BY at DESC, id DESC LIMIT {limit} OFFSET {offset}"
        ));
        query(&self.conn, sql).await?.iter().map(log_row).collect()
    }

    /// How many rows match `f`.
    pub async fn log_count(&self, f: &LogFilter) -> Result<u64, DbErr> {
        let sql = self.filtered("SELECT COUNT(*) AS n", f);
        let rows = query(&self.conn, sql).await?;
        rows.first().map_or(Ok(0), |r| count(r, "n"))
    }
}

fn log_row(r: &QueryResult) -> Result<LogRow, DbErr> {
    Ok(LogRow {
        id: r.try_get("", "id")?,
        workspace_id: r.try_get("", "workspace_id")?,
        api_key_id: r.try_get("", "api_key_id")?,
        api_client_id: r.try_get("", "api_client_id")?,
        method: r.try_get("", "method")?,
        endpoint: r.try_get("", "endpoint")?,
        status_code: r.try_get("", "status_code")?,
        response_time_ms: r.try_get("", "response_time_ms")?,
        request_ip: r.try_get("", "request_ip")?,
        user_agent: r.try_get("", "user_agent")?,
        request_size: r.try_get("", "request_size")?,
        response_size: r.try_get("", "response_size")?,
        request_id: r.try_get("", "request_id")?,
        at: r.try_get("", "at")?,
    })
}
