//! svc-pipeline: Pipelines, stages, opportunities, contacts and tags.
//!
//! The domain arrives with its own issue; today the service runs with its proto package,
//! principal verification, health and reflection, so the gateway and operators can reach it.

mod grpc;

use crm_platform::{Secret, principal::PrincipalVerifier, server::serve_grpc};
use crm_proto::pipeline::pipeline_service_server::PipelineServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// svc-pipeline's configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Secret that signs principals between services.
    pub service_secret: Secret,
}

/// gRPC service names svc-pipeline reports in health checks.
pub const SERVICE_NAMES: &[&str] = &["crm.pipeline.v1.PipelineService"];

/// Runs svc-pipeline on `listener` until `shutdown` fires.
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
        router.add_service(PipelineServiceServer::with_interceptor(
            grpc::PipelineApi,
            verifier.interceptor(),
        ))
    })
    .await?;
    Ok(())
}
