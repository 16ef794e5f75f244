//! The delivery workers: they claim due deliveries with a lease, send each through
//! [`delivery::send`], and record the attempt with its outcome (delivered, the next try, failed,
//! or the subscription disabled on a 410).
//!
//! Capacity is shared by the workers of a process: at most `in_flight` sends at once, and at
//! most `in_flight_per_webhook` to one subscription, so a slow receiver holds only its own
//! share and never starves the others. A receiver that keeps failing gets less still: one
//! probe at a time, every few seconds, until it answers (see [`super::circuits`]).

use super::{
    WebhooksState,
    circuits::Share,
    delivery::{self, DELIVERED as ANSWERED_2XX},
    endpoint_health,
    envelope::Envelope,
    fanout::WAKE_CHANNEL,
    schedule::{self, Plan},
    subscriptions::Subscription,
};
use crate::store::{
    attempts,
    deliveries::{self, CANCELLED, DELIVERED, DeliveryRow, FAILED},
    events, rate_windows, subscriptions,
};
use chrono::Utc;
use rand::seq::SliceRandom;
use sea_orm::{DatabaseBackend, TransactionTrait};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How often workers look for due deliveries when nothing wakes them.
const POLL: Duration = Duration::from_millis(500);
/// How long a claim holds a delivery: the longest receiver timeout (30 s) plus a margin for
/// DNS and recording. A worker that dies mid-send frees its deliveries when it runs out.
const LEASE: Duration = Duration::from_secs(60);

/// How much the workers of one process may do at once.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Worker loops.
    pub workers: usize,
    /// Sends in flight across all subscriptions.
    pub in_flight: usize,
    /// Sends in flight to one subscription.
    pub in_flight_per_webhook: usize,
}

/// What the workers of a process share.
struct Dispatcher {
    state: WebhooksState,
    limits: Limits,
    sends: Arc<Semaphore>,
    per_webhook: Mutex<HashMap<String, usize>>,
    /// Deliveries being sent, so a shutdown can hand their leases back at once.
    sending: Mutex<HashSet<String>>,
}

/// One send's place in its subscription's share, given back when dropped.
struct Slot {
    dispatcher: Arc<Dispatcher>,
    subscription_id: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.dispatcher.per_webhook.lock().expect("not poisoned");
        if let Some(n) = counts.get_mut(&self.subscription_id) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.subscription_id);
            }
        }
    }
}

