//! The send workers: they claim due jobs with a lease (`FOR UPDATE SKIP LOCKED` on Postgres, a
//! conditional update per row on SQLite), pace each workspace's channel through the shared
//! per-second counters, send through the channel's provider and record the outcome with its
//! event. A job whose worker died is claimed again once its lease runs out.

use super::{
    MessagingState, events, executions,
    providers::{Outgoing, Providers, SendError},
    retry,
};
use crate::store::{
    self,
    jobs::{self, CANCELLED, FAILED, JobRow, Lane, Outcome, PENDING, SENT, SKIPPED},
    send_windows,
};
use chrono::Utc;
use sea_orm::{DatabaseBackend, DbErr, TransactionTrait};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The Postgres channel a newly queued job notifies, so workers of every process wake.
pub const WAKE_CHANNEL: &str = "message_jobs";

/// Longest a worker sleeps when nothing wakes it and nothing is due sooner: the safety net
/// for a lost notification.
const POLL: Duration = Duration::from_millis(500);

/// How the workers of a process run.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Worker loops (0: none; another process sends).
    pub workers: usize,
    /// Sends in flight at once in this process.
    pub max_in_flight: usize,
    /// How long a claim holds a job before another worker may take it over.
    pub lease: Duration,
    /// Provider attempts before a job fails.
    pub max_attempts: i32,
    /// The first retry's wait; each further one doubles.
    pub retry_base: Duration,
    /// Jobs per second per workspace, by channel (seed 004: SMS 50, email 100).
    pub sms_per_second: u32,
    pub email_per_second: u32,
}

/// What the workers of a process share.
struct Dispatcher {
    state: MessagingState,
    providers: Providers,
    settings: WorkerSettings,
    sends: Arc<Semaphore>,
    /// The lanes whose budget is spent in the given second: not asked for again until it
    /// passes, so one busy workspace does not hide the others' jobs.
    full: Mutex<(i64, Vec<Lane>)>,
    /// When this process last looked for jobs whose lease ran out (Unix seconds).
    lapsed_checked: std::sync::atomic::AtomicI64,
}

/// Starts the workers; each stops when `shutdown` fires (sends in flight are abandoned; their
/// leases run out and the jobs are claimed again).
pub fn spawn(
    state: MessagingState,
    providers: Providers,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let workers = settings.workers;
    let dispatcher = Arc::new(Dispatcher {
        state,
        providers,
        sends: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
        settings,
        full: Mutex::new((0, Vec::new())),
        lapsed_checked: Default::default(),
    });
    let mut tasks: Vec<_> = (0..workers)
        .map(|n| {
            let span = tracing::info_span!("message_worker", worker = n);
            tokio::spawn(dispatcher.clone().run(n, shutdown.clone()).instrument(span))
        })
        .collect();
    if workers > 0 && dispatcher.state.db.get_database_backend() == DatabaseBackend::Postgres {
        let span = tracing::info_span!("message_listener");
        tasks.push(tokio::spawn(
            crm_platform::db::wake_on_notify(
                dispatcher.state.db.clone(),
                WAKE_CHANNEL,
                dispatcher.state.wake.clone(),
                POLL,
                shutdown,
            )
            .instrument(span),
        ));
    }
    tasks
}

