//! Sequence executions (seed 004 "Sequence Application"): applying a sequence to contacts
//! starts one execution per contact and queues all its messages as jobs at once, timed in the
//! contact's zone; an execution completes when its last job ends, and a cancel stops every
//! message not yet out, waiting for any send in progress, so nothing goes out after it
//! answers.

use super::{
    MessagingState,
    sequences::{self, Step},
    timing::{self, Window},
    worker::WAKE_CHANNEL,
};
use crate::{
    error::MessagingError,
    store::{
        executions::{self, ACTIVE, CANCELLED, COMPLETED, ExecutionRow},
        jobs::{self, JobRow, PENDING},
    },
};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use crm_platform::{
    Principal,
    outbox::{self, Event},
};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, TransactionTrait};
use serde_json::json;
use std::time::Duration;

/// Contacts one apply may name.
pub const MAX_CONTACTS: usize = 100;

/// One contact's result of an apply.
pub enum Applied {
    Started {
        contact_id: String,
        execution_id: String,
    },
    Refused {
        contact_id: String,
        error: String,
    },
}

/// An execution with its jobs, in order.
pub struct ExecutionView {
    pub execution: ExecutionRow,
    pub jobs: Vec<(JobRow, Step)>,
}

async fn emit<C: ConnectionTrait>(
    conn: &C,
    execution: &ExecutionRow,
    event_type: &'static str,
) -> Result<(), DbErr> {
    outbox::record(
        conn,
        Event {
            workspace_id: execution.workspace_id.clone(),
            event_type,
            aggregate_type: "sequence_execution",
            aggregate_id: execution.id.clone(),
            payload: json!({
                "executionId": execution.id,
                "sequenceId": execution.sequence_id,
                "contactId": execution.contact_id,
                "status": execution.status,
                "startedAt": execution.started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            }),
        },
    )
    .await
    .map(|_| ())
}

/// The due time of each step from `start`, days and weeks counted in `tz`; a step due outside
/// `window` moves to its next opening, and the next step counts from there.
pub fn schedule(
    start: DateTime<Utc>,
    steps: &[Step],
    tz: Tz,
    window: Option<Window>,
) -> Vec<DateTime<Utc>> {
    let mut at = start;
    steps
        .iter()
        .map(|step| {
            at = timing::after(at, step.time_value.max(0) as u32, step.unit(), tz);
            if let Some(window) = window {
                at = window.next_open(at, tz);
            }
            at
        })
        .collect()
}

