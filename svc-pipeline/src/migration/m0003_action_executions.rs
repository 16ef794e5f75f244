//! `action_executions`: every action run on a contact (seed 004 "Action Execution API"), with
//! what it was asked, what it did or why it failed. An idempotency key is unique per
//! workspace when set, so a retried execute runs once whichever gateway it comes through.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ActionExecutions::Table)
                    .if_not_exists()
                    // UUIDv7: ordering by id is ordering by creation, which the cursor uses.
                    .col(string(ActionExecutions::Id).primary_key())
                    .col(string(ActionExecutions::WorkspaceId))
                    .col(string(ActionExecutions::ContactId))
                    .col(string(ActionExecutions::ActionType))
                    // JSON objects as text: the same on SQLite and Postgres, never queried into.
                    .col(text(ActionExecutions::Configuration))
                    .col(text(ActionExecutions::ExecutionContext))
                    // running (claimed, not finished), completed or failed.
                    .col(string(ActionExecutions::Status))
                    .col(text(ActionExecutions::Result))
                    .col(text_null(ActionExecutions::Error))
                    .col(timestamp_with_time_zone(ActionExecutions::ExecutedAt))
                    .col(big_integer(ActionExecutions::DurationMs))
                    .col(string_null(ActionExecutions::IdempotencyKey))
                    .to_owned(),
            )
            .await?;
        for sql in [
            "CREATE INDEX IF NOT EXISTS idx_action_executions_contact ON action_executions \
             (workspace_id, contact_id, id)",
            // NULLs are distinct on both backends; the WHERE keeps the index small.
            "CREATE UNIQUE INDEX IF NOT EXISTS idx_action_executions_idempotency ON \
             action_executions (workspace_id, idempotency_key) WHERE idempotency_key IS NOT NULL",
        ] {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ActionExecutions::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ActionExecutions {
    Table,
    Id,
    WorkspaceId,
    ContactId,
    ActionType,
    Configuration,
    ExecutionContext,
    Status,
    Result,
    Error,
    ExecutedAt,
    DurationMs,
    IdempotencyKey,
}
