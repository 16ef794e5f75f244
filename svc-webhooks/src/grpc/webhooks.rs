//! `crm.webhooks.v1.WebhooksService`: outgoing webhook subscriptions, their secrets, test
//! sends and the event catalog. Thin: maps proto <-> domain and calls the domain.

use super::convert::{object, string_map, strings_of_list, strings_of_struct, ts};
use crate::domain::deliveries::{self, DeliveryQuery};
use crate::domain::{
    WebhooksState,
    access::authorize,
    catalog, delivery, endpoint_health,
    subscriptions::{self, NewSubscription, RetryInput, Subscription, SubscriptionChanges},
};
use crate::store::{
    attempts::AttemptRow,
    deliveries::{DeliveryRow, PENDING},
};
use crm_platform::Principal;
use crm_proto::webhooks::{self as pb, webhooks_service_server::WebhooksService};
use tonic::{Request, Response, Status};

/// Implements `WebhooksService`.
pub struct WebhooksApi {
    pub(crate) state: WebhooksState,
}

const READ: &str = "webhooks:read";
const WRITE: &str = "webhooks:write";

fn webhook(s: Subscription) -> pb::Webhook {
    pb::Webhook {
        id: s.id,
        workspace_id: s.workspace_id,
        url: s.url,
        name: s.name,
        description: s.description,
        events: s.events,
        retry_config: Some(pb::RetryConfig {
            max_retries: Some(s.retry.max_retries),
            retry_delay: Some(s.retry.retry_delay_ms),
            backoff_multiplier: Some(s.retry.backoff_multiplier),
            timeout: Some(s.retry.timeout_ms),
        }),
        verify_ssl: s.verify_ssl,
        status: s.status,
        disabled_reason: s.disabled_reason,
        rate_limit_per_second: s.rate_limit_per_second,
        headers: Some(string_map(&s.headers)),
        has_secret: true,
        previous_secret_expires_at: s.previous_secret_expires_at.map(ts),
        created_by: s.created_by,
        created_at: Some(ts(s.created_at)),
        updated_at: Some(ts(s.updated_at)),
        client_id: s.client_id,
    }
}

/// The partner client a request names in its path, if any.
fn client(raw: &str) -> Option<&str> {
    Some(raw.trim()).filter(|c| !c.is_empty())
}

/// Under `/api/v1/api-clients/{client_id}/...`, the subscription must be that client's.
async fn check_client(
    state: &WebhooksState,
    workspace: &str,
    client_id: &str,
    id: &str,
) -> Result<(), Status> {
    match client(client_id) {
        Some(client_id) => subscriptions::of_client(state, workspace, client_id, id)
            .await
            .map(drop),
        None => Ok(()),
    }
}

fn retry(r: Option<pb::RetryConfig>) -> Option<RetryInput> {
    r.map(|r| RetryInput {
        max_retries: r.max_retries,
        retry_delay_ms: r.retry_delay,
        backoff_multiplier: r.backoff_multiplier,
        timeout_ms: r.timeout,
    })
}

fn attempt(a: AttemptRow) -> pb::WebhookAttempt {
    pb::WebhookAttempt {
        id: a.id,
        webhook_id: a.webhook_id,
        event_id: a.event_id,
        event_type: a.event_type,
        status: a.status,
        response_status: a.response_status,
        response_body: a.response_body,
        duration_ms: a.duration_ms,
        error: a.error,
        attempted_at: Some(ts(a.attempted_at)),
        delivery_id: a.delivery_id,
    }
}

fn delivery(d: DeliveryRow) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        id: d.id,
        webhook_id: d.subscription_id,
        event_id: d.event_id,
        event_type: d.event_type,
        attempt_count: d.attempt_count,
        next_attempt_at: (d.status == PENDING).then(|| ts(d.next_attempt_at)),
        status: d.status,
        last_status_code: d.last_status_code,
        last_error: d.last_error,
        created_at: Some(ts(d.created_at)),
        delivered_at: d.delivered_at.map(ts),
    }
}

fn as_object(v: &serde_json::Value) -> prost_types::Struct {
    v.as_object().map(object).unwrap_or_default()
}

