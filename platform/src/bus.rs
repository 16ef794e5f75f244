//! The invalidation bus: svc-auth announces that a key changed, every gateway drops it from
//! its caches. With Redis it is a pub/sub channel shared by every process; without Redis
//! (embedded stack) it is an in-process broadcast shared by the services in this process.

use futures::StreamExt;
use redis::AsyncCommands;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Sent to subscribers when messages may have been missed (Redis connection lost or
/// regained): drop every cached entry.
pub const FLUSH_ALL: &str = "*";

/// Name of the invalidation channel for a Redis key prefix.
pub fn invalidation_channel(prefix: &str) -> String {
    format!("{prefix}keys:invalidate")
}

/// Publishes and receives invalidation messages.
#[derive(Clone)]
pub struct Bus {
    local: broadcast::Sender<String>,
    redis: Option<RedisBus>,
}

#[derive(Clone)]
struct RedisBus {
    client: redis::Client,
    channel: String,
}

/// Publishing failed: subscribers in other processes may keep stale entries until their TTL.
#[derive(Debug, thiserror::Error)]
#[error("invalidation bus unavailable: {0}")]
pub struct BusError(String);

impl Bus {
    /// A bus for one process.
    pub fn in_process() -> Self {
        Self {
            local: broadcast::channel(1024).0,
            redis: None,
        }
    }

    /// A bus over a Redis channel. Starts the subscriber task, which reconnects every second
    /// while Redis is away and stops on `shutdown`.
    pub fn redis(client: redis::Client, channel: String, shutdown: CancellationToken) -> Self {
        let bus = Self {
            local: broadcast::channel(1024).0,
            redis: Some(RedisBus { client, channel }),
        };
        let task_bus = bus.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = task_bus.relay_forever() => {}
            }
        });
        bus
    }

    /// Announces `message` to every subscriber.
    pub async fn publish(&self, message: &str) -> Result<(), BusError> {
        match &self.redis {
            None => {
                // No receiver is not an error: no gateway runs in this process.
                let _ = self.local.send(message.to_owned());
                Ok(())
            }
            Some(r) => {
                let mut conn = tokio::time::timeout(
                    Duration::from_secs(1),
                    r.client.get_multiplexed_async_connection(),
                )
                .await
                .map_err(|_| BusError("connect timed out".into()))?
                .map_err(|e| BusError(e.to_string()))?;
                conn.publish::<_, _, ()>(&r.channel, message)
                    .await
                    .map_err(|e| BusError(e.to_string()))
            }
        }
    }

    /// Receives every message published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.local.subscribe()
    }

    async fn relay_forever(&self) {
        let Some(r) = &self.redis else { return };
        loop {
            match r.client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(&r.channel).await.is_ok() {
                        tracing::info!(channel = %r.channel, "invalidation bus subscribed");
                        // Anything published while we were away is lost: start clean.
                        let _ = self.local.send(FLUSH_ALL.to_owned());
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            if let Ok(payload) = msg.get_payload::<String>() {
                                let _ = self.local.send(payload);
                            }
                        }
                    }
                    tracing::warn!("invalidation bus lost its Redis subscription; retrying");
                    let _ = self.local.send(FLUSH_ALL.to_owned());
                }
                Err(e) => tracing::debug!(error = %e, "invalidation bus cannot reach Redis"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
