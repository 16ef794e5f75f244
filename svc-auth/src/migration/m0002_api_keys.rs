//! API keys with their policy (rate-limit overrides and tier, IP allowlist, the previous
//! secret kept for a grace period after regeneration), and the partner applications (seed 003
//! `ApiClient`) that may own them. A client's webhook secret is stored sealed: it must be read
//! back to sign, so it cannot be hashed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(string(ApiKeys::Id).primary_key())
                    .col(string(ApiKeys::WorkspaceId))
                    .col(string(ApiKeys::UserId))
                    .col(string(ApiKeys::Name))
                    .col(string(ApiKeys::KeyHash).unique_key())
                    .col(string(ApiKeys::KeyPrefix))
                    .col(text(ApiKeys::Scopes))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(boolean(ApiKeys::IsActive))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(big_integer(ApiKeys::RequestCount).default(0))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone(ApiKeys::UpdatedAt))
                    .col(string(ApiKeys::CreatedBy))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(string_null(ApiKeys::RevokedReason))
                    .col(timestamp_with_time_zone_null(ApiKeys::RegeneratedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::DeletedAt))
                    .col(integer_null(ApiKeys::RateLimitPerMinute))
                    .col(integer_null(ApiKeys::RateLimitPerHour))
                    .col(string_null(ApiKeys::RateLimitTier))
                    .col(text_null(ApiKeys::AllowedIps))
                    .col(string_null(ApiKeys::PreviousKeyHash))
                    .col(timestamp_with_time_zone_null(ApiKeys::PreviousKeyExpiresAt))
                    .col(string_null(ApiKeys::ClientId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_api_keys_workspace",
                vec![ApiKeys::WorkspaceId, ApiKeys::CreatedAt],
            ),
            ("idx_api_keys_previous_hash", vec![ApiKeys::PreviousKeyHash]),
            ("idx_api_keys_client", vec![ApiKeys::ClientId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(ApiKeys::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // The agents' last_active reads the newest use of each member's own keys.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_api_keys_owner_used ON api_keys \
                 (workspace_id, user_id, last_used_at) WHERE client_id IS NULL",
            )
            .await?;
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
                    .col(text_null(ApiClients::Metadata))
                    .col(text_null(ApiClients::WebhookSecret))
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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [ApiClients::Table.into_iden(), ApiKeys::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    WorkspaceId,
    UserId,
    Name,
    KeyHash,
    KeyPrefix,
    Scopes,
    ExpiresAt,
    IsActive,
    LastUsedAt,
    RequestCount,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    RevokedAt,
    RevokedReason,
    RegeneratedAt,
    DeletedAt,
    RateLimitPerMinute,
    RateLimitPerHour,
    RateLimitTier,
    AllowedIps,
    PreviousKeyHash,
    PreviousKeyExpiresAt,
    ClientId,
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
    Metadata,
    WebhookSecret,
}
