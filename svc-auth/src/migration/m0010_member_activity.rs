//! When each member was last seen acting in a workspace: a sign-in, or a request with their
//! token as the gateway's membership check sees it. Written at most once a minute per
//! member (see `domain::agents`); API-key use is read from `api_keys.last_used_at`, which
//! the gateways' batched usage reports already keep.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MemberActivity::Table)
                    .if_not_exists()
                    .col(string(MemberActivity::WorkspaceId))
                    .col(string(MemberActivity::UserId))
                    .col(timestamp_with_time_zone(MemberActivity::LastActiveAt))
                    .primary_key(
                        Index::create()
                            .col(MemberActivity::WorkspaceId)
                            .col(MemberActivity::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        // The agents' last_active also reads the newest use of each member's own keys.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_api_keys_owner_used ON api_keys \
                 (workspace_id, user_id, last_used_at) WHERE client_id IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_api_keys_owner_used")
            .await?;
        manager
            .drop_table(Table::drop().table(MemberActivity::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MemberActivity {
    Table,
    WorkspaceId,
    UserId,
    LastActiveAt,
}
