//! Contacts get an `assigned_to` (a member's user id, as opportunities already have), and
//! both tables an index that answers "how many open records does each member hold" (the
//! agents' `active_assignments`) from the index alone, over live rows only.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Contacts::Table)
                    .add_column(string_null(Contacts::AssignedTo))
                    .to_owned(),
            )
            .await?;
        for sql in [
            "CREATE INDEX IF NOT EXISTS idx_contacts_assigned ON contacts \
             (workspace_id, assigned_to) WHERE deleted_at IS NULL AND assigned_to IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS idx_opportunities_assigned ON opportunities \
             (workspace_id, assigned_to) WHERE archived_at IS NULL AND NOT is_closed \
             AND assigned_to IS NOT NULL",
        ] {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for sql in [
            "DROP INDEX IF EXISTS idx_opportunities_assigned",
            "DROP INDEX IF EXISTS idx_contacts_assigned",
        ] {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Contacts::Table)
                    .drop_column(Contacts::AssignedTo)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    AssignedTo,
}
