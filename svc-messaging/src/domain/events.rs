//! The events svc-messaging publishes (`message.sent`, `message.failed`, `message.skipped`),
//! written to the outbox in the transaction that records the job's outcome.

use crate::store::jobs::JobRow;
use chrono::SecondsFormat;
use crm_platform::outbox::{self, Event};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::json;

/// The event of a job's final status, if it has one.
pub fn type_of(status: &str) -> Option<&'static str> {
    match status {
        "sent" => Some("message.sent"),
        "failed" => Some("message.failed"),
        "skipped" => Some("message.skipped"),
        _ => None,
    }
}

/// Records the event of `job`'s final status on `conn` (the outcome's transaction).
pub async fn emit<C: ConnectionTrait>(conn: &C, job: &JobRow) -> Result<(), DbErr> {
    let Some(event_type) = type_of(&job.status) else {
        return Ok(());
    };
    let millis = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    outbox::record(
        conn,
        Event {
            workspace_id: job.workspace_id.clone(),
            event_type,
            aggregate_type: "message",
            aggregate_id: job.id.clone(),
            payload: json!({
                "jobId": job.id,
                "channel": job.channel,
                "status": job.status,
                "contactId": job.contact_id,
                "attempts": job.attempts,
                "providerMessageId": job.provider_message_id,
                "reason": job.reason,
                "dueAt": millis(job.due_at),
                "sentAt": job.sent_at.map(millis),
            }),
        },
    )
    .await
    .map(|_| ())
}
