//! The gateway's lookup of a presented secret's hash: the key's current secret, or its
//! previous one during a regeneration's grace period.

use super::ApiKey;
use crate::domain::AuthState;
use crate::store::api_key as store;
use crm_platform::error::ApiError;
use tonic::Status;

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
        .is_some_and(|e| e > crate::domain::now());
    Ok(in_grace.then_some(Validated {
        key,
        previous_secret: true,
    }))
}
