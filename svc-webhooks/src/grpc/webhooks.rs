//! `crm.webhooks.v1.WebhooksService`: deliveries and hooks arrive with their own issue.

use crm_proto::webhooks::webhooks_service_server::WebhooksService;

/// Implements `WebhooksService`.
pub struct WebhooksApi;

#[tonic::async_trait]
impl WebhooksService for WebhooksApi {}
