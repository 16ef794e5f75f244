//! The request log of API-key calls (seed 002 `api_request_logs`, seed 003 `ApiUsageLog`).
//! `hour_bucket` (`2024-01-15T10:00:00Z`) is written with each row so usage can be grouped by
//! hour or day with plain GROUP BY on SQLite and Postgres alike.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiRequestLogs::Table)
                    .if_not_exists()
                    .col(string(ApiRequestLogs::Id).primary_key())
                    .col(string(ApiRequestLogs::WorkspaceId))
                    .col(string(ApiRequestLogs::ApiKeyId))
                    .col(string(ApiRequestLogs::Method))
                    .col(string(ApiRequestLogs::Endpoint))
                    .col(integer(ApiRequestLogs::StatusCode))
                    .col(integer(ApiRequestLogs::ResponseTimeMs))
                    .col(string(ApiRequestLogs::RequestIp))
                    .col(text(ApiRequestLogs::UserAgent))
                    .col(big_integer(ApiRequestLogs::RequestSize))
                    .col(big_integer(ApiRequestLogs::ResponseSize))
                    .col(string(ApiRequestLogs::RequestId))
                    .col(timestamp_with_time_zone(ApiRequestLogs::Timestamp))
                    .col(string(ApiRequestLogs::HourBucket))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_request_logs_key_time")
                    .table(ApiRequestLogs::Table)
                    .col(ApiRequestLogs::WorkspaceId)
                    .col(ApiRequestLogs::ApiKeyId)
                    .col(ApiRequestLogs::Timestamp)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_request_logs_time")
                    .table(ApiRequestLogs::Table)
                    .col(ApiRequestLogs::Timestamp)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiRequestLogs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ApiRequestLogs {
    Table,
    Id,
    WorkspaceId,
    ApiKeyId,
    Method,
    Endpoint,
    StatusCode,
    ResponseTimeMs,
    RequestIp,
    UserAgent,
    RequestSize,
    ResponseSize,
    RequestId,
    Timestamp,
    HourBucket,
}
