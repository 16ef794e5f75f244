//! Rate limits: the plan for a call (`policy`), checked in Redis in one round trip when it
//! is there (`redis_gcra`), in-process with governor when it is not (`local`), and shown to
//! the caller as headers or a 429 (`decision`).

pub mod decision;
pub mod local;
pub mod policy;
pub mod redis_gcra;
pub mod refused_addresses;

use crate::redis_link::RedisLink;
use decision::Decision;
use local::LocalLimiter;
use policy::{Plan, RateLimitConfig};
use redis_gcra::SharedBuckets;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// Checks plans against shared (Redis) or local buckets.
#[derive(Clone)]
pub struct Limiter {
    /// Settings.
    pub config: Arc<RateLimitConfig>,
    shared: Option<SharedBuckets>,
    local: Arc<LocalLimiter>,
    refused: Arc<AtomicU64>,
    /// Addresses refused for failed authentications, checked before authenticating.
    pub refused_addresses: refused_addresses::RefusedAddresses,
}

impl Limiter {
    /// A limiter sharing buckets through `redis` when given; its tasks stop on `shutdown`.
    pub fn new(
        config: RateLimitConfig,
        redis: Option<RedisLink>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            config: Arc::new(config),
            shared: redis.map(|r| SharedBuckets::spawn(r, shutdown)),
            local: Arc::default(),
            refused: Arc::default(),
            refused_addresses: Default::default(),
        }
    }

    /// Checks the plan `plan` makes; `None` when limiting is switched off, in which case no
    /// plan is made at all.
    pub async fn check(&self, plan: impl FnOnce() -> Plan) -> Option<Decision> {
        if !self.config.enabled {
            return None;
        }
        let plan = plan();
        if plan.windows.is_empty() {
            return None;
        }
        let shared = match &self.shared {
            Some(buckets) => buckets.check(&plan).await,
            None => None,
        };
        let decision = shared.unwrap_or_else(|| self.local.check(&plan));
        if !decision.allowed {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        Some(decision)
    }

    /// The in-process buckets, for views of this gateway's admission state.
    pub fn local_buckets(&self) -> Arc<dyn crm_platform::quota_view::LocalBuckets> {
        self.local.clone()
    }

    /// Counts a refusal made without a check (a standing address refusal).
    pub fn count_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls refused so far (for `/metrics`).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Prunes idle local buckets every minute until `shutdown`.
    pub fn spawn_pruning(&self, shutdown: CancellationToken) {
        let local = self.local.clone();
        let task = async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(60)) => local.prune(),
                }
            }
        };
        tokio::spawn(tracing::Instrument::instrument(
            task,
            tracing::info_span!("rate_limit_pruning"),
        ));
    }
}
