//! svc-webhooks's tables and the queries on them. Queries take the workspace id first,
//! except the event sink's, whose callers are services naming the workspace in each event.

pub mod attempts;
pub mod deliveries;
pub mod events;
pub mod incoming;
pub mod incoming_calls;
pub mod incoming_logs;
pub mod rate_windows;
pub mod retention;
pub mod subscriptions;

/// `sql`, written with Postgres's numbered parameters (`$1`), as the connection's backend
/// takes it ([`crm_platform::db::statement`]).
pub(crate) fn statement(
    db: &impl sea_orm::ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> sea_orm::Statement {
    crm_platform::db::statement(db.get_database_backend(), sql, values)
}
