//! svc-metrics: Pipeline and API usage analytics.
//!
//! The domain arrives with its own issue; today the service runs with its proto package,
//! principal verification, health and reflection, so the gateway and operators can reach it.

mod grpc;

use crm_platform::{Secret, principal::PrincipalVerifier, server::serve_grpc};
use crm_proto::metrics::metrics_service_server::MetricsServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// svc-metrics's configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Secret that signs principals between services.
    pub service_secret: Secret,
}

/// gRPC service names svc-metrics reports in health checks.
pub const SERVICE_NAMES: &[&str] = &["crm.metrics.v1.MetricsService"];

/// Runs svc-metrics on `listener` until `shutdown` fires.
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
        router.add_service(MetricsServiceServer::with_interceptor(
            grpc::MetricsApi,
            verifier.interceptor(),
        ))
    })
    .await?;
    Ok(())
}
