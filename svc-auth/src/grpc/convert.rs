//! Domain → proto conversions.

use crate::domain::{
    api_key::{ApiKey, KeyState, KeyWithSecret},
    key_policy::allowed_ips_of,
    scopes::Scopes,
};
use chrono::{DateTime, TimeZone, Utc};
use crm_platform::error::ApiError;
use crm_proto::auth as pb;
use prost_types::Timestamp;

pub fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn ts_opt(t: Option<DateTime<Utc>>) -> Option<Timestamp> {
    t.map(ts)
}

/// A request timestamp as UTC; `field` names it in the error.
pub fn from_ts(t: &Timestamp, field: &str) -> Result<DateTime<Utc>, ApiError> {
    Utc.timestamp_opt(t.seconds, t.nanos.max(0) as u32)
        .single()
        .ok_or_else(|| ApiError::invalid_field(field, "is not a valid timestamp"))
}

pub fn api_key(k: ApiKey) -> pb::ApiKey {
    let scopes = Scopes::from_stored(&k.scopes);
    let state = KeyState::of(&k, Utc::now());
    pb::ApiKey {
        permissions: Some(scopes.to_permissions()),
        scopes: scopes.to_vec(),
        status: state.as_str().to_owned(),
        last_used_at: ts_opt(k.last_used_at),
        request_count: k.request_count,
        expires_at: ts_opt(k.expires_at),
        is_active: k.is_active && k.revoked_at.is_none(),
        created_at: Some(ts(k.created_at)),
        updated_at: Some(ts(k.updated_at)),
        revoked_at: ts_opt(k.revoked_at),
        regenerated_at: ts_opt(k.regenerated_at),
        id: k.id,
        name: k.name,
        key_prefix: k.key_prefix,
        created_by: k.created_by,
        workspace_id: k.workspace_id,
        rate_limit_override: k.rate_limit_per_minute.map(|v| v.max(0) as u32),
        rate_limit: k.rate_limit_per_hour.map(|v| v.max(0) as u32),
        rate_limit_tier: k.rate_limit_tier.unwrap_or_default(),
        allowed_ips: allowed_ips_of(&k.allowed_ips),
        previous_key_expires_at: grace_end(k.previous_key_expires_at),
        client_id: k.client_id.unwrap_or_default(),
    }
}

pub fn with_secret(k: KeyWithSecret) -> pb::ApiKeyWithSecret {
    let KeyWithSecret { key, secret } = k;
    let scopes = Scopes::from_stored(&key.scopes);
    pb::ApiKeyWithSecret {
        id: key.id,
        name: key.name,
        key_full: secret.clone(),
        key: secret,
        key_prefix: key.key_prefix,
        permissions: Some(scopes.to_permissions()),
        scopes: scopes.to_vec(),
        expires_at: ts_opt(key.expires_at),
        is_active: key.is_active,
        created_at: Some(ts(key.created_at)),
        created_by: key.created_by,
        regenerated_at: ts_opt(key.regenerated_at),
        rate_limit_override: key.rate_limit_per_minute.map(|v| v.max(0) as u32),
        rate_limit: key.rate_limit_per_hour.map(|v| v.max(0) as u32),
        rate_limit_tier: key.rate_limit_tier.unwrap_or_default(),
        allowed_ips: allowed_ips_of(&key.allowed_ips),
        previous_key_expires_at: grace_end(key.previous_key_expires_at),
        client_id: key.client_id.unwrap_or_default(),
    }
}

/// The end of a grace period, only while it lasts.
fn grace_end(t: Option<DateTime<Utc>>) -> Option<Timestamp> {
    t.filter(|t| *t > Utc::now()).map(ts)
}
