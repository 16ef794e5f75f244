//! `request_log`: one row per API-key request, as a gateway saw it. On Postgres the table is
//! partitioned by day on `at` so retention drops whole days; the day partitions are made
//! ahead by the maintenance task, and the DEFAULT partition made here catches any row whose
//! day has none (the service was down when it should have been made). On SQLite it is a
//! plain table pruned in batches. `api_client_id` is the partner client owning the key (empty
//! for a member's own key), as the gateway knew it.
//!
//! There is no primary key: a Postgres partitioned table's key would have to include `at`,
//! and every index is paid on each insert. Reads go by key and time through the one index.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS request_log ( \
       id TEXT NOT NULL, \
       workspace_id TEXT NOT NULL, \
       api_key_id TEXT NOT NULL, \
       api_client_id TEXT NOT NULL, \
       method TEXT NOT NULL, \
       endpoint TEXT NOT NULL, \
       status_code INTEGER NOT NULL, \
       response_time_ms BIGINT NOT NULL, \
       request_ip TEXT NOT NULL, \
       user_agent TEXT NOT NULL, \
       request_size BIGINT NOT NULL, \
       response_size BIGINT NOT NULL, \
       request_id TEXT NOT NULL, \
       at TIMESTAMPTZ(3) NOT NULL \
     ) PARTITION BY RANGE (at)",
    "CREATE TABLE IF NOT EXISTS request_log_default PARTITION OF request_log DEFAULT",
    "CREATE INDEX IF NOT EXISTS idx_request_log_key_at ON request_log \
     (workspace_id, api_key_id, at, id)",
];

// `at` is text in SQLite (as sqlx writes a UTC timestamp: RFC 3339, `+00:00`), which sorts
// in time order.
const SQLITE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS request_log ( \
       id TEXT NOT NULL, \
       workspace_id TEXT NOT NULL, \
       api_key_id TEXT NOT NULL, \
       api_client_id TEXT NOT NULL, \
       method TEXT NOT NULL, \
       endpoint TEXT NOT NULL, \
       status_code INTEGER NOT NULL, \
       response_time_ms INTEGER NOT NULL, \
       request_ip TEXT NOT NULL, \
       user_agent TEXT NOT NULL, \
       request_size INTEGER NOT NULL, \
       response_size INTEGER NOT NULL, \
       request_id TEXT NOT NULL, \
       at TEXT NOT NULL \
     )",
    "CREATE INDEX IF NOT EXISTS idx_request_log_key_at ON request_log \
     (workspace_id, api_key_id, at, id)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES,
            _ => SQLITE,
        };
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping a partitioned table drops its partitions.
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS request_log")
            .await?;
        Ok(())
    }
}
