//! svc-messaging's schema. Migrations are numbered and never edited after they land.

use sea_orm_migration::prelude::*;

pub(crate) mod m0001_message_jobs;
pub(crate) mod m0002_delivery_reports;

/// Runs svc-messaging's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_message_jobs::Migration),
            Box::new(m0002_delivery_reports::Migration),
        ]
    }
}
