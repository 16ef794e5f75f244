//! The gateway: one port for REST (transcoded from the proto http rules), gRPC and gRPC-web,
//! plus `/healthz`, `/readyz` and `/openapi.json`. Every request is authenticated and
//! authorized here and reaches a service with a signed principal.

pub mod admission;
pub mod auth;
pub mod backends;
pub mod client_ip;
pub mod error;
pub mod openapi;
pub mod ops;
pub mod proxy;
pub mod ratelimit;
pub mod redis_link;
pub mod router;
pub mod state;
pub mod transcode;
pub mod usage;

use auth::{
    Gatekeeper,
    jwt::{ExternalIssuer, JwtVerifier},
    key_cache::{CacheTtl, KeyResolver},
};
use crm_platform::{
    Secret,
    bus::{Bus, FLUSH_ALL},
    jwt::JwtKeys,
    principal::PrincipalVerifier,
    quota_view::QuotaView,
};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The gateway's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Backend gRPC URLs by name: `auth`, `pipeline`, `metrics`, `webhooks`, `messaging`.
    pub backends: BTreeMap<String, String>,
    /// HS256 secret of svc-auth's tokens.
    pub jwt_secret: Secret,
    /// Required `iss` of our tokens.
    pub jwt_issuer: String,
    /// Required `aud` of our tokens.
    pub jwt_audience: String,
    /// An external token issuer, if any.
    pub external_jwt: ExternalIssuer,
    /// Secret that signs principals for the services.
    pub service_secret: Secret,
    /// Redis URL; empty for in-process caching only.
    pub redis_url: String,
    /// Prefix of every Redis key (and of the invalidation channel).
    pub redis_prefix: String,
    /// How long a known key stays in the in-process cache.
    pub key_cache_ttl_secs: u64,
    /// How long an unknown key stays cached as unknown.
    pub negative_cache_ttl_secs: u64,
    /// Largest accepted REST body.
    pub max_body_bytes: usize,
    /// How often key usage is reported to svc-auth.
    pub usage_flush_millis: u64,
    /// Rate limits (`CRM_RATE_LIMITS__ENABLED=false` switches them off).
    pub rate_limits: ratelimit::policy::RateLimitConfig,
    /// Addresses or CIDR ranges of our own proxies, whose `X-Forwarded-For` is believed
    /// (`CRM_TRUSTED_PROXIES=["10.0.0.0/8"]`). Empty: the socket peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Request log of API-key calls (`CRM_REQUEST_LOG__ENABLED=false` switches it off).
    pub request_log: usage::request_log::RequestLogConfig,
}

impl Default for Config {
    fn default() -> Self {
        let backends = [
            ("auth", "http://127.0.0.1:50051"),
            ("pipeline", "http://127.0.0.1:50052"),
            ("metrics", "http://127.0.0.1:50053"),
            ("webhooks", "http://127.0.0.1:50054"),
            ("messaging", "http://127.0.0.1:50055"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self {
            backends,
            jwt_secret: Secret::default(),
            jwt_issuer: "crm".into(),
            jwt_audience: "crm-api".into(),
            external_jwt: ExternalIssuer {
                audience: "authenticated".into(),
                ..Default::default()
            },
            service_secret: Secret::default(),
            redis_url: String::new(),
            redis_prefix: "crm:".into(),
            key_cache_ttl_secs: 60,
            negative_cache_ttl_secs: 5,
            max_body_bytes: 1 << 20,
            usage_flush_millis: 2000,
            rate_limits: ratelimit::policy::RateLimitConfig::default(),
            trusted_proxies: Vec::new(),
            request_log: usage::request_log::RequestLogConfig::default(),
        }
    }
}

pub use crm_platform::bus::invalidation_channel;

/// Runs the gateway on `listener` until `shutdown` fires. `bus` carries key invalidations
/// from svc-auth.
pub async fn serve(
    config: Config,
    bus: Bus,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_with_view(config, bus, QuotaView::in_process(), listener, shutdown).await
}

/// As [`serve`], and lets `view` read this gateway's in-process buckets (the embedded stack,
/// where svc-auth shows a client's admission state).
pub async fn serve_with_view(
    config: Config,
    bus: Bus,
    view: QuotaView,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    for (secret, setting, env) in [
        (&config.jwt_secret, "jwt_secret", "CRM_JWT_SECRET"),
        (
            &config.service_secret,
            "service_secret",
            "CRM_SERVICE_SECRET",
        ),
    ] {
        secret
            .require_strong(setting, env)
            .map_err(anyhow::Error::msg)?;
    }
    let trusted_proxies =
        client_ip::TrustedProxies::parse(&config.trusted_proxies).map_err(anyhow::Error::msg)?;
    let (table, _pool) =
        transcode::table::RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET)?;
    let backends = backends::Backends::new(&config.backends.clone().into_iter().collect())
        .map_err(anyhow::Error::msg)?;
    let auth_channel = backends
        .get("auth")
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let signer = PrincipalVerifier::new(&config.service_secret);
    let redis = if config.redis_url.is_empty() {
        None
    } else {
        Some(redis_link::RedisLink::new(
            &config.redis_url,
            &config.redis_prefix,
        )?)
    };
    let keys = KeyResolver::new(
        auth_channel.clone(),
        redis.clone(),
        signer.clone(),
        CacheTtl {
            positive: Duration::from_secs(config.key_cache_ttl_secs),
            negative: Duration::from_secs(config.negative_cache_ttl_secs),
        },
    );
    let jwt = JwtVerifier::new(
        JwtKeys::hs256(&config.jwt_secret, &config.jwt_issuer, &config.jwt_audience),
        config.external_jwt.clone(),
        auth_channel.clone(),
        signer.clone(),
    );
    jwt.spawn_jwks_refresh(shutdown.clone());
    spawn_invalidation(bus, keys.clone(), shutdown.clone());
    let request_log = usage::request_log::RequestLogger::new(&config.request_log);
    request_log.spawn_flusher(
        auth_channel.clone(),
        signer.clone(),
        Duration::from_millis(config.usage_flush_millis),
        shutdown.clone(),
    );
    let usage = usage::KeyUsageRecorder::default();
    usage.spawn_flusher(
        auth_channel,
        signer.clone(),
        Duration::from_millis(config.usage_flush_millis),
        shutdown.clone(),
    );
    let limiter =
        ratelimit::Limiter::new(config.rate_limits.clone(), redis.clone(), shutdown.clone());
    limiter.spawn_pruning(shutdown.clone());
    view.attach_local(limiter.local_buckets());
    let openapi = serde_json::to_vec(&openapi::document(&table))?.into();
    let state = Arc::new(state::GatewayState {
        table,
        gatekeeper: Gatekeeper { keys, jwt },
        backends,
        signer,
        usage,
        redis,
        openapi,
        max_body_bytes: config.max_body_bytes,
        limiter,
        trusted_proxies,
        request_log,
    });
    let app = router::build(state);
    // The peer address is needed for IP allowlists and per-address limits. TCP_NODELAY, so
    // a response is not held back waiting for the client's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    Ok(())
}

fn spawn_invalidation(bus: Bus, keys: KeyResolver, shutdown: CancellationToken) {
    let mut messages = bus.subscribe();
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => return,
                m = messages.recv() => m,
            };
            match message {
                Ok(m) if m == FLUSH_ALL => keys.invalidate_all(),
                Ok(m) => {
                    if let Some(hash) = m.strip_prefix("key:") {
                        keys.invalidate(hash).await;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => keys.invalidate_all(),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}
