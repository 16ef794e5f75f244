//! API key resolution: checksum (no I/O) → SHA-256 → in-process cache → Redis →
//! `svc-auth.ValidateKey`. Unknown keys are cached negatively for a short time so a flood of
//! made-up keys never reaches the database. Entries leave both caches when svc-auth
//! announces a change on the bus.

use crate::{error::GatewayError, redis_link::RedisLink};
use crm_platform::{Principal, PrincipalKind, api_key as format, principal::PrincipalVerifier};
use crm_proto::auth::{
    KeyStatus, ValidateKeyRequest, key_validation_service_client::KeyValidationServiceClient,
};
use moka::{Expiry, future::Cache};
use serde::{Deserialize, Serialize};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tonic::transport::Channel;

/// What the gateway knows about one key hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyEntry {
    /// `active`, `unknown`, `inactive`, `revoked`, `expired`.
    pub status: String,
    /// Owning workspace.
    #[serde(default)]
    pub workspace_id: String,
    /// Key id.
    #[serde(default)]
    pub api_key_id: String,
    /// User the key acts for.
    #[serde(default)]
    pub owner_user_id: String,
    /// Normalized scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Expiry, unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl KeyEntry {
    fn unknown() -> Self {
        Self {
            status: "unknown".into(),
            workspace_id: String::new(),
            api_key_id: String::new(),
            owner_user_id: String::new(),
            scopes: Vec::new(),
            expires_at: None,
        }
    }
}

/// Cache lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct CacheTtl {
    /// Known keys.
    pub positive: Duration,
    /// Unknown keys.
    pub negative: Duration,
}

/// While Redis is configured but away, invalidations cannot arrive, so known keys are kept
/// only this long: a revocation then takes effect within it instead of the full TTL.
const TTL_WHILE_REDIS_DOWN: Duration = Duration::from_secs(2);

struct EntryExpiry {
    ttl: CacheTtl,
    redis: Option<RedisLink>,
}

impl Expiry<String, Arc<KeyEntry>> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<KeyEntry>,
        _at: Instant,
    ) -> Option<Duration> {
        if value.status == "unknown" {
            return Some(self.ttl.negative);
        }
        let redis_down = self.redis.as_ref().is_some_and(|r| !r.is_up());
        Some(if redis_down {
            self.ttl.positive.min(TTL_WHILE_REDIS_DOWN)
        } else {
            self.ttl.positive
        })
    }
}

/// Resolves keys to principals.
#[derive(Clone)]
pub struct KeyResolver {
    cache: Cache<String, Arc<KeyEntry>>,
    redis: Option<RedisLink>,
    auth: KeyValidationServiceClient<Channel>,
    signer: PrincipalVerifier,
    ttl: CacheTtl,
}

impl KeyResolver {
    /// A resolver asking svc-auth over `auth` on a miss.
    pub fn new(
        auth: Channel,
        redis: Option<RedisLink>,
        signer: PrincipalVerifier,
        ttl: CacheTtl,
    ) -> Self {
        let cache = Cache::builder()
            .max_capacity(100_000)
            .expire_after(EntryExpiry {
                ttl,
                redis: redis.clone(),
            })
            .build();
        Self {
            cache,
            redis,
            auth: KeyValidationServiceClient::new(auth),
            signer,
            ttl,
        }
    }

    /// Turns a presented key into a principal, or the 401 that says why not.
    pub async fn resolve(&self, key: &str) -> Result<Principal, GatewayError> {
        format::check(key)
            .map_err(|e| GatewayError::unauthenticated("INVALID_API_KEY", e.to_string()))?;
        let hash = format::hash(key);
        let entry = self.entry(&hash).await?;
        principal_of(&entry)
    }

    /// The cached entry for a hash, loading it on a miss (concurrent misses load once).
    pub async fn entry(&self, hash: &str) -> Result<Arc<KeyEntry>, GatewayError> {
        if let Some(e) = self.cache.get(hash).await {
            return Ok(e);
        }
        let this = self.clone();
        let owned = hash.to_owned();
        self.cache
            .try_get_with(hash.to_owned(), async move {
                this.load(&owned).await.map(Arc::new)
            })
            .await
            .map_err(|e: Arc<GatewayError>| (*e).clone())
    }

    async fn load(&self, hash: &str) -> Result<KeyEntry, GatewayError> {
        let redis_key = self.redis.as_ref().map(|r| r.key(&format!("key:{hash}")));
        if let (Some(redis), Some(k)) = (&self.redis, &redis_key)
            && let Some(json) = redis.get(k).await
            && let Ok(entry) = serde_json::from_str::<KeyEntry>(&json)
        {
            return Ok(entry);
        }
        let entry = self.validate(hash).await?;
        if let (Some(redis), Some(k)) = (&self.redis, &redis_key)
            && let Ok(json) = serde_json::to_string(&entry)
        {
            let ttl = if entry.status == "unknown" {
                self.ttl.negative
            } else {
                self.ttl.positive * 2
            };
            redis.set_ex(k, &json, ttl.as_secs().max(1)).await;
        }
        Ok(entry)
    }

