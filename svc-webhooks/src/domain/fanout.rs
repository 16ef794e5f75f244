//! Storing published events and queueing their deliveries, atomically: an event is stored
//! with one delivery per active subscription of its workspace that selects its type, or not
//! at all, so a relay's retry can never store the event without its deliveries.

use super::catalog;
use crate::store::{
    deliveries::{self, DeliveryRow, PENDING},
    events::{self, StoredEvent},
    subscriptions,
};
use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::Notify;

/// The Postgres channel a fan-out notifies, so workers of other processes wake too.
pub const WAKE_CHANNEL: &str = "webhook_deliveries";

/// Stores the events not seen before with their deliveries; returns how many were new.
/// Wakes a delivery worker once the deliveries are committed (on Postgres, in every process).
pub async fn publish(
    db: &DatabaseConnection,
    wake: &Notify,
    batch: Vec<StoredEvent>,
) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    let queued = queue_in(&txn, batch).await?;
    txn.commit().await?;
    if queued.deliveries > 0 {
        wake.notify_one();
    }
    Ok(queued.events)
}

/// What [`queue_in`] stored.
pub struct Queued {
    /// Events not seen before.
    pub events: u64,
    /// Deliveries queued for them.
    pub deliveries: usize,
}

/// Stores the events not seen before with their deliveries inside the caller's transaction,
/// which must then wake a worker (see [`publish`]) once it commits.
pub async fn queue_in<C: ConnectionTrait>(
    txn: &C,
    batch: Vec<StoredEvent>,
) -> Result<Queued, DbErr> {
    let received_at = Utc::now();
    let mut stored = 0;
    let mut queued = 0;
    for event in batch {
        if !events::insert_if_new(txn, &event, received_at).await? {
            continue;
        }
        stored += 1;
        let rows: Vec<DeliveryRow> = subscriptions::active(txn, &event.workspace_id)
            .await?
            .into_iter()
            .filter(|s| {
                let patterns: Vec<String> = serde_json::from_str(&s.events).unwrap_or_default();
                patterns
                    .iter()
                    .any(|p| catalog::selects(p, &event.event_type))
            })
            .map(|s| DeliveryRow {
                id: uuid::Uuid::now_v7().to_string(),
                workspace_id: event.workspace_id.clone(),
                subscription_id: s.id,
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
                status: PENDING.to_owned(),
                attempt_count: 0,
                next_attempt_at: received_at,
                locked_until: None,
                last_status_code: None,
                last_error: None,
                created_at: received_at,
                delivered_at: None,
            })
            .collect();
        queued += rows.len();
        deliveries::insert_many(txn, rows).await?;
    }
    if queued > 0 && txn.get_database_backend() == DatabaseBackend::Postgres {
        // Delivered by Postgres at commit, to the workers of every process (see dispatch).
        txn.execute_unprepared(&format!("NOTIFY {WAKE_CHANNEL}"))
            .await?;
    }
    Ok(Queued {
        events: stored,
        deliveries: queued,
    })
}
