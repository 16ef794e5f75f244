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
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tonic::transport::Channel;

/// What the gateway knows about one key hash.
#[derive(Debug, Default, Serialize, Deserialize)]
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
    /// The key's own requests per minute.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    /// The key's own requests per hour.
    #[serde(default)]
    pub rate_limit_per_hour: Option<u32>,
    /// Tier name.
    #[serde(default)]
    pub rate_limit_tier: Option<String>,
    /// Addresses and CIDR ranges the key may be used from; empty = anywhere.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// The hash is a regenerated key's previous secret (valid until `expires_at`).
    #[serde(default)]
    pub previous_secret: bool,
    /// The API client the key belongs to.
    #[serde(default)]
    pub api_client_id: Option<String>,
    /// The tier is the client's, its buckets shared by all the client's keys.
    #[serde(default)]
    pub client_tier: bool,
}

impl KeyEntry {
    fn unknown() -> Self {
        Self {
            status: "unknown".into(),
            ..Self::default()
        }
    }

    /// Whether the key may be used from `ip`. Entries were normalized by svc-auth; one that
    /// does not parse matches nothing (fail closed).
    pub fn allows_ip(&self, ip: std::net::IpAddr) -> bool {
        self.allowed_ips.is_empty()
            || self
                .allowed_ips
                .iter()
                .filter_map(|n| n.parse::<ipnet::IpNet>().ok())
                .any(|n| n.contains(&ip))
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
    /// Bumped by every invalidation: a load that overlapped one may have read the old state
    /// (from Redis, or from svc-auth before the change committed), so its result is used
    /// for the call that asked but not kept.
    invalidations: Arc<AtomicU64>,
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
            invalidations: Arc::default(),
        }
    }

    /// Turns a presented key into a principal (and the cached facts about the key), or the
    /// 401 that says why not.
    pub async fn resolve(&self, key: &str) -> Result<(Principal, Arc<KeyEntry>), GatewayError> {
        format::check(key)
            .map_err(|e| GatewayError::unauthenticated("INVALID_API_KEY", e.to_string()))?;
        let hash = format::hash(key);
        let entry = self.entry(&hash).await?;
        let principal = principal_of(&entry)?;
        Ok((principal, entry))
    }

    /// The cached entry for a hash, loading it on a miss (concurrent misses load once).
    pub async fn entry(&self, hash: &str) -> Result<Arc<KeyEntry>, GatewayError> {
        if let Some(e) = self.cache.get(hash).await {
            return Ok(e);
        }
        let epoch = self.invalidations.load(Ordering::Acquire);
        let this = self.clone();
        let owned = hash.to_owned();
        let entry = self
            .cache
            .try_get_with(hash.to_owned(), async move {
                this.load(&owned, epoch).await.map(Arc::new)
            })
            .await
            .map_err(|e: Arc<GatewayError>| (*e).clone())?;
        if self.invalidations.load(Ordering::Acquire) != epoch {
            self.cache.invalidate(hash).await;
        }
        Ok(entry)
    }

    async fn load(&self, hash: &str, epoch: u64) -> Result<KeyEntry, GatewayError> {
        let redis_key = self.redis.as_ref().map(|r| r.key(&format!("key:{hash}")));
        if let (Some(redis), Some(k)) = (&self.redis, &redis_key)
            && let Some(json) = redis.get(k).await
            && let Ok(entry) = serde_json::from_str::<KeyEntry>(&json)
        {
            return Ok(entry);
        }
        let entry = self.validate(hash).await?;
        if let (Some(redis), Some(k)) = (&self.redis, &redis_key)
            && self.invalidations.load(Ordering::Acquire) == epoch
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
            // A previous secret is promised until its grace ends: round up to the second so
            // it never stops early.
            expires_at: r
                .expires_at
                .map(|t| t.seconds + i64::from(r.previous_secret && t.nanos > 0)),
            rate_limit_per_minute: (r.rate_limit_per_minute > 0).then_some(r.rate_limit_per_minute),
            rate_limit_per_hour: (r.rate_limit_per_hour > 0).then_some(r.rate_limit_per_hour),
            rate_limit_tier: (!r.rate_limit_tier.is_empty()).then_some(r.rate_limit_tier),
            allowed_ips: r.allowed_ips,
            previous_secret: r.previous_secret,
            api_client_id: (!r.api_client_id.is_empty()).then_some(r.api_client_id),
            client_tier: r.client_tier,
        })
    }

    /// Drops one hash from both caches.
    /// The local entry goes at once; after the Redis copy is deleted it goes again, since a
    /// call in between may have refilled it from that stale copy.
    pub async fn invalidate(&self, hash: &str) {
        self.drop_local(hash).await;
        if let Some(redis) = &self.redis {
            redis.del(&redis.key(&format!("key:{hash}"))).await;
            self.drop_local(hash).await;
        }
    }

    async fn drop_local(&self, hash: &str) {
        self.cache.invalidate(hash).await;
        self.invalidations.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops everything from the in-process cache.
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
        self.invalidations.fetch_add(1, Ordering::AcqRel);
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
            if entry.previous_secret && entry.status == "active" {
                return Err(GatewayError::unauthenticated(
                    "API_KEY_ROTATED",
                    format!(
                        "this secret was replaced when the key was regenerated; its grace period ended at {at}. Use the new secret"
                    ),
                )
                .with_detail("grace_ended_at", at)
                .with_detail("api_key_id", entry.api_key_id.clone()));
            }
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
            ..KeyEntry::default()
        }
    }

    #[test]
    fn allowlists_match_addresses_and_ranges_of_both_families() {
        let mut e = active(None);
        assert!(
            e.allows_ip("198.51.100.1".parse().unwrap()),
            "empty = anywhere"
        );
        e.allowed_ips = vec!["203.0.113.7/32".into(), "2001:db8::/32".into()];
        assert!(e.allows_ip("203.0.113.7".parse().unwrap()));
        assert!(!e.allows_ip("203.0.113.8".parse().unwrap()));
        assert!(e.allows_ip("2001:db8:1::9".parse().unwrap()));
        assert!(!e.allows_ip("2001:db9::1".parse().unwrap()));
        e.allowed_ips = vec!["not-a-net".into()];
        assert!(!e.allows_ip("203.0.113.7".parse().unwrap()), "fails closed");
    }

    #[test]
    fn a_previous_secret_past_its_grace_says_it_was_rotated() {
        let mut e = active(Some(chrono::Utc::now().timestamp() - 1));
        e.previous_secret = true;
        assert_eq!(principal_of(&e).unwrap_err().code, "API_KEY_ROTATED");
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
