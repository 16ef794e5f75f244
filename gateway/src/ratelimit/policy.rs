//! Which limits apply to a call. Precedence (seeds README): a key's own override, then its
//! tier, then the seed-004 defaults (50/min per API key, 100/min per user token); a route's
//! own per-minute limit (proto option) applies on top. Calls without a caller (public
//! endpoints, failed authentication) are limited per client address.
//!
//! Seed 003 limits a partner per client: the windows of a tier a key inherits from its client
//! are the client's buckets, shared by all its keys. A window the key sets itself (an override,
//! or a tier of its own) is the key's alone and replaces the client's window of that name, so
//! an override can raise a key above the tier as well as lower it.

use crate::{
    auth::key_cache::KeyEntry,
    transcode::table::{MethodInfo, RouteLimitScope},
};
use crm_platform::{Principal, PrincipalKind, rate_tiers};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Rate-limit settings of the gateway.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Off only for benchmarks and trusted internal deployments.
    pub enabled: bool,
    /// Requests per minute of an API key with no override and no tier (seed 004).
    pub api_key_per_minute: u32,
    /// Requests per minute of a user token (seed 004).
    pub jwt_per_minute: u32,
    /// Requests per minute per client address for calls without a caller (login, bad
    /// credentials): slows down credential guessing.
    pub anonymous_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            api_key_per_minute: rate_tiers::DEFAULT_API_KEY_PER_MINUTE,
            jwt_per_minute: rate_tiers::DEFAULT_JWT_PER_MINUTE,
            anonymous_per_minute: 100,
        }
    }
}

/// One limit: `limit` requests per `period_secs`, at most `capacity` at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// `minute`, `hour`, `day` or `route`; names the window in headers and errors.
    pub name: &'static str,
    /// Requests per period.
    pub limit: u32,
    /// Period length.
    pub period_secs: u32,
    /// Largest burst (the tier's burst on the minute window, else the limit).
    pub capacity: u32,
    /// Bucket: its owner and the window (`key:<id>:minute`, `client:<id>:day`,
    /// `ip:<address>:route:<operation>`).
    pub bucket: String,
    /// Who the bucket limits ("API key", "API client", "user token", "client address"); the
    /// 429 names it.
    pub holder: &'static str,
}

/// The owner of buckets: its name prefix and how errors call it.
#[derive(Clone, Copy)]
struct Owner<'a> {
    prefix: &'a str,
    holder: &'static str,
}

impl Window {
    fn new(
        owner: Owner<'_>,
        name: &'static str,
        limit: u32,
        period_secs: u32,
        capacity: u32,
    ) -> Self {
        Self {
            name,
            limit: limit.max(1),
            period_secs,
            capacity: capacity.clamp(1, limit.max(1)),
            bucket: rate_tiers::bucket_name(owner.prefix, name),
            holder: owner.holder,
        }
    }

    /// Microseconds between two requests at the sustained rate (GCRA emission interval).
    pub fn interval_us(&self) -> u64 {
        u64::from(self.period_secs) * 1_000_000 / u64::from(self.limit)
    }
}

/// The windows a call is checked against, in one round trip.
#[derive(Debug)]
pub struct Plan {
    /// Every window checked; a call passes only if all have room.
    pub windows: Vec<Window>,
}

/// A window as the Redis script takes it: bucket key, emission interval (µs), capacity.
pub type BucketWindow = (String, u64, u64);

impl Plan {
    /// A plan of these windows.
    pub fn new(windows: Vec<Window>) -> Self {
        Self { windows }
    }
}

/// A plan of one minute window of `limit` on key `k`'s bucket (for tests).
#[cfg(test)]
pub(crate) fn minute_plan(limit: u32) -> Plan {
    Plan::new(vec![Window {
        name: "minute",
        limit,
        period_secs: 60,
        capacity: limit,
        bucket: "key:k:minute".into(),
        holder: "API key",
    }])
}

