//! svc-pipeline: pipelines, stages, opportunities, companies, contacts and tags.
//!
//! [`serve`] runs the gRPC services on a listener it is given, with the outbox relay that
//! pushes this service's domain events to svc-webhooks.

pub mod domain;
mod grpc;
pub mod migration;
pub mod store;

use crm_platform::{Secret, outbox::Relay, principal::PrincipalVerifier, server::serve_grpc};
use crm_proto::pipeline::{
    company_service_server::CompanyServiceServer, contact_service_server::ContactServiceServer,
    opportunity_service_server::OpportunityServiceServer,
    pipeline_service_server::PipelineServiceServer, stage_service_server::StageServiceServer,
    tag_service_server::TagServiceServer,
};
use domain::PipelineState;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// svc-pipeline's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Database URL (Postgres or SQLite).
    pub database_url: String,
    /// Secret that signs principals between services.
    pub service_secret: Secret,
    /// gRPC URL of the event sink (svc-webhooks). Empty: events are recorded and stay queued.
    pub events_sink_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/pipeline.db?mode=rwc".into(),
            service_secret: Secret::default(),
            events_sink_url: String::new(),
        }
    }
}

/// gRPC service names svc-pipeline reports in health checks.
pub const SERVICE_NAMES: &[&str] = &[
    "crm.pipeline.v1.PipelineService",
    "crm.pipeline.v1.StageService",
    "crm.pipeline.v1.OpportunityService",
    "crm.pipeline.v1.CompanyService",
    "crm.pipeline.v1.ContactService",
    "crm.pipeline.v1.TagService",
];

/// Connects to the database and brings its schema up to date.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let db = crm_platform::db::connect(&config.database_url, "pipeline").await?;
    crm_platform::db::migrate::<migration::Migrator>(&db, "pipeline").await?;
    Ok(db)
}

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
    let db = connect(&config).await?;
    let verifier = PrincipalVerifier::new(&config.service_secret);
    let relay = if config.events_sink_url.is_empty() {
        tracing::warn!("no events_sink_url: domain events are recorded and stay queued");
        None
    } else {
        Some(Relay::new(
            db.clone(),
            &config.events_sink_url,
            verifier.clone(),
            "svc-pipeline",
        )?)
    };
    let relay_task = relay.clone().map(|relay| {
        let stop = shutdown.child_token();
        tokio::spawn(tracing::Instrument::instrument(
            relay.run(stop),
            tracing::info_span!("outbox_relay", service = "svc-pipeline"),
        ))
    });
    let state = PipelineState {
        db: db.clone(),
        relay,
    };
    let result = serve_grpc(listener, shutdown.clone(), SERVICE_NAMES, |router| {
        router
            .add_service(PipelineServiceServer::with_interceptor(
                grpc::pipelines::PipelineApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(StageServiceServer::with_interceptor(
                grpc::stages::StageApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(OpportunityServiceServer::with_interceptor(
                grpc::opportunities::OpportunityApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(CompanyServiceServer::with_interceptor(
                grpc::companies::CompanyApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(ContactServiceServer::with_interceptor(
                grpc::contacts::ContactApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(TagServiceServer::with_interceptor(
                grpc::tags::TagApi { state },
                verifier.interceptor(),
            ))
    })
    .await;
    if let Some(task) = relay_task {
        shutdown.cancel();
        task.await.ok();
    }
    db.close().await.ok();
    Ok(result?)
}
