//! The request log as chunks: one row per key per gateway batch (at most
//! `log_chunk::MAX_ENTRIES` entries, encoded by `store::log_chunk`) instead of one row per
//! request. With many busy keys, a batch of rows cost the database a record and a per-key
//! index entry per request; a chunk costs them once per key (the README's Decisions:
//! request-log chunks). Existing rows are carried over, key by key in time order, and carried
//! back on the way down.

use crate::store::log_chunk::{Chunk, ChunkWriter, Entry, MAX_ENTRIES, time_of};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rows read from the old table per query.
const PAGE: u64 = 5_000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ApiRequestLogChunks::*;
        manager
            .create_table(
                sea_query::Table::create()
                    .table(Table)
                    .if_not_exists()
                    .col(string(Id).primary_key())
                    .col(string(WorkspaceId))
                    .col(string(ApiKeyId))
                    .col(timestamp_with_time_zone(FirstAt))
                    .col(timestamp_with_time_zone(LastAt))
                    .col(integer(Entries))
                    .col(binary(Body))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_request_log_chunks_key")
                    .table(Table)
                    .col(ApiKeyId)
                    .col(LastAt)
                    .to_owned(),
            )
            .await?;
        carry_rows_into_chunks(manager.get_connection()).await?;
        manager
            .drop_table(
                sea_query::Table::drop()
                    .table(Alias::new("api_request_logs"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let id = if manager.get_database_backend() == DbBackend::Sqlite {
            // As migration m0007 left it on SQLite: no index on ids.
            r#""id" varchar NOT NULL"#
        } else {
            r#""id" varchar NOT NULL PRIMARY KEY"#
        };
        let time = if manager.get_database_backend() == DbBackend::Sqlite {
            "timestamp_with_timezone_text"
        } else {
            "timestamp with time zone"
        };
        db.execute_unprepared(&format!(
            r#"CREATE TABLE api_request_logs ({id}, "workspace_id" varchar NOT NULL,
            "api_key_id" varchar NOT NULL, "method" varchar NOT NULL,
            "endpoint" varchar NOT NULL, "status_code" integer NOT NULL,
            "response_time_ms" integer NOT NULL, "request_ip" varchar NOT NULL,
            "user_agent" text NOT NULL, "request_size" bigint NOT NULL,
            "response_size" bigint NOT NULL, "request_id" varchar NOT NULL,
            "timestamp" {time} NOT NULL, "hour_bucket" varchar NOT NULL)"#
        ))
        .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_request_logs_key ON api_request_logs (api_key_id, timestamp)",
        )
        .await?;
        carry_chunks_into_rows(db).await?;
        manager
            .drop_table(
                sea_query::Table::drop()
                    .table(ApiRequestLogChunks::Table)
                    .to_owned(),
            )
            .await
    }

    /// The copy and the drop stand or fall together.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// The old table's rows, key by key in time order, as chunks, read a page at a time.
async fn carry_rows_into_chunks<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut after: Option<(String, DateTime<Utc>, String)> = None;
    let mut open: Option<(String, String, ChunkWriter)> = None;
    loop {
        let (sql, values): (&str, Vec<Value>) = match &after {
            None => (
                "SELECT * FROM api_request_logs ORDER BY api_key_id, timestamp, id LIMIT $1",
                vec![(PAGE as i64).into()],
            ),
            Some((key, at, id)) => (
                "SELECT * FROM api_request_logs WHERE (api_key_id, timestamp, id) > ($1, $2, $3) \
                 ORDER BY api_key_id, timestamp, id LIMIT $4",
                vec![
                    key.clone().into(),
                    (*at).into(),
                    id.clone().into(),
                    (PAGE as i64).into(),
                ],
            ),
        };
        let sql = strip_placeholder_numbers(backend, sql);
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        let Some(last) = rows.last() else { break };
        after = Some((
            last.try_get("", "api_key_id")?,
            last.try_get("", "timestamp")?,
            last.try_get("", "id")?,
        ));
        let count = rows.len() as u64;
        for row in rows {
            let (workspace, key): (String, String) = (
                row.try_get("", "workspace_id")?,
                row.try_get("", "api_key_id")?,
            );
            if let Some((ws, k, w)) = &open
                && (ws != &workspace || k != &key || w.len() >= MAX_ENTRIES)
                && let Some(done) = open.take()
            {
                insert(db, done).await?;
            }
            let (_, _, writer) =
                open.get_or_insert_with(|| (workspace, key, ChunkWriter::default()));
            push_row(writer, &row)?;
        }
        if count < PAGE {
            break;
        }
    }
    if let Some(done) = open {
        insert(db, done).await?;
    }
    Ok(())
}