impl Dispatcher {
    async fn run(self: Arc<Self>, n: usize, shutdown: CancellationToken) {
        let mut sends = JoinSet::new();
        let mut last_prune = 0i64;
        loop {
            while sends.try_join_next().is_some() {}
            let wait = match self.clone().claim_and_send(&mut sends).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming message jobs failed");
                    POLL
                }
            };
            let now = Utc::now().timestamp();
            if n == 0 && now - last_prune >= 60 {
                last_prune = now;
                if let Err(e) =
                    send_windows::prune_across_workspaces(&self.state.db, now - 60).await
                {
                    tracing::warn!(error = %e, "pruning send counters failed");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.state.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                Some(_) = sends.join_next(), if !sends.is_empty() => {}
            }
        }
        sends.abort_all();
        while sends.join_next().await.is_some() {}
    }

    fn limit_of(&self, channel: &str) -> u32 {
        if channel == "sms" {
            self.settings.sms_per_second
        } else {
            self.settings.email_per_second
        }
    }

    fn full_lanes(&self, second: i64) -> Vec<Lane> {
        let full = self.full.lock().expect("not poisoned");
        if full.0 == second {
            full.1.clone()
        } else {
            Vec::new()
        }
    }

    fn mark_full(&self, second: i64, lane: Lane) {
        let mut full = self.full.lock().expect("not poisoned");
        if full.0 != second {
            *full = (second, Vec::new());
        }
        if !full.1.contains(&lane) {
            full.1.push(lane);
        }
    }

    /// Claims what it can and starts sending; returns how long to sleep before looking again.
    async fn claim_and_send(self: Arc<Self>, sends: &mut JoinSet<()>) -> Result<Duration, DbErr> {
        let free = self.sends.available_permits();
        if free == 0 {
            return Ok(POLL);
        }
        let (claimed, paced) = self.claim(free as u64).await?;
        let token_count = claimed.len();
        for (row, token) in claimed {
            let Ok(permit) = self.sends.clone().try_acquire_owned() else {
                // Another worker of this process took the capacity meanwhile: give the job
                // back for a later round.
                jobs::release_across_workspaces(&self.state.db, &row.id, &token).await?;
                continue;
            };
            let dispatcher = self.clone();
            let span =
                tracing::info_span!("message_send", job_id = %row.id, channel = %row.channel);
            sends.spawn(
                async move {
                    let id = row.id.clone();
                    if let Err(e) = dispatcher.process(row, &token).await {
                        tracing::warn!(job_id = %id, error = %e, "recording a message outcome failed");
                    }
                    drop(permit);
                }
                .instrument(span),
            );
        }
        let now = Utc::now();
        if paced {
            // Budgets refill at the next second.
            let next_second = 1000 - now.timestamp_subsec_millis().min(999) as u64;
            return Ok(Duration::from_millis(next_second).min(POLL));
        }
        if token_count as u64 == free as u64 {
            return Ok(Duration::ZERO);
        }
        // Sleep until the next job falls due (a delayed one fires on time, not at the poll).
        let next = jobs::next_due_across_workspaces(&self.state.db).await?;
        Ok(match next {
            Some(at) if at > now => (at - now).to_std().unwrap_or(POLL).min(POLL),
            Some(_) => POLL,
            None => POLL,
        })
    }

    /// Leases up to `limit` due jobs whose lane has budget left this second; also says
    /// whether any due job waited for budget.
    async fn claim(&self, limit: u64) -> Result<(Vec<(JobRow, String)>, bool), DbErr> {
        let db = &self.state.db;
        let now = Utc::now();
        let second = now.timestamp();
        let lease_until =
            now + chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::MAX);
        let token = uuid::Uuid::new_v4().to_string();
        let full = self.full_lanes(second);
        // Lapsed leases are looked for once a second per process: a dead worker's job waits
        // its lease and at most a second more.
        let lapsed = self
            .lapsed_checked
            .fetch_max(second, std::sync::atomic::Ordering::Relaxed)
            < second;
        let mut claimed = Vec::new();
        let mut paced = false;
        if db.get_database_backend() == DatabaseBackend::Postgres {
            let txn = db.begin().await?;
            let mut rows = jobs::due_across_workspaces(&txn, now, limit, &full, lapsed).await?;
            // Budgets are counter rows locked until commit: every claimer takes them in one
            // order (by lane, due order within a lane), or two processes claiming jobs of
            // the same workspaces in different orders deadlock.
            rows.sort_by(|a, b| (&a.workspace_id, &a.channel).cmp(&(&b.workspace_id, &b.channel)));
            for row in rows {
                let lane = (row.workspace_id.clone(), row.channel.clone());
                if self.full_lanes(second).contains(&lane) {
                    paced = true;
                    continue;
                }
                let limit = self.limit_of(&row.channel);
                if !send_windows::take(&txn, &row.workspace_id, &row.channel, second, limit).await?
                {
                    self.mark_full(second, lane);
                    paced = true;
                    continue;
                }
                // The row is locked by this transaction: the update cannot lose.
                jobs::mark_sending(&txn, &row.id, now, lease_until, &token).await?;
                claimed.push(row);
            }
            txn.commit().await?;
        } else {
            for row in jobs::due_across_workspaces(db, now, limit, &full, lapsed).await? {
                let lane = (row.workspace_id.clone(), row.channel.clone());
                if self.full_lanes(second).contains(&lane) {
                    paced = true;
                    continue;
                }
                let limit = self.limit_of(&row.channel);
                if !send_windows::take(db, &row.workspace_id, &row.channel, second, limit).await? {
                    self.mark_full(second, lane);
                    paced = true;
                    continue;
                }
                if jobs::mark_sending(db, &row.id, now, lease_until, &token).await? {
                    claimed.push(row);
                } else {
                    send_windows::give_back(db, &row.workspace_id, &row.channel, second).await?;
                }
            }
        }
        Ok((
            claimed.into_iter().map(|r| (r, token.clone())).collect(),
            paced,
        ))
    }

    /// Sends one claimed job and records what came of it.
    async fn process(&self, mut row: JobRow, token: &str) -> Result<(), DbErr> {
        if let Some(execution) = &row.execution_id
            && executions::is_cancelled(&self.state.db, &row.workspace_id, execution).await?
        {
            row.status = CANCELLED.to_owned();
            row.reason = Some("the sequence was cancelled".to_owned());
            return self.record(row, token).await;
        }
        let now = Utc::now();
        let outcome = match self
            .state
            .contacts
            .get_as_service(&row.workspace_id, &row.contact_id)
            .await
        {
            Ok(None) => Some((SKIPPED, "the contact no longer exists".to_owned())),
            Ok(Some(contact)) if contact.opted_out_of(&row.channel) => Some((
                SKIPPED,
                format!(
                    "the contact opted out of {} (tag '{}')",
                    row.channel,
                    if row.channel == "sms" {
                        super::contacts::SMS_OPT_OUT_TAG
                    } else {
                        super::contacts::EMAIL_OPT_OUT_TAG
                    }
                ),
            )),
            Ok(Some(_)) => None,
            Err(e) => {
                // Not the provider's fault: wait and check again, without spending an attempt.
                tracing::warn!(error = %e, "contact check failed; retrying the job later");
                row.status = PENDING.to_owned();
                row.reason = Some("the contact could not be checked; retrying".to_owned());
                row.next_attempt_at = now + chrono::Duration::seconds(5);
                return self.record(row, token).await;
            }
        };
        if let Some((status, reason)) = outcome {
            row.status = status.to_owned();
            row.reason = Some(reason);
            return self.record(row, token).await;
        }
        let outgoing = match row.channel.as_str() {
            "sms" => Outgoing::Sms {
                job_id: &row.id,
                to: &row.recipient,
                body: &row.body,
            },
            _ => Outgoing::Email {
                job_id: &row.id,
                to: &row.recipient,
                subject: row.subject.as_deref().unwrap_or_default(),
                html: &row.body,
            },
        };
        let result = self
            .providers
            .for_channel(&row.channel)
            .send(&outgoing)
            .await;
        let now = Utc::now();
        row.attempts += 1;
        match result {
            Ok(provider_id) => {
                row.status = SENT.to_owned();
                row.provider_message_id = Some(provider_id);
                row.reason = None;
                row.sent_at = Some(now);
            }
            Err(SendError::Retry { reason, after })
                if row.attempts < self.settings.max_attempts =>
            {
                let wait = retry::wait(
                    self.settings.retry_base,
                    row.attempts,
                    after,
                    &mut rand::rng(),
                );
                row.status = PENDING.to_owned();
                row.reason = Some(reason);
                row.next_attempt_at =
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
            }
            Err(SendError::Retry { reason, .. }) => {
                row.status = FAILED.to_owned();
                row.reason = Some(format!("{reason} (after {} attempts)", row.attempts));
            }
            Err(SendError::Permanent { reason }) => {
                row.status = FAILED.to_owned();
                row.reason = Some(reason);
            }
        }
        self.record(row, token).await
    }

    /// Writes the outcome and, for a final one, its event, in one transaction; nothing when
    /// the lease was lost to another worker.
    async fn record(&self, row: JobRow, token: &str) -> Result<(), DbErr> {
        let txn = self.state.db.begin().await?;
        if let Some(execution) = &row.execution_id {
            // The execution's row first, as a cancel takes it: one order, no deadlock.
            store::executions::lock(&txn, &row.workspace_id, execution).await?;
        }
        let kept = jobs::finish(
            &txn,
            &row.workspace_id,
            &row.id,
            token,
            Outcome {
                status: &row.status,
                attempts: row.attempts,
                next_attempt_at: row.next_attempt_at,
                provider_message_id: row.provider_message_id.clone(),
                reason: row.reason.clone(),
                sent_at: row.sent_at,
            },
        )
        .await?;
        if !kept {
            tracing::warn!(job_id = %row.id, "lease lost before the outcome was recorded; another worker owns the job");
            return Ok(());
        }
        events::emit(&txn, &row).await?;
        let mut completed = false;
        if let Some(execution) = &row.execution_id
            && row.status != PENDING
        {
            completed = executions::job_finished(&txn, &row.workspace_id, execution).await?;
        }
        txn.commit().await?;
        if completed || events::type_of(&row.status).is_some() {
            self.state.events_committed();
        }
        Ok(())
    }
}
