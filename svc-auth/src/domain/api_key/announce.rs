//! What a key change leaves behind: its audit entry (never the secret), and the bus
//! announcement that makes every gateway drop the key's hashes from its caches at once.

use super::ApiKey;
use crate::domain::{AuthState, audit};
use crate::store::api_key as store;
use crm_platform::Principal;
use tonic::Status;

/// The audit entry of a key change: what the key is, never its secret.
pub(super) fn key_change<'a>(action: &'static str, key: &'a ApiKey) -> audit::Change<'a> {
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
pub(crate) fn hashes_of(key: &ApiKey) -> Vec<String> {
    std::iter::once(key.key_hash.clone())
        .chain(key.previous_key_hash.clone())
        .collect()
}

/// Saves a changed key with its audit entry `action` in one transaction, then announces
/// `hashes`, those that authenticated as the key before the change.
pub(super) async fn save_announced(
    state: &AuthState,
    principal: &Principal,
    active: store::ActiveModel,
    action: &'static str,
    hashes: &[String],
) -> Result<ApiKey, Status> {
    let txn = audit::begin(state).await?;
    let key = store::save(&txn, active).await?;
    audit::commit_with(txn, principal, &key.workspace_id, key_change(action, &key)).await?;
    announce_all(state, hashes).await;
    Ok(key)
}

pub(crate) async fn announce_all(state: &AuthState, hashes: &[String]) {
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