/// `?` for each `$n` on SQLite, whose placeholders are not numbered.
fn strip_placeholder_numbers(backend: DbBackend, sql: &str) -> String {
    if backend != DbBackend::Sqlite {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            out.push('?');
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn push_row(writer: &mut ChunkWriter, row: &QueryResult) -> Result<(), DbErr> {
    let text = |column: &str| row.try_get::<String>("", column);
    let id: String = text("id")?;
    let at: DateTime<Utc> = row.try_get("", "timestamp")?;
    // Integers are `integer` on Postgres, sizes `bigint`; SQLite reads either width.
    let small = |column: &str| {
        row.try_get::<i32>("", column)
            .map(|n| Ord::max(n, 0) as u32)
    };
    let number = |column: &str| row.try_get::<i64>("", column).map(|n| Ord::max(n, 0));
    let (method, endpoint, ip) = (text("method")?, text("endpoint")?, text("request_ip")?);
    let (agent, request_id) = (text("user_agent")?, text("request_id")?);
    writer.push(Entry {
        id: uuid::Uuid::parse_str(&id)
            .unwrap_or_else(|_| uuid::Uuid::now_v7())
            .into_bytes(),
        at_ms: at.timestamp_millis(),
        method: &method,
        endpoint: &endpoint,
        request_ip: &ip,
        user_agent: &agent,
        request_id: &request_id,
        status_code: Ord::min(small("status_code")?, 999),
        response_time_ms: small("response_time_ms")?,
        request_size: number("request_size")? as u64,
        response_size: number("response_size")? as u64,
    });
    Ok(())
}

async fn insert<C: ConnectionTrait>(
    db: &C,
    (workspace, key, writer): (String, String, ChunkWriter),
) -> Result<(), DbErr> {
    let (lo, hi) = writer.span();
    let entries = writer.len() as i32;
    let values: Vec<Value> = vec![
        uuid::Uuid::now_v7().to_string().into(),
        workspace.into(),
        key.into(),
        time_of(lo).into(),
        time_of(hi).into(),
        entries.into(),
        writer.finish().into(),
    ];
    let backend = db.get_database_backend();
    let sql = strip_placeholder_numbers(
        backend,
        "INSERT INTO api_request_log_chunks \
         (id, workspace_id, api_key_id, first_at, last_at, entries, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Every chunk's entries as rows of the old table.
async fn carry_chunks_into_rows<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let chunks = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT workspace_id, api_key_id, body FROM api_request_log_chunks ORDER BY id",
        ))
        .await?;
    let sql = strip_placeholder_numbers(
        backend,
        "INSERT INTO api_request_logs (id, workspace_id, api_key_id, method, endpoint, \
         status_code, response_time_ms, request_ip, user_agent, request_size, response_size, \
         request_id, timestamp, hour_bucket) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    );
    for row in chunks {
        let workspace: String = row.try_get("", "workspace_id")?;
        let key: String = row.try_get("", "api_key_id")?;
        let body: Vec<u8> = row.try_get("", "body")?;
        let chunk = Chunk::decode(&body).map_err(|e| DbErr::Custom(e.to_string()))?;
        for e in chunk.entries() {
            let at = time_of(e.at_ms);
            let values: Vec<Value> = vec![
                uuid::Uuid::from_bytes(e.id).to_string().into(),
                workspace.clone().into(),
                key.clone().into(),
                e.method.into(),
                e.endpoint.into(),
                (e.status_code as i32).into(),
                (Ord::min(e.response_time_ms, i32::MAX as u32) as i32).into(),
                e.request_ip.into(),
                e.user_agent.into(),
                (e.request_size as i64).into(),
                (e.response_size as i64).into(),
                e.request_id.into(),
                at.into(),
                at.format("%Y-%m-%dT%H:00:00Z").to_string().into(),
            ];
            db.execute_raw(Statement::from_sql_and_values(backend, sql.clone(), values))
                .await?;
        }
    }
    Ok(())
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiRequestLogChunks {
    Table,
    Id,
    WorkspaceId,
    ApiKeyId,
    FirstAt,
    LastAt,
    Entries,
    Body,
}

#[cfg(test)]
mod tests {
    use super::super::{Migrator, memory_db, strings as texts};
    use crate::store::log_chunk::Chunk;
    use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
    use sea_orm_migration::MigratorTrait;

    /// A database at migration 7: Postgres when the suite runs on it, else SQLite in memory.
    async fn at_migration_7() -> DatabaseConnection {
        let storage = crm_platform::testing::TestStorage::new().await;
        let Some(url) = storage.database_url else {
            return memory_db(Some(7)).await;
        };
        let db = sea_orm::Database::connect(&url).await.unwrap();
        Migrator::up(&db, Some(7)).await.unwrap();
        db
    }

    /// Rows become chunks per key in time order, over more than one page of the old table,
    /// and come back as the same rows on the way down.
    #[tokio::test]
    async fn rows_become_chunks_and_back() {
        let db = at_migration_7().await;
        let n = super::PAGE as usize + 3;
        let rows: Vec<String> = (0..n)
            .map(|i| {
                let key = if i.is_multiple_of(3) { "k1" } else { "k2" };
                let id = uuid::Uuid::now_v7();
                // As sqlx writes a time, which the way down does too.
                let at = chrono::DateTime::from_timestamp_millis(1_764_493_200_000 + i as i64)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
                format!(
                    "('{id}', 'w', '{key}', 'GET', '/api/auth/me', {}, 1, '127.0.0.1', 'sdk', \
                     0, {i}, '', '{at}', '2026-11-30T09:00:00Z')",
                    if i == 7 { 404 } else { 200 },
                )
            })
            .collect();
        db.execute_unprepared(&format!(
            "INSERT INTO api_request_logs VALUES {}",
            rows.join(", ")
        ))
        .await
        .unwrap();
        let before = texts(
            &db,
            "SELECT id || api_key_id || status_code || response_size || timestamp \
             FROM api_request_logs ORDER BY id",
        )
        .await;

        Migrator::up(&db, Some(1)).await.unwrap();
        let chunks = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT api_key_id, entries, body FROM api_request_log_chunks ORDER BY id",
            ))
            .await
            .unwrap();
        let mut seen = 0;
        for row in &chunks {
            let key: String = row.try_get("", "api_key_id").unwrap();
            let body: Vec<u8> = row.try_get("", "body").unwrap();
            let chunk = Chunk::decode(&body).unwrap();
            let entries: Vec<_> = chunk.entries().collect();
            assert_eq!(
                row.try_get::<i32>("", "entries").unwrap() as usize,
                entries.len()
            );
            assert!(entries.len() <= crate::store::log_chunk::MAX_ENTRIES);
            assert!(entries.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            for e in &entries {
                let i = e.response_size as usize;
                assert_eq!(key, if i.is_multiple_of(3) { "k1" } else { "k2" });
                assert_eq!(e.status_code, if i == 7 { 404 } else { 200 });
            }
            seen += entries.len();
        }
        assert_eq!(seen, n);
        let tables = if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'api_request_log%'"
        } else {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name LIKE 'api_request_log%'"
        };
        assert_eq!(texts(&db, tables).await, ["api_request_log_chunks"]);

        Migrator::down(&db, Some(1)).await.unwrap();
        let after = texts(
            &db,
            "SELECT id || api_key_id || status_code || response_size || timestamp \
             FROM api_request_logs ORDER BY id",
        )
        .await;
        assert_eq!(after, before);
        assert_eq!(texts(&db, tables).await, ["api_request_logs"]);
    }
}
