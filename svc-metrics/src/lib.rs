//! svc-metrics: pipeline analytics (seed 004 "Pipeline Metrics") computed in SQL over
//! svc-pipeline's tables, read-only through a connection of its own (a read replica in
//! production). Definitions of every figure: docs/metrics.md.

mod domain;
mod error;
mod grpc;
mod store;

use crm_platform::{
    Secret, principal::PrincipalVerifier, server::serve_grpc, workspaces::WorkspaceProfiles,
};
use crm_proto::metrics::metrics_service_server::MetricsServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// svc-metrics's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Secret that signs principals between services.
    pub service_secret: Secret,
    /// svc-pipeline's database, read only (`CRM_PIPELINE_DATABASE_URL`): its SQLite file, or
    /// the Postgres database (a read replica in production) holding schema `pipeline`.
    pub pipeline_database_url: String,
    /// gRPC URL of svc-auth, which knows each workspace's timezone and default currency.
    /// Empty: every workspace is taken to be on UTC with USD.
    pub auth_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            service_secret: Secret::default(),
            pipeline_database_url: "sqlite://data/pipeline.db?mode=rwc".into(),
            auth_url: "http://127.0.0.1:50051".into(),
        }
    }
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
    if config.pipeline_database_url.trim().is_empty() {
        anyhow::bail!(
            "pipeline_database_url is empty: set CRM_PIPELINE_DATABASE_URL to svc-pipeline's database (or a read replica of it)"
        );
    }
    let verifier = PrincipalVerifier::new(&config.service_secret);
    let profiles = WorkspaceProfiles::new(&config.auth_url, verifier.clone(), "svc-metrics")
        .map_err(|e| {
            anyhow::anyhow!(
                "auth_url '{}' is not a URL ({e}): set CRM_AUTH_URL to svc-auth's gRPC address",
                config.auth_url
            )
        })?;
    let db = store::PipelineDb::new(&config.pipeline_database_url);
    let state = domain::MetricsState { db, profiles };
    serve_grpc(listener, shutdown, SERVICE_NAMES, |router| {
        router.add_service(MetricsServiceServer::with_interceptor(
            grpc::MetricsApi { state },
            verifier.interceptor(),
        ))
    })
    .await?;
    Ok(())
}
