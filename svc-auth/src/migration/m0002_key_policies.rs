//! Per-key policy: rate-limit overrides and tier, IP allowlist, and the previous secret kept
//! for a grace period after regeneration. One column per statement: SQLite's ALTER TABLE
//! adds a single column at a time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            integer_null(ApiKeys::RateLimitPerMinute),
            integer_null(ApiKeys::RateLimitPerHour),
            string_null(ApiKeys::RateLimitTier),
            text_null(ApiKeys::AllowedIps),
            string_null(ApiKeys::PreviousKeyHash),
            timestamp_with_time_zone_null(ApiKeys::PreviousKeyExpiresAt),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_previous_hash")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::PreviousKeyHash)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_api_keys_previous_hash")
                    .table(ApiKeys::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            ApiKeys::RateLimitPerMinute,
            ApiKeys::RateLimitPerHour,
            ApiKeys::RateLimitTier,
            ApiKeys::AllowedIps,
            ApiKeys::PreviousKeyHash,
            ApiKeys::PreviousKeyExpiresAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    RateLimitPerMinute,
    RateLimitPerHour,
    RateLimitTier,
    AllowedIps,
    PreviousKeyHash,
    PreviousKeyExpiresAt,
}