/// The plan for an authenticated (or anonymous) caller of `route`.
pub fn plan(
    config: &RateLimitConfig,
    principal: &Principal,
    key: Option<&KeyEntry>,
    route: &MethodInfo,
    ip: IpAddr,
) -> Plan {
    let (caller, holder, mut windows) = match (principal.kind, key) {
        (PrincipalKind::ApiKey, Some(key)) => {
            let caller = format!("key:{}", key.api_key_id);
            let windows = key_windows(config, key, &caller);
            (caller, "API key", windows)
        }
        (PrincipalKind::User, _) => {
            let caller = format!("user:{}:{}", principal.workspace_id, principal.subject);
            let owner = Owner {
                prefix: &caller,
                holder: "user token",
            };
            let per_minute = config.jwt_per_minute;
            let windows = vec![Window::new(owner, "minute", per_minute, 60, per_minute)];
            (caller, "user token", windows)
        }
        _ => return anonymous(config, route, ip),
    };
    windows.extend(route_window(
        route,
        &caller,
        holder,
        &principal.workspace_id,
        ip,
    ));
    Plan::new(windows)
}

/// The plan for a call that has no caller: limited per client address.
pub fn anonymous(config: &RateLimitConfig, route: &MethodInfo, ip: IpAddr) -> Plan {
    let caller = format!("ip:{ip}");
    let owner = Owner {
        prefix: &caller,
        holder: "client address",
    };
    let per_minute = config.anonymous_per_minute;
    let mut windows = vec![Window::new(owner, "minute", per_minute, 60, per_minute)];
    windows.extend(route_window(route, &caller, owner.holder, "", ip));
    Plan::new(windows)
}

fn key_windows(config: &RateLimitConfig, key: &KeyEntry, caller: &str) -> Vec<Window> {
    let own = Owner {
        prefix: caller,
        holder: "API key",
    };
    let client_prefix = key
        .api_client_id
        .as_deref()
        .filter(|_| key.client_tier)
        .map(rate_tiers::client_owner);
    let tier_owner = client_prefix.as_deref().map_or(own, |prefix| Owner {
        prefix,
        holder: "API client",
    });
    let tier = key.rate_limit_tier.as_deref().and_then(rate_tiers::tier);
    let minute_override = key.rate_limit_per_minute.filter(|v| *v > 0);
    let per_minute = minute_override
        .or(tier.map(|t| t.per_minute))
        .unwrap_or(config.api_key_per_minute);
    let burst = tier.map_or(per_minute, |t| t.burst.min(per_minute));
    let minute_owner = if minute_override.is_some() || tier.is_none() {
        own
    } else {
        tier_owner
    };
    let mut windows = vec![Window::new(minute_owner, "minute", per_minute, 60, burst)];
    match (key.rate_limit_per_hour.filter(|v| *v > 0), tier) {
        (Some(per_hour), _) => windows.push(Window::new(own, "hour", per_hour, 3600, per_hour)),
        (None, Some(t)) => windows.push(Window::new(
            tier_owner, "hour", t.per_hour, 3600, t.per_hour,
        )),
        (None, None) => {}
    }
    if let Some(t) = tier {
        windows.push(Window::new(tier_owner, "day", t.per_day, 86_400, t.per_day));
    }
    windows
}

/// The route's own window, its bucket shared as the route's scope says: by the caller, by
/// the caller's workspace (`workspace` empty for calls without a caller: then the caller), or
/// by the client address.
fn route_window(
    route: &MethodInfo,
    caller: &str,
    holder: &'static str,
    workspace: &str,
    ip: IpAddr,
) -> Option<Window> {
    (route.rate_limit_per_minute > 0).then(|| {
        let limit = route.rate_limit_per_minute;
        let (prefix, holder) = match route.rate_limit_scope {
            RouteLimitScope::Workspace if !workspace.is_empty() => {
                (format!("workspace:{workspace}"), "workspace")
            }
            RouteLimitScope::Address => (format!("ip:{ip}"), "client address"),
            _ => (caller.to_owned(), holder),
        };
        let mut w = Window::new(
            Owner {
                prefix: &prefix,
                holder,
            },
            "route",
            limit,
            60,
            limit,
        );
        w.bucket = format!("{prefix}:route:{}", route.operation_id);
        w
    })
}

#[cfg(test)]
mod tests;