/// Starts the workers; each stops (abandoning its in-flight sends, whose leases expire and
/// are claimed again) when `shutdown` fires.
pub fn spawn(
    state: WebhooksState,
    limits: Limits,
    shutdown: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let dispatcher = Arc::new(Dispatcher {
        state,
        limits,
        sends: Arc::new(Semaphore::new(limits.in_flight.max(1))),
        per_webhook: Mutex::default(),
        sending: Mutex::default(),
    });
    let mut tasks: Vec<_> = (0..limits.workers)
        .map(|n| {
            let span = tracing::info_span!("webhook_worker", worker = n);
            tokio::spawn(dispatcher.clone().run(shutdown.clone()).instrument(span))
        })
        .collect();
    if limits.workers > 0 && dispatcher.state.db.get_database_backend() == DatabaseBackend::Postgres
    {
        let span = tracing::info_span!("webhook_listener");
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
    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut sends = JoinSet::new();
        loop {
            while sends.try_join_next().is_some() {}
            if let Err(e) = self.clone().claim_and_send(&mut sends).await {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.state.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                // A finished send frees capacity: look again.
                Some(_) = sends.join_next(), if !sends.is_empty() => {}
            }
        }
        sends.abort_all();
        while sends.join_next().await.is_some() {}
        // The aborted sends' deliveries are due again now rather than when their leases
        // run out, so a restart (or another process) takes them up at once. A receiver may
        // have seen an aborted send: delivery is at least once.
        let abandoned: Vec<String> = self.sending.lock().expect("not poisoned").drain().collect();
        for id in abandoned {
            if let Err(e) = deliveries::release_across_workspaces(&self.state.db, &id).await {
                tracing::warn!(delivery_id = %id, error = %e, "releasing a delivery failed");
            }
        }
    }

    /// A place in the subscription's share, unless it is full.
    fn slot(self: &Arc<Self>, subscription_id: &str, share: Share) -> Option<Slot> {
        let cap = match share {
            Share::Full => self.limits.in_flight_per_webhook.max(1),
            Share::Probe => 1,
            Share::Closed => return None,
        };
        let mut counts = self.per_webhook.lock().expect("not poisoned");
        let n = counts.entry(subscription_id.to_owned()).or_default();
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            dispatcher: self.clone(),
            subscription_id: subscription_id.to_owned(),
        })
    }

    /// Claims due deliveries for the room there is and starts sending them. Each
    /// subscription with pending deliveries gets its share, those with the fewest sends in
    /// flight first (in random order among equals), so when there is less room than
    /// subscriptions waiting each still gets its turn. The room is taken before the claim
    /// and what the claim did not fill is given back, so workers claiming at once never take
    /// the same room twice.
    async fn claim_and_send(
        self: Arc<Self>,
        sends: &mut JoinSet<()>,
    ) -> Result<(), sea_orm::DbErr> {
        if self.sends.available_permits() == 0 {
            return Ok(());
        }
        let mut waiting =
            deliveries::subscriptions_with_pending_across_workspaces(&self.state.db).await?;
        waiting.shuffle(&mut rand::rng());
        {
            let counts = self.per_webhook.lock().expect("not poisoned");
            waiting.sort_by_key(|id| counts.get(id).copied().unwrap_or(0));
        }
        let now = Utc::now();
        for subscription_id in waiting {
            let share = self.state.circuits.share(&subscription_id, Instant::now());
            let mut room = Vec::new();
            while let Ok(permit) = self.sends.clone().try_acquire_owned() {
                let Some(slot) = self.slot(&subscription_id, share) else {
                    break;
                };
                room.push((permit, slot));
            }
            if room.is_empty() {
                if self.sends.available_permits() == 0 {
                    break;
                }
                continue;
            }
            let claimed = deliveries::lease_due_across_workspaces(
                &self.state.db,
                &subscription_id,
                room.len(),
                now,
                now + LEASE,
            )
            .await?;
            // Room left unfilled is given back as `room` drops.
            for (row, (permit, slot)) in claimed.into_iter().zip(room.drain(..)) {
                let dispatcher = self.clone();
                let span = tracing::info_span!("webhook_delivery", delivery_id = %row.id);
                self.sending
                    .lock()
                    .expect("not poisoned")
                    .insert(row.id.clone());
                sends.spawn(
                    async move {
                        let id = row.id.clone();
                        let subscription_id = row.subscription_id.clone();
                        match deliver(&dispatcher.state, row).await {
                            Ok(Some(answered_2xx)) => dispatcher.state.circuits.record(
                                &subscription_id,
                                answered_2xx,
                                Instant::now(),
                            ),
                            Ok(None) => {}
                            // The lease runs out and the delivery is claimed again.
                            Err(e) => {
                                tracing::warn!(delivery_id = %id, error = %e, "webhook delivery failed")
                            }
                        }
                        dispatcher.sending.lock().expect("not poisoned").remove(&id);
                        drop((permit, slot));
                    }
                    .instrument(span),
                );
            }
        }
        Ok(())
    }
}

