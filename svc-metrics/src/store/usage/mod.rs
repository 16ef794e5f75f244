//! svc-metrics's own tables: the request log (`request_log`, one row per API-key request)
//! and its per-minute rollup (`request_minutes`). SQL is written once with Postgres' `$n`
//! placeholders and differs between backends only where a helper here says. Timestamps are
//! bound as chrono values: `timestamptz` on Postgres, RFC 3339 text on SQLite (which sorts
//! in time order, as every value is UTC).

pub mod request_log;
pub mod request_minutes;
pub mod retention;

use request_log::LogRow;
use request_minutes::{MinuteKey, MinuteSums};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
    TransactionTrait, Value,
};

/// The usage database (svc-metrics's own, writable).
#[derive(Clone)]
pub struct UsageDb {
    conn: DatabaseConnection,
}

impl UsageDb {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }

    fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    fn is_postgres(&self) -> bool {
        self.backend() == DbBackend::Postgres
    }

    /// Stores a batch: its rows and their additions to the rollup, in one transaction, so a
    /// batch is all there or not at all.
    pub async fn record(
        &self,
        rows: &[LogRow],
        groups: &[(MinuteKey, MinuteSums)],
    ) -> Result<(), DbErr> {
        let tx = self.conn.begin().await?;
        request_log::insert(&tx, rows).await?;
        request_minutes::add(&tx, groups).await?;
        tx.commit().await
    }
}

/// A statement under construction: SQL text with `$n` placeholders and their values.
#[derive(Default)]
struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            values: Vec::new(),
        }
    }

    /// Adds `value` and returns its placeholder.
    fn param(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// `(p1, p2, ...)` for a non-empty list, for `IN`.
    fn list(&mut self, values: &[String]) -> String {
        let placeholders: Vec<String> = values.iter().map(|v| self.param(v.clone())).collect();
        format!("({})", placeholders.join(", "))
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn statement(self, backend: DbBackend) -> Statement {
        crm_platform::db::statement(backend, &self.text, self.values)
    }
}

async fn query(db: &impl ConnectionTrait, sql: Sql) -> Result<Vec<QueryResult>, DbErr> {
    let backend = db.get_database_backend();
    db.query_all_raw(sql.statement(backend)).await
}

async fn execute(db: &impl ConnectionTrait, sql: Sql) -> Result<ExecResult, DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(sql.statement(backend)).await
}

/// A sum or count read back (NULL when no row matched).
fn int(row: &QueryResult, column: &str) -> Result<i64, DbErr> {
    Ok(row.try_get::<Option<i64>>("", column)?.unwrap_or(0))
}

/// `i64` as the `u64` it counts (sums of non-negative columns).
fn count(row: &QueryResult, column: &str) -> Result<u64, DbErr> {
    Ok(u64::try_from(int(row, column)?).unwrap_or(0))
}
