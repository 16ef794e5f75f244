//! What a key may do beyond its scopes: its name and expiry, its own rate limits (seed 003
//! per minute, seed 002 per hour), its tier, and the addresses it may be used from. Validated
//! here once, stored normalized, enforced by the gateway.

use chrono::{DateTime, Utc};
use crm_platform::{error::ApiError, rate_tiers};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Ceilings on what keys may be given (`CRM_KEY_LIMITS__*`): nobody, owners included, sets a
/// key's limits above them, so one key cannot be made to swamp the platform.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyLimits {
    /// Highest per-minute override (`rate_limit_override`).
    pub max_per_minute: u32,
    /// Highest per-hour override (`rate_limit`).
    pub max_per_hour: u32,
    /// Most usable keys (not revoked, deleted or expired) one user holds in one workspace;
    /// keys of API clients do not count.
    pub max_keys_per_user: u32,
}

impl Default for KeyLimits {
    /// 100 000 a minute (about 1 700 a second, 160× the enterprise tier) and 6 000 000 an
    /// hour: far above any plan, well below what one key could use to crowd others out.
    fn default() -> Self {
        Self {
            max_per_minute: 100_000,
            max_per_hour: 6_000_000,
            max_keys_per_user: 50,
        }
    }
}

impl KeyLimits {
    /// Start-up check.
    pub fn validate(&self) -> Result<(), String> {
        for (value, env) in [
            (self.max_per_minute, "CRM_KEY_LIMITS__MAX_PER_MINUTE"),
            (self.max_per_hour, "CRM_KEY_LIMITS__MAX_PER_HOUR"),
            (self.max_keys_per_user, "CRM_KEY_LIMITS__MAX_KEYS_PER_USER"),
        ] {
            if value == 0 || value > i32::MAX as u32 {
                return Err(format!(
                    "{env} is {value}: set it to a number between 1 and {}",
                    i32::MAX
                ));
            }
        }
        Ok(())
    }
}

/// Most allowlist entries on one key.
pub const MAX_ALLOWED_IPS: usize = 100;

/// Longest accepted key name.
const MAX_NAME: usize = 255;

/// A key's name, trimmed; required and at most `MAX_NAME` characters.
pub fn name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_field("name", "is required"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid_field(
            "name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// An expiry must lie in the future.
pub fn expiry(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<(), ApiError> {
    match expires_at {
        Some(e) if e <= now => Err(ApiError::invalid_field(
            "expires_at",
            "must be in the future",
        )),
        _ => Ok(()),
    }
}

/// A per-minute override, 1..=`limits.max_per_minute`.
pub fn per_minute(value: u32, field: &str, limits: &KeyLimits) -> Result<i32, ApiError> {
    bounded(value, limits.max_per_minute, field, "a minute")
}

/// A per-hour override, 1..=`limits.max_per_hour`.
pub fn per_hour(value: u32, field: &str, limits: &KeyLimits) -> Result<i32, ApiError> {
    bounded(value, limits.max_per_hour, field, "an hour")
}

fn bounded(value: u32, max: u32, field: &str, per: &str) -> Result<i32, ApiError> {
    if value == 0 || value > max {
        return Err(ApiError::invalid_field(
            field,
            format!("must be between 1 and {max} requests {per} (this installation's ceiling)"),
        ));
    }
    // `KeyLimits::validate` keeps ceilings within i32.
    Ok(i32::try_from(value).unwrap_or(i32::MAX))
}

/// Only owners and admins choose a key's limits: a member raising their own key's limit
/// would spend capacity the workspace's admins share out. `field` is the first limit asked
/// for.
pub fn may_set_limits(role: super::role::Role, field: Option<&str>) -> Result<(), ApiError> {
    match field {
        Some(field) if !role.manages_all_keys() => Err(super::role::refuse(&format!(
            "only owners and admins set a key's rate limits ({field}); leave it out, or ask an owner or admin to set it"
        ))),
        _ => Ok(()),
    }
}

/// A tier name, lower-cased; `None` for empty.
pub fn tier(name: &str) -> Result<Option<String>, ApiError> {
    if name.trim().is_empty() {
        return Ok(None);
    }
    rate_tiers::tier(name)
        .map(|t| Some(t.name.to_owned()))
        .ok_or_else(|| {
            ApiError::invalid_field(
                "rate_limit_tier",
                "must be one of basic, standard, premium, enterprise",
            )
        })
}

/// Parses an allowlist: single addresses and CIDR ranges, IPv4 and IPv6. Stored as the
/// canonical network form (`10.0.0.0/8`, `2001:db8::1/128`), space-separated; `None` when
/// empty.
pub fn allowed_ips(entries: &[String]) -> Result<Option<String>, ApiError> {
    if entries.len() > MAX_ALLOWED_IPS {
        return Err(ApiError::invalid_field(
            "allowed_ips",
            format!("at most {MAX_ALLOWED_IPS} entries"),
        ));
    }
    let mut nets = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let e = entry.trim();
        let net = if let Ok(ip) = e.parse::<IpAddr>() {
            IpNet::from(ip)
        } else {
            e.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
                ApiError::invalid_field(
                    &format!("allowed_ips[{i}]"),
                    format!("'{e}' is not an IP address or CIDR range (e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32)"),
                )
            })?
        };
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    Ok((!nets.is_empty()).then(|| {
        nets.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }))
}

/// The stored allowlist as a list.
pub fn allowed_ips_of(stored: &Option<String>) -> Vec<String> {
    stored
        .as_deref()
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlists_are_normalized_and_bad_entries_named() {
        let stored = allowed_ips(&[
            "203.0.113.7".into(),
            "10.1.2.3/8".into(),
            "2001:db8::/32".into(),
            "::1".into(),
            "203.0.113.7".into(),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(stored, "203.0.113.7/32 10.0.0.0/8 2001:db8::/32 ::1/128");
        let e = allowed_ips(&["10.0.0.1".into(), "10.0.0.300".into()]).unwrap_err();
        assert!(format!("{:?}", e).contains("allowed_ips[1]"));
        assert_eq!(allowed_ips(&[]).unwrap(), None);
    }

    #[test]
    fn limits_and_tiers_are_bounded() {
        let limits = KeyLimits::default();
        assert!(per_minute(0, "rate_limit_override", &limits).is_err());
        assert_eq!(per_minute(3, "rate_limit_override", &limits).unwrap(), 3);
        assert!(per_minute(limits.max_per_minute + 1, "rate_limit_override", &limits).is_err());
        assert!(per_hour(limits.max_per_hour + 1, "rate_limit", &limits).is_err());
        assert!(limits.validate().is_ok());
        let zero = KeyLimits {
            max_keys_per_user: 0,
            ..limits
        };
        assert!(zero.validate().unwrap_err().contains("MAX_KEYS_PER_USER"));
        assert_eq!(tier("Premium").unwrap().as_deref(), Some("premium"));
        assert!(tier("gold").is_err());
        assert_eq!(tier("").unwrap(), None);
    }
}
