//! svc-metrics's own schema (API usage). Migrations are numbered and never edited after they
//! land. The pipeline figures read svc-pipeline's tables and have none here.

use sea_orm_migration::prelude::*;

mod m0001_request_log;
mod m0002_request_minutes;

/// Runs svc-metrics's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_request_log::Migration),
            Box::new(m0002_request_minutes::Migration),
        ]
    }
}