/// Applies sequence `id` to each contact (checked as `principal` sees it).
pub async fn apply(
    state: &MessagingState,
    principal: &Principal,
    workspace_id: &str,
    id: &str,
    contact_ids: Vec<String>,
) -> Result<Vec<Applied>, MessagingError> {
    if contact_ids.is_empty() {
        return Err(MessagingError::Missing(vec!["contactIds"]));
    }
    if contact_ids.len() > MAX_CONTACTS {
        return Err(MessagingError::InvalidField {
            field: "contactIds",
            message: format!("at most {MAX_CONTACTS} contacts per call; split them"),
        });
    }
    let sequence = sequences::get(state, workspace_id, id).await?;
    if sequence.status != "active" {
        return Err(MessagingError::SequenceInactive(id.to_owned()));
    }
    let steps = sequences::steps_of(&sequence.messages);
    let window = sequences::window_of(sequence.send_window.as_deref());
    let mut results = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // Asked once per call, and only when a contact has no timezone of its own.
    let mut workspace_zone = None;
    for raw in contact_ids {
        let Ok(contact_id) = uuid::Uuid::parse_str(&raw).map(|u| u.to_string()) else {
            results.push(Applied::Refused {
                contact_id: raw,
                error: "contactId must be a UUID".into(),
            });
            continue;
        };
        if !seen.insert(contact_id.clone()) {
            continue;
        }
        let contact = match state.contacts.get(principal, &contact_id).await {
            Ok(Some(contact)) => contact,
            Ok(None) => {
                results.push(Applied::Refused {
                    contact_id,
                    error: "contact not found in this workspace".into(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        let tz = match contact
            .timezone
            .as_deref()
            .and_then(|t| t.parse::<Tz>().ok())
        {
            Some(tz) => tz,
            None => workspace_tz(state, workspace_id, &mut workspace_zone).await?,
        };
        let now = Utc::now();
        let execution = ExecutionRow {
            id: uuid::Uuid::now_v7().to_string(),
            workspace_id: workspace_id.to_owned(),
            sequence_id: sequence.id.clone(),
            sequence_name: sequence.name.clone(),
            contact_id: contact_id.clone(),
            status: ACTIVE.to_owned(),
            timezone: tz.name().to_owned(),
            messages: sequence.messages.clone(),
            started_at: now,
            finished_at: None,
        };
        let rows: Vec<JobRow> = schedule(now, &steps, tz, window)
            .into_iter()
            .zip(&steps)
            .enumerate()
            .map(|(n, (due_at, step))| JobRow {
                id: uuid::Uuid::now_v7().to_string(),
                workspace_id: workspace_id.to_owned(),
                channel: "sms".to_owned(),
                contact_id: contact_id.clone(),
                recipient: contact.phone_number.clone(),
                subject: None,
                body: step.text.clone(),
                metadata: json!({
                    "sequenceId": sequence.id,
                    "executionId": execution.id,
                    "step": n + 1,
                    "subflow": step.subflow,
                })
                .to_string(),
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
                execution_id: Some(execution.id.clone()),
                step: Some(n as i32 + 1),
                delivery_status: None,
                delivered_at: None,
            })
            .collect();
        match start(state, &execution, rows).await {
            Ok(()) => results.push(Applied::Started {
                contact_id,
                execution_id: execution.id,
            }),
            Err(e) if crm_platform::db::is_unique_violation(&e) => results.push(Applied::Refused {
                contact_id,
                error: "the contact is already active in this sequence".into(),
            }),
            Err(e) => return Err(MessagingError::db("starting a sequence")(e)),
        }
    }
    state.wake.notify_one();
    state.events_committed();
    Ok(results)
}

/// Stores the execution with its jobs and its `sequence.started` event, in one transaction.
async fn start(
    state: &MessagingState,
    execution: &ExecutionRow,
    rows: Vec<JobRow>,
) -> Result<(), DbErr> {
    let txn = state.db.begin().await?;
    executions::insert(&txn, execution.clone()).await?;
    jobs::insert_many(&txn, rows).await?;
    emit(&txn, execution, "sequence.started").await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!("NOTIFY {WAKE_CHANNEL}"))
            .await?;
    }
    txn.commit().await
}

/// One execution of the workspace with its jobs.
pub async fn get(
    state: &MessagingState,
    workspace_id: &str,
    id: &str,
) -> Result<ExecutionView, MessagingError> {
    let execution = executions::find(&state.db, workspace_id, id)
        .await
        .map_err(MessagingError::db("reading a sequence execution"))?
        .ok_or_else(|| MessagingError::ExecutionNotFound(id.to_owned()))?;
    let steps = sequences::steps_of(&execution.messages);
    let jobs = jobs::of_execution(&state.db, workspace_id, id)
        .await
        .map_err(MessagingError::db("reading a sequence execution"))?
        .into_iter()
        .map(|job| {
            let step = job
                .step
                .and_then(|n| steps.get((n - 1).max(0) as usize).cloned())
                .unwrap_or(Step {
                    text: job.body.clone(),
                    time_value: 0,
                    time_unit: "minutes".into(),
                    subflow: None,
                });
            (job, step)
        })
        .collect();
    Ok(ExecutionView { execution, jobs })
}

/// Cancels an active execution: its unsent jobs are cancelled in one transaction with it, and
/// the answer waits for a send already in progress (at most `lease`), so that once it
/// answers no message of the execution goes out any more.
pub async fn cancel(
    state: &MessagingState,
    workspace_id: &str,
    id: &str,
    lease: Duration,
) -> Result<ExecutionView, MessagingError> {
    let db_error = MessagingError::db("cancelling a sequence execution");
    let now = Utc::now();
    let txn = state.db.begin().await.map_err(db_error)?;
    let db_error = || MessagingError::db("cancelling a sequence execution");
    let cancelled = executions::finish(&txn, workspace_id, id, CANCELLED, now)
        .await
        .map_err(db_error())?;
    if !cancelled {
        drop(txn);
        let view = get(state, workspace_id, id).await?;
        return Err(MessagingError::ExecutionNotActive {
            id: id.to_owned(),
            status: view.execution.status,
        });
    }
    jobs::cancel_unsent_of_execution(&txn, workspace_id, id, now, "the sequence was cancelled")
        .await
        .map_err(db_error())?;
    if let Some(execution) = executions::find(&txn, workspace_id, id)
        .await
        .map_err(db_error())?
    {
        emit(&txn, &execution, "sequence.cancelled")
            .await
            .map_err(db_error())?;
    }
    txn.commit().await.map_err(db_error())?;
    state.events_committed();
    // A job claimed just before the cancel may be at its provider: wait for it to end.
    let deadline = tokio::time::Instant::now() + lease;
    while tokio::time::Instant::now() < deadline
        && jobs::in_flight_of_execution(&state.db, workspace_id, id, Utc::now())
            .await
            .map_err(db_error())?
            > 0
    {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    get(state, workspace_id, id).await
}

/// The contact's active executions.
pub async fn active_of_contact(
    state: &MessagingState,
    workspace_id: &str,
    contact_id: &str,
) -> Result<Vec<ExecutionRow>, MessagingError> {
    executions::active_of_contact(&state.db, workspace_id, contact_id)
        .await
        .map_err(MessagingError::db("listing active sequences"))
}

/// After a job of `execution_id` reached a final status (inside its transaction): completes
/// the execution when no job of it is left, with its `sequence.completed` event. True when it
/// did.
pub async fn job_finished<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    execution_id: &str,
) -> Result<bool, DbErr> {
    // Serializes the last jobs' outcomes and a cancel on the execution's row.
    executions::lock(conn, workspace_id, execution_id).await?;
    if jobs::unfinished_of_execution(conn, workspace_id, execution_id).await? > 0 {
        return Ok(false);
    }
    if !executions::finish(conn, workspace_id, execution_id, COMPLETED, Utc::now()).await? {
        return Ok(false);
    }
    if let Some(execution) = executions::find(conn, workspace_id, execution_id).await? {
        emit(conn, &execution, "sequence.completed").await?;
    }
    Ok(true)
}

/// True when the job's execution was cancelled (its job must not go out).
pub async fn is_cancelled<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    execution_id: &str,
) -> Result<bool, DbErr> {
    Ok(executions::find(conn, workspace_id, execution_id)
        .await?
        .is_some_and(|e| e.status == CANCELLED))
}

/// The workspace's timezone (UTC when svc-auth holds a name chrono-tz does not know), asked
/// of svc-auth at most once per apply call.
async fn workspace_tz(
    state: &MessagingState,
    workspace_id: &str,
    known: &mut Option<Tz>,
) -> Result<Tz, MessagingError> {
    if let Some(tz) = known {
        return Ok(*tz);
    }
    let profile = state
        .workspaces
        .get(workspace_id)
        .await
        .map_err(MessagingError::Workspace)?;
    let tz = profile.timezone.parse().unwrap_or(Tz::UTC);
    *known = Some(tz);
    Ok(tz)
}
