//! Seed 003 client fields beyond the first cut: the caller's `metadata` (JSON text) and the
//! webhook signing secret, stored sealed (it must be read back to sign, so it cannot be
//! hashed). One column per statement: SQLite's ALTER TABLE adds a single column at a time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in [
            text_null(ApiClients::Metadata),
            text_null(ApiClients::WebhookSecret),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiClients::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [ApiClients::Metadata, ApiClients::WebhookSecret] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiClients::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ApiClients {
    Table,
    Metadata,
    WebhookSecret,
}