#[tonic::async_trait]
impl WebhooksService for WebhooksApi {
    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Result<Response<pb::ListWebhooksResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, READ)?;
        let client_id = client(&request.get_ref().client_id);
        let all = subscriptions::list(&self.state, workspace, client_id).await?;
        Ok(Response::new(pb::ListWebhooksResponse {
            data: all.into_iter().map(webhook).collect(),
        }))
    }

    async fn get_webhook(
        &self,
        request: Request<pb::GetWebhookRequest>,
    ) -> Result<Response<pb::GetWebhookResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, READ)?;
        let found = subscriptions::get(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::GetWebhookResponse {
            data: Some(webhook(found)),
        }))
    }

    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Result<Response<pb::CreateWebhookResponse>, Status> {
        let principal = Principal::of(&request)?;
        let workspace = authorize(principal, WRITE)?.to_owned();
        let created_by = principal.subject.clone();
        let r = request.into_inner();
        let new = NewSubscription {
            url: r.url,
            name: r.name,
            description: r.description,
            events: r.events,
            retry: retry(r.retry_config),
            verify_ssl: r.verify_ssl,
            status: r.status,
            rate_limit_per_second: r.rate_limit_per_second,
            headers: r
                .headers
                .map(|h| strings_of_struct("headers", h))
                .transpose()?,
            secret: r.secret,
            client_id: client(&r.client_id).map(str::to_owned),
        };
        let (created, secret) =
            subscriptions::create(&self.state, &workspace, &created_by, new).await?;
        Ok(Response::new(pb::CreateWebhookResponse {
            data: Some(webhook(created)),
            secret: secret.text().to_owned(),
        }))
    }

    async fn update_webhook(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Result<Response<pb::UpdateWebhookResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?.to_owned();
        let r = request.into_inner();
        check_client(&self.state, &workspace, &r.client_id, &r.id).await?;
        let changes = SubscriptionChanges {
            url: r.url,
            name: r.name,
            description: r.description,
            events: r.events.map(|l| strings_of_list("events", l)).transpose()?,
            retry: retry(r.retry_config),
            verify_ssl: r.verify_ssl,
            status: r.status,
            rate_limit_per_second: r.rate_limit_per_second,
            headers: r
                .headers
                .map(|h| strings_of_struct("headers", h))
                .transpose()?,
        };
        let updated = subscriptions::update(&self.state, &workspace, &r.id, changes).await?;
        Ok(Response::new(pb::UpdateWebhookResponse {
            data: Some(webhook(updated)),
        }))
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Result<Response<pb::DeleteWebhookResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?;
        let r = request.get_ref();
        check_client(&self.state, workspace, &r.client_id, &r.id).await?;
        let name = subscriptions::delete(&self.state, workspace, &r.id).await?;
        Ok(Response::new(pb::DeleteWebhookResponse {
            message: format!("Webhook '{name}' deleted successfully"),
        }))
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<pb::RotateWebhookSecretRequest>,
    ) -> Result<Response<pb::RotateWebhookSecretResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?;
        let r = request.get_ref();
        let (rotated, secret) =
            subscriptions::rotate_secret(&self.state, workspace, &r.id, r.grace_period_seconds)
                .await?;
        Ok(Response::new(pb::RotateWebhookSecretResponse {
            data: Some(webhook(rotated)),
            secret: secret.text().to_owned(),
        }))
    }

    async fn test_webhook(
        &self,
        request: Request<pb::TestWebhookRequest>,
    ) -> Result<Response<pb::TestWebhookResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?;
        let tried = delivery::test(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::TestWebhookResponse {
            data: Some(attempt(tried)),
        }))
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, READ)?.to_owned();
        let r = request.into_inner();
        check_client(&self.state, &workspace, &r.client_id, &r.id).await?;
        let query = DeliveryQuery {
            status: r.status,
            event_type: r.event_type,
            cursor: r.cursor,
            limit: r.limit,
        };
        let page = deliveries::list(&self.state, &workspace, &r.id, query).await?;
        Ok(Response::new(pb::ListWebhookDeliveriesResponse {
            data: page.deliveries.into_iter().map(delivery).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    async fn get_webhook_delivery(
        &self,
        request: Request<pb::GetWebhookDeliveryRequest>,
    ) -> Result<Response<pb::GetWebhookDeliveryResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, READ)?;
        let r = request.get_ref();
        let (found, tried) = deliveries::get(&self.state, workspace, &r.id, &r.delivery_id).await?;
        Ok(Response::new(pb::GetWebhookDeliveryResponse {
            data: Some(delivery(found)),
            attempts: tried.into_iter().map(attempt).collect(),
        }))
    }

    async fn enable_webhook(
        &self,
        request: Request<pb::EnableWebhookRequest>,
    ) -> Result<Response<pb::EnableWebhookResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?;
        let (enabled, replayed) =
            endpoint_health::enable(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::EnableWebhookResponse {
            data: Some(webhook(enabled)),
            replayed_deliveries: replayed,
        }))
    }

    async fn retry_webhook_delivery(
        &self,
        request: Request<pb::RetryWebhookDeliveryRequest>,
    ) -> Result<Response<pb::RetryWebhookDeliveryResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?;
        let r = request.get_ref();
        let queued = deliveries::retry(&self.state, workspace, &r.id, &r.delivery_id).await?;
        Ok(Response::new(pb::RetryWebhookDeliveryResponse {
            data: Some(delivery(queued)),
        }))
    }

    async fn list_webhook_events(
        &self,
        request: Request<pb::ListWebhookEventsRequest>,
    ) -> Result<Response<pb::ListWebhookEventsResponse>, Status> {
        // Any caller of a workspace may read the catalog: it holds no workspace data.
        Principal::of(&request)?.workspace()?;
        let data = catalog::event_types()
            .into_iter()
            .map(|e| pb::WebhookEventType {
                r#type: e.name.to_owned(),
                description: e.description.to_owned(),
                schema: Some(as_object(&e.schema)),
                example: Some(as_object(&e.example)),
            })
            .collect();
        Ok(Response::new(pb::ListWebhookEventsResponse { data }))
    }
}
