//! The domain events svc-pipeline publishes, written to the outbox inside the transaction of
//! the change they describe.

use crm_platform::outbox::{self, Event};
use sea_orm::{ConnectionTrait, DbErr};

/// Records one event on `conn` (the change's transaction).
pub async fn emit<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    event_type: &'static str,
    aggregate_type: &'static str,
    aggregate_id: &str,
    payload: serde_json::Value,
) -> Result<(), DbErr> {
    outbox::record(
        conn,
        Event {
            workspace_id: workspace_id.to_owned(),
            event_type,
            aggregate_type,
            aggregate_id: aggregate_id.to_owned(),
            payload,
        },
    )
    .await
    .map(|_| ())
}
