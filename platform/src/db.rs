//! Database connection. Each service owns its tables: on Postgres in a schema of its own
//! (so every service can run its own migrations in one database), on SQLite in a file of
//! its own.

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    TransactionTrait,
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
    connect_pool(
        url,
        schema,
        if is_postgres(url) { 16 } else { 4 },
        sqlite_settings,
    )
    .await
}

/// On SQLite, a connection of its own for a steady stream of bulk writes (the request log);
/// on Postgres `None` (use the pool). SQLite drops a connection's page cache whenever another
/// connection has written since its last transaction, so batches spread over the pool's
/// connections each start cold and re-read every page they touch; one connection that does
/// most of the writing keeps its pages.
pub async fn connect_bulk_writer(
    url: &str,
    schema: &str,
) -> Result<Option<DatabaseConnection>, DbErr> {
    if is_postgres(url) {
        return Ok(None);
    }
    connect_pool(url, schema, 1, |o| {
        sqlite_settings(o)
            // Each of its commits rewrites the same hot pages (the last index page of every
            // busy key); checkpointing every few commits instead of after each (the default
            // threshold, 1 000 pages, is about one commit) copies each page to the database
            // once.
            .pragma("wal_autocheckpoint", BULK_CHECKPOINT_PAGES.to_string())
            // Each statement of a multi-statement transaction keeps a copy of every page it
            // first touches (its statement journal, so that it alone can be undone); past
            // 64 KiB SQLite spills it to a temporary file, and with many keys a 50-row insert
            // touches dozens of index pages: those writes were a quarter of this connection's
            // time. In memory they are a copy.
            .pragma("temp_store", "memory")
    })
    .await
    .map(Some)
}

/// Page size of the SQLite databases we create (SQLite's default is 4 KiB). The request log's
/// commits touch at least one page per busy key (its per-key index's last leaf) and SQLite
/// writes each page to the WAL with system calls of its own: with 16 KiB pages a row cost
/// a quarter less CPU over 1 000 keys, and with one key too (`log_insert`, README Figures).
/// A database keeps the page size it was created with.
pub const SQLITE_PAGE_SIZE: u32 = 16 * 1024;

/// WAL pages after which the bulk writer's commit checkpoints (32 MiB).
const BULK_CHECKPOINT_PAGES: u32 = 32 * 1024 * 1024 / SQLITE_PAGE_SIZE;

async fn connect_pool(
    url: &str,
    schema: &str,
    max_connections: u32,
    sqlite: fn(SqliteConnectOptions) -> SqliteConnectOptions,
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
        options.map_sqlx_sqlite_opts(sqlite);
    }
    Database::connect(options).await
}

/// Settings every SQLite connection of the pool gets (a `PRAGMA` run once would reach one
/// connection only).
fn sqlite_settings(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        // Applied before the journal mode (sqlx orders them so), as SQLite requires.
        .page_size(SQLITE_PAGE_SIZE)
        // WAL lets readers proceed during a write; the pool's busy timeout absorbs the rest.
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        // Inserts spread over many index pages (the request log's per-key index when many
        // keys call) outgrow SQLite's default 2 MiB page cache, and then every insert reads
        // its page back from the OS; this is a ceiling, filled only as pages are used.
        .pragma("cache_size", "-32768")
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
    use sea_orm::{ConnectionTrait, Statement};

    #[tokio::test]
    async fn new_sqlite_databases_get_large_pages_and_the_bulk_writer_shares_them() {
        let dir = std::env::temp_dir().join(format!("crm-db-pages-{}", uuid::Uuid::new_v4()));
        let url = super::service_url(None, &dir, "pages");
        let db = super::connect(&url, "pages").await.unwrap();
        db.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        let writer = super::connect_bulk_writer(&url, "pages")
            .await
            .unwrap()
            .unwrap();
        for conn in [&db, &writer] {
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    "PRAGMA page_size",
                ))
                .await
                .unwrap()
                .unwrap();
            let size: i64 = row.try_get_by_index(0).unwrap();
            assert_eq!(size, i64::from(super::SQLITE_PAGE_SIZE));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
