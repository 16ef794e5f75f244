//! The all-in-one stack: svc-auth, svc-pipeline, svc-metrics, svc-webhooks, svc-messaging and
//! the gateway in one process, composed from the same `serve` functions the separate binaries
//! use. SQLite files and in-process caches when `DATABASE_URL` / `REDIS_URL` are unset;
//! Postgres (one schema per service) and Redis when they are set.

pub mod preflight;

use anyhow::Context;
use crm_platform::{Secret, bus::Bus, db::service_url, quota_view::QuotaView};
use std::{net::SocketAddr, path::PathBuf, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// How to run the stack.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Where the gateway listens.
    pub gateway_addr: String,
    /// Postgres URL, or `None` for SQLite files in `data_dir`.
    pub database_url: Option<String>,
    /// Directory for SQLite files (and generated secrets).
    pub data_dir: PathBuf,
    /// Redis URL, or `None` for in-process caching.
    pub redis_url: Option<String>,
    /// Prefix of Redis keys and channels.
    pub redis_prefix: String,
    /// Token signing secret.
    pub jwt_secret: Secret,
    /// Principal signing secret.
    pub service_secret: Secret,
    /// svc-auth's and svc-webhooks' key for stored secrets they must read back.
    pub data_key: Secret,
    /// IPs and CIDRs webhooks may be sent to besides public addresses
    /// (`CRM_WEBHOOKS__ALLOW_TARGETS`, comma-separated).
    pub webhooks_allow_targets: Vec<String>,
    /// Days svc-webhooks keeps stored events, attempts and finished deliveries
    /// (`CRM_WEBHOOKS__RETENTION_DAYS`, default 30; 0 keeps them forever).
    pub webhooks_retention_days: u32,
    /// svc-messaging's workers, channel limits and providers (`CRM_MESSAGING__...`, e.g.
    /// `CRM_MESSAGING__EMAIL_PROVIDER=smtp`); the defaults send through the `log` provider.
    pub messaging: svc_messaging::MessagingSettings,
    /// Owner email for the first-start bootstrap; empty to skip it.
    pub bootstrap_owner_email: String,
    /// Gateway settings beyond addresses and secrets (cache TTLs, external issuer...).
    pub gateway: crm_gateway::Config,
    /// Days svc-metrics keeps request-log rows (`CRM_REQUEST_LOG_RETENTION_DAYS`, 0 = forever).
    pub request_log_retention_days: u32,
    /// How often svc-metrics prunes request-log rows past the retention.
    pub request_log_prune_every_secs: u64,
    /// Who may sign up (`CRM_AUTH__SIGNUP`: `open` or `invite_only`, the default).
    pub signup: svc_auth::domain::session::SignupMode,
    /// Ceilings on keys' rate limits and keys per user (`CRM_KEY_LIMITS__MAX_PER_MINUTE`,
    /// `__MAX_PER_HOUR`, `__MAX_KEYS_PER_USER`).
    pub key_limits: svc_auth::domain::key_policy::KeyLimits,
}

