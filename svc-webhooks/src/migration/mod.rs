//! svc-webhooks's schema. Migrations are numbered and never edited after they land.

use sea_orm_migration::prelude::*;

pub(crate) mod m0001_received_events;
pub(crate) mod m0002_subscriptions;
pub(crate) mod m0003_deliveries;
pub(crate) mod m0004_incoming_webhooks;
pub(crate) mod m0005_endpoint_health;
pub(crate) mod m0006_due_by_subscription;

/// Runs svc-webhooks's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_received_events::Migration),
            Box::new(m0002_subscriptions::Migration),
            Box::new(m0003_deliveries::Migration),
            Box::new(m0004_incoming_webhooks::Migration),
            Box::new(m0005_endpoint_health::Migration),
            Box::new(m0006_due_by_subscription::Migration),
        ]
    }
}
