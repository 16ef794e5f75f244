//! Partner applications (seed 003 `ApiClient`) and the link from a key to its client.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiClients::Table)
                    .if_not_exists()
                    .col(string(ApiClients::Id).primary_key())
                    .col(string(ApiClients::WorkspaceId))
                    .col(string(ApiClients::Name))
                    .col(text(ApiClients::Description))
                    .col(text(ApiClients::RedirectUris))
                    .col(string(ApiClients::Website))
                    .col(string(ApiClients::LogoUrl))
                    .col(string(ApiClients::ContactEmail))
                    .col(string(ApiClients::Status))
                    .col(string(ApiClients::RateLimitTier))
                    .col(string(ApiClients::WebhookUrl))
                    .col(text(ApiClients::Scopes))
                    .col(timestamp_with_time_zone(ApiClients::CreatedAt))
                    .col(timestamp_with_time_zone(ApiClients::UpdatedAt))
                    .col(timestamp_with_time_zone_null(ApiClients::DeletedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_clients_workspace")
                    .table(ApiClients::Table)
                    .col(ApiClients::WorkspaceId)
                    .col(ApiClients::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(string_null(ApiKeys::ClientId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_client")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::ClientId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_api_keys_client")
                    .table(ApiKeys::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::ClientId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ApiClients::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ApiClients {
    Table,
    Id,
    WorkspaceId,
    Name,
    Description,
    RedirectUris,
    Website,
    LogoUrl,
    ContactEmail,
    Status,
    RateLimitTier,
    WebhookUrl,
    Scopes,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    ClientId,
}
