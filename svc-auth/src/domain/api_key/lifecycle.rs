//! Changing an existing key: its fields, its secret (with an optional grace period), revoking
//! and deleting it. Each change is audited and announced.

use super::{
    ApiKey, KeyChanges, KeyWithSecret, MAX_GRACE_SECS,
    announce::{key_change, save_announced},
    announce_all, hashes_of, manager,
};
use super::{
    access::{client_key_needs_admin, visible},
    mint::limit_field,
};
use crate::domain::{AuthState, audit, key_owner, key_policy};
use crate::store::api_key as store;
use crm_platform::{
    Principal,
    api_key::{self as format, MintedKey},
    error::ApiError,
};
use sea_orm::{ActiveValue::Set, IntoActiveModel};
use tonic::Status;

/// Changes name, scopes, activity or expiry.
pub async fn update(
    state: &AuthState,
    principal: &Principal,
    id: &str,
    changes: KeyChanges,
) -> Result<ApiKey, Status> {
    let m = manager(state, principal).await?;
    let key = visible(state, &m, id).await?;
    client_key_needs_admin(&m, &key, "change")?;
    if key.revoked_at.is_some() {
        return Err(ApiError::new(
            tonic::Code::FailedPrecondition,
            "KEY_REVOKED",
            "a revoked key cannot be changed; create a new key",
        )
        .into());
    }
    key_policy::may_set_limits(
        m.role,
        limit_field(
            changes.per_minute.is_some(),
            changes.per_hour.is_some(),
            changes.tier.is_some(),
        ),
    )?;
    let now = crate::domain::now();
    let hashes = hashes_of(&key);
    if let Some(scopes) = &changes.scopes {
        match &key.client_id {
            Some(client_id) => {
                if let Some(client) =
                    crate::store::api_client::get(&state.db, m.workspace_id, client_id).await?
                {
                    crate::domain::api_client::check_within(&client, scopes)?;
                }
            }
            None => key_owner::within_role(key_owner::role_of(state, &m, &key).await?, scopes)?,
        }
    }
    let mut active = key.into_active_model();
    if let Some(v) = changes.per_minute {
        active.rate_limit_per_minute = Set(match v {
            0 => None,
            v => Some(key_policy::per_minute(
                v,
                "rate_limit_override",
                &state.key_limits,
            )?),
        });
    }
    if let Some(v) = changes.per_hour {
        active.rate_limit_per_hour = Set(match v {
            0 => None,
            v => Some(key_policy::per_hour(v, "rate_limit", &state.key_limits)?),
        });
    }
    if let Some(tier) = changes.tier {
        active.rate_limit_tier = Set(key_policy::tier(&tier)?);
    }
    if let Some(ips) = changes.allowed_ips {
        active.allowed_ips = Set(key_policy::allowed_ips(&ips)?);
    }
    if let Some(name) = changes.name {
        active.name = Set(key_policy::name(&name)?);
    }
    if let Some(scopes) = changes.scopes {
        if scopes.is_empty() {
            return Err(ApiError::invalid_field(
                "permissions",
                "at least one permission is required",
            )
            .into());
        }
        active.scopes = Set(scopes.to_stored());
    }
    if let Some(is_active) = changes.is_active {
        active.is_active = Set(is_active);
    }
    if let Some(expires_at) = changes.expires_at {
        key_policy::expiry(expires_at, now)?;
        active.expires_at = Set(expires_at);
    }
    active.updated_at = Set(now);
    let key = save_announced(state, principal, active, "api_key.updated", &hashes).await?;
    Ok(key)
}

