//! On SQLite, the request log keeps no unique index on `id`. Every logged request paid for
//! that index (a third b-tree written per row, next to the table and the per-key index),
//! and nothing reads rows by id: ids are UUID v7 made by svc-auth, unique by construction.
//! Without it the retention prune finds old rows by `rowid`, which SQLite hands out in the
//! order rows are stored (`store::request_log::prune_before_global`). SQLite cannot drop a
//! primary key in place, so the table is copied once. Postgres keeps its primary key.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns as `m0003_request_logs` made them, `id` first.
const COLUMNS: &str = r#""workspace_id" varchar NOT NULL, "api_key_id" varchar NOT NULL,
    "method" varchar NOT NULL, "endpoint" varchar NOT NULL, "status_code" integer NOT NULL,
    "response_time_ms" integer NOT NULL, "request_ip" varchar NOT NULL,
    "user_agent" text NOT NULL, "request_size" integer NOT NULL,
    "response_size" integer NOT NULL, "request_id" varchar NOT NULL,
    "timestamp" timestamp_with_timezone_text NOT NULL, "hour_bucket" varchar NOT NULL"#;

const NAMES: &str = "id, workspace_id, api_key_id, method, endpoint, status_code, \
    response_time_ms, request_ip, user_agent, request_size, response_size, request_id, \
    timestamp, hour_bucket";

/// Rebuilds the table with `id` declared as `id_column`, rows copied in id (storage) order
/// so that their rowids keep that order.
async fn rebuild(manager: &SchemaManager<'_>, id_column: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let statements = [
        "DROP TABLE IF EXISTS api_request_logs_copy".to_owned(),
        format!("CREATE TABLE api_request_logs_copy ({id_column}, {COLUMNS})"),
        format!(
            "INSERT INTO api_request_logs_copy ({NAMES}) \
             SELECT {NAMES} FROM api_request_logs ORDER BY id"
        ),
        "DROP TABLE api_request_logs".to_owned(),
        "ALTER TABLE api_request_logs_copy RENAME TO api_request_logs".to_owned(),
        "CREATE INDEX idx_request_logs_key ON api_request_logs (api_key_id, timestamp)".to_owned(),
    ];
    for sql in statements {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        rebuild(manager, r#""id" varchar NOT NULL"#).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        rebuild(manager, r#""id" varchar NOT NULL PRIMARY KEY"#).await
    }

    /// The copy, the drop and the rename stand or fall together (SQLite migrations run
    /// outside a transaction unless asked).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Migrator, memory_db, strings};
    use sea_orm::ConnectionTrait;
    use sea_orm_migration::MigratorTrait;

    #[tokio::test]
    async fn rows_survive_the_rebuild_in_storage_order_both_ways() {
        let db = memory_db(Some(6)).await;
        for (id, at) in [
            ("0190-b", "2026-11-30 10:00:00+00:00"),
            ("0190-a", "2026-11-30 09:00:00+00:00"),
        ] {
            db.execute_unprepared(&format!(
                "INSERT INTO api_request_logs VALUES ('{id}', 'w', 'k', 'GET', '/api/auth/me', \
                 200, 1, '127.0.0.1', '', 0, 0, '', '{at}', '2026-11-30T09:00:00Z')"
            ))
            .await
            .unwrap();
        }
        let indexes = "SELECT name FROM sqlite_master WHERE tbl_name = 'api_request_logs' \
                       AND type = 'index' ORDER BY name";
        let by_rowid = "SELECT id FROM api_request_logs ORDER BY rowid";

        Migrator::up(&db, Some(1)).await.unwrap();
        assert_eq!(strings(&db, indexes).await, ["idx_request_logs_key"]);
        assert_eq!(strings(&db, by_rowid).await, ["0190-a", "0190-b"]);

        Migrator::down(&db, Some(1)).await.unwrap();
        assert_eq!(
            strings(&db, indexes).await,
            [
                "idx_request_logs_key",
                "sqlite_autoindex_api_request_logs_1"
            ]
        );
        assert_eq!(strings(&db, by_rowid).await, ["0190-a", "0190-b"]);
    }
}
