//! An index over the stage moves of `opportunity_history`, for svc-metrics' funnel and time in
//! stage: they number each opportunity's moves in order (window functions partitioned by
//! opportunity, ordered by `changed_at` then `id`). In this order, and carrying both stage
//! columns, the index gives a workspace's moves already sorted and without a table read;
//! otherwise the database sorts every move of the workspace by a text key on every call
//! (a third of a metrics request over 200,000 moves on Postgres).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Stage values as key columns rather than `INCLUDE` (Postgres only): the same index
        // on both backends; they are stage ids, short.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_history_stage_moves ON opportunity_history \
                 (workspace_id, opportunity_id, changed_at, id, old_value, new_value) \
                 WHERE field_changed = 'stage_id'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_history_stage_moves")
            .await?;
        Ok(())
    }
}
