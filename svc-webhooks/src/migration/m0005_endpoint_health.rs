//! What the delivery engine needs to keep endpoints healthy: when a subscription started
//! failing (so one failing for days is disabled, and re-enabling replays what failed since),
//! the partner client a subscription belongs to, the per-second send counters that enforce a subscription's rate limit across processes,
//! and the indexes the retention sweep deletes by.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The first failed attempt since the last 2xx; kept while disabled, cleared on
        // re-enable.
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("webhook_subscriptions"))
                    .add_column(timestamp_with_time_zone_null(Alias::new("failing_since")))
                    .to_owned(),
            )
            .await?;
        // The partner API client a subscription belongs to (seed 003), if any.
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("webhook_subscriptions"))
                    .add_column(string_null(Alias::new("client_id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookRateWindows::Table)
                    .if_not_exists()
                    .col(string(WebhookRateWindows::SubscriptionId).primary_key())
                    // Unix second the count is for; a send in a later second starts over.
                    .col(big_integer(WebhookRateWindows::WindowStart))
                    .col(integer(WebhookRateWindows::Sent))
                    .to_owned(),
            )
            .await?;
        for (name, table, column) in [
            (
                "idx_webhook_deliveries_created",
                "webhook_deliveries",
                "created_at",
            ),
            (
                "idx_webhook_attempts_attempted",
                "webhook_attempts",
                "attempted_at",
            ),
            (
                "idx_received_events_received",
                "received_events",
                "received_at",
            ),
            // Retention keeps an event while a delivery of it is left.
            (
                "idx_webhook_deliveries_event",
                "webhook_deliveries",
                "event_id",
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Alias::new(table))
                        .col(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum WebhookRateWindows {
    Table,
    SubscriptionId,
    WindowStart,
    Sent,
}
