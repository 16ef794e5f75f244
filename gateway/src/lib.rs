//! The gateway: one port for REST (transcoded from the proto http rules), gRPC and gRPC-web,
//! plus `/healthz`, `/readyz` and `/openapi.json`. Every request is authenticated and
//! authorized here and reaches a service with a signed principal.

pub mod admission;
pub mod auth;
pub mod backends;
pub mod client_ip;
pub mod error;
pub mod idempotency;
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
    invalidation::Invalidation,
    jwt::{ExternalIssuer, JwtVerifier},
    key_cache::{CacheTtl, KeyResolver},
    membership::MembershipCache,
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
use tokio::{
    net::{TcpListener, TcpStream},
    sync::broadcast::{self, error::RecvError},
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

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
    /// How long a user's workspace membership (role, token version) stays cached. Changes
    /// arrive on the bus and drop entries at once; this bounds only what a lost message
    /// costs. While Redis is configured and down, entries are rechecked after a second.
    pub membership_cache_ttl_secs: u64,
    /// Largest accepted REST body.
    pub max_body_bytes: usize,
    /// How often the request log is sent to svc-metrics, and keys' use to svc-auth.
    pub usage_flush_millis: u64,
    /// Rate limits (`CRM_RATE_LIMITS__ENABLED=false` switches them off).
    pub rate_limits: ratelimit::policy::RateLimitConfig,
    /// Addresses or CIDR ranges of our own proxies, whose `X-Forwarded-For` is believed
    /// (`CRM_TRUSTED_PROXIES=["10.0.0.0/8"]`). Empty: the socket peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Request log of API-key calls (`CRM_REQUEST_LOG__ENABLED=false` switches it off).
    pub request_log: usage::request_log::RequestLogConfig,
    /// Origins browsers may call from (`CRM_CORS_ORIGINS`, comma-separated); empty or `*`
    /// for any (see [`router::cors_layer`] for why that is the default).
    pub cors_origins: String,
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
            membership_cache_ttl_secs: 300,
            max_body_bytes: 1 << 20,
            usage_flush_millis: 2000,
            rate_limits: ratelimit::policy::RateLimitConfig::default(),
            trusted_proxies: Vec::new(),
            request_log: usage::request_log::RequestLogConfig::default(),
            cors_origins: String::new(),
        }
    }
}

pub use crm_platform::bus::invalidation_channel;

