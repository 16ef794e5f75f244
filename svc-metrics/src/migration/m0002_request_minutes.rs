//! `request_minutes`: the per-minute rollup usage statistics read. One row per (key, minute,
//! method, endpoint, exact status code) with the request count, the summed latency and a
//! cumulative latency histogram: `le_N` counts the requests answered in at most N ms (the
//! requests above 5 000 ms are `requests - le_5000`). `api_client_id` is a plain column, not
//! part of the key: a key's client never changes. Client usage reads by it, so a client's
//! deleted keys still count.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn create(minute_type: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS request_minutes ( \
           workspace_id TEXT NOT NULL, \
           api_key_id TEXT NOT NULL, \
           api_client_id TEXT NOT NULL, \
           minute {minute_type} NOT NULL, \
           method TEXT NOT NULL, \
           endpoint TEXT NOT NULL, \
           status_code INTEGER NOT NULL, \
           requests BIGINT NOT NULL, \
           latency_ms_sum BIGINT NOT NULL, \
           le_10 BIGINT NOT NULL, \
           le_50 BIGINT NOT NULL, \
           le_100 BIGINT NOT NULL, \
           le_250 BIGINT NOT NULL, \
           le_500 BIGINT NOT NULL, \
           le_1000 BIGINT NOT NULL, \
           le_5000 BIGINT NOT NULL, \
           PRIMARY KEY (workspace_id, api_key_id, minute, method, endpoint, status_code) \
         )"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let minute_type = match manager.get_database_backend() {
            DbBackend::Postgres => "TIMESTAMPTZ(0)",
            _ => "TEXT",
        };
        let db = manager.get_connection();
        db.execute_unprepared(&create(minute_type)).await?;
        for sql in [
            "CREATE INDEX IF NOT EXISTS idx_request_minutes_client ON request_minutes \
             (workspace_id, api_client_id, minute)",
            // Retention deletes by minute across every key.
            "CREATE INDEX IF NOT EXISTS idx_request_minutes_minute ON request_minutes (minute)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS request_minutes")
            .await?;
        Ok(())
    }
}