/// Sends one claimed delivery and records what came of it. Answers whether the receiver
/// answered 2xx, or none when nothing was sent (the subscription is gone, the event too, or
/// the subscription is at its rate limit).
async fn deliver(state: &WebhooksState, mut row: DeliveryRow) -> anyhow::Result<Option<bool>> {
    let db = &state.db;
    let ws = row.workspace_id.clone();
    let subscription = subscriptions::find(db, &ws, &row.subscription_id).await?;
    let Some(subscription) = subscription.filter(|s| s.status == "active") else {
        row.status = CANCELLED.to_owned();
        row.last_error = Some("the webhook was disabled or deleted".to_owned());
        deliveries::save(db, &ws, row).await?;
        return Ok(None);
    };
    let Some(event) = events::find(db, &ws, &row.event_id).await? else {
        row.status = FAILED.to_owned();
        row.last_error = Some("the event is no longer stored".to_owned());
        deliveries::save(db, &ws, row).await?;
        return Ok(None);
    };
    if let Some(limit) = subscription.rate_limit_per_second {
        let now = Utc::now();
        let second = now.timestamp();
        if !rate_windows::take_across_workspaces(db, &subscription.id, second, limit).await? {
            // Over the subscription's rate: due again at the next second, not an attempt.
            let next = chrono::DateTime::from_timestamp(second + 1, 0).unwrap_or(now);
            deliveries::defer_across_workspaces(db, &row.id, next).await?;
            return Ok(None);
        }
    }
    let envelope = Envelope {
        data: serde_json::from_str(&event.payload)
            .unwrap_or(serde_json::Value::String(event.payload)),
        id: event.id,
        event_type: event.event_type,
        timestamp: event.occurred_at,
    };
    let (attempt, retry_after) = delivery::send(state, &subscription, &envelope, Some(&row.id))
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?;
    let now = Utc::now();
    row.attempt_count += 1;
    row.last_status_code = attempt.response_status;
    row.last_error = attempt.error.clone();
    // The attempt and what it did to the delivery and the subscription commit together.
    let txn = db.begin().await?;
    attempts::insert(&txn, &ws, attempt.clone()).await?;
    if attempt.status == ANSWERED_2XX {
        row.status = DELIVERED.to_owned();
        row.delivered_at = Some(now);
        deliveries::save(&txn, &ws, row).await?;
        if subscription.failing_since.is_some() {
            subscriptions::mark_healthy(&txn, &ws, &subscription.id).await?;
        }
        txn.commit().await?;
        return Ok(Some(true));
    }
    if attempt.response_status == Some(410) {
        // The receiver says the endpoint is gone for good: stop sending to it at all. The
        // delivery is cancelled with the rest, so re-enabling replays it.
        let reason = format!(
            "the receiver answered 410 Gone at {}; re-enable the webhook once its URL works",
            now.to_rfc3339()
        );
        row.status = CANCELLED.to_owned();
        deliveries::save(&txn, &ws, row).await?;
        txn.commit().await?;
        let since = subscription.failing_since.unwrap_or(attempt.attempted_at);
        endpoint_health::disable(state, &subscription, &reason, Some(since)).await?;
        return Ok(Some(false));
    }
    let failing_since = match subscription.failing_since {
        Some(since) => since,
        None => {
            subscriptions::mark_failing(&txn, &ws, &subscription.id, attempt.attempted_at).await?
        }
    };
    let limit = state.disable_after_failing;
    if (now - failing_since).to_std().unwrap_or_default() >= limit {
        let reason = endpoint_health::failing_too_long(failing_since, limit);
        row.status = CANCELLED.to_owned();
        deliveries::save(&txn, &ws, row).await?;
        txn.commit().await?;
        endpoint_health::disable(state, &subscription, &reason, Some(failing_since)).await?;
        return Ok(Some(false));
    }
    let plan = Plan::of(Subscription::from(&subscription).retry);
    let wait = plan.wait(row.attempt_count, &mut rand::rng());
    match wait {
        None => row.status = FAILED.to_owned(),
        Some(mut wait) => {
            // A busy receiver may ask for more time (never less than the schedule's).
            if matches!(attempt.response_status, Some(429 | 503))
                && let Some(asked) = retry_after.and_then(|v| schedule::retry_after(&v, now))
            {
                wait = wait.max(asked);
            }
            row.next_attempt_at = now + wait;
        }
    }
    deliveries::save(&txn, &ws, row).await?;
    txn.commit().await?;
    Ok(Some(false))
}
