use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReceivedEvents::Table)
                    .if_not_exists()
                    // The producer's event id: a redelivered event hits the key and is skipped.
                    .col(string(ReceivedEvents::Id).primary_key())
                    .col(string(ReceivedEvents::WorkspaceId))
                    .col(string(ReceivedEvents::EventType))
                    .col(string(ReceivedEvents::AggregateType))
                    .col(string(ReceivedEvents::AggregateId))
                    .col(text(ReceivedEvents::Payload))
                    .col(string(ReceivedEvents::Source))
                    .col(timestamp_with_time_zone(ReceivedEvents::OccurredAt))
                    .col(timestamp_with_time_zone(ReceivedEvents::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_received_events_workspace")
                    .table(ReceivedEvents::Table)
                    .col(ReceivedEvents::WorkspaceId)
                    .col(ReceivedEvents::OccurredAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum ReceivedEvents {
    Table,
    Id,
    WorkspaceId,
    EventType,
    AggregateType,
    AggregateId,
    Payload,
    Source,
    OccurredAt,
    ReceivedAt,
}
