//! API key lifecycle: mint, list, read, change, regenerate, revoke, delete, validate.
//! Every change that affects authentication is announced on the bus so gateways drop the
//! key from their caches at once.

use super::{AuthState, role::Role, scopes::Scopes};
use crate::store::{api_key as store, workspace as members};
use chrono::{DateTime, Utc};
use crm_platform::{
    Principal, PrincipalKind,
    api_key::{self as format, MintedKey},
    error::ApiError,
};
use sea_orm::{ActiveValue::Set, IntoActiveModel};
use tonic::Status;

pub use store::Model as ApiKey;

/// Longest accepted key name.
const MAX_NAME: usize = 255;

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
}

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
}

/// The caller as a workspace member: only users manage keys, never keys themselves.
struct Manager<'a> {
    workspace_id: &'a str,
    user_id: &'a str,
    role: Role,
}

async fn manager<'a>(state: &AuthState, principal: &'a Principal) -> Result<Manager<'a>, Status> {
    if principal.kind != PrincipalKind::User {
        return Err(ApiError::forbidden(
            "API keys cannot manage API keys; call with a user token (JWT)",
        )
        .into());
    }
    let workspace_id = principal.workspace()?;
    // The role comes from the membership table, not from the token, so a demotion takes
    // effect before the token expires.
    let membership = members::membership(&state.db, workspace_id, &principal.subject)
        .await?
        .ok_or_else(|| ApiError::forbidden("you are not a member of this workspace"))?;
    Ok(Manager {
        workspace_id,
        user_id: &principal.subject,
        role: Role::parse(&membership.role)?,
    })
}

fn validate_name(name: &str) -> Result<String, ApiError> {
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

fn validate_expiry(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<(), ApiError> {
    match expires_at {
        Some(e) if e <= now => Err(ApiError::invalid_field(
            "expires_at",
            "must be in the future",
        )),
        _ => Ok(()),
    }
}

/// Mints a key for the calling user.
pub async fn create(
    state: &AuthState,
    principal: &Principal,
    input: NewKey,
) -> Result<KeyWithSecret, Status> {
    let m = manager(state, principal).await?;
    if !m.role.may_mint_keys() {
        return Err(
            ApiError::forbidden("viewers cannot create API keys; ask a workspace admin").into(),
        );
    }
    let name = validate_name(&input.name)?;
    if input.scopes.is_empty() {
        return Err(ApiError::invalid_field(
            "permissions",
            "at least one permission is required, e.g. {\"contacts\": [\"read\"]}",
        )
        .into());
    }
    let now = super::now();
    validate_expiry(input.expires_at, now)?;
    let prefix = format::parse_prefix(&input.prefix)
        .ok_or_else(|| ApiError::invalid_field("prefix", "must be crm_live_ or crm_test_"))?;
    let MintedKey {
        full,
        hash,
        display_prefix,
    } = format::mint(prefix);
    let key = store::insert(
        &state.db,
        store::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            workspace_id: Set(m.workspace_id.to_owned()),
            user_id: Set(m.user_id.to_owned()),
            name: Set(name),
            key_hash: Set(hash),
            key_prefix: Set(display_prefix),
            scopes: Set(input.scopes.to_stored()),
            expires_at: Set(input.expires_at),
            is_active: Set(true),
            last_used_at: Set(None),
            request_count: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            created_by: Set(m.user_id.to_owned()),
            revoked_at: Set(None),
            revoked_reason: Set(None),
            regenerated_at: Set(None),
            deleted_at: Set(None),
        },
    )
    .await?;
    tracing::info!(api_key_id = %key.id, workspace_id = %key.workspace_id, "api key created");
    Ok(KeyWithSecret { key, secret: full })
}

/// Keys the caller may see: all of the workspace for owners and admins, else their own.
pub async fn list(state: &AuthState, principal: &Principal) -> Result<Vec<ApiKey>, Status> {
    let m = manager(state, principal).await?;
    let owner = (!m.role.manages_all_keys()).then_some(m.user_id);
    store::list(&state.db, m.workspace_id, owner).await
}

async fn visible(state: &AuthState, m: &Manager<'_>, id: &str) -> Result<ApiKey, Status> {
    let not_found = || Status::from(ApiError::not_found("API key", id));
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::invalid_field("id", "must be a UUID").into());
    }
    let key = store::get(&state.db, m.workspace_id, id)
        .await?
        .ok_or_else(not_found)?;
    if !m.role.manages_all_keys() && key.user_id != m.user_id {
        return Err(not_found());
    }
    Ok(key)
}

