//! Received domain events. Storing is idempotent by event id, which is what makes the
//! producers' at-least-once relays safe.

use crate::migration::m0001_received_events::ReceivedEvents as T;
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult,
    sea_query::{Expr, ExprTrait, OnConflict, Order, Query},
};

/// One event as stored.
#[derive(Debug, Clone, FromQueryResult)]
pub struct StoredEvent {
    pub id: String,
    pub workspace_id: String,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub payload: String,
    pub source: String,
    pub occurred_at: DateTime<Utc>,
}

/// Stores an event unless one with its id is stored already; true when it was new.
pub async fn insert_if_new<Db: ConnectionTrait>(
    db: &Db,
    e: &StoredEvent,
    received_at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table(T::Table)
        .columns([
            T::Id,
            T::WorkspaceId,
            T::EventType,
            T::AggregateType,
            T::AggregateId,
            T::Payload,
            T::Source,
            T::OccurredAt,
            T::ReceivedAt,
        ])
        .values_panic([
            e.id.clone().into(),
            e.workspace_id.clone().into(),
            e.event_type.clone().into(),
            e.aggregate_type.clone().into(),
            e.aggregate_id.clone().into(),
            e.payload.clone().into(),
            e.source.clone().into(),
            e.occurred_at.into(),
            received_at.into(),
        ])
        .on_conflict(OnConflict::column(T::Id).do_nothing().to_owned());
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

/// One event of the workspace.
pub async fn find<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
) -> Result<Option<StoredEvent>, DbErr> {
    let mut select = Query::select();
    select
        .columns([
            T::Id,
            T::WorkspaceId,
            T::EventType,
            T::AggregateType,
            T::AggregateId,
            T::Payload,
            T::Source,
            T::OccurredAt,
        ])
        .from(T::Table)
        .and_where(Expr::col(T::WorkspaceId).eq(workspace_id))
        .and_where(Expr::col(T::Id).eq(id));
    let backend = db.get_database_backend();
    StoredEvent::find_by_statement(backend.build(&select))
        .one(db)
        .await
}

/// A workspace's events, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    workspace_id: &str,
    event_type: Option<&str>,
    limit: u64,
) -> Result<Vec<StoredEvent>, DbErr> {
    let mut select = Query::select();
    select
        .columns([
            T::Id,
            T::WorkspaceId,
            T::EventType,
            T::AggregateType,
            T::AggregateId,
            T::Payload,
            T::Source,
            T::OccurredAt,
        ])
        .from(T::Table)
        .and_where(Expr::col(T::WorkspaceId).eq(workspace_id))
        .order_by(T::OccurredAt, Order::Asc)
        .order_by(T::Id, Order::Asc)
        .limit(limit);
    if let Some(t) = event_type {
        select.and_where(Expr::col(T::EventType).eq(t));
    }
    let backend = db.get_database_backend();
    StoredEvent::find_by_statement(backend.build(&select))
        .all(db)
        .await
}
