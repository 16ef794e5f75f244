//! svc-auth's schema. Migrations are numbered and never edited after they land.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_key_policies;
mod m0003_request_logs;
mod m0004_api_clients;
mod m0005_client_extras;
mod m0006_request_log_indexes;

/// Runs svc-auth's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_key_policies::Migration),
            Box::new(m0003_request_logs::Migration),
            Box::new(m0004_api_clients::Migration),
            Box::new(m0005_client_extras::Migration),
            Box::new(m0006_request_log_indexes::Migration),
        ]
    }
}
