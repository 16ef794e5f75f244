//! Deleting what the retention setting no longer keeps, across workspaces (a sweep of the
//! whole service, named so): attempts, finished deliveries, and events no delivery still
//! needs. Deleted in batches, so a sweep never holds a long lock.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

/// Rows one statement deletes at most.
const BATCH: u64 = 1_000;

/// How many rows a sweep deleted, by table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub attempts: u64,
    pub deliveries: u64,
    pub events: u64,
}

/// Deletes attempts made, deliveries finished and events received before `cutoff`. A pending
/// delivery is kept whatever its age, with its event: retention never loses work.
pub async fn sweep_across_workspaces(
    db: &DatabaseConnection,
    cutoff: DateTime<Utc>,
) -> Result<Swept, DbErr> {
    Ok(Swept {
        attempts: in_batches(
            db,
            "DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts \
             WHERE attempted_at < $1 LIMIT $2)",
            cutoff,
        )
        .await?,
        deliveries: in_batches(
            db,
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
             WHERE created_at < $1 AND status <> 'pending' LIMIT $2)",
            cutoff,
        )
        .await?,
        events: in_batches(
            db,
            "DELETE FROM received_events WHERE id IN (SELECT e.id FROM received_events e \
             WHERE e.received_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) LIMIT $2)",
            cutoff,
        )
        .await?,
    })
}

/// Runs `sql` (cutoff `$1`, batch size `$2`) until a batch deletes fewer than [`BATCH`]
/// rows; returns how many it deleted.
async fn in_batches(
    db: &DatabaseConnection,
    sql: &str,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut total = 0;
    loop {
        let statement = super::statement(db, sql, [cutoff.into(), (BATCH as i64).into()]);
        let deleted = db.execute_raw(statement).await?.rows_affected();
        total += deleted;
        if deleted < BATCH {
            return Ok(total);
        }
    }
}
