//! `crm.webhooks.v1.EventSinkService`: where every service's outbox relay delivers.

use crate::domain::fanout;
use crate::store::events::{self, StoredEvent};
use chrono::{DateTime, Utc};
use crm_platform::{PrincipalKind, error::ApiError, error::internal, principal::Principal};
use crm_proto::webhooks::{self as pb, event_sink_service_server::EventSinkService};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

/// Implements `EventSinkService`.
pub struct SinkApi {
    pub(crate) db: DatabaseConnection,
    /// Wakes a delivery worker after a fan-out.
    pub(crate) wake: std::sync::Arc<tokio::sync::Notify>,
}

fn require_service(request: &Principal) -> Result<(), Status> {
    if request.kind != PrincipalKind::Service {
        return Err(ApiError::forbidden("internal RPC: callable by CRM services only").into());
    }
    Ok(())
}

fn timestamp(t: &Option<prost_types::Timestamp>) -> Result<DateTime<Utc>, Status> {
    t.as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .ok_or_else(|| ApiError::invalid_field("events.occurred_at", "is required").into())
}

#[tonic::async_trait]
impl EventSinkService for SinkApi {
    async fn publish_events(
        &self,
        request: Request<pb::PublishEventsRequest>,
    ) -> Result<Response<pb::PublishEventsResponse>, Status> {
        require_service(Principal::of(&request)?)?;
        let mut batch = Vec::new();
        for e in request.into_inner().events {
            if e.id.is_empty() || e.workspace_id.is_empty() || e.r#type.is_empty() {
                return Err(ApiError::invalid_field(
                    "events",
                    "every event needs id, workspace_id and type",
                )
                .into());
            }
            batch.push(StoredEvent {
                occurred_at: timestamp(&e.occurred_at)?,
                id: e.id,
                workspace_id: e.workspace_id,
                event_type: e.r#type,
                aggregate_type: e.aggregate_type,
                aggregate_id: e.aggregate_id,
                payload: e.payload_json,
                source: e.source,
            });
        }
        let stored = fanout::publish(&self.db, &self.wake, batch)
            .await
            .map_err(|e| internal("storing events", e))?;
        Ok(Response::new(pb::PublishEventsResponse {
            stored: stored as i32,
        }))
    }

    async fn list_received_events(
        &self,
        request: Request<pb::ListReceivedEventsRequest>,
    ) -> Result<Response<pb::ListReceivedEventsResponse>, Status> {
        require_service(Principal::of(&request)?)?;
        let r = request.into_inner();
        if r.workspace_id.is_empty() {
            return Err(ApiError::invalid_field("workspace_id", "is required").into());
        }
        let limit = match r.limit {
            0 => 100,
            1..=1000 => r.limit as u64,
            _ => return Err(ApiError::invalid_field("limit", "must be 1..1000").into()),
        };
        let kind = (!r.r#type.is_empty()).then_some(r.r#type.as_str());
        let rows = events::list(&self.db, &r.workspace_id, kind, limit)
            .await
            .map_err(|e| internal("listing events", e))?;
        let events = rows
            .into_iter()
            .map(|e| pb::DomainEvent {
                occurred_at: Some(prost_types::Timestamp {
                    seconds: e.occurred_at.timestamp(),
                    nanos: e.occurred_at.timestamp_subsec_nanos() as i32,
                }),
                id: e.id,
                workspace_id: e.workspace_id,
                r#type: e.event_type,
                aggregate_type: e.aggregate_type,
                aggregate_id: e.aggregate_id,
                payload_json: e.payload,
                source: e.source,
            })
            .collect();
        Ok(Response::new(pb::ListReceivedEventsResponse { events }))
    }
}
