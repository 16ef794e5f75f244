//! The gateway's gRPC faces with stock clients: gRPC-web in binary and text mode (Google's
//! `grpc-web` runtime, run by node), reflection (what `grpcurl list` uses) and gRPC health,
//! all on the gateway's one port.

mod base64;
mod grpc_web;
mod health;
mod reflection;

use crate::helpers::within;
use std::time::Duration;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Every service a caller outside can use, as reflection must list it.
const PUBLIC_SERVICES: [&str; 20] = [
    "crm.auth.v1.AuthService",
    "crm.auth.v1.ApiKeyService",
    "crm.auth.v1.ApiClientService",
    "crm.auth.v1.WorkspaceService",
    "crm.pipeline.v1.PipelineService",
    "crm.pipeline.v1.StageService",
    "crm.pipeline.v1.OpportunityService",
    "crm.pipeline.v1.CompanyService",
    "crm.pipeline.v1.ContactService",
    "crm.pipeline.v1.TagService",
    "crm.pipeline.v1.ActionService",
    "crm.pipeline.v1.CalendarService",
    "crm.metrics.v1.MetricsService",
    "crm.metrics.v1.UsageService",
    "crm.webhooks.v1.WebhooksService",
    "crm.webhooks.v1.TriggerService",
    "crm.webhooks.v1.IncomingWebhooksService",
    "crm.messaging.v1.MessagingService",
    "crm.messaging.v1.SequenceService",
    "crm.messaging.v1.ProviderCallbackService",
];
/// The standard services the gateway answers itself.
const STANDARD_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];
/// Services only our own services call: never listed.
const INTERNAL_SERVICES: [&str; 4] = [
    "crm.auth.v1.KeyValidationService",
    "crm.metrics.v1.UsageIngestService",
    "crm.webhooks.v1.EventSinkService",
    "crm.pipeline.v1.AssignmentService",
];

/// A gRPC channel to the gateway at `base`.
async fn channel(base: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(base.to_owned())
        .expect("gateway url")
        .connect()
        .await
        .expect("gateway reachable")
}

/// Polls the gateway's health until it reports SERVING; false if it does not within `limit`.
async fn gateway_serving(base: &str, limit: Duration) -> bool {
    let health = HealthClient::new(channel(base).await);
    within(limit, || {
        let mut health = health.clone();
        async move {
            let request = HealthCheckRequest {
                service: String::new(),
            };
            health
                .check(request)
                .await
                .is_ok_and(|r| r.get_ref().status == ServingStatus::Serving as i32)
        }
    })
    .await
    .is_some()
}
