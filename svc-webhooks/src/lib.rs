//! svc-webhooks: signed outgoing deliveries with retries, incoming hooks and triggers.
//!
//! It is the sink of every service's domain events (outbox relays publish here and the events
//! are stored once each), and it holds the outgoing webhook subscriptions: their signing
//! secrets (sealed under `CRM_DATA_KEY`), the event catalog and test sends, and the delivery
//! engine: each stored event fans out to the matching subscriptions, and workers send,
//! retry and record. Field-change triggers (seed 004) become events of their own, fanned out
//! the same way. Incoming hooks build on them in a later slice.

mod domain;
mod grpc;
pub mod migration;
mod store;

use crm_platform::{Secret, principal::PrincipalVerifier, sealed::Sealer, server::serve_grpc};
use crm_proto::webhooks::{
    event_sink_service_server::EventSinkServiceServer,
    incoming_webhooks_service_server::IncomingWebhooksServiceServer,
    trigger_service_server::TriggerServiceServer, webhooks_service_server::WebhooksServiceServer,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// svc-webhooks's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Database URL (Postgres or SQLite).
    pub database_url: String,
    /// Secret that signs principals between services.
    pub service_secret: Secret,
    /// Key that seals webhook signing secrets at rest (`CRM_DATA_KEY`).
    pub data_key: Secret,
    /// IPs and CIDRs webhooks may be sent to besides public addresses
    /// (`CRM_WEBHOOKS__ALLOW_TARGETS`, comma-separated), e.g. an internal receiver.
    pub allow_targets: Vec<String>,
    /// Delivery worker loops in this process (0 runs none: another process delivers).
    pub workers: usize,
    /// Webhook sends in flight at once in this process.
    pub max_in_flight: usize,
    /// Sends in flight at once to one subscription, so a slow receiver cannot take them all.
    pub max_in_flight_per_webhook: usize,
    /// svc-pipeline's gRPC URL, where incoming webhooks write their records
    /// (`CRM_WEBHOOKS__PIPELINE_URL`).
    pub pipeline_url: String,
    /// Largest body an incoming webhook call may carry, in bytes (413 beyond).
    pub incoming_max_body_bytes: usize,
    /// Calls an incoming webhook accepts per minute (429 beyond), counted in the database so
    /// every replica shares the count.
    pub incoming_calls_per_minute: u32,
    /// svc-auth's gRPC URL, where partner clients are looked up (`CRM_WEBHOOKS__AUTH_URL`).
    pub auth_url: String,
    /// Seconds a subscription may fail every attempt before it is disabled (5 days).
    pub disable_after_failing_secs: u64,
    /// Days stored events, attempts and finished deliveries are kept (0: forever).
    pub retention_days: u32,
    /// Seconds between retention sweeps.
    pub retention_sweep_secs: u64,
}

/// The allow-list as `CRM_WEBHOOKS__ALLOW_TARGETS` writes it: comma-separated IPs and CIDRs.
pub fn parse_allow_targets(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/webhooks.db?mode=rwc".into(),
            service_secret: Secret::default(),
            data_key: Secret::default(),
            allow_targets: Vec::new(),
            workers: 2,
            max_in_flight: 32,
            max_in_flight_per_webhook: 4,
            pipeline_url: "http://127.0.0.1:50052".into(),
            incoming_max_body_bytes: 256 * 1024,
            incoming_calls_per_minute: 60,
            auth_url: "http://127.0.0.1:50051".into(),
            disable_after_failing_secs: domain::endpoint_health::DEFAULT_DISABLE_AFTER.as_secs(),
            retention_days: 30,
            retention_sweep_secs: 3600,
        }
    }
}

/// gRPC service names svc-webhooks reports in health checks.
pub const SERVICE_NAMES: &[&str] = &[
    "crm.webhooks.v1.WebhooksService",
    "crm.webhooks.v1.EventSinkService",
    "crm.webhooks.v1.TriggerService",
    "crm.webhooks.v1.IncomingWebhooksService",
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
    config
        .data_key
        .require_strong("data_key", "CRM_DATA_KEY")
        .map_err(anyhow::Error::msg)?;
    let targets =
        domain::ssrf::TargetPolicy::new(&config.allow_targets).map_err(anyhow::Error::msg)?;
    let db = crm_platform::db::connect(&config.database_url, "webhooks").await?;
    crm_platform::db::migrate::<migration::Migrator>(&db, "webhooks").await?;
    let verifier = PrincipalVerifier::new(&config.service_secret);
    let state = domain::WebhooksState {
        db: db.clone(),
        sealer: Arc::new(Sealer::new(&config.data_key)),
        targets: Arc::new(targets),
        wake: Arc::default(),
        disable_after_failing: std::time::Duration::from_secs(config.disable_after_failing_secs),
        http: Arc::default(),
        circuits: Arc::default(),
        clients: Arc::new(
            domain::clients::ClientDirectory::new(&config.auth_url, verifier.clone()).map_err(
                |e| {
                    anyhow::anyhow!(
                        "auth_url '{}' is not a URL (CRM_WEBHOOKS__AUTH_URL): {e}",
                        config.auth_url
                    )
                },
            )?,
        ),
    };
    let sweep = tokio::spawn(
        domain::retention::run(
            db.clone(),
            domain::retention::Retention {
                days: config.retention_days,
                every: std::time::Duration::from_secs(config.retention_sweep_secs.max(1)),
            },
            shutdown.clone(),
        )
        .instrument(tracing::info_span!("webhook_retention")),
    );
    if config.incoming_max_body_bytes == 0 || config.incoming_calls_per_minute == 0 {
        anyhow::bail!(
            "incoming_max_body_bytes and incoming_calls_per_minute must be above 0 (CRM_WEBHOOKS__INCOMING_MAX_BODY_BYTES, CRM_WEBHOOKS__INCOMING_CALLS_PER_MINUTE)"
        );
    }
    let incoming = domain::incoming::IncomingState {
        webhooks: state.clone(),
        pipeline: Arc::new(
            domain::incoming::records::Pipeline::new(&config.pipeline_url, verifier.clone())
                .map_err(|e| {
                    anyhow::anyhow!(
                        "pipeline_url '{}' is not a URL (CRM_WEBHOOKS__PIPELINE_URL): {e}",
                        config.pipeline_url
                    )
                })?,
        ),
        max_body_bytes: config.incoming_max_body_bytes,
        calls_per_minute: config.incoming_calls_per_minute,
    };
    let workers = domain::dispatch::spawn(
        state.clone(),
        domain::dispatch::Limits {
            workers: config.workers,
            in_flight: config.max_in_flight,
            in_flight_per_webhook: config.max_in_flight_per_webhook,
        },
        shutdown.clone(),
    );
    let result = serve_grpc(listener, shutdown.clone(), SERVICE_NAMES, |router| {
        router
            .add_service(WebhooksServiceServer::with_interceptor(
                grpc::webhooks::WebhooksApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(TriggerServiceServer::with_interceptor(
                grpc::triggers::TriggerApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(IncomingWebhooksServiceServer::with_interceptor(
                grpc::incoming::IncomingApi {
                    state: incoming.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(EventSinkServiceServer::with_interceptor(
                grpc::sink::SinkApi {
                    db: db.clone(),
                    wake: state.wake.clone(),
                },
                verifier.interceptor(),
            ))
    })
    .await;
    // Requests are drained; stop the workers before the pool closes under them.
    shutdown.cancel();
    for worker in workers {
        worker.await.ok();
    }
    sweep.await.ok();
    db.close().await.ok();
    Ok(result?)
}
