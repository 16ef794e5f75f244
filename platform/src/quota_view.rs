//! The gateways' admission state, for views that show it (a client's dashboard). Gateways
//! admit calls against GCRA buckets: in Redis when they share them, else each in its own
//! process. A view reads them the same way: Redis when it is configured and answers, else the
//! in-process limiter of the gateway running in this process (the embedded stack), which is
//! where that gateway admits calls while Redis is away.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

/// A gateway's in-process buckets.
pub trait LocalBuckets: Send + Sync {
    /// How far `bucket`'s theoretical arrival time lies ahead of now (µs) in the buckets of
    /// this emission interval and capacity; 0 when the bucket is full or unknown.
    fn ahead_us(&self, bucket: &str, interval_us: u64, capacity: u32) -> u64;
}

/// A bucket to read: its name, emission interval (µs) and capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    /// Bucket name without the Redis prefix (`client:<id>:minute`).
    pub bucket: String,
    /// Microseconds between two requests at the sustained rate.
    pub interval_us: u64,
    /// Most requests accepted at once.
    pub capacity: u32,
}

/// Where a reading came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Redis, shared by every gateway.
    Shared,
    /// The in-process limiter of this process' gateway.
    Local,
}

impl Source {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Local => "local",
        }
    }
}

/// Buckets as they stand now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Where they were read.
    pub source: Source,
    /// Per bucket asked for, in order: how far its theoretical arrival time lies ahead (µs).
    pub ahead_us: Vec<u64>,
}

/// Reads the gateways' buckets.
#[derive(Clone, Default)]
pub struct QuotaView {
    shared: Option<Arc<SharedBuckets>>,
    local: Arc<RwLock<Option<Arc<dyn LocalBuckets>>>>,
}

struct SharedBuckets {
    client: redis::Client,
    prefix: String,
    conn: tokio::sync::Mutex<Link>,
}

/// The connection, or when the last attempt to make one failed.
#[derive(Default)]
struct Link {
    conn: Option<ConnectionManager>,
    failed_at: Option<Instant>,
}

/// After a failed connection attempt, views read the local buckets for this long before
/// Redis is tried again, so a Redis that does not answer delays one dashboard, not each.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What gateways put between their Redis prefix and a bucket's name.
pub const REDIS_NAMESPACE: &str = "rl:";

/// Redis `TIME`: seconds and microseconds.
type RedisTime = (i64, i64);

/// Longest a view waits for Redis before it reads the local buckets instead.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

impl QuotaView {
    /// A view of in-process buckets only (no Redis).
    pub fn in_process() -> Self {
        Self::default()
    }

    /// A view of the buckets gateways share in Redis under `prefix`.
    pub fn redis(client: redis::Client, prefix: &str) -> Self {
        Self {
            shared: Some(Arc::new(SharedBuckets {
                client,
                prefix: prefix.to_owned(),
                conn: tokio::sync::Mutex::new(Link::default()),
            })),
            local: Arc::default(),
        }
    }

    /// Makes `local` (this process' gateway's limiter) the buckets read when Redis is not.
    pub fn attach_local(&self, local: Arc<dyn LocalBuckets>) {
        *self.local.write().unwrap_or_else(|p| p.into_inner()) = Some(local);
    }

    /// The buckets `specs` as they stand; `None` when neither Redis nor a local gateway can
    /// be read.
    pub async fn read(&self, specs: &[BucketSpec]) -> Option<Reading> {
        if let Some(shared) = &self.shared
            && let Some(ahead_us) = shared.read(specs).await
        {
            return Some(Reading {
                source: Source::Shared,
                ahead_us,
            });
        }
        let local = self
            .local
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some(Reading {
            source: Source::Local,
            ahead_us: specs
                .iter()
                .map(|s| local.ahead_us(&s.bucket, s.interval_us, s.capacity))
                .collect(),
        })
    }
}

impl SharedBuckets {
    async fn connection(&self) -> Option<ConnectionManager> {
        let mut link = self.conn.lock().await;
        if link.conn.is_none() {
            if link.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
                return None;
            }
            let config = ConnectionManagerConfig::new()
                .set_number_of_retries(1)
                .set_connection_timeout(Some(REDIS_TIMEOUT))
                .set_response_timeout(Some(REDIS_TIMEOUT));
            let made = tokio::time::timeout(
                REDIS_TIMEOUT * 2,
                ConnectionManager::new_with_config(self.client.clone(), config),
            )
            .await;
            link.conn = made.ok().and_then(Result::ok);
            link.failed_at = link.conn.is_none().then(Instant::now);
        }
        link.conn.clone()
    }

    /// Redis' clock and the buckets' theoretical arrival times in one atomic round trip, so
    /// the two agree; the gateways write those times by Redis' clock too.
    async fn read(&self, specs: &[BucketSpec]) -> Option<Vec<u64>> {
        if specs.is_empty() {
            return Some(Vec::new());
        }
        let mut conn = self.connection().await?;
        let keys: Vec<String> = specs
            .iter()
            .map(|s| format!("{}{REDIS_NAMESPACE}{}", self.prefix, s.bucket))
            .collect();
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("TIME").cmd("MGET").arg(&keys);
        let answer: Result<(RedisTime, Vec<Option<i64>>), _> =
            tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut conn))
                .await
                .ok()?;
        let ((secs, micros), tats) = match answer {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "quota view cannot read Redis");
                let mut link = self.conn.lock().await;
                link.conn = None;
                link.failed_at = Some(Instant::now());
                return None;
            }
        };
        let now = secs * 1_000_000 + micros;
        Some(
            tats.into_iter()
                .map(|tat| tat.map_or(0, |t| (t - now).max(0) as u64))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl LocalBuckets for Fixed {
        fn ahead_us(&self, bucket: &str, interval_us: u64, _capacity: u32) -> u64 {
            if bucket == "client:c:minute" {
                3 * interval_us
            } else {
                0
            }
        }
    }

    fn spec(bucket: &str) -> BucketSpec {
        BucketSpec {
            bucket: bucket.into(),
            interval_us: 1_000_000,
            capacity: 10,
        }
    }

    #[tokio::test]
    async fn without_redis_the_attached_gateway_is_read() {
        let view = QuotaView::in_process();
        let specs = [spec("client:c:minute"), spec("client:c:hour")];
        assert_eq!(view.read(&specs).await, None, "nothing to read yet");
        view.attach_local(Arc::new(Fixed));
        assert_eq!(
            view.read(&specs).await,
            Some(Reading {
                source: Source::Local,
                ahead_us: vec![3_000_000, 0]
            })
        );
    }

    #[tokio::test]
    async fn redis_away_falls_back_to_the_local_buckets() {
        // Nothing listens on port 1.
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let view = QuotaView::redis(client, "p:");
        view.attach_local(Arc::new(Fixed));
        let read = view.read(&[spec("client:c:minute")]).await.unwrap();
        assert_eq!(read.source, Source::Local);
        let link = view.shared.as_ref().unwrap().conn.lock().await;
        assert!(
            link.failed_at.is_some(),
            "the failure is remembered, so the next views do not wait on Redis again"
        );
    }
}
