//! Who manages which key: only users, as members of the workspace with their current role;
//! owners and admins see every key (and alone change a client's), others their own.

use super::ApiKey;
use crate::domain::{AuthState, role::Role};
use crate::store::{api_key as store, workspace as members};
use crm_platform::{Principal, PrincipalKind, error::ApiError};
use tonic::Status;

/// The caller as a workspace member: only users manage keys, never keys themselves.
pub(crate) struct Manager<'a> {
    pub(crate) workspace_id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) role: Role,
}

pub(crate) async fn manager<'a>(
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

/// Keys the caller may see: all of the workspace for owners and admins, else their own.
pub async fn list(state: &AuthState, principal: &Principal) -> Result<Vec<ApiKey>, Status> {
    let m = manager(state, principal).await?;
    let owner = (!m.role.manages_all_keys()).then_some(m.user_id);
    store::list(&state.db, m.workspace_id, owner).await
}

pub(super) async fn visible(
    state: &AuthState,
    m: &Manager<'_>,
    id: &str,
) -> Result<ApiKey, Status> {
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

/// A client's key belongs to the client, not to the member who made it: only owners and
/// admins change or regenerate it.
pub(super) fn client_key_needs_admin(
    m: &Manager<'_>,
    key: &ApiKey,
    verb: &str,
) -> Result<(), ApiError> {
    if key.client_id.is_some() && !m.role.manages_all_keys() {
        return Err(crate::domain::role::refuse(&format!(
            "only owners and admins {verb} an API client's keys"
        )));
    }
    Ok(())
}