impl StackConfig {
    /// Settings from the environment, with defaults that run on a bare machine.
    pub fn from_env() -> anyhow::Result<Self> {
        use crm_platform::config::env_nonempty;
        let data_dir = PathBuf::from(env_nonempty("CRM_DATA_DIR").unwrap_or_else(|| "data".into()));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let gateway: crm_gateway::Config = crm_platform::config::load().map_err(|e| {
            anyhow::anyhow!(
                "a CRM_ setting (or the file CRM_CONFIG names) could not be read: {e}. Fix or unset it; the README lists the settings"
            )
        })?;
        // svc-auth's settings as its own binary reads them; the stack takes the key limits.
        let auth: svc_auth::Config = crm_platform::config::load().map_err(|e| {
            anyhow::anyhow!(
                "a CRM_ setting could not be read: {e}. Fix or unset it; the README lists the settings"
            )
        })?;
        Ok(Self {
            key_limits: auth.key_limits,
            gateway_addr: env_nonempty("CRM_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into()),
            database_url: env_nonempty("DATABASE_URL"),
            redis_url: env_nonempty("REDIS_URL"),
            redis_prefix: env_nonempty("CRM_REDIS_PREFIX").unwrap_or_else(|| "crm:".into()),
            jwt_secret: secret_from_env_or_file("CRM_JWT_SECRET", &data_dir.join("jwt.secret"))?,
            service_secret: secret_from_env_or_file(
                "CRM_SERVICE_SECRET",
                &data_dir.join("service.secret"),
            )?,
            data_key: secret_from_env_or_file("CRM_DATA_KEY", &data_dir.join("data.key"))?,
            bootstrap_owner_email: env_nonempty("CRM_BOOTSTRAP_OWNER_EMAIL")
                .unwrap_or_else(|| "owner@example.com".into()),
            data_dir,
            gateway,
            request_log_retention_days: env_nonempty("CRM_REQUEST_LOG_RETENTION_DAYS")
                .map(|v| {
                    v.parse()
                        .context("CRM_REQUEST_LOG_RETENTION_DAYS must be a number of days")
                })
                .transpose()?
                .unwrap_or(30),
            request_log_prune_every_secs: 3600,
            webhooks_allow_targets: env_nonempty("CRM_WEBHOOKS__ALLOW_TARGETS")
                .map(|raw| svc_webhooks::parse_allow_targets(&raw))
                .unwrap_or_default(),
            webhooks_retention_days: env_nonempty("CRM_WEBHOOKS__RETENTION_DAYS")
                .map(|v| {
                    v.parse().context(
                        "CRM_WEBHOOKS__RETENTION_DAYS must be a whole number of days (0 keeps everything)",
                    )
                })
                .transpose()?
                .unwrap_or(30),
            messaging: crm_platform::config::load::<svc_messaging::Config>()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "a CRM_MESSAGING__ setting could not be read: {e}. Fix or unset it; the README lists the settings"
                    )
                })?
                .messaging,
            signup: match env_nonempty("CRM_AUTH__SIGNUP").as_deref() {
                None | Some("invite_only") => svc_auth::domain::session::SignupMode::InviteOnly,
                Some("open") => svc_auth::domain::session::SignupMode::Open,
                Some(other) => anyhow::bail!(
                    "CRM_AUTH__SIGNUP is '{other}': set it to 'open' (anyone may register) or 'invite_only' (the default)"
                ),
            },
        })
    }
}

/// A secret from the environment, else one generated on first start and kept in `path`
/// (readable by the owner only) so tokens survive restarts of the embedded stack.
fn secret_from_env_or_file(var: &str, path: &std::path::Path) -> anyhow::Result<Secret> {
    if let Some(v) = crm_platform::config::env_nonempty(var) {
        return Ok(Secret::new(v));
    }
    if let Ok(existing) = std::fs::read_to_string(path)
        && existing.trim().len() >= 32
    {
        return Ok(Secret::new(existing.trim()));
    }
    let fresh = random_secret();
    std::fs::write(path, &fresh).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(Secret::new(fresh))
}

/// 256 random bits, hex.
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A running stack.
pub struct Stack {
    /// The gateway's address.
    pub gateway_addr: SocketAddr,
    /// svc-auth's gRPC address (for internal callers and tests).
    pub auth_addr: SocketAddr,
    /// svc-metrics's gRPC address (for internal callers and tests).
    pub metrics_addr: SocketAddr,
    /// svc-auth's database URL.
    pub auth_database_url: String,
    /// Stops everything.
    pub shutdown: CancellationToken,
    config: StackConfig,
    local_bus: Bus,
    /// Handed to the first gateway, whose in-process buckets svc-auth then reads.
    quota_view: Option<QuotaView>,
    backends: std::collections::BTreeMap<String, String>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

/// Spawns one component; its error, if it stops with one, names it.
fn spawn_named(
    name: &'static str,
    component: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
) -> JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move { component.await.with_context(|| format!("{name} stopped")) })
}

/// A bus for one component: Redis pub/sub when configured, else the shared in-process one.
fn bus_for(config: &StackConfig, local: &Bus, shutdown: &CancellationToken) -> anyhow::Result<Bus> {
    Ok(match &config.redis_url {
        Some(url) => Bus::redis(
            redis_client(url)?,
            crm_gateway::invalidation_channel(&config.redis_prefix),
            shutdown.clone(),
        ),
        None => local.clone(),
    })
}

fn redis_client(url: &str) -> anyhow::Result<redis::Client> {
    redis::Client::open(url).map_err(|e| {
        anyhow::anyhow!(
            "REDIS_URL is '{}', which is not a Redis URL ({e}): use redis://host:6379/0, or unset it",
            preflight::redact(url)
        )
    })
}

async fn bind_local() -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

