use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscriptions::Table)
                    .if_not_exists()
                    .col(string(WebhookSubscriptions::Id).primary_key())
                    .col(string(WebhookSubscriptions::WorkspaceId))
                    .col(text(WebhookSubscriptions::Url))
                    .col(string(WebhookSubscriptions::Name))
                    .col(text_null(WebhookSubscriptions::Description))
                    // JSON array of event types and patterns.
                    .col(text(WebhookSubscriptions::Events))
                    // retryConfig, read by the delivery engine.
                    .col(integer(WebhookSubscriptions::MaxRetries))
                    .col(big_integer(WebhookSubscriptions::RetryDelayMs))
                    .col(double(WebhookSubscriptions::BackoffMultiplier))
                    .col(integer(WebhookSubscriptions::TimeoutMs))
                    .col(boolean(WebhookSubscriptions::VerifySsl))
                    // active | disabled
                    .col(string(WebhookSubscriptions::Status))
                    .col(integer_null(WebhookSubscriptions::RateLimitPerSecond))
                    // JSON object of extra header name -> value.
                    .col(text(WebhookSubscriptions::Headers))
                    // Sealed (crm_platform::sealed) with the row id as associated data.
                    .col(text(WebhookSubscriptions::SecretSealed))
                    // The secret before the last rotation, signing until it expires.
                    .col(text_null(WebhookSubscriptions::PreviousSecretSealed))
                    .col(timestamp_with_time_zone_null(
                        WebhookSubscriptions::PreviousSecretExpiresAt,
                    ))
                    .col(string(WebhookSubscriptions::CreatedBy))
                    .col(timestamp_with_time_zone(WebhookSubscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookSubscriptions::UpdatedAt))
                    // Soft delete: set rows leave every read.
                    .col(timestamp_with_time_zone_null(
                        WebhookSubscriptions::DeletedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_subscriptions_workspace")
                    .table(WebhookSubscriptions::Table)
                    .col(WebhookSubscriptions::WorkspaceId)
                    .col(WebhookSubscriptions::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .if_not_exists()
                    .col(string(WebhookAttempts::Id).primary_key())
                    .col(string(WebhookAttempts::WorkspaceId))
                    .col(string(WebhookAttempts::WebhookId))
                    // The envelope's id (webhook-id / X-Webhook-Id).
                    .col(string(WebhookAttempts::EventId))
                    .col(string(WebhookAttempts::EventType))
                    // delivered | failed
                    .col(string(WebhookAttempts::Status))
                    .col(integer_null(WebhookAttempts::ResponseStatus))
                    // The first 4 KiB of the receiver's answer.
                    .col(text(WebhookAttempts::ResponseBody))
                    .col(big_integer(WebhookAttempts::DurationMs))
                    .col(text_null(WebhookAttempts::Error))
                    .col(timestamp_with_time_zone(WebhookAttempts::AttemptedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_attempts_webhook")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::WorkspaceId)
                    .col(WebhookAttempts::WebhookId)
                    .col(WebhookAttempts::AttemptedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum WebhookSubscriptions {
    Table,
    Id,
    WorkspaceId,
    Url,
    Name,
    Description,
    Events,
    MaxRetries,
    RetryDelayMs,
    BackoffMultiplier,
    TimeoutMs,
    VerifySsl,
    Status,
    RateLimitPerSecond,
    Headers,
    SecretSealed,
    PreviousSecretSealed,
    PreviousSecretExpiresAt,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
pub enum WebhookAttempts {
    Table,
    Id,
    WorkspaceId,
    WebhookId,
    EventId,
    EventType,
    Status,
    ResponseStatus,
    ResponseBody,
    DurationMs,
    Error,
    AttemptedAt,
}
