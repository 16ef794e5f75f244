//! What an SMS provider reports after accepting a message (Twilio's status callbacks): the
//! last delivery status and when it was delivered, found by the provider's message id.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(MessageJobs::Table)
                    .add_column(string_null(MessageJobs::DeliveryStatus))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MessageJobs::Table)
                    .add_column(timestamp_with_time_zone_null(MessageJobs::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_message_jobs_provider_id")
                    .table(MessageJobs::Table)
                    .col(MessageJobs::ProviderMessageId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_message_jobs_provider_id")
                    .table(MessageJobs::Table)
                    .to_owned(),
            )
            .await?;
        for column in [MessageJobs::DeliveredAt, MessageJobs::DeliveryStatus] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MessageJobs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum MessageJobs {
    Table,
    ProviderMessageId,
    DeliveryStatus,
    DeliveredAt,
}
