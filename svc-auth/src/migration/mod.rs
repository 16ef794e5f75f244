//! svc-auth's schema. Migrations are numbered and never edited after they land (the
//! pre-release ones were folded into these two once; docs/decisions.md).

use sea_orm_migration::prelude::*;

mod m0001_accounts;
mod m0002_api_keys;

/// Runs svc-auth's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_accounts::Migration),
            Box::new(m0002_api_keys::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::entities::*;
    use sea_orm::EntityTrait;

    /// Every entity reads from a database the migrations made: a column an entity names
    /// and the schema lacks fails the select.
    #[tokio::test]
    async fn the_migrations_make_every_column_the_entities_read() {
        let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
        // One connection: each connection to `:memory:` is a database of its own.
        options.max_connections(1).sqlx_logging(false);
        let db = sea_orm::Database::connect(options).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        workspaces::Entity::find().all(&db).await.unwrap();
        users::Entity::find().all(&db).await.unwrap();
        memberships::Entity::find().all(&db).await.unwrap();
        api_keys::Entity::find().all(&db).await.unwrap();
        api_clients::Entity::find().all(&db).await.unwrap();
        invitations::Entity::find().all(&db).await.unwrap();
        audit_log::Entity::find().all(&db).await.unwrap();
        external_identities::Entity::find().all(&db).await.unwrap();
        login_failures::Entity::find().all(&db).await.unwrap();
        Migrator::down(&db, None).await.unwrap();
    }
}
