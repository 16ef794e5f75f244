//! The `api_request_logs` table: batched inserts from gateways, filtered pages, usage
//! aggregates, and the retention prune. Aggregates are plain COUNT/SUM with GROUP BY (the
//! average is computed from the sum, since AVG's type differs between SQLite and Postgres).

use super::{
    ChunkedSql, db_error, entities::api_request_logs as logs, sqlite_time, values_placeholders,
};
use chrono::{DateTime, Utc};
use crm_platform::error::internal;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
    sea_query::{Expr, Func},
    sqlx,
};
use std::sync::{Arc, OnceLock};
use tonic::Status;

pub use logs::Model;

/// Which status codes a query covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// All.
    #[default]
    Any,
    /// Codes in `lo..=hi`.
    Range(i32, i32),
}

/// What a log query covers (always within one workspace).
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Requests of these keys.
    pub api_key_ids: Vec<String>,
    /// Status codes.
    pub status: StatusFilter,
    /// HTTP method, upper case.
    pub method: Option<String>,
    /// Substring of the endpoint template.
    pub endpoint: Option<String>,
    /// From (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until (exclusive).
    pub to: Option<DateTime<Utc>>,
}

fn count() -> Expr {
    Func::count(Expr::col(logs::Column::Id)).into()
}

fn sum_ms() -> Expr {
    Func::sum(Expr::col(logs::Column::ResponseTimeMs)).into()
}

fn condition(workspace_id: &str, f: &LogFilter) -> Condition {
    let mut c = Condition::all()
        .add(logs::Column::WorkspaceId.eq(workspace_id))
        .add(logs::Column::ApiKeyId.is_in(f.api_key_ids.clone()));
    if let StatusFilter::Range(lo, hi) = f.status {
        c = c.add(logs::Column::StatusCode.between(lo, hi));
    }
    if let Some(m) = &f.method {
        c = c.add(logs::Column::Method.eq(m.clone()));
    }
    if let Some(e) = &f.endpoint {
        c = c.add(logs::Column::Endpoint.contains(e.clone()));
    }
    if let Some(from) = f.from {
        c = c.add(logs::Column::Timestamp.gte(from));
    }
    if let Some(to) = f.to {
        c = c.add(logs::Column::Timestamp.lt(to));
    }
    c
}

/// Rows per INSERT: a fixed size keeps the SQL text the same from batch to batch, so the
/// prepared statement is reused instead of re-planned for every batch length.
const ROWS_PER_INSERT: usize = 50;

/// Columns in insert order; [`values`] yields a row's values in the same order.
const COLUMNS: &str = "id, workspace_id, api_key_id, method, endpoint, status_code, \
     response_time_ms, request_ip, user_agent, request_size, response_size, request_id, \
     timestamp, hour_bucket";
const COLUMN_COUNT: usize = 14;

/// A row to insert. Texts are shared: a batch's rows of one key, route or user agent hold
/// one copy of it, which sqlx binds without copying again.
#[derive(Clone, Debug)]
pub struct NewRow {
    /// UUID v7, made when stored.
    pub id: Arc<str>,
    /// Workspace of the key.
    pub workspace_id: Arc<str>,
    /// Key used.
    pub api_key_id: Arc<str>,
    /// HTTP method.
    pub method: Arc<str>,
    /// Route template or gRPC path.
    pub endpoint: Arc<str>,
    /// HTTP status.
    pub status_code: i32,
    /// Latency.
    pub response_time_ms: i32,
    /// Client address.
    pub request_ip: Arc<str>,
    /// User agent.
    pub user_agent: Arc<str>,
    /// Request body bytes.
    pub request_size: i64,
    /// Response body bytes.
    pub response_size: i64,
    /// Request id.
    pub request_id: Arc<str>,
    /// Arrival, whole milliseconds.
    pub timestamp: DateTime<Utc>,
    /// `2024-01-15T10:00:00Z`: the hour the request falls in.
    pub hour_bucket: Arc<str>,
}