    async fn validate(&self, hash: &str) -> Result<KeyEntry, GatewayError> {
        let mut request = tonic::Request::new(ValidateKeyRequest {
            key_hash: hash.to_owned(),
        });
        self.signer
            .sign_into(&Principal::service("gateway"), request.metadata_mut())
            .map_err(|e| GatewayError::internal(e.to_string()))?;
        request.set_timeout(Duration::from_secs(3));
        let r = self.auth.clone().validate_key(request).await.map_err(|s| {
            tracing::warn!(code = ?s.code(), "ValidateKey failed");
            GatewayError::new(
                tonic::Code::Unavailable,
                "AUTH_UNAVAILABLE",
                "cannot validate the API key right now; retry shortly",
            )
        })?;
        let r = r.into_inner();
        let status = match KeyStatus::try_from(r.status).unwrap_or(KeyStatus::Unknown) {
            KeyStatus::Active => "active",
            KeyStatus::Inactive => "inactive",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Expired => "expired",
            KeyStatus::Unknown | KeyStatus::Unspecified => return Ok(KeyEntry::unknown()),
        };
        Ok(KeyEntry {
            status: status.into(),
            workspace_id: r.workspace_id,
            api_key_id: r.api_key_id,
            owner_user_id: r.owner_user_id,
            scopes: r.scopes,
            expires_at: r.expires_at.map(|t| t.seconds),
        })
    }

    /// Drops one hash from both caches.
    pub async fn invalidate(&self, hash: &str) {
        self.cache.invalidate(hash).await;
        if let Some(redis) = &self.redis {
            redis.del(&redis.key(&format!("key:{hash}"))).await;
        }
    }

    /// Drops everything from the in-process cache.
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }
}

fn principal_of(entry: &KeyEntry) -> Result<Principal, GatewayError> {
    let now = chrono::Utc::now().timestamp();
    let expired_at = entry.expires_at.filter(|e| *e <= now);
    match entry.status.as_str() {
        "active" if expired_at.is_none() => {}
        "active" | "expired" => {
            let at = entry
                .expires_at
                .and_then(|e| chrono::DateTime::from_timestamp(e, 0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            return Err(GatewayError::unauthenticated(
                "API_KEY_EXPIRED",
                format!(
                    "API key expired at {at}. Create a new key with POST /api/api-keys, or extend this one with PUT /api/api-keys/{} and a new expires_at",
                    entry.api_key_id
                ),
            )
            .with_detail("expired_at", at)
            .with_detail("api_key_id", entry.api_key_id.clone()));
        }
        "revoked" => {
            return Err(GatewayError::unauthenticated(
                "API_KEY_REVOKED",
                "API key has been revoked; create a new key",
            ));
        }
        "inactive" => {
            return Err(GatewayError::unauthenticated(
                "API_KEY_INACTIVE",
                format!(
                    "API key is deactivated; re-enable it with PUT /api/api-keys/{} {{\"is_active\": true}}",
                    entry.api_key_id
                ),
            ));
        }
        _ => {
            return Err(GatewayError::unauthenticated(
                "INVALID_API_KEY",
                "invalid API key",
            ));
        }
    }
    let mut p = Principal::new(
        PrincipalKind::ApiKey,
        &entry.workspace_id,
        &entry.owner_user_id,
    );
    p.api_key_id = entry.api_key_id.clone();
    p.scopes = entry.scopes.clone();
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(expires_at: Option<i64>) -> KeyEntry {
        KeyEntry {
            status: "active".into(),
            workspace_id: "w".into(),
            api_key_id: "k".into(),
            owner_user_id: "u".into(),
            scopes: vec!["contacts:read".into()],
            expires_at,
        }
    }

    #[test]
    fn cached_entries_are_judged_at_request_time() {
        let now = chrono::Utc::now().timestamp();
        assert_eq!(
            principal_of(&active(Some(now + 60))).unwrap().workspace_id,
            "w"
        );
        let e = principal_of(&active(Some(now - 1))).unwrap_err();
        assert_eq!(e.code, "API_KEY_EXPIRED");
        assert!(e.details.contains_key("expired_at"));
        assert_eq!(
            principal_of(&KeyEntry::unknown()).unwrap_err().code,
            "INVALID_API_KEY"
        );
    }
}
