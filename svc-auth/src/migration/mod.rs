//! svc-auth's schema. Migrations are numbered and never edited after they land.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_key_policies;
mod m0003_request_logs;
mod m0004_api_clients;
mod m0005_client_extras;
mod m0006_request_log_indexes;
mod m0007_sqlite_request_log_rowid;
mod m0008_request_log_chunks;
mod m0009_workspace_members;
mod m0010_member_activity;

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
            Box::new(m0007_sqlite_request_log_rowid::Migration),
            Box::new(m0008_request_log_chunks::Migration),
            Box::new(m0009_workspace_members::Migration),
            Box::new(m0010_member_activity::Migration),
        ]
    }
}

/// An empty SQLite database in memory with the first `migrations` migrations applied (all
/// with `None`), for tests of the schema and the store.
#[cfg(test)]
pub(crate) async fn memory_db(migrations: Option<u32>) -> sea_orm::DatabaseConnection {
    let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
    // One connection: each connection to `:memory:` is a database of its own.
    options.max_connections(1).sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await.unwrap();
    Migrator::up(&db, migrations).await.unwrap();
    db
}

/// The first column of each row `sql` returns, as text.
#[cfg(test)]
pub(crate) async fn strings(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get_by_index::<String>(0).unwrap())
    .collect()
}
