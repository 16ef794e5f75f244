//! A subscription's deliveries as its owner reads them: listed, one with its attempts, and
//! queued again by hand.

use super::{WebhooksState, db_error, subscriptions};
use crate::store::{
    attempts::{self, AttemptRow},
    deliveries::{
        self as store, CANCELLED, DELIVERED, DeliveryFilter, DeliveryRow, FAILED, PENDING,
    },
};
use chrono::Utc;
use crm_platform::error::ApiError;
use tonic::Status;

const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: i32 = 100;

/// What a deliveries list asks for, as sent.
#[derive(Default)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    pub event_type: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i32>,
}

/// One page of deliveries, and the cursor of the next when there is one.
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryRow>,
    pub next_cursor: Option<String>,
}

fn uuid_field(field: &str, raw: &str) -> Result<String, Status> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid_field(field, "must be a UUID").into())
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A subscription's deliveries, newest first, a page at a time.
pub async fn list(
    state: &WebhooksState,
    workspace_id: &str,
    webhook_id: &str,
    query: DeliveryQuery,
) -> Result<DeliveryPage, Status> {
    let status = non_empty(&query.status);
    if let Some(s) = status
        && ![PENDING, DELIVERED, FAILED, CANCELLED].contains(&s)
    {
        return Err(ApiError::invalid_field(
            "status",
            "must be pending, delivered, failed or cancelled",
        )
        .into());
    }
    let cursor = non_empty(&query.cursor)
        .map(|c| uuid_field("cursor", c))
        .transpose()?;
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n as u64,
        Some(_) => return Err(ApiError::invalid_field("limit", "must be 1..100").into()),
    };
    let webhook = subscriptions::get(state, workspace_id, webhook_id).await?;
    let mut rows = store::list(
        &state.db,
        workspace_id,
        &webhook.id,
        DeliveryFilter {
            status,
            event_type: non_empty(&query.event_type),
            before_id: cursor.as_deref(),
        },
        limit + 1,
    )
    .await
    .map_err(db_error("list webhook deliveries"))?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(DeliveryPage {
        deliveries: rows,
        next_cursor,
    })
}

async fn existing(
    state: &WebhooksState,
    workspace_id: &str,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<DeliveryRow, Status> {
    let delivery_id = uuid_field("delivery_id", delivery_id)?;
    let webhook = subscriptions::get(state, workspace_id, webhook_id).await?;
    store::find(&state.db, workspace_id, &webhook.id, &delivery_id)
        .await
        .map_err(db_error("find webhook delivery"))?
        .ok_or_else(|| ApiError::not_found("Delivery", &delivery_id).into())
}

/// One delivery with its attempts, oldest first.
pub async fn get(
    state: &WebhooksState,
    workspace_id: &str,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<(DeliveryRow, Vec<AttemptRow>), Status> {
    let delivery = existing(state, workspace_id, webhook_id, delivery_id).await?;
    let tried = attempts::of_delivery(&state.db, workspace_id, &delivery.id)
        .await
        .map_err(db_error("list delivery attempts"))?;
    Ok((delivery, tried))
}

/// Queues a finished (delivered, failed or cancelled) delivery again, due now; a pending one
/// is refused with a 409.
pub async fn retry(
    state: &WebhooksState,
    workspace_id: &str,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<DeliveryRow, Status> {
    let delivery = existing(state, workspace_id, webhook_id, delivery_id).await?;
    let queued = store::requeue(
        &state.db,
        workspace_id,
        &delivery.subscription_id,
        &delivery.id,
        Utc::now(),
    )
    .await
    .map_err(db_error("requeue webhook delivery"))?;
    if !queued {
        return Err(ApiError::in_use(
            "DELIVERY_PENDING",
            "this delivery is pending already; wait for its next attempt",
        )
        .into());
    }
    state.wake.notify_one();
    existing(state, workspace_id, webhook_id, &delivery.id).await
}