impl Stack {
    /// Starts every service and the gateway; returns once the gateway reports ready. A
    /// failure names the setting or resource at fault and what to do, and stops whatever
    /// had started.
    pub async fn start(config: StackConfig) -> anyhow::Result<Self> {
        preflight::check_settings(&config)?;
        preflight::check_database(&config).await?;
        preflight::warn_if_redis_unreachable(&config).await;
        // Bound before any service starts, so a port in use costs nothing to report.
        let gateway_listener = TcpListener::bind(&config.gateway_addr)
            .await
            .map_err(|e| preflight::explain_bind(&config.gateway_addr, &e))?;
        let shutdown = CancellationToken::new();
        let local_bus = Bus::in_process();
        let mut tasks = Vec::new();
        let mut backends = std::collections::BTreeMap::new();

        let (listener, auth_addr) = bind_local().await?;
        // svc-auth counts agents' assignments in svc-pipeline, and svc-webhooks's incoming
        // hooks write there: bind it now so its address is known (it starts further down).
        let (pipeline_listener, pipeline_addr) = bind_local().await?;
        // svc-pipeline's actions queue messages in svc-messaging, which checks contacts in
        // svc-pipeline: both connect lazily, so binding both now breaks the circle.
        let (messaging_listener, messaging_addr) = bind_local().await?;
        // svc-auth reads clients' usage from svc-metrics, which asks svc-auth for workspace
        // settings: both connect lazily.
        let (metrics_listener, metrics_addr) = bind_local().await?;
        let auth_database_url =
            service_url(config.database_url.as_deref(), &config.data_dir, "auth");
        let auth_config = svc_auth::Config {
            database_url: auth_database_url.clone(),
            jwt_secret: config.jwt_secret.clone(),
            jwt_issuer: config.gateway.jwt_issuer.clone(),
            jwt_audience: config.gateway.jwt_audience.clone(),
            service_secret: config.service_secret.clone(),
            data_key: config.data_key.clone(),
            bootstrap_owner_email: config.bootstrap_owner_email.clone(),
            auth: svc_auth::AccountPolicy {
                signup: config.signup,
            },
            key_limits: config.key_limits,
            pipeline_url: format!("http://{pipeline_addr}"),
            metrics_url: format!("http://{metrics_addr}"),
            ..Default::default()
        };
        let bus = bus_for(&config, &local_bus, &shutdown)?;
        let quota_view = match &config.redis_url {
            Some(url) => QuotaView::redis(redis_client(url)?, &config.redis_prefix),
            None => QuotaView::in_process(),
        };
        tasks.push(spawn_named(
            "svc-auth",
            svc_auth::serve(
                auth_config,
                bus,
                quota_view.clone(),
                listener,
                shutdown.clone(),
            ),
        ));
        backends.insert("auth".to_owned(), format!("http://{auth_addr}"));

        let secret = config.service_secret.clone();
        // svc-webhooks first: svc-pipeline's outbox relay delivers to it.
        let (listener, webhooks_addr) = bind_local().await?;
        let webhooks_config = svc_webhooks::Config {
            database_url: service_url(config.database_url.as_deref(), &config.data_dir, "webhooks"),
            service_secret: secret.clone(),
            data_key: config.data_key.clone(),
            allow_targets: config.webhooks_allow_targets.clone(),
            pipeline_url: format!("http://{pipeline_addr}"),
            auth_url: format!("http://{auth_addr}"),
            retention_days: config.webhooks_retention_days,
            // Delivery workers and their caps keep svc-webhooks's defaults.
            ..svc_webhooks::Config::default()
        };
        tasks.push(spawn_named(
            "svc-webhooks",
            svc_webhooks::serve(webhooks_config, listener, shutdown.clone()),
        ));
        backends.insert("webhooks".to_owned(), format!("http://{webhooks_addr}"));

        let pipeline_config = svc_pipeline::Config {
            database_url: service_url(config.database_url.as_deref(), &config.data_dir, "pipeline"),
            service_secret: secret.clone(),
            events_sink_url: format!("http://{webhooks_addr}"),
            auth_url: format!("http://{auth_addr}"),
            messaging_url: format!("http://{messaging_addr}"),
        };
        tasks.push(spawn_named(
            "svc-pipeline",
            svc_pipeline::serve(pipeline_config, pipeline_listener, shutdown.clone()),
        ));
        backends.insert("pipeline".to_owned(), format!("http://{pipeline_addr}"));

        // svc-metrics keeps the request log in its own database, reads svc-pipeline's tables
        // (read-only, connecting lazily, so it may start before they exist) and asks svc-auth
        // for workspaces' timezones and the keys callers may see.
        let metrics_config = svc_metrics::Config {
            database_url: service_url(config.database_url.as_deref(), &config.data_dir, "metrics"),
            request_log_retention_days: config.request_log_retention_days,
            request_log_prune_every_secs: config.request_log_prune_every_secs,
            service_secret: secret.clone(),
            pipeline_database_url: service_url(
                config.database_url.as_deref(),
                &config.data_dir,
                "pipeline",
            ),
            auth_url: format!("http://{auth_addr}"),
        };
        tasks.push(spawn_named(
            "svc-metrics",
            svc_metrics::serve(metrics_config, metrics_listener, shutdown.clone()),
        ));
        backends.insert("metrics".to_owned(), format!("http://{metrics_addr}"));
        // svc-messaging after svc-pipeline (it checks contacts there) and svc-webhooks (its
        // outbox relay delivers there).
        let messaging_config = svc_messaging::Config {
            database_url: service_url(
                config.database_url.as_deref(),
                &config.data_dir,
                "messaging",
            ),
            service_secret: secret.clone(),
            events_sink_url: format!("http://{webhooks_addr}"),
            pipeline_url: format!("http://{pipeline_addr}"),
            auth_url: format!("http://{auth_addr}"),
            messaging: config.messaging.clone(),
        };
        tasks.push(spawn_named(
            "svc-messaging",
            svc_messaging::serve(messaging_config, messaging_listener, shutdown.clone()),
        ));
        backends.insert("messaging".to_owned(), format!("http://{messaging_addr}"));

        let mut stack = Self {
            gateway_addr: "127.0.0.1:0".parse()?,
            auth_addr,
            metrics_addr,
            auth_database_url,
            shutdown,
            backends,
            tasks,
            config,
            local_bus,
            quota_view: Some(quota_view),
        };
        let ready = async {
            stack.gateway_addr = stack.spawn_gateway(gateway_listener)?;
            stack.wait_ready(stack.gateway_addr).await
        }
        .await;
        match ready {
            Ok(()) => Ok(stack),
            Err(e) => {
                stack.stop().await;
                Err(e)
            }
        }
    }

