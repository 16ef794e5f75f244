//! svc-metrics: pipeline analytics (seed 004 "Pipeline Metrics") computed in SQL over
//! svc-pipeline's tables, read-only through a connection of its own (a read replica in
//! production), and API usage (the request log of API-key calls and its statistics) in a
//! database of its own. Definitions: docs/metrics.md, docs/usage.md.

mod domain;
mod error;
mod grpc;
pub mod migration;
mod store;

use crm_platform::{
    Secret, principal::PrincipalVerifier, server::serve_grpc, workspaces::WorkspaceProfiles,
};
use crm_proto::metrics::{
    metrics_service_server::MetricsServiceServer,
    usage_ingest_service_server::UsageIngestServiceServer,
    usage_service_server::UsageServiceServer,
};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// svc-metrics's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Secret that signs principals between services.
    pub service_secret: Secret,
    /// svc-metrics's own database, written to (`DATABASE_URL`): the API usage tables, in
    /// schema `metrics` on Postgres.
    pub database_url: String,
    /// svc-pipeline's database, read only (`CRM_PIPELINE_DATABASE_URL`): its SQLite file, or
    /// the Postgres database (a read replica in production) holding schema `pipeline`.
    pub pipeline_database_url: String,
    /// gRPC URL of svc-auth, which knows each workspace's timezone and default currency and
    /// which API keys a caller may read usage of. Empty: every workspace is taken to be on
    /// UTC with USD, and usage reads answer unavailable.
    pub auth_url: String,
    /// Days API requests are kept (`CRM_REQUEST_LOG_RETENTION_DAYS`); 0 keeps everything.
    pub request_log_retention_days: u32,
    /// Seconds between two runs of the usage tables' upkeep (partitions, retention).
    pub request_log_prune_every_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            service_secret: Secret::default(),
            database_url: "sqlite://data/metrics.db?mode=rwc".into(),
            pipeline_database_url: "sqlite://data/pipeline.db?mode=rwc".into(),
            auth_url: "http://127.0.0.1:50051".into(),
            request_log_retention_days: 30,
            request_log_prune_every_secs: 3600,
        }
    }
}

/// gRPC service names svc-metrics reports in health checks.
pub const SERVICE_NAMES: &[&str] = &[
    "crm.metrics.v1.MetricsService",
    "crm.metrics.v1.UsageService",
    "crm.metrics.v1.UsageIngestService",
];

/// Connects to svc-metrics's own database and brings its schema up to date.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let db = crm_platform::db::connect(&config.database_url, "metrics").await?;
    crm_platform::db::migrate::<migration::Migrator>(&db, "metrics").await?;
    Ok(db)
}

/// The usage tables' upkeep as if run at `now`: on Postgres the day partitions around it,
/// then the requests and rollup minutes older than `retention_days` before it removed (0
/// keeps everything). The service runs it at start and every prune interval.
pub async fn maintain_usage(
    db: &DatabaseConnection,
    now: chrono::DateTime<chrono::Utc>,
    retention_days: u32,
) -> anyhow::Result<()> {
    let db = store::usage::UsageDb::new(db.clone());
    domain::usage::retention::maintain(&db, now, retention_days)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

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
    if config.database_url.trim().is_empty() {
        anyhow::bail!(
            "database_url is empty: set DATABASE_URL to svc-metrics's own database (its SQLite file, or Postgres)"
        );
    }
    if config.request_log_prune_every_secs == 0 {
        anyhow::bail!(
            "request_log_prune_every_secs must be above 0: set CRM_REQUEST_LOG_PRUNE_EVERY_SECS (default 3600)"
        );
    }
    let verifier = PrincipalVerifier::new(&config.service_secret);
    let bad_auth_url = |e: tonic::transport::Error| {
        anyhow::anyhow!(
            "auth_url '{}' is not a URL ({e}): set CRM_AUTH_URL to svc-auth's gRPC address",
            config.auth_url
        )
    };
    let profiles = WorkspaceProfiles::new(&config.auth_url, verifier.clone(), "svc-metrics")
        .map_err(bad_auth_url)?;
    let keys = domain::usage::keys::KeyDirectory::new(&config.auth_url, verifier.clone())
        .map_err(bad_auth_url)?;
    let usage_db = store::usage::UsageDb::new(connect(&config).await?);
    // Today's partition exists before the first batch arrives.
    domain::usage::retention::prepare(&usage_db, chrono::Utc::now()).await;
    let upkeep_stop = shutdown.child_token();
    let upkeep = domain::usage::retention::spawn(
        usage_db.clone(),
        config.request_log_retention_days,
        Duration::from_secs(config.request_log_prune_every_secs),
        upkeep_stop.clone(),
    );
    let db = store::PipelineDb::new(&config.pipeline_database_url);
    let state = domain::MetricsState { db, profiles };
    let usage = domain::usage::UsageState { db: usage_db, keys };
    let served = serve_grpc(listener, shutdown.clone(), SERVICE_NAMES, |router| {
        router
            .add_service(MetricsServiceServer::with_interceptor(
                grpc::MetricsApi { state },
                verifier.interceptor(),
            ))
            .add_service(UsageServiceServer::with_interceptor(
                grpc::usage::UsageApi {
                    state: usage.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(UsageIngestServiceServer::with_interceptor(
                grpc::usage_ingest::UsageIngestApi { state: usage },
                verifier.interceptor(),
            ))
    })
    .await;
    // Also when serving failed: the upkeep stops with the service.
    upkeep_stop.cancel();
    upkeep.await.ok();
    served?;
    Ok(())
}