/// Runs the gateway on `listener` until `shutdown` fires. `bus` carries key and membership
/// invalidations from svc-auth.
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
    config.external_jwt.check().map_err(anyhow::Error::msg)?;
    let cors = router::cors_layer(&config.cors_origins).map_err(anyhow::Error::msg)?;
    let trusted_proxies =
        client_ip::TrustedProxies::parse(&config.trusted_proxies).map_err(anyhow::Error::msg)?;
    let (table, pool) =
        transcode::table::RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET)?;
    let backends = backends::Backends::new(&config.backends.clone().into_iter().collect())
        .map_err(anyhow::Error::msg)?;
    let local = proxy::local::LocalServices::new(&table, &pool, &backends, shutdown.clone())?;
    let auth_channel = backends
        .get("auth")
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let metrics_channel = backends
        .get("metrics")
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
        Duration::from_secs(config.membership_cache_ttl_secs),
        redis.clone(),
    );
    jwt.spawn_jwks_refresh(shutdown.clone());
    spawn_invalidation(&bus, keys.clone(), jwt.memberships().clone(), &shutdown);
    let request_log = usage::request_log::RequestLogger::new(&config.request_log);
    request_log.spawn_flusher(
        metrics_channel,
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
    let idempotency = idempotency::IdempotencyStore::new(redis.clone());
    let state = Arc::new(state::GatewayState {
        table,
        gatekeeper: Gatekeeper { keys, jwt },
        backends,
        signer,
        redis,
        openapi,
        max_body_bytes: config.max_body_bytes,
        limiter,
        trusted_proxies,
        request_log,
        local,
        idempotency,
    });
    let app = router::build(state, cors);
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

/// Applies svc-auth's bus messages to the caches. Keys and memberships each have their own
/// subscriber: dropping a key also deletes its Redis copy, a round trip that can take a
/// while when Redis is slow, and must not hold back a role change or removal.
fn spawn_invalidation(
    bus: &Bus,
    keys: KeyResolver,
    memberships: MembershipCache,
    shutdown: &CancellationToken,
) {
    let (mut messages, stop) = (bus.subscribe(), shutdown.clone());
    tokio::spawn(
        async move {
            while let Some(message) = next_message(&mut messages, &stop).await {
                match Invalidation::parse(&message) {
                    Some(Invalidation::Key(hash)) => keys.invalidate(hash).await,
                    Some(Invalidation::All) => keys.invalidate_all(),
                    _ => {}
                }
            }
        }
        .instrument(tracing::info_span!("key_invalidation")),
    );
    let (mut messages, stop) = (bus.subscribe(), shutdown.clone());
    tokio::spawn(
        async move {
            while let Some(message) = next_message(&mut messages, &stop).await {
                match Invalidation::parse(&message) {
                    Some(Invalidation::Member {
                        workspace_id,
                        user_id,
                    }) => memberships.forget_member(workspace_id, user_id),
                    Some(Invalidation::User(user_id)) => memberships.forget_user(user_id),
                    Some(Invalidation::All) => memberships.forget_all(),
                    _ => {}
                }
            }
        }
        .instrument(tracing::info_span!("membership_invalidation")),
    );
}

/// The next bus message; [`FLUSH_ALL`] when the receiver fell behind and lost some, `None`
/// once the bus closes or `shutdown` fires.
async fn next_message(
    messages: &mut broadcast::Receiver<String>,
    shutdown: &CancellationToken,
) -> Option<String> {
    let received = tokio::select! {
        _ = shutdown.cancelled() => return None,
        m = messages.recv() => m,
    };
    match received {
        Ok(message) => Some(message),
        Err(RecvError::Lagged(missed)) => {
            tracing::warn!(
                missed,
                "invalidation bus lagged; dropping every cached entry"
            );
            Some(FLUSH_ALL.to_owned())
        }
        Err(RecvError::Closed) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth::membership::{Membership, MembershipKey};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Looks a key up, counting loads (a load = the entry was not cached).
    async fn lookup(cache: &MembershipCache, key: &MembershipKey, loads: &Arc<AtomicUsize>) {
        let loads = loads.clone();
        cache
            .get_or_load(key, || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok(Some(Membership {
                    user_id: "u1".into(),
                    role: "agent".into(),
                    token_version: 0,
                }))
            })
            .await
            .unwrap();
    }

    /// Publishes `message` and waits (at most a second) until the entry is gone.
    async fn dropped_within_a_second(
        bus: &Bus,
        message: &str,
        cache: &MembershipCache,
        key: &MembershipKey,
        loads: &Arc<AtomicUsize>,
    ) -> bool {
        lookup(cache, key, loads).await;
        let before = loads.load(Ordering::SeqCst);
        bus.publish(message).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while tokio::time::Instant::now() < deadline {
            lookup(cache, key, loads).await;
            if loads.load(Ordering::SeqCst) > before {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    #[tokio::test]
    async fn membership_messages_on_the_bus_drop_cached_entries() {
        let bus = Bus::in_process();
        let shutdown = CancellationToken::new();
        let auth = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let signer = PrincipalVerifier::new(&Secret::new("bus-test-secret-0123456789abcdef"));
        let ttl = CacheTtl {
            positive: Duration::from_secs(60),
            negative: Duration::from_secs(5),
        };
        let keys = KeyResolver::new(auth, None, signer, ttl);
        let cache = MembershipCache::new(Duration::from_secs(300), None);
        spawn_invalidation(&bus, keys, cache.clone(), &shutdown);
        let key = MembershipKey::own("w1", "u1");
        let loads = Arc::default();
        for message in ["member:w1:u1", "user:u1", FLUSH_ALL] {
            assert!(
                dropped_within_a_second(&bus, message, &cache, &key, &loads).await,
                "{message}"
            );
        }
        let other = MembershipKey::own("w2", "u1");
        lookup(&cache, &other, &loads).await;
        let before = loads.load(Ordering::SeqCst);
        bus.publish("member:w1:u1").await.unwrap();
        bus.publish("key:abc").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        lookup(&cache, &other, &loads).await;
        assert_eq!(loads.load(Ordering::SeqCst), before, "w2 untouched");
        shutdown.cancel();
    }
}
