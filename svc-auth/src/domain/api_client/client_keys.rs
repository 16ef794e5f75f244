//! A client's keys: a new key's client checked, its scopes kept within the client's, the keys
//! listed and revoked, and what the gateway enforces for a key of the client.

use super::{
    ApiClient,
    access::{admin, visible},
};
use crate::domain::{
    AuthState,
    api_key::{self, ApiKey, Manager, manager},
    scopes::Scopes,
};
use crate::store::{api_client as store, api_key as key_store};
use crm_platform::{Principal, error::ApiError};
use tonic::Status;

/// The client a new key is for: it must exist, be active, and the caller must manage it.
pub(crate) async fn for_new_key(
    state: &AuthState,
    m: &Manager<'_>,
    client_id: &str,
) -> Result<ApiClient, Status> {
    if !m.role.manages_all_keys() {
        return Err(
            ApiError::forbidden("only owners and admins create keys for API clients").into(),
        );
    }
    if uuid::Uuid::parse_str(client_id).is_err() {
        return Err(ApiError::invalid_field("clientId", "must be a UUID").into());
    }
    let client = store::get(&state.db, m.workspace_id, client_id)
        .await?
        .ok_or_else(|| ApiError::invalid_field("clientId", "no such API client"))?;
    if client.status != "active" {
        return Err(ApiError::invalid_field(
            "clientId",
            format!("the API client is {}; activate it first", client.status),
        )
        .into());
    }
    Ok(client)
}

/// A key's scopes must stay within its client's.
pub(crate) fn check_within(client: &ApiClient, scopes: &Scopes) -> Result<(), ApiError> {
    let granted = Scopes::from_stored(&client.scopes).to_vec();
    if scopes.within(&granted) {
        return Ok(());
    }
    Err(ApiError::invalid_field(
        "scopes",
        format!(
            "exceed the API client's scopes ({}); a key never has more than its client",
            granted.join(", ")
        ),
    ))
}

/// Keys of a client.
pub async fn keys(
    state: &AuthState,
    principal: &Principal,
    client_id: &str,
) -> Result<Vec<ApiKey>, Status> {
    let m = admin(manager(state, principal).await?)?;
    let client = visible(state, &m, client_id).await?;
    key_store::list_by_client(&state.db, m.workspace_id, &client.id).await
}

/// Revokes one key of a client (seed 003 `DELETE .../api-keys/:id`).
pub async fn revoke_key(
    state: &AuthState,
    principal: &Principal,
    client_id: &str,
    key_id: &str,
) -> Result<ApiKey, Status> {
    let m = admin(manager(state, principal).await?)?;
    let client = visible(state, &m, client_id).await?;
    let key = api_key::get(state, principal, key_id).await?;
    if key.client_id.as_deref() != Some(client.id.as_str()) {
        return Err(ApiError::not_found("API key of this client", key_id).into());
    }
    api_key::revoke(state, principal, key_id, "revoked through its API client").await
}

/// What the gateway enforces for a key of `client_id`: whether the client lets it work, its
/// tier, and the scopes the key keeps within the client's.
pub struct Effective {
    /// The client is active.
    pub active: bool,
    /// The client is deleted.
    pub deleted: bool,
    /// The client's tier.
    pub tier: String,
    /// Client scopes.
    pub scopes: Vec<String>,
}

/// The client of a key being validated (global lookup: the key row names it).
pub async fn effective(state: &AuthState, client_id: &str) -> Result<Option<Effective>, Status> {
    Ok(store::get_global(&state.db, client_id)
        .await?
        .map(|c| Effective {
            active: c.status == "active" && c.deleted_at.is_none(),
            deleted: c.deleted_at.is_some(),
            tier: c.rate_limit_tier,
            scopes: Scopes::from_stored(&c.scopes).to_vec(),
        }))
}