/// One key.
pub async fn get(state: &AuthState, principal: &Principal, id: &str) -> Result<ApiKey, Status> {
    let m = manager(state, principal).await?;
    visible(state, &m, id).await
}

/// Changes name, scopes, activity or expiry.
pub async fn update(
    state: &AuthState,
    principal: &Principal,
    id: &str,
    changes: KeyChanges,
) -> Result<ApiKey, Status> {
    let m = manager(state, principal).await?;
    let key = visible(state, &m, id).await?;
    if key.revoked_at.is_some() {
        return Err(ApiError::new(
            tonic::Code::FailedPrecondition,
            "KEY_REVOKED",
            "a revoked key cannot be changed; create a new key",
        )
        .into());
    }
    let now = super::now();
    let hash = key.key_hash.clone();
    let mut active = key.into_active_model();
    if let Some(name) = changes.name {
        active.name = Set(validate_name(&name)?);
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
        validate_expiry(expires_at, now)?;
        active.expires_at = Set(expires_at);
    }
    active.updated_at = Set(now);
    let key = store::save(&state.db, active).await?;
    announce(state, &hash).await;
    Ok(key)
}

/// Replaces the secret; the old one stops working at once.
pub async fn regenerate(
    state: &AuthState,
    principal: &Principal,
    id: &str,
) -> Result<KeyWithSecret, Status> {
    let m = manager(state, principal).await?;
    let key = visible(state, &m, id).await?;
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
    let old_hash = key.key_hash.clone();
    let MintedKey {
        full,
        hash,
        display_prefix,
    } = format::mint(prefix);
    let now = super::now();
    let mut active = key.into_active_model();
    active.key_hash = Set(hash);
    active.key_prefix = Set(display_prefix);
    active.regenerated_at = Set(Some(now));
    active.updated_at = Set(now);
    let key = store::save(&state.db, active).await?;
    announce(state, &old_hash).await;
    tracing::info!(api_key_id = %key.id, "api key regenerated");
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
    let hash = key.key_hash.clone();
    let now = super::now();
    let mut active = key.into_active_model();
    active.is_active = Set(false);
    active.revoked_at = Set(Some(now));
    active.revoked_reason = Set((!reason.trim().is_empty()).then(|| reason.trim().to_owned()));
    active.updated_at = Set(now);
    let key = store::save(&state.db, active).await?;
    announce(state, &hash).await;
    tracing::info!(api_key_id = %key.id, "api key revoked");
    Ok(key)
}

/// Deletes: the key stops working and leaves lists; its row stays for the audit trail.
pub async fn delete(state: &AuthState, principal: &Principal, id: &str) -> Result<ApiKey, Status> {
    let m = manager(state, principal).await?;
    let key = visible(state, &m, id).await?;
    let hash = key.key_hash.clone();
    let now = super::now();
    let mut active = key.into_active_model();
    active.is_active = Set(false);
    active.deleted_at = Set(Some(now));
    active.updated_at = Set(now);
    let key = store::save(&state.db, active).await?;
    announce(state, &hash).await;
    tracing::info!(api_key_id = %key.id, "api key deleted");
    Ok(key)
}

/// Looks a key up by hash for the gateway. `None` when no such key exists.
pub async fn validate(state: &AuthState, key_hash: &str) -> Result<Option<ApiKey>, Status> {
    if key_hash.len() != 64 || !key_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid_field("key_hash", "must be a hex SHA-256").into());
    }
    store::find_by_hash_global(&state.db, key_hash).await
}

/// Tells every gateway to drop the key with this hash from its caches.
async fn announce(state: &AuthState, key_hash: &str) {
    if let Err(e) = state.bus.publish(&format!("key:{key_hash}")).await {
        // The change is committed; gateways that miss this drop the entry when their cache
        // entry expires, and flush everything when their own Redis link comes back.
        tracing::warn!(error = %e, "could not announce api key change");
    }
}
