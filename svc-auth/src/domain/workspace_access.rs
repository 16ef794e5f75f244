//! Who the caller is in the workspace a call names in its path: a member with a role, read
//! from the membership table at each call (never from the token), or refused.

use super::{AuthState, role::Role};
use crate::store::{db_error, members};
use crm_platform::{Principal, PrincipalKind, error::ApiError};
use tonic::Status;

/// The caller as a member of one workspace.
pub struct MemberCaller {
    /// The workspace, as stored.
    pub workspace_id: String,
    /// The caller's user id.
    pub user_id: String,
    /// Their role there now.
    pub role: Role,
}

/// A workspace id from a path, checked to be a UUID.
pub fn workspace_id(id: &str, field: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid_field(field, "must be a workspace id (UUID)"))
}

/// The caller's membership in `workspace_id`. A workspace the caller does not belong to is
/// "not found", the same as one that does not exist.
pub async fn member_of(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
) -> Result<MemberCaller, Status> {
    if principal.kind != PrincipalKind::User {
        return Err(ApiError::forbidden("this call needs a user token (JWT)").into());
    }
    let id = self::workspace_id(workspace_id, "workspace_id")?;
    let membership = members::membership(&state.db, &id, &principal.subject)
        .await
        .map_err(db_error("find membership"))?
        .ok_or_else(|| ApiError::not_found("workspace", &id))?;
    Ok(MemberCaller {
        workspace_id: id,
        user_id: principal.subject.clone(),
        role: Role::parse(&membership.role)?,
    })
}

impl MemberCaller {
    /// Refuses callers below admin; `what` says what only owners and admins may do.
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.role.rank() < Role::Admin.rank() {
            return Err(super::role::refuse(&format!(
                "only owners and admins {what}"
            )));
        }
        Ok(())
    }
}

/// Tells every gateway that a membership changed (role, or gone), and drops the member's
/// own keys from their caches so the keys' next use sees the new role or the removal.
pub async fn announce_member(state: &AuthState, workspace_id: &str, user_id: &str) {
    if let Err(e) = state
        .bus
        .publish(&format!("member:{workspace_id}:{user_id}"))
        .await
    {
        // Committed; gateways that miss this see it when their cache entry expires.
        tracing::warn!(error = %e, "could not announce membership change");
    }
    match crate::store::api_key::list(&state.db, workspace_id, Some(user_id)).await {
        Ok(keys) => {
            let hashes: Vec<String> = keys
                .iter()
                .filter(|k| k.client_id.is_none())
                .flat_map(super::api_key::hashes_of)
                .collect();
            super::api_key::announce_all(state, &hashes).await;
        }
        Err(e) => tracing::warn!(error = %e.message(), "could not list the member's keys"),
    }
}
