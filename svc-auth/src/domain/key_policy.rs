//! What a key may do beyond its scopes: its name and expiry, its own rate limits (seed 003
//! per minute, seed 002 per hour), its tier, and the addresses it may be used from. Validated
//! here once, stored normalized, enforced by the gateway.

use chrono::{DateTime, Utc};
use crm_platform::{error::ApiError, rate_tiers};
use ipnet::IpNet;
use std::net::IpAddr;

/// Highest per-minute override accepted.
pub const MAX_PER_MINUTE: u32 = 10_000_000;
/// Highest per-hour override accepted.
pub const MAX_PER_HOUR: u32 = 10_000_000;
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

/// A per-minute override, 1..=[`MAX_PER_MINUTE`].
pub fn per_minute(value: u32, field: &str) -> Result<i32, ApiError> {
    bounded(value, MAX_PER_MINUTE, field)
}

/// A per-hour override, 1..=[`MAX_PER_HOUR`].
pub fn per_hour(value: u32, field: &str) -> Result<i32, ApiError> {
    bounded(value, MAX_PER_HOUR, field)
}

fn bounded(value: u32, max: u32, field: &str) -> Result<i32, ApiError> {
    if value == 0 || value > max {
        return Err(ApiError::invalid_field(
            field,
            format!("must be between 1 and {max} requests"),
        ));
    }
    Ok(value as i32)
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
        assert!(per_minute(0, "rate_limit_override").is_err());
        assert_eq!(per_minute(3, "rate_limit_override").unwrap(), 3);
        assert!(per_hour(MAX_PER_HOUR + 1, "rate_limit").is_err());
        assert_eq!(tier("Premium").unwrap().as_deref(), Some("premium"));
        assert!(tier("gold").is_err());
        assert_eq!(tier("").unwrap(), None);
    }
}