fn values(row: NewRow) -> [Value; COLUMN_COUNT] {
    let text = |t: Arc<str>| Value::from(t.to_string());
    [
        text(row.id),
        text(row.workspace_id),
        text(row.api_key_id),
        text(row.method),
        text(row.endpoint),
        row.status_code.into(),
        row.response_time_ms.into(),
        text(row.request_ip),
        text(row.user_agent),
        row.request_size.into(),
        row.response_size.into(),
        text(row.request_id),
        row.timestamp.into(),
        text(row.hour_bucket),
    ]
}

/// `INSERT ... VALUES (...), ...` for `rows` rows in the backend's placeholder style.
fn insert_sql(backend: DbBackend, rows: usize) -> String {
    format!(
        "INSERT INTO api_request_logs ({COLUMNS}) VALUES {}",
        values_placeholders(backend, rows, COLUMN_COUNT)
    )
}

/// Inserts a batch reported by a gateway, in one transaction. The SQL is written here rather
/// than built per row through the entity: on this path, run for every logged request, the
/// query builder cost more than the database's own work.
pub async fn insert_batch(db: &DatabaseConnection, rows: Vec<NewRow>) -> Result<(), Status> {
    if db.get_database_backend() == DbBackend::Sqlite {
        return insert_sqlite(db.get_sqlite_connection_pool(), rows)
            .await
            .map_err(|e| internal(INSERT.context, e));
    }
    INSERT.run(db, rows, values).await
}

static INSERT: ChunkedSql = ChunkedSql {
    rows_per_statement: ROWS_PER_INSERT,
    sql: insert_sql,
    full: [OnceLock::new(), OnceLock::new()],
    context: "insert request logs",
};

/// [`insert_batch`] on SQLite, the embedded default, where this insert is most of what the
/// request log costs: rows are bound straight through sqlx, each shared text by reference
/// (sea-orm's statements copied every value again on the way, a sixth of this path's CPU).
/// The bound types are the ones sea-orm binds, so rows are stored alike either way: the
/// time as sqlx's text of a `DateTime<Utc>` ([`sqlite_time::text`]).
async fn insert_sqlite(pool: &sqlx::SqlitePool, rows: Vec<NewRow>) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<NewRow> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        let sql = INSERT.sql_for(DbBackend::Sqlite, chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(row.id)
                .bind(row.workspace_id)
                .bind(row.api_key_id)
                .bind(row.method)
                .bind(row.endpoint)
                .bind(row.status_code)
                .bind(row.response_time_ms)
                .bind(row.request_ip)
                .bind(row.user_agent)
                .bind(row.request_size)
                .bind(row.response_size)
                .bind(row.request_id)
                .bind(sqlite_time::text(row.timestamp))
                .bind(row.hour_bucket);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// One page of matching requests, newest first, and the total count.
pub async fn page(
    db: &DatabaseConnection,
    workspace_id: &str,
    filter: &LogFilter,
    page: u64,
    limit: u64,
) -> Result<(Vec<Model>, u64), Status> {
    let cond = condition(workspace_id, filter);
    let total = logs::Entity::find()
        .filter(cond.clone())
        .count(db)
        .await
        .map_err(db_error("count request logs"))?;
    let rows = logs::Entity::find()
        .filter(cond)
        .order_by_desc(logs::Column::Timestamp)
        .order_by_desc(logs::Column::Id)
        .offset((page - 1) * limit)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_error("list request logs"))?;
    Ok((rows, total))
}

/// Requests of these keys at or after each of `starts` that a rate limit did not refuse
/// (429), in one query so the three counts see the same rows.
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
    let since = |from: DateTime<Utc>| -> Expr {
        Func::sum(Expr::case(logs::Column::Timestamp.gte(from), 1).finally(0)).into()
    };
    let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = logs::Entity::find()
        .filter(condition(workspace_id, &filter))
        .filter(logs::Column::StatusCode.ne(429))
        .select_only()
        .column_as(since(starts[0]), "a")
        .column_as(since(starts[1]), "b")
        .column_as(since(starts[2]), "c")
        .into_tuple()
        .one(db)
        .await
        .map_err(db_error("request log window counts"))?;
    let (a, b, c) = row.unwrap_or_default();
    Ok([a, b, c].map(|n| n.unwrap_or(0).max(0) as u64))
}

