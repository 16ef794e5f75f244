//! Read-only SQL over svc-pipeline's tables (`pipelines`, `stages`, `opportunities`,
//! `opportunity_history`). Every query takes the workspace id first and aggregates in the
//! database: what comes back is one row per group (stage, currency, month), never one per
//! opportunity. The SQL is the same on SQLite and Postgres except where a helper here says.
//! svc-metrics's own tables (API usage) are in [`usage`].

pub mod catalog;
pub mod figures;
pub mod history;
pub mod trends;
pub mod usage;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult,
    Value,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::OnceCell;

/// What a query covers: the caller's workspace, optionally one pipeline, a time range
/// `[start, end)` and the instant open stays run to.
#[derive(Clone, Debug)]
pub struct Selection {
    pub workspace_id: String,
    /// Empty: every pipeline of the workspace.
    pub pipeline_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// The workspace's default currency: the money figures that are not per currency.
    pub currency: String,
}

impl Selection {
    /// `$1` workspace, `$2` start, `$3` end, `$4` pipeline ("" = all): the parameters every
    /// query starts with.
    fn params(&self) -> Vec<Value> {
        vec![
            self.workspace_id.clone().into(),
            self.start.into(),
            self.end.into(),
            self.pipeline_id.clone().into(),
        ]
    }
}

/// svc-pipeline's database, read-only (a read replica in production).
#[derive(Clone)]
pub struct PipelineDb {
    url: String,
    backend: DbBackend,
    pool: Arc<OnceCell<DatabaseConnection>>,
}

impl PipelineDb {
    /// Connects on first use: svc-metrics may start before svc-pipeline has created its
    /// tables (or its SQLite file); a query made before then fails alone, and the next one
    /// tries again, instead of the service failing to start.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            backend: if crm_platform::db::is_postgres(url) {
                DbBackend::Postgres
            } else {
                DbBackend::Sqlite
            },
            pool: Arc::default(),
        }
    }

    /// The pool, connected once. On Postgres the tables are in schema `pipeline`, which is
    /// never created nor written here; the SQLite file is opened read-only.
    async fn pool(&self) -> Result<&DatabaseConnection, DbErr> {
        self.pool
            .get_or_try_init(|| async {
                let mut options = ConnectOptions::new(self.url.clone());
                options
                    .max_connections(if self.backend == DbBackend::Postgres {
                        8
                    } else {
                        4
                    })
                    .min_connections(0)
                    .connect_timeout(Duration::from_secs(5))
                    .acquire_timeout(Duration::from_secs(10))
                    .sqlx_logging(false);
                if self.backend == DbBackend::Postgres {
                    options.set_schema_search_path("pipeline".to_owned());
                    options.map_sqlx_postgres_opts(|o| {
                        o.options([
                            // The stays and funnel queries sort and hash a few hundred
                            // thousand rows for a large workspace: in memory rather than
                            // spilled to disk (4 MB is Postgres' default).
                            ("work_mem", "64MB"),
                            // Statements are prepared and cached per connection; after five
                            // runs Postgres may switch to a plan made without the values,
                            // which cannot see that `$4 = ''` drops the pipeline filter nor
                            // how many rows a range holds (the funnel runs ~20% slower so; a
                            // draft of it picked nested loops that ran for over ten minutes).
                            // Planning each run costs ~2 ms.
                            ("plan_cache_mode", "force_custom_plan"),
                            // These queries' estimated costs pass JIT's thresholds, and
                            // compiling them took up to 0.9 s a call, more than running them.
                            ("jit", "off"),
                            // The data these queries read is in memory, as on an SSD-backed
                            // server: with the default 4 the planner prefers sorting a
                            // workspace's 200,000 moves by a text key (~3x slower) over
                            // reading them in order from `idx_history_stage_moves`.
                            ("random_page_cost", "1.1"),
                        ])
                    });
                } else {
                    options.map_sqlx_sqlite_opts(|o| o.read_only(true).create_if_missing(false));
                }
                Database::connect(options).await
            })
            .await
    }

    fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Runs `sql` (written with Postgres' `$n` placeholders) with `values`.
    async fn rows(&self, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>, DbErr> {
        self.pool()
            .await?
            .query_all_raw(crm_platform::db::statement(self.backend(), sql, values))
            .await
    }

    /// `column` (a timestamp) as Unix seconds with a fraction. SQLite keeps timestamps as
    /// RFC 3339 text, Postgres as `timestamptz`.
    fn epoch(&self, column: &str) -> String {
        match self.backend() {
            DbBackend::Sqlite => format!("((julianday({column}) - 2440587.5) * 86400.0)"),
            // `date_part` is already a double; `EXTRACT` makes a numeric (since Postgres 14)
            // that costs ~1 µs a row more to make and convert, over ~600,000 rows a call.
            _ => format!("date_part('epoch', {column})"),
        }
    }
}

/// Amounts are summed in two parts, `x / SPLIT` and `x % SPLIT`, each far inside a BIGINT for
/// any realistic row count, and joined in an `i128` (as svc-pipeline's stage totals do): one
/// `SUM(amount_cents)` overflows SQLite's 64-bit integer at 9 224 opportunities of the
/// largest accepted amount.
const SPLIT: i64 = 1_000_000_000;

/// SQL for the exact sum of `value` over the rows where `when` holds, as two columns
/// `{name}_hi` and `{name}_lo` (read back with [`cents`]).
fn split_sum(when: &str, value: &str, name: &str) -> String {
    format!(
        "CAST(SUM(CASE WHEN {when} THEN ({value}) / {SPLIT} ELSE 0 END) AS BIGINT) AS {name}_hi, \
         CAST(SUM(CASE WHEN {when} THEN ({value}) % {SPLIT} ELSE 0 END) AS BIGINT) AS {name}_lo"
    )
}

/// SQL counting the rows where `when` holds, as column `name`.
fn count_when(when: &str, name: &str) -> String {
    format!("CAST(SUM(CASE WHEN {when} THEN 1 ELSE 0 END) AS BIGINT) AS {name}")
}

/// Reads a [`split_sum`] back.
fn cents(row: &QueryResult, name: &str) -> Result<i128, DbErr> {
    let hi: Option<i64> = row.try_get("", &format!("{name}_hi"))?;
    let lo: Option<i64> = row.try_get("", &format!("{name}_lo"))?;
    Ok(i128::from(hi.unwrap_or(0)) * i128::from(SPLIT) + i128::from(lo.unwrap_or(0)))
}

/// Reads a count (NULL when no row matched at all).
fn count(row: &QueryResult, name: &str) -> Result<i64, DbErr> {
    Ok(row.try_get::<Option<i64>>("", name)?.unwrap_or(0))
}
