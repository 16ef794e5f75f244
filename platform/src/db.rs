//! Database connection. Each service owns its tables: on Postgres in a schema of its own
//! (so every service can run its own migrations in one database), on SQLite in a file of
//! its own.

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    Statement, TransactionTrait, Value,
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode},
};
use sea_orm_migration::MigratorTrait;
use std::{path::Path, time::Duration};

/// The URL a service should use: `DATABASE_URL` when given, else a SQLite file named after
/// the service in `data_dir`.
pub fn service_url(database_url: Option<&str>, data_dir: &Path, service: &str) -> String {
    match database_url {
        Some(url) if !url.is_empty() => url.to_owned(),
        _ => format!("sqlite://{}/{service}.db?mode=rwc", data_dir.display()),
    }
}

/// Runs `M`'s pending migrations for the service owning `schema`. On Postgres they run in
/// one transaction that first takes an advisory lock per schema, so processes that start
/// together on one database take turns (none fails on a table another is creating; the
/// later ones find nothing left to do) and a failed migration leaves nothing half done.
/// SQLite is one process's file and needs no turn.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection, schema: &str) -> Result<(), DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return M::up(db, None).await;
    }
    let turn = db.begin().await?;
    turn.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock(hashtext('crm-migrations:{schema}'))"
    ))
    .await?;
    M::up(&turn, None).await?;
    turn.commit().await
}

/// True when `url` points at Postgres.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Connects; on Postgres creates `schema` if needed and puts it first on the search path.
pub async fn connect(url: &str, schema: &str) -> Result<DatabaseConnection, DbErr> {
    connect_pool(url, schema, if is_postgres(url) { 16 } else { 4 }).await
}

async fn connect_pool(
    url: &str,
    schema: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    if let Some(dir) = sqlite_parent_dir(url) {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbErr::Custom(format!("cannot create {dir}: {e}")))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if is_postgres(url) {
        let admin = Database::connect(url).await?;
        let created = admin
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await;
        match created {
            // Two processes starting together: IF NOT EXISTS does not stop the other's
            // concurrent create from failing on the catalog's unique index; the schema is there.
            Err(e) if !is_unique_violation(&e) => return Err(e),
            _ => {}
        }
        admin.close().await?;
        options.set_schema_search_path(schema.to_owned());
    } else {
        options.map_sqlx_sqlite_opts(sqlite_settings);
    }
    Database::connect(options).await
}

/// Settings every SQLite connection of the pool gets (a `PRAGMA` run once would reach one
/// connection only).
fn sqlite_settings(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        // WAL lets readers proceed during a write; the pool's busy timeout absorbs the rest.
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
}

/// `sql`, written with Postgres' numbered placeholders (`$1`, `$2`, ...), as a statement for
/// `backend`. For SQLite every `$n` becomes an anonymous `?` and the values are bound in the
/// order the placeholders appear (a value whose placeholder appears twice is bound twice):
/// SQLite finds each numbered `?NNN` by a linear scan of the statement's parameter names, so
/// binding a statement with n of them costs time quadratic in n, a multi-row insert's worth
/// of them most of its time. The text must hold no `$` other than placeholders.
pub fn statement(
    backend: DatabaseBackend,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    if backend == DatabaseBackend::Postgres {
        return Statement::from_sql_and_values(backend, sql, values);
    }
    let mut values: Vec<Option<Value>> = values.into_iter().map(Some).collect();
    let mut text = String::with_capacity(sql.len());
    let mut bound: Vec<Value> = Vec::with_capacity(values.len());
    // Where each value went first, for a placeholder that appears again.
    let mut first_use: Vec<Option<usize>> = vec![None; values.len()];
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        let number: Option<usize> = rest[at + 1..at + 1 + digits].parse().ok();
        match number
            .and_then(|n| n.checked_sub(1))
            .filter(|i| *i < values.len())
        {
            Some(i) => {
                let value = match first_use[i] {
                    Some(earlier) => bound[earlier].clone(),
                    None => {
                        first_use[i] = Some(bound.len());
                        values[i]
                            .take()
                            .expect("a value is taken at its first use only")
                    }
                };
                bound.push(value);
                text.push('?');
            }
            // Not a placeholder of ours: left as written, for SQLite to judge.
            None => text.push_str(&rest[at..at + 1 + digits]),
        }
        rest = &rest[at + 1 + digits..];
    }
    text.push_str(rest);
    Statement::from_sql_and_values(backend, text, bound)
}

fn sqlite_parent_dir(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://")?;
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Path::new(path).parent()?.to_str().filter(|p| !p.is_empty())
}

/// True when `e` is a unique-constraint violation (on Postgres or SQLite): the store's sign
/// that a value another row holds was asked for again.
pub fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Until `shutdown`, wakes `wake` whenever any process sends `NOTIFY channel` on the Postgres
/// database behind `db`, so queued work starts without waiting for a worker's next poll. A
/// dropped connection is re-established (after `pause`, so a down database is not spun on);
/// the workers' poll stays the safety net meanwhile, and alone if LISTEN cannot start.
pub async fn wake_on_notify(
    db: DatabaseConnection,
    channel: &str,
    wake: std::sync::Arc<tokio::sync::Notify>,
    pause: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use sea_orm::sqlx::postgres::PgListener;
    let connected = async {
        let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
        listener.listen(channel).await?;
        Ok::<_, sea_orm::sqlx::Error>(listener)
    };
    let mut listener = tokio::select! {
        _ = shutdown.cancelled() => return,
        connected = connected => match connected {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, channel, "LISTEN failed; workers rely on polling");
                return;
            }
        },
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            received = listener.recv() => match received {
                Ok(_) => wake.notify_one(),
                Err(e) => {
                    // recv reconnects on the next call.
                    tracing::warn!(error = %e, channel, "LISTEN connection lost; reconnecting");
                    tokio::time::sleep(pause).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite() -> DatabaseConnection {
        Database::connect("sqlite::memory:").await.unwrap()
    }

    /// What SQLite answers for `sql` bound with `values`, as text.
    async fn answer(sql: &str, values: Vec<Value>) -> Vec<String> {
        let db = sqlite().await;
        let row = db
            .query_one_raw(statement(DatabaseBackend::Sqlite, sql, values))
            .await
            .unwrap()
            .unwrap();
        (0..row.column_names().len())
            .map(|i| row.try_get_by_index::<String>(i).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn sqlite_binds_placeholders_in_any_order_and_repeated() {
        let got = answer(
            "SELECT $2 AS a, $1 AS b, $2 AS c, $10 AS d",
            (1..=10).map(|n| Value::from(format!("v{n}"))).collect(),
        )
        .await;
        assert_eq!(got, ["v2", "v1", "v2", "v10"]);
    }

    #[test]
    fn sqlite_text_has_anonymous_placeholders() {
        let s = statement(
            DatabaseBackend::Sqlite,
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) -- é",
            (0..4).map(Value::from),
        );
        assert_eq!(s.sql, "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) -- é");
        let postgres = statement(DatabaseBackend::Postgres, "SELECT $1", [Value::from(1)]);
        assert_eq!(postgres.sql, "SELECT $1");
    }
}
