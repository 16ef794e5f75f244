//! svc-messaging: SMS and email to contacts (seed 004), sent now or later.
//!
//! A scheduled message is a durable job row. Worker loops (in this process and any other
//! sharing the database) claim due jobs with a lease, pace each workspace's channel (SMS 50/s,
//! email 100/s by default) through counters in the database, send through the configured
//! provider (`log`, SMTP, Twilio-compatible HTTP), retry with backoff, and record the outcome
//! with a `message.sent|failed|skipped` event in the outbox, which a relay pushes to
//! svc-webhooks. Sequences queue all their messages as jobs when applied to a contact, timed
//! in the contact's zone.

mod domain;
mod error;
mod grpc;
pub mod migration;
mod store;

pub use domain::contacts::{EMAIL_OPT_OUT_TAG, SMS_OPT_OUT_TAG};
pub use domain::providers::{
    ProviderSettings,
    smtp::SmtpConfig,
    twilio::{
        TwilioConfig, signature as twilio_signature, verify_signature as verify_twilio_signature,
    },
};

use crm_platform::{
    Secret, outbox::Relay, principal::PrincipalVerifier, server::serve_grpc,
    workspaces::WorkspaceProfiles,
};
use crm_proto::messaging::{
    messaging_service_server::MessagingServiceServer,
    provider_callback_service_server::ProviderCallbackServiceServer,
    sequence_service_server::SequenceServiceServer,
};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// svc-messaging's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Database URL (Postgres or SQLite).
    pub database_url: String,
    /// Secret that signs principals between services.
    pub service_secret: Secret,
    /// gRPC URL of the event sink (svc-webhooks). Empty: events are recorded and stay queued.
    pub events_sink_url: String,
    /// gRPC URL of svc-pipeline, where contacts are checked.
    pub pipeline_url: String,
    /// gRPC URL of svc-auth, which knows each workspace's timezone. Empty: UTC for all.
    pub auth_url: String,
    /// Workers, pacing and providers (`CRM_MESSAGING__...`).
    pub messaging: MessagingSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/messaging.db?mode=rwc".into(),
            service_secret: Secret::default(),
            events_sink_url: String::new(),
            pipeline_url: "http://127.0.0.1:50052".into(),
            auth_url: "http://127.0.0.1:50051".into(),
            messaging: MessagingSettings::default(),
        }
    }
}

/// How jobs are sent: workers, leases, retries, channel limits and providers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MessagingSettings {
    /// Worker loops in this process (0 runs none: another process sends).
    pub workers: usize,
    /// Sends in flight at once in this process.
    pub max_in_flight: usize,
    /// Seconds a claim holds a job; a worker that dies frees its jobs when it runs out.
    pub lease_secs: u64,
    /// Provider attempts before a job is `failed`.
    pub max_attempts: u32,
    /// Milliseconds before the first retry; each further one doubles (±20 %, ≤ 1 h).
    pub retry_base_millis: u64,
    /// SMS jobs started per second per workspace (seed 004: 50).
    pub sms_per_second: u32,
    /// Email jobs started per second per workspace (seed 004: 100).
    pub email_per_second: u32,
    /// Which provider each channel uses.
    #[serde(flatten)]
    pub providers: ProviderSettings,
}

impl Default for MessagingSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            max_in_flight: 32,
            lease_secs: 60,
            max_attempts: 5,
            retry_base_millis: 1000,
            sms_per_second: 50,
            email_per_second: 100,
            providers: ProviderSettings::default(),
        }
    }
}

/// gRPC service names svc-messaging reports in health checks.
pub const SERVICE_NAMES: &[&str] = &[
    "crm.messaging.v1.MessagingService",
    "crm.messaging.v1.SequenceService",
    "crm.messaging.v1.ProviderCallbackService",
];

/// Runs svc-messaging on `listener` until `shutdown` fires.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config
        .service_secret
        .require_strong("service_secret", "CRM_SERVICE_SECRET")
        .map_err(anyhow::Error::msg)?;
    let settings = &config.messaging;
    if settings.sms_per_second == 0 || settings.email_per_second == 0 {
        anyhow::bail!(
            "messaging.sms_per_second and messaging.email_per_second must be at least 1 (CRM_MESSAGING__SMS_PER_SECOND, CRM_MESSAGING__EMAIL_PER_SECOND)"
        );
    }
    let providers = domain::providers::Providers::from_settings(&settings.providers)
        .map_err(anyhow::Error::msg)?;
    let verifier = PrincipalVerifier::new(&config.service_secret);
    let contacts = domain::contacts::Contacts::new(&config.pipeline_url, verifier.clone())
        .map_err(|e| {
            anyhow::anyhow!(
                "pipeline_url '{}' is not a URL ({e}): set CRM_PIPELINE_URL to svc-pipeline's gRPC address",
                config.pipeline_url
            )
        })?;
    let workspaces = WorkspaceProfiles::new(&config.auth_url, verifier.clone(), "svc-messaging")
        .map_err(|e| {
            anyhow::anyhow!(
                "auth_url '{}' is not a URL ({e}): set CRM_AUTH_URL to svc-auth's gRPC address",
                config.auth_url
            )
        })?;
    let db = crm_platform::db::connect(&config.database_url, "messaging").await?;
    crm_platform::db::migrate::<migration::Migrator>(&db, "messaging").await?;
    let relay = if config.events_sink_url.is_empty() {
        tracing::warn!("no events_sink_url: message events are recorded and stay queued");
        None
    } else {
        Some(Relay::new(
            db.clone(),
            &config.events_sink_url,
            verifier.clone(),
            "svc-messaging",
        )?)
    };
    let relay_task = relay.clone().map(|relay| {
        let stop = shutdown.child_token();
        tokio::spawn(tracing::Instrument::instrument(
            relay.run(stop),
            tracing::info_span!("outbox_relay", service = "svc-messaging"),
        ))
    });
    let state = domain::MessagingState {
        db: db.clone(),
        contacts,
        workspaces,
        twilio_callbacks: (settings.providers.sms_provider == "twilio"
            && !settings.providers.twilio.status_callback_url.is_empty())
        .then(|| domain::callbacks::TwilioCallbackAuth {
            url: settings.providers.twilio.status_callback_url.clone(),
            auth_token: settings.providers.twilio.auth_token.clone(),
        }),
        relay,
        wake: Arc::default(),
        lease: Duration::from_secs(settings.lease_secs.max(1)),
    };
    let workers = domain::worker::spawn(
        state.clone(),
        providers,
        domain::worker::WorkerSettings {
            workers: settings.workers,
            max_in_flight: settings.max_in_flight,
            lease: state.lease,
            max_attempts: settings.max_attempts.clamp(1, 100) as i32,
            retry_base: Duration::from_millis(settings.retry_base_millis),
            sms_per_second: settings.sms_per_second,
            email_per_second: settings.email_per_second,
        },
        shutdown.clone(),
    );
    let result = serve_grpc(listener, shutdown.clone(), SERVICE_NAMES, |router| {
        router
            .add_service(MessagingServiceServer::with_interceptor(
                grpc::messages::MessagingApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(SequenceServiceServer::with_interceptor(
                grpc::sequences::SequenceApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(ProviderCallbackServiceServer::with_interceptor(
                grpc::callbacks::CallbackApi { state },
                verifier.interceptor(),
            ))
    })
    .await;
    // Requests are drained; stop the workers and the relay before the pool closes under them.
    shutdown.cancel();
    for worker in workers {
        worker.await.ok();
    }
    if let Some(task) = relay_task {
        task.await.ok();
    }
    db.close().await.ok();
    Ok(result?)
}
