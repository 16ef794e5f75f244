//! Which limits apply to a call. Precedence (seeds README): a key's own override, then its
//! tier, then the seed-004 defaults (50/min per API key, 100/min per user token); a route's
//! own per-minute limit (proto option) applies on top. Calls without a caller (public
//! endpoints, failed authentication) are limited per client address.

use crate::{auth::key_cache::KeyEntry, transcode::table::MethodInfo};
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
    /// Bucket name under the subject (distinct per route for route windows).
    pub bucket: String,
}

impl Window {
    fn new(name: &'static str, limit: u32, period_secs: u32, capacity: u32) -> Self {
        Self {
            name,
            limit: limit.max(1),
            period_secs,
            capacity: capacity.clamp(1, limit.max(1)),
            bucket: name.to_owned(),
        }
    }

    /// Microseconds between two requests at the sustained rate (GCRA emission interval).
    pub fn interval_us(&self) -> u64 {
        u64::from(self.period_secs) * 1_000_000 / u64::from(self.limit)
    }
}

/// Who is limited and by which windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Bucket owner: `key:<id>`, `user:<workspace>:<id>` or `ip:<address>`.
    pub subject: String,
    /// What the caller is, for messages ("API key", "user token", "address").
    pub holder: &'static str,
    /// Every window checked, in one round trip.
    pub windows: Vec<Window>,
}

/// The plan for an authenticated (or anonymous) caller of `route`.
pub fn plan(
    config: &RateLimitConfig,
    principal: &Principal,
    key: Option<&KeyEntry>,
    route: &MethodInfo,
    ip: IpAddr,
) -> Plan {
    let (subject, holder, mut windows) = match (principal.kind, key) {
        (PrincipalKind::ApiKey, Some(key)) => (
            format!("key:{}", key.api_key_id),
            "API key",
            key_windows(config, key),
        ),
        (PrincipalKind::User, _) => (
            format!("user:{}:{}", principal.workspace_id, principal.subject),
            "user token",
            vec![Window::new(
                "minute",
                config.jwt_per_minute,
                60,
                config.jwt_per_minute,
            )],
        ),
        _ => return anonymous(config, route, ip),
    };
    windows.extend(route_window(route));
    Plan {
        subject,
        holder,
        windows,
    }
}

/// The plan for a call that has no caller: limited per client address.
pub fn anonymous(config: &RateLimitConfig, route: &MethodInfo, ip: IpAddr) -> Plan {
    let mut windows = vec![Window::new(
        "minute",
        config.anonymous_per_minute,
        60,
        config.anonymous_per_minute,
    )];
    windows.extend(route_window(route));
    Plan {
        subject: format!("ip:{ip}"),
        holder: "client address",
        windows,
    }
}

fn key_windows(config: &RateLimitConfig, key: &KeyEntry) -> Vec<Window> {
    let tier = key.rate_limit_tier.as_deref().and_then(rate_tiers::tier);
    let per_minute = key
        .rate_limit_per_minute
        .filter(|v| *v > 0)
        .or(tier.map(|t| t.per_minute))
        .unwrap_or(config.api_key_per_minute);
    let burst = tier.map_or(per_minute, |t| t.burst.min(per_minute));
    let mut windows = vec![Window::new("minute", per_minute, 60, burst)];
    if let Some(per_hour) = key
        .rate_limit_per_hour
        .filter(|v| *v > 0)
        .or(tier.map(|t| t.per_hour))
    {
        windows.push(Window::new("hour", per_hour, 3600, per_hour));
    }
    if let Some(t) = tier {
        windows.push(Window::new("day", t.per_day, 86_400, t.per_day));
    }
    windows
}

fn route_window(route: &MethodInfo) -> Option<Window> {
    (route.rate_limit_per_minute > 0).then(|| {
        let mut w = Window::new(
            "route",
            route.rate_limit_per_minute,
            60,
            route.rate_limit_per_minute,
        );
        w.bucket = format!("route:{}", route.operation_id);
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
        assert_eq!(plain.subject, "key:k1");
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
        assert_eq!(overridden.windows[3].bucket, "route:AuthService.ListAgents");
        let user = plan(
            &config,
            &Principal::new(PrincipalKind::User, "w", "u"),
            None,
            &me,
            ip,
        );
        assert_eq!(
            (user.subject.as_str(), summary(&user)),
            ("user:w:u", vec![("minute", 100, 60, 100)])
        );
        let anon = plan(&config, &Principal::anonymous(), None, &me, ip);
        assert_eq!(anon.subject, "ip:127.0.0.1");
    }

    #[test]
    fn intervals_are_period_over_limit() {
        assert_eq!(Window::new("minute", 3, 60, 3).interval_us(), 20_000_000);
        assert_eq!(
            Window::new("day", 10_000, 86_400, 10_000).interval_us(),
            8_640_000
        );
    }
}
