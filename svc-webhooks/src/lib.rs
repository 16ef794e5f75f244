//! svc-webhooks: Signed outgoing deliveries with retries, incoming hooks and triggers.
//!
//! The domain arrives with its own issue; today the service runs with its proto package,
//! principal verification, health and reflection, so the gateway and operators can reach it.

mod grpc;

use crm_platform::{Secret, principal::PrincipalVerifier, server::serve_grpc};
use crm_proto::webhooks::webhooks_service_server::WebhooksServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// svc-webhooks's configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Secret that signs principals between services.
    pub service_secret: Secret,
}

/// gRPC service names svc-webhooks reports in health checks.
pub const SERVICE_NAMES: &[&str] = &["crm.webhooks.v1.WebhooksService"];

/// Runs svc-webhooks on `listener` until `shutdown` fires.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config
        .service_secret
        .require_strong("service_secret", "CRM_SERVICE_SECRET")
        .map_err(anyhow::Error::msg)?;
    let verifier = PrincipalVerifier::new(&config.service_secret);
    serve_grpc(listener, shutdown, SERVICE_NAMES, |router| {
        router.add_service(WebhooksServiceServer::with_interceptor(
            grpc::WebhooksApi,
            verifier.interceptor(),
        ))
    })
    .await?;
    Ok(())
}