    fn spawn_gateway(&mut self, listener: TcpListener) -> anyhow::Result<SocketAddr> {
        let addr = listener.local_addr()?;
        let mut gw = self.config.gateway.clone();
        gw.backends = self.backends.clone();
        gw.jwt_secret = self.config.jwt_secret.clone();
        gw.service_secret = self.config.service_secret.clone();
        gw.redis_url = self.config.redis_url.clone().unwrap_or_default();
        gw.redis_prefix = self.config.redis_prefix.clone();
        let bus = bus_for(&self.config, &self.local_bus, &self.shutdown)?;
        // Extra gateways limit on their own while Redis is away; svc-auth reads the first.
        let view = self.quota_view.take().unwrap_or_default();
        self.tasks.push(spawn_named(
            "gateway",
            crm_gateway::serve_with_view(gw, bus, view, listener, self.shutdown.clone()),
        ));
        Ok(addr)
    }

    /// Starts one more gateway on an ephemeral port with its own caches, sharing the
    /// backends and the invalidation bus (Redis pub/sub, or in-process without Redis).
    pub async fn start_extra_gateway(&mut self) -> anyhow::Result<SocketAddr> {
        let (listener, _) = bind_local().await?;
        let addr = self.spawn_gateway(listener)?;
        self.wait_ready(addr).await?;
        Ok(addr)
    }

    /// Waits until the gateway at `addr` reports ready. A component that stops meanwhile
    /// fails the start with its own error (its message names the setting at fault).
    async fn wait_ready(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/readyz");
        let mut last_answer = String::from("no answer");
        for _ in 0..300 {
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last_answer = r.text().await.unwrap_or_default(),
                Err(e) => last_answer = e.to_string(),
            }
            if let Some(i) = self.tasks.iter().position(JoinHandle::is_finished) {
                let stopped = self.tasks.swap_remove(i);
                return Err(match stopped.await {
                    Ok(Err(e)) => e.context("the stack could not start"),
                    Ok(Ok(())) => anyhow::anyhow!(
                        "the stack could not start: a component stopped without an error during start-up"
                    ),
                    Err(panic) => anyhow::anyhow!(
                        "the stack could not start: a component panicked during start-up ({panic}); this is a bug, please report it with the log"
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "the stack did not become ready within 30 s; {url} last answered: {last_answer}"
        )
    }

    /// Stops everything and waits for it (with a grace timeout).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }

    /// The backend gRPC URLs by service name.
    pub fn backend_urls(&self) -> &std::collections::BTreeMap<String, String> {
        &self.backends
    }

    /// Waits until shutdown is requested, then stops.
    pub async fn run_until_shutdown(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }
}
