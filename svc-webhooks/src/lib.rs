//! svc-webhooks: signed outgoing deliveries with retries, incoming hooks and triggers.
//!
//! Today it is the sink of every service's domain events: outbox relays publish here and the
//! events are stored once each. Deliveries, hooks and triggers build on them in later issues.

mod grpc;
pub mod migration;
mod store;

use crm_platform::{Secret, principal::PrincipalVerifier, server::serve_grpc};
use crm_proto::webhooks::{
    event_sink_service_server::EventSinkServiceServer,
    webhooks_service_server::WebhooksServiceServer,
};
use sea_orm_migration::MigratorTrait;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// svc-webhooks's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Database URL (Postgres or SQLite).
    pub database_url: String,
    /// Secret that signs principals between services.
    pub service_secret: Secret,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/webhooks.db?mode=rwc".into(),
            service_secret: Secret::default(),
        }
    }
}

/// gRPC service names svc-webhooks reports in health checks.
pub const SERVICE_NAMES: &[&str] = &[
    "crm.webhooks.v1.WebhooksService",
    "crm.webhooks.v1.EventSinkService",
];

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
    let db = crm_platform::db::connect(&config.database_url, "webhooks").await?;
    migration::Migrator::up(&db, None).await?;
    let verifier = PrincipalVerifier::new(&config.service_secret);
    let result = serve_grpc(listener, shutdown, SERVICE_NAMES, |router| {
        router
            .add_service(WebhooksServiceServer::with_interceptor(
                grpc::webhooks::WebhooksApi,
                verifier.interceptor(),
            ))
            .add_service(EventSinkServiceServer::with_interceptor(
                grpc::sink::SinkApi { db: db.clone() },
                verifier.interceptor(),
            ))
    })
    .await;
    db.close().await.ok();
    Ok(result?)
}
