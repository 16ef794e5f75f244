//! Workspace members as the seed's "agents".

use super::{AuthState, role::Role};
use crate::store::{
    entities::{memberships, users},
    workspace as store,
};
use crm_platform::{Principal, error::ApiError};
use tonic::Status;

/// Filters of [`list`].
pub struct AgentFilter {
    /// Only this role.
    pub role: String,
    /// Only this status.
    pub status: String,
    /// Name or email contains this, case-insensitively.
    pub search: String,
}

/// Members of the caller's workspace matching the filter.
pub async fn list(
    state: &AuthState,
    principal: &Principal,
    filter: AgentFilter,
) -> Result<Vec<(memberships::Model, users::Model)>, Status> {
    if !principal.allows("workspace_members:read") {
        return Err(ApiError::forbidden("missing scope workspace_members:read").into());
    }
    let workspace_id = principal.workspace()?;
    if !filter.role.is_empty() {
        Role::parse(&filter.role).map_err(|_| {
            ApiError::invalid_field(
                "role",
                "must be one of owner, admin, manager, agent, viewer",
            )
        })?;
    }
    if !matches!(
        filter.status.as_str(),
        "" | "active" | "inactive" | "pending"
    ) {
        return Err(
            ApiError::invalid_field("status", "must be one of active, inactive, pending").into(),
        );
    }
    // Every membership is active today: invitations (pending) and deactivation come later.
    if matches!(filter.status.as_str(), "inactive" | "pending") {
        return Ok(Vec::new());
    }
    let search = filter.search.trim().to_lowercase();
    Ok(store::members(&state.db, workspace_id)
        .await?
        .into_iter()
        .filter(|(m, _)| filter.role.is_empty() || m.role == filter.role)
        .filter(|(_, u)| {
            search.is_empty()
                || u.name.to_lowercase().contains(&search)
                || u.email.contains(&search)
        })
        .collect())
}
