//! The delivery queue: one row per (event, subscription) to deliver, claimed by the workers
//! with a lease; and which delivery each attempt belongs to.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    // UUID v7: ids sort by creation, which the cursor pagination relies on.
                    .col(string(WebhookDeliveries::Id).primary_key())
                    .col(string(WebhookDeliveries::WorkspaceId))
                    .col(string(WebhookDeliveries::SubscriptionId))
                    .col(string(WebhookDeliveries::EventId))
                    .col(string(WebhookDeliveries::EventType))
                    // pending | delivered | failed | cancelled
                    .col(string(WebhookDeliveries::Status))
                    .col(integer(WebhookDeliveries::AttemptCount))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    // A worker's lease: until then no other worker claims the row.
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::LockedUntil,
                    ))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::DeliveredAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_subscription")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WorkspaceId)
                    .col(WebhookDeliveries::SubscriptionId)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await?;
        // m0002 is never edited, so the new column is named here. Test sends have no
        // delivery, hence nullable.
        let attempts = Alias::new("webhook_attempts");
        manager
            .alter_table(
                Table::alter()
                    .table(attempts.clone())
                    .add_column(string_null(Alias::new("delivery_id")))
                    .to_owned(),
            )
            .await?;
        // Why the delivery engine disabled a subscription (a 410 from its receiver).
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("webhook_subscriptions"))
                    .add_column(text_null(Alias::new("disabled_reason")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_attempts_delivery")
                    .table(attempts)
                    .col(Alias::new("delivery_id"))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum WebhookDeliveries {
    Table,
    Id,
    WorkspaceId,
    SubscriptionId,
    EventId,
    EventType,
    Status,
    AttemptCount,
    NextAttemptAt,
    LockedUntil,
    LastStatusCode,
    LastError,
    CreatedAt,
    DeliveredAt,
}
