//! API key lifecycle: mint, list, read, change, regenerate, revoke, delete, validate.
//! Every change that affects authentication is announced on the bus so gateways drop the
//! key from their caches at once.

use super::{AuthState, audit, key_owner, key_policy, role::Role, scopes::Scopes};
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

/// The caller as a workspace member: only users manage keys, never keys themselves.
pub(super) struct Manager<'a> {
    pub(super) workspace_id: &'a str,
    pub(super) user_id: &'a str,
    pub(super) role: Role,
}

pub(super) async fn manager<'a>(
    state: &AuthState,
    principal: &'a Principal,
) -> Result<Manager<'a>, Status> {
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
    let name = key_policy::name(&input.name)?;
    key_policy::may_set_limits(
        m.role,
        limit_field(
            input.per_minute.is_some(),
            input.per_hour.is_some(),
            !input.tier.trim().is_empty(),
        ),
    )?;
    if input.scopes.is_empty() {
        return Err(ApiError::invalid_field(
            "permissions",
            "at least one permission is required, e.g. {\"contacts\": [\"read\"]}",
        )
        .into());
    }
    let now = super::now();
    key_policy::expiry(input.expires_at, now)?;
    let prefix = format::parse_prefix(&input.prefix)
        .ok_or_else(|| ApiError::invalid_field("prefix", "must be crm_live_ or crm_test_"))?;
    let per_minute = input
        .per_minute
        .map(|v| key_policy::per_minute(v, "rate_limit_override", &state.key_limits))
        .transpose()?;
    let per_hour = input
        .per_hour
        .map(|v| key_policy::per_hour(v, "rate_limit", &state.key_limits))
        .transpose()?;
    let tier = key_policy::tier(&input.tier)?;
    let allowed_ips = key_policy::allowed_ips(&input.allowed_ips)?;
    let client_id = if input.client_id.trim().is_empty() {
        key_owner::within_role(m.role, &input.scopes)?;
        below_key_cap(state, &m, now).await?;
        None
    } else {
        let client = super::api_client::for_new_key(state, &m, input.client_id.trim()).await?;
        super::api_client::check_within(&client, &input.scopes)?;
        Some(client.id)
    };
    let MintedKey {
        full,
        hash,
        display_prefix,
    } = format::mint(prefix);
    let txn = audit::begin(state).await?;
    let key = store::insert(
        &txn,
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
            rate_limit_per_minute: Set(per_minute),
            rate_limit_per_hour: Set(per_hour),
            rate_limit_tier: Set(tier),
            allowed_ips: Set(allowed_ips),
            previous_key_hash: Set(None),
            previous_key_expires_at: Set(None),
            client_id: Set(client_id),
        },
    )
    .await?;
    audit::commit_with(
        txn,
        principal,
        &key.workspace_id,
        key_change("api_key.created", &key),
    )
    .await?;
    tracing::info!(api_key_id = %key.id, workspace_id = %key.workspace_id, "api key created");
    Ok(KeyWithSecret { key, secret: full })
}

/// The first rate-limit field a create or update sets, for the refusal to name.
fn limit_field(per_minute: bool, per_hour: bool, tier: bool) -> Option<&'static str> {
    [
        (per_minute, "rate_limit_override"),
        (per_hour, "rate_limit"),
        (tier, "rate_limit_tier"),
    ]
    .into_iter()
    .find_map(|(set, field)| set.then_some(field))
}