/// Totals: requests, successful (< 400) requests, summed response time.
pub async fn totals(
    db: &DatabaseConnection,
    workspace_id: &str,
    filter: &LogFilter,
) -> Result<(i64, i64, i64), Status> {
    let row: Option<(i64, Option<i64>, Option<i64>)> = logs::Entity::find()
        .filter(condition(workspace_id, filter))
        .select_only()
        .column_as(count(), "total")
        .column_as(
            Expr::cust("SUM(CASE WHEN status_code < 400 THEN 1 ELSE 0 END)"),
            "ok",
        )
        .column_as(sum_ms(), "ms")
        .into_tuple()
        .one(db)
        .await
        .map_err(db_error("request log totals"))?;
    let (total, ok, ms) = row.unwrap_or_default();
    Ok((total, ok.unwrap_or(0), ms.unwrap_or(0)))
}

/// Per endpoint: (endpoint, requests, summed response time).
pub async fn by_endpoint(
    db: &DatabaseConnection,
    workspace_id: &str,
    filter: &LogFilter,
) -> Result<Vec<(String, i64, i64)>, Status> {
    let rows: Vec<(String, i64, Option<i64>)> = logs::Entity::find()
        .filter(condition(workspace_id, filter))
        .select_only()
        .column(logs::Column::Endpoint)
        .column_as(count(), "n")
        .column_as(sum_ms(), "ms")
        .group_by(logs::Column::Endpoint)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error("request logs by endpoint"))?;
    Ok(rows
        .into_iter()
        .map(|(e, n, ms)| (e, n, ms.unwrap_or(0)))
        .collect())
}

/// Per hour (`2024-01-15T10:00:00Z`) or per day (`2024-01-15`): (bucket, requests).
pub async fn by_time(
    db: &DatabaseConnection,
    workspace_id: &str,
    filter: &LogFilter,
    by_day: bool,
) -> Result<Vec<(String, i64)>, Status> {
    let bucket = if by_day {
        "SUBSTR(hour_bucket, 1, 10)"
    } else {
        "hour_bucket"
    };
    logs::Entity::find()
        .filter(condition(workspace_id, filter))
        .select_only()
        .column_as(Expr::cust(bucket), "t")
        .column_as(count(), "n")
        .group_by(Expr::cust(bucket))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error("request logs by time"))
}

/// Per error status (>= 400): (status, requests).
pub async fn by_error_status(
    db: &DatabaseConnection,
    workspace_id: &str,
    filter: &LogFilter,
) -> Result<Vec<(i32, i64)>, Status> {
    logs::Entity::find()
        .filter(condition(workspace_id, filter))
        .filter(logs::Column::StatusCode.gte(400))
        .select_only()
        .column(logs::Column::StatusCode)
        .column_as(count(), "n")
        .group_by(logs::Column::StatusCode)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error("request logs by status"))
}

