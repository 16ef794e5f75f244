//! The workers claim due deliveries subscription by subscription, so that one receiver's
//! backlog (a failing endpoint's retries) neither fills a claim nor makes it read every due
//! row: an index on (status, subscription_id, next_attempt_at) finds the subscriptions with
//! pending deliveries one index step each and a subscription's oldest due deliveries in its
//! order. It replaces (status, next_attempt_at), which only the old claim read.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let deliveries = Alias::new("webhook_deliveries");
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due_by_subscription")
                    .table(deliveries.clone())
                    .col(Alias::new("status"))
                    .col(Alias::new("subscription_id"))
                    .col(Alias::new("next_attempt_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_webhook_deliveries_due")
                    .table(deliveries)
                    .to_owned(),
            )
            .await
    }
}