/// Refuses a new key when the caller already holds `key_limits.max_keys_per_user` usable
/// keys of their own in the workspace. Counted before the insert, so creates racing on
/// Postgres may pass the cap by the few that overlap; it bounds abuse, not an invoice.
async fn below_key_cap(
    state: &AuthState,
    m: &Manager<'_>,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    let held = store::count_usable_of_user(&state.db, m.workspace_id, m.user_id, now)
        .await
        .map_err(crate::store::db_error("count api keys"))?;
    let cap = u64::from(state.key_limits.max_keys_per_user);
    if held >= cap {
        return Err(ApiError::in_use(
            "API_KEY_LIMIT_REACHED",
            format!(
                "you already hold {held} API keys in this workspace, the most one member may hold ({cap}); revoke or delete keys you no longer use, then create this one"
            ),
        )
        .with_body_field("active_key_count", held.into())
        .with_body_field("max_keys_per_user", cap.into())
        .into());
    }
    Ok(())
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
    let now = super::now();
    let hashes = hashes_of(&key);
    if let Some(scopes) = &changes.scopes {
        match &key.client_id {
            Some(client_id) => {
                if let Some(client) =
                    crate::store::api_client::get(&state.db, m.workspace_id, client_id).await?
                {
                    super::api_client::check_within(&client, scopes)?;
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
    let txn = audit::begin(state).await?;
    let key = store::save(&txn, active).await?;
    audit::commit_with(
        txn,
        principal,
        &key.workspace_id,
        key_change("api_key.updated", &key),
    )
    .await?;
    announce_all(state, &hashes).await;
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
    let now = super::now();
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
    let now = super::now();
    let mut active = key.into_active_model();
    active.is_active = Set(false);
    active.revoked_at = Set(Some(now));
    active.revoked_reason = Set((!reason.trim().is_empty()).then(|| reason.trim().to_owned()));
    active.updated_at = Set(now);
    let txn = audit::begin(state).await?;
    let key = store::save(&txn, active).await?;
    audit::commit_with(
        txn,
        principal,
        &key.workspace_id,
        key_change("api_key.revoked", &key),
    )
    .await?;
    announce_all(state, &hashes).await;
    tracing::info!(api_key_id = %key.id, "api key revoked");
    Ok(key)
}

/// Deletes: the key stops working and leaves lists; its row stays for the audit trail.
pub async fn delete(state: &AuthState, principal: &Principal, id: &str) -> Result<ApiKey, Status> {
    let m = manager(state, principal).await?;
    let key = visible(state, &m, id).await?;
    let hashes = hashes_of(&key);
    let now = super::now();
    let mut active = key.into_active_model();
    active.is_active = Set(false);
    active.deleted_at = Set(Some(now));
    active.updated_at = Set(now);
    let txn = audit::begin(state).await?;
    let key = store::save(&txn, active).await?;
    audit::commit_with(
        txn,
        principal,
        &key.workspace_id,
        key_change("api_key.deleted", &key),
    )
    .await?;
    announce_all(state, &hashes).await;
    tracing::info!(api_key_id = %key.id, "api key deleted");
    Ok(key)
}

/// A key found by the hash of a presented secret.
pub struct Validated {
    /// The key.
    pub key: ApiKey,
    /// The secret is the one replaced by the last regeneration, still in its grace period
    /// until `key.previous_key_expires_at`.
    pub previous_secret: bool,
}

/// Looks a key up by hash for the gateway: its current secret, or its previous one while the
/// grace period lasts. `None` when no such key exists (or the grace period is over).
pub async fn validate(state: &AuthState, key_hash: &str) -> Result<Option<Validated>, Status> {
    if key_hash.len() != 64 || !key_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid_field("key_hash", "must be a hex SHA-256").into());
    }
    if let Some(key) = store::find_by_hash_global(&state.db, key_hash).await? {
        return Ok(Some(Validated {
            key,
            previous_secret: false,
        }));
    }
    let Some(key) = store::find_by_previous_hash_global(&state.db, key_hash).await? else {
        return Ok(None);
    };
    let in_grace = key
        .previous_key_expires_at
        .is_some_and(|e| e > super::now());
    Ok(in_grace.then_some(Validated {
        key,
        previous_secret: true,
    }))
}

/// A client's key belongs to the client, not to the member who made it: only owners and
/// admins change or regenerate it.
fn client_key_needs_admin(m: &Manager<'_>, key: &ApiKey, verb: &str) -> Result<(), ApiError> {
    if key.client_id.is_some() && !m.role.manages_all_keys() {
        return Err(super::role::refuse(&format!(
            "only owners and admins {verb} an API client's keys"
        )));
    }
    Ok(())
}

/// The audit entry of a key change: what the key is, never its secret.
fn key_change<'a>(action: &'static str, key: &'a ApiKey) -> audit::Change<'a> {
    audit::Change {
        action,
        target_type: "api_key",
        target_id: &key.id,
        details: serde_json::json!({
            "name": key.name,
            "key_prefix": key.key_prefix,
            "owner_user_id": key.user_id,
            "client_id": key.client_id,
            "scopes": key.scopes,
            "is_active": key.is_active,
        }),
    }
}

/// Every hash that currently authenticates as this key.
pub(super) fn hashes_of(key: &ApiKey) -> Vec<String> {
    std::iter::once(key.key_hash.clone())
        .chain(key.previous_key_hash.clone())
        .collect()
}

pub(super) async fn announce_all(state: &AuthState, hashes: &[String]) {
    for h in hashes {
        announce(state, h).await;
    }
}

/// Tells every gateway to drop the key with this hash from its caches.
async fn announce(state: &AuthState, key_hash: &str) {
    if let Err(e) = state.bus.publish(&format!("key:{key_hash}")).await {
        // The change is committed; gateways that miss this drop the entry when their cache
        // entry expires, and flush everything when their own Redis link comes back.
        tracing::warn!(error = %e, "could not announce api key change");
    }
}
