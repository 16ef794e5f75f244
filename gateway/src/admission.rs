//! The stages every call passes before it is forwarded, REST or gRPC alike: authenticate
//! (credential, expiry, IP allowlist) → rate limit → authorize (scopes). The IP check comes
//! before the limit so a stolen key used from elsewhere cannot spend its owner's quota;
//! calls refused before a caller is known are limited per client address, and while an
//! address stands refused its calls stop before authentication (`refused_addresses`).

use crate::{
    auth::{Caller, key_cache::KeyEntry},
    error::GatewayError,
    ratelimit::{decision::Decision, policy},
    state::GatewayState,
    transcode::table::MethodInfo,
};
use http::HeaderMap;
use std::{net::IpAddr, sync::Arc};

/// A call that may proceed.
pub struct Admitted {
    /// Who is calling.
    pub caller: Caller,
    /// The rate-limit state to show in the response (none when limiting is off).
    pub limit: Option<Decision>,
}

/// A call that may not, and the rate-limit state to show with the refusal.
pub struct Refused {
    /// Why not.
    pub error: GatewayError,
    /// Rate-limit state, when a check was made.
    pub limit: Option<Decision>,
    /// The key, when the caller was authenticated with one before being refused (rate
    /// limit, scope): such refusals belong in the key's request log.
    pub key: Option<Arc<KeyEntry>>,
}

impl Refused {
    /// The refusal for gRPC callers (ResourceExhausted with RetryInfo when rate limited).
    pub fn to_status(&self) -> tonic::Status {
        match &self.limit {
            Some(d) if !d.allowed => d.status(),
            _ => self.error.to_status(),
        }
    }
}

/// Runs the admission stages for one call of `rpc` from `ip`.
pub async fn admit(
    state: &GatewayState,
    rpc: &MethodInfo,
    headers: &HeaderMap,
    query: Option<&str>,
    ip: IpAddr,
) -> Result<Admitted, Refused> {
    let limiter = &state.limiter;
    if limiter.config.enabled
        && let Some(d) = limiter
            .refused_addresses
            .standing(ip, &rpc.operation_id)
            .await
    {
        limiter.count_refusal();
        return Err(Refused {
            error: d.error(),
            limit: Some(d),
            key: None,
        });
    }
    let caller = match state
        .gatekeeper
        .authenticate(&rpc.access, headers, query, ip)
        .await
    {
        Ok(caller) => caller,
        Err(error) => {
            let limit = limiter
                .check(|| policy::anonymous(&limiter.config, rpc, ip))
                .await;
            return Err(match limit {
                Some(d) if !d.allowed => {
                    limiter
                        .refused_addresses
                        .remember(ip, &rpc.operation_id, &d)
                        .await;
                    Refused {
                        error: d.error(),
                        limit: Some(d),
                        key: None,
                    }
                }
                limit => Refused {
                    error,
                    limit,
                    key: None,
                },
            });
        }
    };
    let limit = limiter
        .check(|| {
            policy::plan(
                &limiter.config,
                &caller.principal,
                caller.key.as_deref(),
                rpc,
                ip,
            )
        })
        .await;
    if let Some(d) = &limit
        && !d.allowed
    {
        return Err(Refused {
            error: d.error(),
            limit,
            key: caller.key,
        });
    }
    if let Err(error) = state.gatekeeper.authorize(&rpc.access, &caller) {
        return Err(Refused {
            error,
            limit,
            key: caller.key,
        });
    }
    Ok(Admitted { caller, limit })
}
