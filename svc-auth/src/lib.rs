//! svc-auth: users, workspaces, memberships, JWT sessions and API keys.
//!
//! [`serve`] runs the gRPC services on a listener it is given; `main.rs` only reads the
//! environment, binds and calls it, and the launcher and tests call it in-process.

pub mod domain;
mod grpc;
pub mod migration;
pub mod store;

use crm_platform::{
    Secret, bus::Bus, jwt::JwtKeys, principal::PrincipalVerifier, quota_view::QuotaView,
    server::serve_grpc,
};
use crm_proto::auth::{
    api_client_service_server::ApiClientServiceServer, api_key_service_server::ApiKeyServiceServer,
    auth_service_server::AuthServiceServer,
    key_validation_service_server::KeyValidationServiceServer,
    workspace_service_server::WorkspaceServiceServer,
};
use domain::AuthState;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// svc-auth's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Database URL (Postgres or SQLite).
    pub database_url: String,
    /// HS256 secret for the tokens svc-auth mints; shared with the gateway.
    pub jwt_secret: Secret,
    /// `iss` of minted tokens.
    pub jwt_issuer: String,
    /// `aud` of minted tokens.
    pub jwt_audience: String,
    /// Lifetime of minted tokens.
    pub token_ttl_secs: i64,
    /// Secret that signs principals between services.
    pub service_secret: Secret,
    /// Key that encrypts stored secrets we must read back (`CRM_DATA_KEY`); changing it makes
    /// them unreadable.
    pub data_key: Secret,
    /// Email of the owner created on first start; empty to skip the bootstrap.
    pub bootstrap_owner_email: String,
    /// Account policy (`CRM_AUTH__SIGNUP`).
    pub auth: AccountPolicy,
    /// Ceilings on keys' rate limits and on keys per user (`CRM_KEY_LIMITS__*`).
    pub key_limits: domain::key_policy::KeyLimits,
    /// gRPC URL of svc-pipeline, which counts the agents' assignments (`CRM_PIPELINE_URL`).
    /// Empty: every `active_assignments` is 0.
    pub pipeline_url: String,
    /// gRPC URL of svc-metrics, which holds the request log (`CRM_METRICS_URL`): a client's
    /// usage on its dashboard. Empty: dashboards show no usage.
    pub metrics_url: String,
}

/// Who may create accounts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountPolicy {
    /// `open` (anyone registers) or `invite_only` (the default: accounts come from
    /// invitations).
    pub signup: domain::session::SignupMode,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/auth.db?mode=rwc".into(),
            jwt_secret: Secret::default(),
            jwt_issuer: "crm".into(),
            jwt_audience: "crm-api".into(),
            token_ttl_secs: 3600,
            service_secret: Secret::default(),
            data_key: Secret::default(),
            bootstrap_owner_email: "owner@example.com".into(),
            auth: AccountPolicy::default(),
            key_limits: domain::key_policy::KeyLimits::default(),
            pipeline_url: String::new(),
            metrics_url: String::new(),
        }
    }
}

impl Config {
    /// Fails fast on settings the service cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        self.jwt_secret
            .require_strong("jwt_secret", "CRM_JWT_SECRET")?;
        self.service_secret
            .require_strong("service_secret", "CRM_SERVICE_SECRET")?;
        self.data_key.require_strong("data_key", "CRM_DATA_KEY")?;
        if self.token_ttl_secs <= 0 {
            return Err("token_ttl_secs must be positive".into());
        }
        self.key_limits.validate()
    }
}

/// gRPC service names svc-auth reports in health checks.
pub const SERVICE_NAMES: &[&str] = &[
    "crm.auth.v1.AuthService",
    "crm.auth.v1.ApiKeyService",
    "crm.auth.v1.ApiClientService",
    "crm.auth.v1.WorkspaceService",
    "crm.auth.v1.KeyValidationService",
];

/// Connects to the database and brings its schema up to date.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let db = crm_platform::db::connect(&config.database_url, "auth").await?;
    crm_platform::db::migrate::<migration::Migrator>(&db, "auth").await?;
    Ok(db)
}

/// Runs svc-auth on `listener` until `shutdown` fires. Key changes are announced on `bus`;
/// client dashboards show the gateways' buckets through `quota`.
pub async fn serve(
    config: Config,
    bus: Bus,
    quota: QuotaView,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let db = connect(&config).await?;
    if !config.bootstrap_owner_email.is_empty()
        && let Some(owner) =
            domain::provision::bootstrap_if_empty(&db, &config.bootstrap_owner_email).await?
    {
        // Printed, not logged: this is the only time the password exists in clear.
        println!(
            "\n  First start: created workspace {} with owner\n    email:    {}\n    password: {}\n  This password is shown once. Log in with POST /api/auth/login.\n",
            owner.workspace_id, owner.email, owner.password
        );
    }
    let verifier = PrincipalVerifier::new(&config.service_secret);
    let assignments = if config.pipeline_url.is_empty() {
        tracing::warn!("no pipeline_url: every agent's active_assignments reads 0");
        None
    } else {
        Some(std::sync::Arc::new(
            domain::assignment_counts::AssignmentCounts::new(
                &config.pipeline_url,
                verifier.clone(),
            )?,
        ))
    };
    let state = AuthState {
        db: db.clone(),
        usage: domain::usage::UsageReader::new(&config.metrics_url, verifier.clone())?,
        jwt: JwtKeys::hs256(&config.jwt_secret, &config.jwt_issuer, &config.jwt_audience),
        bus,
        token_ttl_secs: config.token_ttl_secs,
        sealer: std::sync::Arc::new(crm_platform::sealed::Sealer::new(&config.data_key)),
        quota,
        signup: config.auth.signup,
        key_limits: config.key_limits,
        assignments,
        activity: std::sync::Arc::default(),
    };
    let result = serve_grpc(listener, shutdown, SERVICE_NAMES, |router| {
        router
            .add_service(AuthServiceServer::with_interceptor(
                grpc::auth::AuthApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(ApiKeyServiceServer::with_interceptor(
                grpc::api_keys::ApiKeyApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(ApiClientServiceServer::with_interceptor(
                grpc::api_clients::ApiClientApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(WorkspaceServiceServer::with_interceptor(
                grpc::workspaces::WorkspaceApi {
                    state: state.clone(),
                },
                verifier.interceptor(),
            ))
            .add_service(KeyValidationServiceServer::with_interceptor(
                grpc::validation::KeyValidationApi { state },
                verifier.interceptor(),
            ))
    })
    .await;
    db.close().await.ok();
    Ok(result?)
}
