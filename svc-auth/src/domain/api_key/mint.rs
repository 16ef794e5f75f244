//! Minting a key: the caller's role, the limits it may set, its fields checked, the cap on a
//! member's keys, a client's key kept within the client.

use super::{KeyWithSecret, Manager, NewKey, announce::key_change, manager};
use crate::domain::{AuthState, audit, key_owner, key_policy};
use crate::store::api_key as store;
use chrono::{DateTime, Utc};
use crm_platform::{
    Principal,
    api_key::{self as format, MintedKey},
    error::ApiError,
};
use sea_orm::ActiveValue::Set;
use tonic::Status;

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
    let now = crate::domain::now();
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
        let client =
            crate::domain::api_client::for_new_key(state, &m, input.client_id.trim()).await?;
        crate::domain::api_client::check_within(&client, &input.scopes)?;
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
pub(super) fn limit_field(per_minute: bool, per_hour: bool, tier: bool) -> Option<&'static str> {
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
