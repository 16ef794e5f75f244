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
mod tests {
    use super::*;
    use crate::transcode::table::RouteTable;

    fn key(per_minute: Option<u32>, per_hour: Option<u32>, tier: Option<&str>) -> KeyEntry {
        KeyEntry {
            status: "active".into(),
            api_key_id: "k1".into(),
            rate_limit_per_minute: per_minute,
            rate_limit_per_hour: per_hour,
            rate_limit_tier: tier.map(str::to_owned),
            ..KeyEntry::default()
        }
    }

    fn route(path: &str) -> std::sync::Arc<MethodInfo> {
        let (table, _) = RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET).unwrap();
        table.methods.get(path).unwrap().clone()
    }

    fn summary(plan: &Plan) -> Vec<(&str, u32, u32, u32)> {
        plan.windows
            .iter()
            .map(|w| (w.name, w.limit, w.period_secs, w.capacity))
            .collect()
    }

    #[test]
    fn override_beats_tier_beats_defaults_and_routes_add_their_own() {
        let config = RateLimitConfig::default();
        let me = route("/crm.auth.v1.AuthService/GetMe");
        let agents = route("/crm.auth.v1.AuthService/ListAgents");
        let p = Principal::new(PrincipalKind::ApiKey, "w", "u");
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let plain = plan(&config, &p, Some(&key(None, None, None)), &me, ip);
        assert_eq!(plain.windows[0].bucket, "key:k1:minute");
        assert_eq!(summary(&plain), vec![("minute", 50, 60, 50)]);
        let basic = plan(&config, &p, Some(&key(None, None, Some("basic"))), &me, ip);
        assert_eq!(
            summary(&basic),
            vec![
                ("minute", 60, 60, 10),
                ("hour", 1000, 3600, 1000),
                ("day", 10_000, 86_400, 10_000)
            ]
        );
        let overridden = plan(
            &config,
            &p,
            Some(&key(Some(3), Some(500), Some("enterprise"))),
            &agents,
            ip,
        );
        assert_eq!(
            summary(&overridden),
            vec![
                ("minute", 3, 60, 3),
                ("hour", 500, 3600, 500),
                ("day", 500_000, 86_400, 500_000),
                ("route", 100, 60, 100)
            ]
        );
        assert_eq!(
            overridden.windows[3].bucket,
            "ip:127.0.0.1:route:AuthService.ListAgents"
        );
        let user = plan(
            &config,
            &Principal::new(PrincipalKind::User, "w", "u"),
            None,
            &me,
            ip,
        );
        assert_eq!(
            (user.windows[0].bucket.as_str(), summary(&user)),
            ("user:w:u:minute", vec![("minute", 100, 60, 100)])
        );
        let anon = plan(&config, &Principal::anonymous(), None, &me, ip);
        assert_eq!(anon.windows[0].bucket, "ip:127.0.0.1:minute");
    }

    fn buckets(plan: &Plan) -> Vec<(&str, &str)> {
        plan.windows
            .iter()
            .map(|w| (w.bucket.as_str(), w.holder))
            .collect()
    }

    #[test]
    fn a_clients_keys_share_its_tier_and_keep_their_own_overrides() {
        let config = RateLimitConfig::default();
        let agents = route("/crm.auth.v1.AuthService/ListAgents");
        let p = Principal::new(PrincipalKind::ApiKey, "w", "u");
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let client_key = |per_minute, per_hour, client_tier| KeyEntry {
            api_client_id: Some("c1".into()),
            client_tier,
            ..key(per_minute, per_hour, Some("basic"))
        };
        let shared = plan(
            &config,
            &p,
            Some(&client_key(None, None, true)),
            &agents,
            ip,
        );
        assert_eq!(
            buckets(&shared),
            vec![
                ("client:c1:minute", "API client"),
                ("client:c1:hour", "API client"),
                ("client:c1:day", "API client"),
                (
                    "ip:127.0.0.1:route:AuthService.ListAgents",
                    "client address"
                ),
            ]
        );
        assert_eq!(shared.windows[0].capacity, 10, "the tier's burst");
        let overridden = plan(
            &config,
            &p,
            Some(&client_key(Some(200), None, true)),
            &agents,
            ip,
        );
        assert_eq!(
            summary(&overridden)[0],
            ("minute", 200, 60, 10),
            "an override may exceed the tier"
        );
        assert_eq!(
            buckets(&overridden)[..3],
            [
                ("key:k1:minute", "API key"),
                ("client:c1:hour", "API client"),
                ("client:c1:day", "API client"),
            ]
        );
        let hourly = plan(
            &config,
            &p,
            Some(&client_key(None, Some(5), true)),
            &agents,
            ip,
        );
        assert_eq!(hourly.windows[1].bucket, "key:k1:hour");
        assert_eq!(hourly.windows[0].bucket, "client:c1:minute");
        let own_tier = plan(
            &config,
            &p,
            Some(&client_key(None, None, false)),
            &agents,
            ip,
        );
        assert!(
            own_tier
                .windows
                .iter()
                .filter(|w| w.name != "route")
                .all(|w| w.bucket.starts_with("key:k1:")),
            "a tier set on the key itself is the key's alone"
        );
    }

    #[test]
    fn a_clients_buckets_are_the_tier_windows_views_read() {
        let agents = route("/crm.auth.v1.AuthService/GetMe");
        let p = Principal::new(PrincipalKind::ApiKey, "w", "u");
        for tier in rate_tiers::TIERS {
            let key = KeyEntry {
                api_client_id: Some("c1".into()),
                client_tier: true,
                ..key(None, None, Some(tier.name))
            };
            let plan = plan(
                &RateLimitConfig::default(),
                &p,
                Some(&key),
                &agents,
                "127.0.0.1".parse().unwrap(),
            );
            let ours: Vec<_> = plan
                .windows
                .iter()
                .map(|w| (w.bucket.clone(), w.interval_us(), w.capacity))
                .collect();
            let views: Vec<_> = tier
                .windows()
                .iter()
                .map(|w| {
                    (
                        rate_tiers::bucket_name(&rate_tiers::client_owner("c1"), w.name),
                        w.interval_us(),
                        w.capacity,
                    )
                })
                .collect();
            assert_eq!(ours, views, "{}", tier.name);
        }
    }

    #[test]
    fn intervals_are_period_over_limit() {
        let o = Owner {
            prefix: "key:k",
            holder: "API key",
        };
        assert_eq!(Window::new(o, "minute", 3, 60, 3).interval_us(), 20_000_000);
        assert_eq!(
            Window::new(o, "day", 10_000, 86_400, 10_000).interval_us(),
            8_640_000
        );
    }

    /// Seed 004: actions 50 a minute per workspace, agents 100 a minute per address.
    #[test]
    fn route_limits_are_shared_as_their_scope_says() {
        let config = RateLimitConfig::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let execute = route("/crm.pipeline.v1.ActionService/ExecuteAction");
        let agents = route("/crm.auth.v1.AuthService/ListAgents");
        let route_bucket = |plan: &Plan| {
            let w = plan.windows.iter().find(|w| w.name == "route").unwrap();
            (w.bucket.clone(), w.holder, w.limit)
        };
        let key = |id: &str| KeyEntry {
            api_key_id: id.into(),
            ..key(None, None, None)
        };
        let by_key = Principal::new(PrincipalKind::ApiKey, "w1", "u1");
        let by_user = Principal::new(PrincipalKind::User, "w1", "u2");
        let elsewhere = Principal::new(PrincipalKind::ApiKey, "w2", "u3");
        let shared = (
            "workspace:w1:route:ActionService.ExecuteAction".to_owned(),
            "workspace",
            50,
        );
        assert_eq!(
            route_bucket(&plan(&config, &by_key, Some(&key("k1")), &execute, ip)),
            shared
        );
        assert_eq!(
            route_bucket(&plan(&config, &by_user, None, &execute, ip)),
            shared,
            "a user token of the workspace counts against the same bucket"
        );
        assert_eq!(
            route_bucket(&plan(&config, &elsewhere, Some(&key("k3")), &execute, ip)).0,
            "workspace:w2:route:ActionService.ExecuteAction"
        );
        assert_eq!(
            route_bucket(&plan(&config, &by_key, Some(&key("k1")), &agents, ip)),
            (
                "ip:192.0.2.7:route:AuthService.ListAgents".to_owned(),
                "client address",
                100
            )
        );
    }
}
