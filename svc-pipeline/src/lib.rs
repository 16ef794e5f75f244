//! svc-pipeline: pipelines, stages, opportunities, companies, contacts, tags and the actions
//! run on contacts.
//!
//! [`serve`] runs the gRPC services on a listener it is given, with the outbox relay that
//! pushes this service's domain events to svc-webhooks.

pub mod domain;
mod grpc;
pub mod migration;
pub mod store;

use crm_platform::{Secret, outbox::Relay, principal::PrincipalVerifier, server::serve_grpc};
use crm_proto::pipeline::{
    action_service_server::ActionServiceServer, assignment_service_server::AssignmentServiceServer,
    calendar_service_server::CalendarServiceServer, company_service_server::CompanyServiceServer,
    contact_service_server::ContactServiceServer,
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
    /// gRPC URL of svc-auth, which says whether an `assigned_to` is a member of the
    /// workspace (`CRM_AUTH_URL`). Empty: only the value's shape is checked.
    pub auth_url: String,
    /// gRPC URL of svc-messaging, which the send_sms, send_email and apply_sequence actions
    /// call (`CRM_MESSAGING_URL`). Empty: those actions answer 503.
    pub messaging_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/pipeline.db?mode=rwc".into(),
            service_secret: Secret::default(),
            events_sink_url: String::new(),
            auth_url: String::new(),
            messaging_url: String::new(),
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
    "crm.pipeline.v1.AssignmentService",
    "crm.pipeline.v1.ActionService",
    "crm.pipeline.v1.CalendarService",
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
    let members = if config.auth_url.is_empty() {
        tracing::warn!(
            "no auth_url: an assigned_to is not checked to be a member of the workspace"
        );
        None
    } else {
        Some(std::sync::Arc::new(
            domain::assignments::MemberDirectory::new(&config.auth_url, verifier.clone())?,
        ))
    };
    let messaging = if config.messaging_url.is_empty() {
        tracing::warn!(
            "no messaging_url: the send_sms, send_email and apply_sequence actions answer 503"
        );
        None
    } else {
        Some(std::sync::Arc::new(
            domain::actions::messaging::Messaging::new(&config.messaging_url, verifier.clone())?,
        ))
    };
    // Workspace timezones for the calendar's days (UTC for every workspace without auth_url).
    let profiles = crm_platform::workspaces::WorkspaceProfiles::new(
        &config.auth_url,
        verifier.clone(),
        "svc-pipeline",
    )?;
    let state = PipelineState {
        db: db.clone(),
        relay,
        members,
        messaging,
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
                grpc::tags::TagApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(AssignmentServiceServer::with_interceptor(
                grpc::assignments::AssignmentApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(CalendarServiceServer::with_interceptor(
                grpc::calendar::CalendarApi {
                    state: state.clone(),
                    profiles,
                },
                verifier.interceptor(),
            ))
            .add_service(ActionServiceServer::with_interceptor(
                grpc::actions::ActionApi { state },
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