/// Replaces the secret. The old one stops working at once, or after `grace_secs` when the
/// caller rolls its deployments over to the new one (as payment APIs allow); a secret
/// replaced before that stops at once.
pub async fn regenerate(
    state: &AuthState,
    principal: &Principal,
    id: &str,
    grace_secs: Option<u32>,
) -> Result<KeyWithSecret, Status> {
    let grace_secs = grace_secs.unwrap_or(0);
    if grace_secs > MAX_GRACE_SECS {
        return Err(ApiError::invalid_field(
            "grace_period_seconds",
            format!("must be at most {MAX_GRACE_SECS} (7 days)"),
        )
        .into());
    }
    let m = manager(state, principal).await?;
    let key = visible(state, &m, id).await?;
    client_key_needs_admin(&m, &key, "regenerate")?;
    if key.client_id.is_none() && key.user_id != m.user_id {
        // The new secret would be shown to whoever regenerates: only the key's owner may.
        return Err(ApiError::new(
            tonic::Code::PermissionDenied,
            "NOT_KEY_OWNER",
            "only the key's owner may regenerate it and receive the new secret; you may revoke, pause or delete it",
        )
        .into());
    }
    if key.revoked_at.is_some() {
        return Err(ApiError::new(
            tonic::Code::FailedPrecondition,
            "KEY_REVOKED",
            "a revoked key cannot be regenerated; create a new key",
        )
        .into());
    }
    let prefix = if key.key_prefix.starts_with(format::TEST_PREFIX) {
        format::TEST_PREFIX
    } else {
        format::LIVE_PREFIX
    };
    let old_hashes = hashes_of(&key);
    let old_hash = key.key_hash.clone();
    let MintedKey {
        full,
        hash,
        display_prefix,
    } = format::mint(prefix);
    let now = crate::domain::now();
    let mut active = key.into_active_model();
    if grace_secs > 0 {
        active.previous_key_hash = Set(Some(old_hash));
        active.previous_key_expires_at =
            Set(Some(now + chrono::Duration::seconds(i64::from(grace_secs))));
    } else {
        active.previous_key_hash = Set(None);
        active.previous_key_expires_at = Set(None);
    }
    active.key_hash = Set(hash);
    active.key_prefix = Set(display_prefix);
    active.regenerated_at = Set(Some(now));
    active.updated_at = Set(now);
    let txn = audit::begin(state).await?;
    let key = store::save(&txn, active).await?;
    let mut change = key_change("api_key.regenerated", &key);
    change.details["grace_period_seconds"] = grace_secs.into();
    audit::commit_with(txn, principal, &key.workspace_id, change).await?;
    announce_all(state, &old_hashes).await;
    tracing::info!(api_key_id = %key.id, grace_secs, "api key regenerated");
    Ok(KeyWithSecret { key, secret: full })
}

/// Revokes for good; the key stays listed as revoked.
pub async fn revoke(
    state: &AuthState,
    principal: &Principal,
    id: &str,
    reason: &str,
) -> Result<ApiKey, Status> {
    let m = manager(state, principal).await?;
    let key = visible(state, &m, id).await?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let hashes = hashes_of(&key);
    let now = crate::domain::now();
    let mut active = key.into_active_model();
    active.is_active = Set(false);
    active.revoked_at = Set(Some(now));
    active.revoked_reason = Set((!reason.trim().is_empty()).then(|| reason.trim().to_owned()));
    active.updated_at = Set(now);
    let key = save_announced(state, principal, active, "api_key.revoked", &hashes).await?;
    tracing::info!(api_key_id = %key.id, "api key revoked");
    Ok(key)
}

/// Deletes: the key stops working and leaves lists; its row stays for the audit trail.
pub async fn delete(state: &AuthState, principal: &Principal, id: &str) -> Result<ApiKey, Status> {
    let m = manager(state, principal).await?;
    let key = visible(state, &m, id).await?;
    let hashes = hashes_of(&key);
    let now = crate::domain::now();
    let mut active = key.into_active_model();
    active.is_active = Set(false);
    active.deleted_at = Set(Some(now));
    active.updated_at = Set(now);
    let key = save_announced(state, principal, active, "api_key.deleted", &hashes).await?;
    tracing::info!(api_key_id = %key.id, "api key deleted");
    Ok(key)
}
