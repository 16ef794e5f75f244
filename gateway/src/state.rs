//! What every request handler shares.

use crate::{
    auth::Gatekeeper, backends::Backends, client_ip::TrustedProxies, ratelimit::Limiter,
    redis_link::RedisLink, transcode::table::RouteTable, usage::request_log::RequestLogger,
};
use crm_platform::principal::PrincipalVerifier;

/// Shared, read-mostly gateway state.
pub struct GatewayState {
    /// Routes and RPCs.
    pub table: RouteTable,
    /// Authentication and authorization.
    pub gatekeeper: Gatekeeper,
    /// Channels to the services.
    pub backends: Backends,
    /// Signs principals for the services.
    pub signer: PrincipalVerifier,
    /// Redis, when configured.
    pub redis: Option<RedisLink>,
    /// Pre-rendered `/openapi.json`.
    pub openapi: bytes::Bytes,
    /// Largest accepted REST body.
    pub max_body_bytes: usize,
    /// Rate limits.
    pub limiter: Limiter,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// The request log of API-key calls, and with it keys' use.
    pub request_log: RequestLogger,
    /// Health and reflection, answered by the gateway itself.
    pub local: crate::proxy::local::LocalServices,
    /// First answers of POSTs sent with an `Idempotency-Key`.
    pub idempotency: crate::idempotency::IdempotencyStore,
}
