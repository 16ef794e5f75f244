//! A user's key never has more than its owner: the scopes a key may hold are what the
//! owner's role allows (`crm_platform::roles`). A client's key is bounded by its client
//! instead (`api_client::check_within`).

use super::{
    AuthState,
    api_key::{ApiKey, Manager},
    role::Role,
    scopes::Scopes,
};
use crate::store::workspace as members;
use crm_platform::{error::ApiError, roles};
use tonic::Status;

/// Refuses scopes beyond what `role` may do: a user's key never has more than its owner.
pub(super) fn within_role(role: Role, scopes: &Scopes) -> Result<(), ApiError> {
    let beyond: Vec<String> = scopes
        .to_vec()
        .into_iter()
        .filter(|s| !roles::role_allows(role.as_str(), s))
        .collect();
    if beyond.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid_field(
        "scopes",
        format!(
            "exceed what a workspace {} may do ({}); a key never has more than its owner",
            role.as_str(),
            beyond.join(", ")
        ),
    ))
}

/// The role of the user a key belongs to (who may not be the one changing it).
pub(super) async fn role_of(
    state: &AuthState,
    m: &Manager<'_>,
    key: &ApiKey,
) -> Result<Role, Status> {
    if key.user_id == m.user_id {
        return Ok(m.role);
    }
    let membership = members::membership(&state.db, m.workspace_id, &key.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                tonic::Code::FailedPrecondition,
                "OWNER_NOT_MEMBER",
                "the key's owner is no longer a member of this workspace; revoke the key",
            )
        })?;
    Ok(Role::parse(&membership.role)?)
}
