//! Endpoint health: the engine disables a subscription whose receiver is gone (410) or has
//! failed every attempt for days, cancelling what was pending and emitting
//! `webhook.disabled`; one call re-enables it and replays what failed or was cancelled
//! meanwhile, so nothing sent while the receiver was down is lost for good.

use super::{WebhooksState, catalog::DISABLED_EVENT, fanout, subscriptions::Subscription};
use crate::store::{
    deliveries,
    events::StoredEvent,
    subscriptions::{self as store, SubscriptionRow},
};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};
use serde_json::json;
use tonic::Status;

/// How long a subscription may fail every attempt before the engine disables it.
pub const DEFAULT_DISABLE_AFTER: std::time::Duration = std::time::Duration::from_secs(5 * 86_400);

/// Disables `subscription` for `reason` in one transaction: its pending deliveries are
/// cancelled (re-enabling replays them) and a `webhook.disabled` event is queued for the
/// workspace's other subscriptions.
pub async fn disable(
    state: &WebhooksState,
    subscription: &SubscriptionRow,
    reason: &str,
    failing_since: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let ws = &subscription.workspace_id;
    let txn = state.db.begin().await?;
    store::disable(&txn, ws, &subscription.id, reason).await?;
    if let Some(at) = failing_since {
        // A 410 disables on the first failure: replays start from it.
        store::mark_failing(&txn, ws, &subscription.id, at).await?;
    }
    deliveries::cancel_pending(&txn, ws, &subscription.id, reason).await?;
    let queued = fanout::queue_in(
        &txn,
        vec![disabled_event(subscription, reason, failing_since)],
    )
    .await?;
    txn.commit().await?;
    if queued.deliveries > 0 {
        state.wake.notify_one();
    }
    tracing::info!(webhook_id = %subscription.id, reason, "webhook disabled");
    Ok(())
}

fn disabled_event(
    subscription: &SubscriptionRow,
    reason: &str,
    failing_since: Option<DateTime<Utc>>,
) -> StoredEvent {
    let at = Utc::now();
    let since = failing_since.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
    StoredEvent {
        id: uuid::Uuid::now_v7().to_string(),
        workspace_id: subscription.workspace_id.clone(),
        event_type: DISABLED_EVENT.to_owned(),
        aggregate_type: "webhook".to_owned(),
        aggregate_id: subscription.id.clone(),
        payload: json!({
            "webhook_id": subscription.id,
            "url": subscription.url,
            "reason": reason,
            "failing_since": since,
        })
        .to_string(),
        source: "svc-webhooks".to_owned(),
        occurred_at: at,
    }
}

/// The reason given when every attempt failed for `limit`.
pub fn failing_too_long(since: DateTime<Utc>, limit: std::time::Duration) -> String {
    let hours = limit.as_secs() / 3600;
    let span = if hours >= 48 && hours.is_multiple_of(24) {
        format!("{} days", hours / 24)
    } else if hours >= 1 {
        format!("{hours} hours")
    } else {
        format!("{} seconds", limit.as_secs())
    };
    format!(
        "every attempt failed for {span} (since {}); fix the receiver, then re-enable the webhook",
        since.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// Re-enables a subscription of the workspace after it was disabled, by the engine or by
/// hand, and queues again what failed or was cancelled since it began failing (or since it
/// was disabled); returns it and how many deliveries were queued again.
pub(crate) async fn reenable<C: ConnectionTrait>(
    db: &C,
    row: &SubscriptionRow,
) -> Result<u64, DbErr> {
    let now = Utc::now();
    let since = row.failing_since.unwrap_or(row.updated_at);
    let replayed = deliveries::replay_since(db, &row.workspace_id, &row.id, since, now).await?;
    store::mark_healthy(db, &row.workspace_id, &row.id).await?;
    Ok(replayed)
}

/// `POST /api/v1/webhooks/{id}/enable`: the subscription active again, with what it replays.
pub async fn enable(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
) -> Result<(Subscription, u64), Status> {
    let (subscription, replayed) =
        super::subscriptions::set_active(state, workspace_id, id).await?;
    if replayed > 0 {
        state.wake.notify_one();
    }
    Ok((subscription, replayed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_says_how_long_in_the_largest_whole_unit() {
        let since = "2025-05-24T10:30:00Z".parse().unwrap();
        let days = failing_too_long(since, DEFAULT_DISABLE_AFTER);
        assert!(days.starts_with("every attempt failed for 5 days (since 2025-05-24T10:30:00Z)"));
        let short = failing_too_long(since, std::time::Duration::from_secs(3));
        assert!(short.contains("for 3 seconds"), "{short}");
    }
}
