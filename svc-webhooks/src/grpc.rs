//! `crm.webhooks.v1.WebhooksService`.

use crm_proto::webhooks::webhooks_service_server::WebhooksService;

/// Implements `WebhooksService`.
pub struct WebhooksApi;

#[tonic::async_trait]
impl WebhooksService for WebhooksApi {}
