//! The gateway's link to Redis. Redis is an accelerator, never a dependency: every call has
//! a short timeout, a failure marks the link down (reported by `/readyz` and logged once),
//! and reconnection is attempted at most once a second, off the request path's critical
//! section.

use redis::{AsyncCommands, aio::ConnectionManager, aio::ConnectionManagerConfig};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::Mutex;

const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// A shared, lazily (re)connected Redis connection.
#[derive(Clone)]
pub struct RedisLink {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    prefix: String,
    conn: Mutex<Option<ConnectionManager>>,
    up: AtomicBool,
    last_attempt_ms: AtomicI64,
    /// Commands sent, for `/metrics` (round trips per request in the benchmark).
    round_trips: AtomicU64,
}

impl RedisLink {
    /// A link to `url`; keys are namespaced with `prefix`.
    pub fn new(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            inner: Arc::new(Inner {
                client: redis::Client::open(url)?,
                prefix: prefix.to_owned(),
                conn: Mutex::new(None),
                up: AtomicBool::new(false),
                last_attempt_ms: AtomicI64::new(0),
                round_trips: AtomicU64::new(0),
            }),
        })
    }

    /// The underlying client (for pub/sub).
    pub fn client(&self) -> redis::Client {
        self.inner.client.clone()
    }

    /// Namespaced key.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.inner.prefix)
    }

    /// Whether the last call succeeded.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    /// Commands sent to Redis so far (each is one round trip).
    pub fn round_trips(&self) -> u64 {
        self.inner.round_trips.load(Ordering::Relaxed)
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        self.inner.round_trips.fetch_add(1, Ordering::Relaxed);
        let mut guard = self.inner.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Some(c.clone());
        }
        let now = chrono::Utc::now().timestamp_millis();
        if now - self.inner.last_attempt_ms.load(Ordering::Relaxed) < 1000 {
            return None;
        }
        self.inner.last_attempt_ms.store(now, Ordering::Relaxed);
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(CALL_TIMEOUT));
        match tokio::time::timeout(
            Duration::from_secs(2),
            ConnectionManager::new_with_config(self.inner.client.clone(), config),
        )
        .await
        {
            Ok(Ok(c)) => {
                *guard = Some(c.clone());
                self.mark(true);
                Some(c)
            }
            _ => {
                self.mark(false);
                None
            }
        }
    }

    fn mark(&self, up: bool) {
        let was = self.inner.up.swap(up, Ordering::Relaxed);
        if was != up {
            if up {
                tracing::info!("redis reachable");
            } else {
                tracing::warn!(
                    "redis unreachable: serving from the in-process cache and validating keys directly"
                );
            }
        }
    }

    async fn fail(&self) {
        self.mark(false);
        *self.inner.conn.lock().await = None;
    }

    /// GET; `None` on a miss or when Redis is away.
    pub async fn get(&self, key: &str) -> Option<String> {
        let mut conn = self.connection().await?;
        match tokio::time::timeout(CALL_TIMEOUT, conn.get::<_, Option<String>>(key)).await {
            Ok(Ok(v)) => {
                self.mark(true);
                v
            }
            _ => {
                self.fail().await;
                None
            }
        }
    }

    /// SET with expiry; failures are only reported in health.
    pub async fn set_ex(&self, key: &str, value: &str, ttl_secs: u64) {
        let Some(mut conn) = self.connection().await else {
            return;
        };
        match tokio::time::timeout(CALL_TIMEOUT, conn.set_ex::<_, _, ()>(key, value, ttl_secs))
            .await
        {
            Ok(Ok(())) => self.mark(true),
            _ => self.fail().await,
        }
    }

    /// DEL.
    pub async fn del(&self, key: &str) {
        let Some(mut conn) = self.connection().await else {
            return;
        };
        match tokio::time::timeout(CALL_TIMEOUT, conn.del::<_, ()>(key)).await {
            Ok(Ok(())) => self.mark(true),
            _ => self.fail().await,
        }
    }

    /// Runs a Lua script (EVALSHA, loading it on first use) and returns its integer reply;
    /// `None` when Redis is away or the script fails.
    pub async fn eval_ints(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[u64],
    ) -> Option<Vec<i64>> {
        let mut conn = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for k in keys {
            invocation.key(k);
        }
        for a in args {
            invocation.arg(*a);
        }
        match tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async::<Vec<i64>>(&mut conn))
            .await
        {
            Ok(Ok(v)) => {
                self.mark(true);
                Some(v)
            }
            Ok(Err(e)) if matches!(e.kind(), redis::ErrorKind::Server(_)) => {
                tracing::error!(error = %e, "redis script failed");
                None
            }
            _ => {
                self.fail().await;
                None
            }
        }
    }

    /// PING, for readiness.
    pub async fn ping(&self) -> bool {
        let Some(mut conn) = self.connection().await else {
            return false;
        };
        let ok = matches!(
            tokio::time::timeout(
                CALL_TIMEOUT,
                redis::cmd("PING").query_async::<String>(&mut conn)
            )
            .await,
            Ok(Ok(_))
        );
        if ok {
            self.mark(true)
        } else {
            self.fail().await
        }
        ok
    }
}