/// Deletes rows older than `cutoff` in every workspace (global: the retention job). The log
/// keeps no index on time, which every insert would pay for; old rows are found by the order
/// rows were stored in instead. Ids are UUID v7, which sort by the time they were made, and a
/// row is made after its request, so every row made before `cutoff` has an id below
/// [`uuid_v7_floor`]. Postgres walks the primary key to them; SQLite, which keeps no index
/// on ids (migration `m0007`), walks rowids, handed out in storage order, up to the first
/// row made since `cutoff`. Either way the time test alone decides what goes, so a row that
/// arrived late is only kept until a later prune, never deleted early.
pub async fn prune_before_global(
    db: &DatabaseConnection,
    cutoff: DateTime<Utc>,
) -> Result<u64, Status> {
    let floor = uuid_v7_floor(cutoff);
    if db.get_database_backend() == DbBackend::Sqlite {
        let sql = "DELETE FROM api_request_logs WHERE rowid < COALESCE( \
                 (SELECT rowid FROM api_request_logs WHERE id >= ? ORDER BY rowid LIMIT 1), \
                 (SELECT MAX(rowid) + 1 FROM api_request_logs)) \
             AND timestamp < ?";
        let statement =
            Statement::from_sql_and_values(DbBackend::Sqlite, sql, [floor.into(), cutoff.into()]);
        return db
            .execute_raw(statement)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_error("prune request logs"));
    }
    logs::Entity::delete_many()
        .filter(logs::Column::Id.lt(floor))
        .filter(logs::Column::Timestamp.lt(cutoff))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
        .map_err(db_error("prune request logs"))
}

/// The lowest UUID v7 (hyphenated, lower case, as ids are stored) of `at`'s millisecond: every
/// id made before `at` sorts below it, as text, and every id made from `at` on sorts above.
fn uuid_v7_floor(at: DateTime<Utc>) -> String {
    let ms = at.timestamp_millis().clamp(0, (1 << 48) - 1) as u64;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::{NoContext, Timestamp, Uuid};

    fn id_at(at: DateTime<Utc>) -> String {
        let ts = Timestamp::from_unix(
            NoContext,
            at.timestamp() as u64,
            at.timestamp_subsec_nanos(),
        );
        Uuid::new_v7(ts).to_string()
    }

    fn row(id: String, at: DateTime<Utc>) -> NewRow {
        NewRow {
            id: id.into(),
            workspace_id: "w".into(),
            api_key_id: "k".into(),
            method: "GET".into(),
            endpoint: "/api/auth/me".into(),
            status_code: 200,
            response_time_ms: 1,
            request_ip: "127.0.0.1".into(),
            user_agent: "".into(),
            request_size: 0,
            response_size: 0,
            request_id: "".into(),
            timestamp: at,
            hour_bucket: at.format("%Y-%m-%dT%H:00:00Z").to_string().into(),
        }
    }

    /// On SQLite the prune walks rowids up to the first row stored since the cutoff; a row
    /// of an old request stored after that one (a late batch) stays until a later prune,
    /// and nothing of a request since the cutoff goes.
    #[tokio::test]
    async fn the_prune_takes_old_requests_stored_before_the_cutoff() {
        let db = crate::migration::memory_db(None).await;
        let now = Utc::now();
        let cutoff = now - chrono::Duration::days(30);
        let old = cutoff - chrono::Duration::days(1);
        let rows = [
            row(id_at(old), old),
            row(id_at(old), old),
            row(id_at(now), now),
            row(id_at(now), old),
        ];
        for r in rows {
            insert_batch(&db, vec![r]).await.unwrap();
        }
        assert_eq!(prune_before_global(&db, cutoff).await.unwrap(), 2);
        let left = logs::Entity::find().all(&db).await.unwrap();
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|r| r.id > uuid_v7_floor(cutoff)));
        assert_eq!(prune_before_global(&db, cutoff).await.unwrap(), 0);
        let later = now + chrono::Duration::seconds(1);
        assert_eq!(prune_before_global(&db, later).await.unwrap(), 2);
        assert_eq!(logs::Entity::find().count(&db).await.unwrap(), 0);
    }

    #[test]
    fn v7_floor_splits_ids_by_the_millisecond_they_were_made() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T08:17:24.500Z")
            .unwrap()
            .with_timezone(&Utc);
        let floor = uuid_v7_floor(at);
        let ms = chrono::Duration::milliseconds(1);
        for _ in 0..100 {
            assert!(id_at(at - ms) < floor);
            assert!(id_at(at) > floor);
            assert!(id_at(at + chrono::Duration::days(400)) > floor);
            assert!(id_at(at - chrono::Duration::days(400)) < floor);
        }
    }
}
