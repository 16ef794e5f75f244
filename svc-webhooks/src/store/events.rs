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

/// Stores events not seen before; returns how many were new.
pub async fn store_new(db: &DatabaseConnection, events: Vec<StoredEvent>) -> Result<u64, DbErr> {
    if events.is_empty() {
        return Ok(0);
    }
    let received_at = Utc::now();
    let mut insert = Query::insert();
    insert.into_table(T::Table).columns([
        T::Id,
        T::WorkspaceId,
        T::EventType,
        T::AggregateType,
        T::AggregateId,
        T::Payload,
        T::Source,
        T::OccurredAt,
        T::ReceivedAt,
    ]);
    for e in events {
        insert.values_panic([
            e.id.into(),
            e.workspace_id.into(),
            e.event_type.into(),
            e.aggregate_type.into(),
            e.aggregate_id.into(),
            e.payload.into(),
            e.source.into(),
            e.occurred_at.into(),
            received_at.into(),
        ]);
    }
    insert.on_conflict(OnConflict::column(T::Id).do_nothing().to_owned());
    let result = db.execute(&insert).await?;
    Ok(result.rows_affected())
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
