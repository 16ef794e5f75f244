//! Message jobs as callers see them: queue (after the contact check), read, list, cancel.

use super::{MessagingState, input::NewJob, worker::WAKE_CHANNEL};
use crate::{
    error::MessagingError,
    store::jobs::{self, JobFilter, JobRow, PENDING},
};
use crm_platform::Principal;
use sea_orm::{ConnectionTrait, DatabaseBackend, TransactionTrait};

/// Longest page of a list.
pub const MAX_PAGE: u64 = 100;
/// A list's page when the caller names none.
pub const DEFAULT_PAGE: u64 = 20;

/// Queues `job` for `principal`'s workspace once its contact is found there; returns the
/// job's id and the seed's answer ("SMS queued for immediate delivery"...).
pub async fn schedule(
    state: &MessagingState,
    principal: &Principal,
    workspace_id: &str,
    job: NewJob,
) -> Result<(String, String), MessagingError> {
    if state
        .contacts
        .get(principal, &job.contact_id)
        .await?
        .is_none()
    {
        return Err(MessagingError::ContactNotFound(job.contact_id));
    }
    let now = job.requested_at;
    let answer = match job.due_at {
        None => format!("{} queued for immediate delivery", job.channel.label()),
        Some(_) => format!("{} scheduled successfully", job.channel.label()),
    };
    let due_at = job.due_at.unwrap_or(now);
    let row = JobRow {
        // Time-ordered: the list's cursor and the claim's tie-break rely on it.
        id: uuid::Uuid::now_v7().to_string(),
        workspace_id: workspace_id.to_owned(),
        channel: job.channel.as_str().to_owned(),
        contact_id: job.contact_id,
        recipient: job.recipient,
        subject: job.subject,
        body: job.body,
        metadata: serde_json::Value::Object(job.metadata).to_string(),
        status: PENDING.to_owned(),
        attempts: 0,
        due_at,
        next_attempt_at: due_at,
        locked_until: None,
        claim_token: None,
        provider_message_id: None,
        reason: None,
        created_at: now,
        sent_at: None,
        execution_id: None,
        step: None,
        delivery_status: None,
        delivered_at: None,
    };
    let id = row.id.clone();
    let txn = state
        .db
        .begin()
        .await
        .map_err(MessagingError::db("queueing a message"))?;
    jobs::insert(&txn, row)
        .await
        .map_err(MessagingError::db("queueing a message"))?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        // Delivered at commit to the workers of every process (see worker::listen).
        txn.execute_unprepared(&format!("NOTIFY {WAKE_CHANNEL}"))
            .await
            .map_err(MessagingError::db("queueing a message"))?;
    }
    txn.commit()
        .await
        .map_err(MessagingError::db("queueing a message"))?;
    state.wake.notify_one();
    Ok((id, answer))
}

/// One job of the workspace.
pub async fn get(
    state: &MessagingState,
    workspace_id: &str,
    id: &str,
) -> Result<JobRow, MessagingError> {
    jobs::find(&state.db, workspace_id, id)
        .await
        .map_err(MessagingError::db("reading a message"))?
        .ok_or_else(|| MessagingError::JobNotFound(id.to_owned()))
}

/// A page of the workspace's jobs, newest first, and the cursor of the next page.
pub async fn list(
    state: &MessagingState,
    workspace_id: &str,
    filter: JobFilter<'_>,
    limit: Option<i32>,
) -> Result<(Vec<JobRow>, Option<String>), MessagingError> {
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(n) if (1..=MAX_PAGE as i32).contains(&n) => n as u64,
        Some(_) => {
            return Err(MessagingError::InvalidField {
                field: "limit",
                message: format!("must be 1..{MAX_PAGE}"),
            });
        }
    };
    let mut rows = jobs::list(&state.db, workspace_id, filter, limit + 1)
        .await
        .map_err(MessagingError::db("listing messages"))?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok((rows, next))
}

/// Cancels a pending job; a job being sent or finished is a conflict naming its status.
pub async fn cancel(
    state: &MessagingState,
    workspace_id: &str,
    id: &str,
) -> Result<JobRow, MessagingError> {
    let cancelled = jobs::cancel_pending(&state.db, workspace_id, id, "cancelled by the caller")
        .await
        .map_err(MessagingError::db("cancelling a message"))?;
    let row = get(state, workspace_id, id).await?;
    if !cancelled {
        return Err(MessagingError::NotPending {
            id: id.to_owned(),
            status: row.status,
        });
    }
    Ok(row)
}
