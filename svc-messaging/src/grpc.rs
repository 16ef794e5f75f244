//! `crm.messaging.v1.MessagingService`.

use crm_proto::messaging::messaging_service_server::MessagingService;

/// Implements `MessagingService`.
pub struct MessagingApi;

#[tonic::async_trait]
impl MessagingService for MessagingApi {}
