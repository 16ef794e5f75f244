//! svc-pipeline's schema. Migrations are numbered and never edited after they land.

use sea_orm_migration::prelude::*;

mod m0001_records;
mod m0002_contact_assignments;
mod m0003_action_executions;
mod m0004_calendar;
mod m0005_stage_moves;

/// Runs svc-pipeline's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_records::Migration),
            Box::new(m0002_contact_assignments::Migration),
            Box::new(m0003_action_executions::Migration),
            Box::new(m0004_calendar::Migration),
            Box::new(m0005_stage_moves::Migration),
        ]
    }
}
