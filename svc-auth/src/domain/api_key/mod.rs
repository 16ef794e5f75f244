//! API key lifecycle: mint, list, read, change, regenerate, revoke, delete, validate.
//! Every change that affects authentication is announced on the bus so gateways drop the
//! key from their caches at once.

mod access;
mod announce;
mod lifecycle;
mod lookup;
mod mint;

pub(super) use access::{Manager, manager};
pub use access::{get, list};
pub(super) use announce::{announce_all, hashes_of};
pub use lifecycle::{delete, regenerate, revoke, update};
pub use lookup::{Validated, validate};
pub use mint::create;

use super::scopes::Scopes;
use crate::store::api_key as store;
use chrono::{DateTime, Utc};

pub use store::Model as ApiKey;

/// Lifecycle state of a key as callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Usable.
    Active,
    /// Switched off by `is_active: false`; can be switched back on.
    Inactive,
    /// Revoked for good.
    Revoked,
    /// Past its expiry.
    Expired,
}

impl KeyState {
    /// The state of `key` at `now`.
    pub fn of(key: &ApiKey, now: DateTime<Utc>) -> Self {
        if key.revoked_at.is_some() || key.deleted_at.is_some() {
            Self::Revoked
        } else if key.expires_at.is_some_and(|e| e <= now) {
            Self::Expired
        } else if !key.is_active {
            Self::Inactive
        } else {
            Self::Active
        }
    }

    /// Name used in responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// A key plus its secret, which exists only in this value and the response built from it.
pub struct KeyWithSecret {
    /// The stored row.
    pub key: ApiKey,
    /// The full key, shown once.
    pub secret: String,
}

/// Input of [`create`].
pub struct NewKey {
    /// Label.
    pub name: String,
    /// Parsed scopes.
    pub scopes: Scopes,
    /// Optional expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requested prefix (`crm_live_` when empty).
    pub prefix: String,
    /// Requests per minute for this key (seed 003 `rateLimitOverride`).
    pub per_minute: Option<u32>,
    /// Requests per hour for this key (seed 002 `rate_limit`).
    pub per_hour: Option<u32>,
    /// Tier name; empty for the defaults.
    pub tier: String,
    /// Addresses and CIDR ranges the key may be used from; empty for anywhere.
    pub allowed_ips: Vec<String>,
    /// The API client owning the key; empty for the user's own key.
    pub client_id: String,
}

/// Longest grace period a regenerated key's old secret may keep working: a week covers a
/// deploy cycle without leaving a leaked secret alive for long.
pub const MAX_GRACE_SECS: u32 = 7 * 24 * 3600;

/// Changes of [`update`]; `None` leaves a field as it is.
#[derive(Default)]
pub struct KeyChanges {
    /// New label.
    pub name: Option<String>,
    /// New scopes.
    pub scopes: Option<Scopes>,
    /// Switch on or off.
    pub is_active: Option<bool>,
    /// New expiry; `Some(None)` removes it.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// New per-minute override; `Some(0)` removes it.
    pub per_minute: Option<u32>,
    /// New per-hour override; `Some(0)` removes it.
    pub per_hour: Option<u32>,
    /// New tier; `Some("")` removes it.
    pub tier: Option<String>,
    /// New allowlist; `Some(vec![])` removes it.
    pub allowed_ips: Option<Vec<String>>,
}
