//! Incoming webhooks: the hooks (token stored as its SHA-256 only), every call they received,
//! and the per-hook call counters of the rate limit (one row per hook and minute).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IncomingWebhooks::Table)
                    .if_not_exists()
                    // UUID v7: ids sort by creation, which the cursor pagination relies on.
                    .col(string(IncomingWebhooks::Id).primary_key())
                    .col(string(IncomingWebhooks::WorkspaceId))
                    .col(string(IncomingWebhooks::Name))
                    .col(text_null(IncomingWebhooks::Description))
                    // contact | opportunity
                    .col(string(IncomingWebhooks::Module))
                    // create | update | upsert
                    .col(string(IncomingWebhooks::Action))
                    // JSON object: payload path -> record field.
                    .col(text(IncomingWebhooks::FieldMapping))
                    .col(string(IncomingWebhooks::UpsertKey))
                    // active | inactive
                    .col(string(IncomingWebhooks::Status))
                    // SHA-256 hex of the token: the public endpoint looks hooks up by it.
                    .col(string(IncomingWebhooks::TokenHash))
                    .col(string(IncomingWebhooks::TokenPrefix))
                    // Sealed (crm_platform::sealed) with the row id as associated data.
                    .col(text_null(IncomingWebhooks::SigningSecretSealed))
                    .col(string(IncomingWebhooks::SignatureHeader))
                    .col(string(IncomingWebhooks::CreatedBy))
                    .col(timestamp_with_time_zone(IncomingWebhooks::CreatedAt))
                    .col(timestamp_with_time_zone(IncomingWebhooks::UpdatedAt))
                    .col(timestamp_with_time_zone_null(
                        IncomingWebhooks::LastReceivedAt,
                    ))
                    // Soft delete: set rows leave every read and their token stops.
                    .col(timestamp_with_time_zone_null(IncomingWebhooks::DeletedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_incoming_webhooks_token_hash")
                    .table(IncomingWebhooks::Table)
                    .col(IncomingWebhooks::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_incoming_webhooks_workspace")
                    .table(IncomingWebhooks::Table)
                    .col(IncomingWebhooks::WorkspaceId)
                    .col(IncomingWebhooks::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IncomingWebhookLogs::Table)
                    .if_not_exists()
                    // UUID v7, the cursor.
                    .col(string(IncomingWebhookLogs::Id).primary_key())
                    .col(string(IncomingWebhookLogs::WorkspaceId))
                    .col(string(IncomingWebhookLogs::WebhookId))
                    // success | failed
                    .col(string(IncomingWebhookLogs::Status))
                    .col(integer(IncomingWebhookLogs::ResponseStatus))
                    // created | updated
                    .col(string_null(IncomingWebhookLogs::Action))
                    .col(string_null(IncomingWebhookLogs::RecordId))
                    .col(text_null(IncomingWebhookLogs::Error))
                    // The first 4 KiB of the body.
                    .col(text(IncomingWebhookLogs::Payload))
                    .col(boolean(IncomingWebhookLogs::PayloadTruncated))
                    .col(big_integer(IncomingWebhookLogs::DurationMs))
                    .col(timestamp_with_time_zone(IncomingWebhookLogs::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_incoming_webhook_logs_webhook")
                    .table(IncomingWebhookLogs::Table)
                    .col(IncomingWebhookLogs::WorkspaceId)
                    .col(IncomingWebhookLogs::WebhookId)
                    .col(IncomingWebhookLogs::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IncomingWebhookCalls::Table)
                    .if_not_exists()
                    .col(string(IncomingWebhookCalls::WebhookId))
                    // Unix minute the calls were counted in (a fixed window).
                    .col(big_integer(IncomingWebhookCalls::WindowStart))
                    .col(integer(IncomingWebhookCalls::Calls))
                    .primary_key(
                        Index::create()
                            .col(IncomingWebhookCalls::WebhookId)
                            .col(IncomingWebhookCalls::WindowStart),
                    )
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum IncomingWebhooks {
    Table,
    Id,
    WorkspaceId,
    Name,
    Description,
    Module,
    Action,
    FieldMapping,
    UpsertKey,
    Status,
    TokenHash,
    TokenPrefix,
    SigningSecretSealed,
    SignatureHeader,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    LastReceivedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
pub enum IncomingWebhookLogs {
    Table,
    Id,
    WorkspaceId,
    WebhookId,
    Status,
    ResponseStatus,
    Action,
    RecordId,
    Error,
    Payload,
    PayloadTruncated,
    DurationMs,
    ReceivedAt,
}

#[derive(DeriveIden)]
pub enum IncomingWebhookCalls {
    Table,
    WebhookId,
    WindowStart,
    Calls,
}
