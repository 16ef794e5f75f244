//! The request log of API-key calls (key, method, route template, status, latency, address,
//! user agent, sizes), kept off the request path: the handler only `try_send`s into a bounded
//! channel; one background task, woken every 100 ms, sends batches when one fills or every
//! flush interval: the requests to svc-metrics (`RecordRequests`) and each key's count and
//! last use, from the same batch, to svc-auth (`RecordKeyUsage`). When the channel is full,
//! or svc-metrics refuses a batch, the entries are dropped and counted (`/metrics`,
//! `/readyz`), never silently lost.

use super::batch::Batch;
use crate::auth::key_cache::KeyEntry;
use crm_platform::{Principal, principal::PrincipalVerifier};
use crm_proto::{
    auth::{RecordKeyUsageRequest, key_validation_service_client::KeyValidationServiceClient},
    metrics::{RecordRequestsRequest, usage_ingest_service_client::UsageIngestServiceClient},
};
use serde::{Deserialize, Serialize};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Longest user agent kept, in bytes (svc-metrics keeps up to 512 characters).
const MAX_USER_AGENT: usize = 512;
/// Longest request id kept, in bytes.
const MAX_REQUEST_ID: usize = 128;
/// Longest endpoint kept, in bytes (route templates and gRPC paths are far shorter; this
/// bounds a path no route matched).
const MAX_ENDPOINT: usize = 256;

/// The first `max` bytes of `text`, cut at a character boundary. With every text of an entry
/// capped, an entry is at most about 1 KiB: the buffer's memory stays bounded whatever
/// callers send.
fn capped(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// How often queued entries are taken off the queue (and full batches sent).
const DRAIN_EVERY: Duration = Duration::from_millis(100);

/// Request-log settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestLogConfig {
    /// Off only for benchmarks (`CRM_REQUEST_LOG__ENABLED=false`, the "logging off" side of
    /// `partner_rps`). Off, nothing about API-key calls is recorded: no request log, no usage
    /// statistics, and keys' `last_used_at` and request counts stop too, since they come
    /// from the same batches.
    pub enabled: bool,
    /// Entries held in memory at most; beyond it new entries are dropped and counted.
    pub buffer: usize,
    /// Entries per batch, at most (a batch is also cut at [`super::batch::MAX_BATCH_BYTES`]).
    /// svc-metrics stores a batch in one transaction, so fewer, larger batches cost less per
    /// entry.
    pub batch: usize,
}

impl Default for RequestLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            buffer: 50_000,
            batch: 15_000,
        }
    }
}

/// What the gateway notes about a request before handling it.
pub struct Seen {
    started: std::time::Instant,
    at_ms: i64,
    ip: std::net::IpAddr,
    user_agent: Box<str>,
    request_id: Box<str>,
    /// Request body bytes (`Content-Length`, or the body read).
    pub request_bytes: u64,
}

impl Seen {
    /// Notes the arrival of a request from `ip`.
    pub fn new(headers: &http::HeaderMap, ip: std::net::IpAddr) -> Self {
        // Capped here, not only where stored, so the buffer's memory stays bounded whatever
        // headers callers send.
        let text = |name: &str, max: usize| -> Box<str> {
            capped(
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
                max,
            )
            .into()
        };
        Self {
            started: std::time::Instant::now(),
            at_ms: chrono::Utc::now().timestamp_millis(),
            ip,
            user_agent: text("user-agent", MAX_USER_AGENT),
            request_id: text("x-request-id", MAX_REQUEST_ID),
            request_bytes: headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }
}

/// One request made with an API key, held until its batch is sent. Its key's ids are the
/// cached key's own, shared, not copied per request.
pub struct Entry {
    pub(super) key: Arc<KeyEntry>,
    pub(super) method: http::Method,
    pub(super) endpoint: Arc<str>,
    pub(super) status: u16,
    pub(super) response_time_ms: u32,
    pub(super) ip: std::net::IpAddr,
    pub(super) user_agent: Box<str>,
    pub(super) request_id: Box<str>,
    pub(super) request_size: u64,
    pub(super) response_size: u64,
    pub(super) at_ms: i64,
}

/// Hands log entries to the background sender.
#[derive(Clone)]
pub struct RequestLogger {
    tx: Option<mpsc::Sender<Entry>>,
    rx: Arc<Mutex<Option<mpsc::Receiver<Entry>>>>,
    dropped: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
    batch: usize,
}

impl RequestLogger {
    /// A logger with a bounded buffer; a disabled one records nothing.
    pub fn new(config: &RequestLogConfig) -> Self {
        let (tx, rx) = if config.enabled {
            let (tx, rx) = mpsc::channel(config.buffer.max(1));
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        Self {
            tx,
            rx: Arc::new(Mutex::new(rx)),
            dropped: Arc::default(),
            sent: Arc::default(),
            batch: config.batch.max(1),
        }
    }

    /// Whether entries are recorded at all.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues one entry without waiting; counts it as dropped when the buffer is full.
    pub fn log(&self, entry: Entry) {
        let Some(tx) = &self.tx else {
            return;
        };
        if tx.try_send(entry).is_err() {
            let before = self.dropped.fetch_add(1, Ordering::Relaxed);
            if before.is_power_of_two() {
                tracing::warn!(
                    dropped = before + 1,
                    "request log buffer full: entries dropped (counted in /metrics)"
                );
            }
        }
    }

    /// Logs a finished request made with `key`.
    pub fn finish(
        &self,
        key: &Arc<KeyEntry>,
        seen: Seen,
        method: &http::Method,
        endpoint: Arc<str>,
        status: u16,
        response_bytes: u64,
    ) {
        let endpoint = if endpoint.len() > MAX_ENDPOINT {
            capped(&endpoint, MAX_ENDPOINT).into()
        } else {
            endpoint
        };
        self.log(Entry {
            key: key.clone(),
            method: method.clone(),
            endpoint,
            status,
            response_time_ms: seen.started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32,
            ip: seen.ip,
            user_agent: seen.user_agent,
            request_id: seen.request_id,
            request_size: seen.request_bytes,
            response_size: response_bytes,
            at_ms: seen.at_ms,
        });
    }

    /// Entries dropped so far (buffer full or batch refused).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Entries delivered to svc-metrics so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Sends batches to svc-metrics (`metrics`) and svc-auth (`auth`) until `shutdown`, then
    /// what is left.
    pub fn spawn_flusher(
        &self,
        metrics: Channel,
        auth: Channel,
        signer: PrincipalVerifier,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let this = self.clone();
        let to = Destinations {
            metrics: UsageIngestServiceClient::new(metrics),
            auth: KeyValidationServiceClient::new(auth),
            signer,
        };
        let task = async move {
            let mut pending = Batch::default();
            let mut last_send = tokio::time::Instant::now();
            loop {
                // Woken on a timer, not per entry: a wake-up per request would cost more
                // than the logging itself.
                let stop = tokio::select! {
                    _ = shutdown.cancelled() => true,
                    _ = tokio::time::sleep(DRAIN_EVERY.min(every)) => false,
                };
                while let Ok(e) = rx.try_recv() {
                    pending.push(&e);
                    if pending.is_full(this.batch) {
                        this.send(&to, std::mem::take(&mut pending)).await;
                        last_send = tokio::time::Instant::now();
                    }
                }
                if stop || last_send.elapsed() >= every {
                    this.send(&to, std::mem::take(&mut pending)).await;
                    last_send = tokio::time::Instant::now();
                }
                if stop {
                    return;
                }
            }
        };
        tokio::spawn(tracing::Instrument::instrument(
            task,
            tracing::info_span!("request_log_flusher"),
        ));
    }

    /// Sends one batch to both services at once. Each key's count and last use go to
    /// svc-auth whether or not svc-metrics took the requests: the two stores are apart, and
    /// neither waits for the other.
    async fn send(&self, to: &Destinations, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let usage = batch.key_usage();
        let keys = usage.len();
        let requests = RecordRequestsRequest {
            requests: batch.into_requests(),
        };
        let (recorded, counted) = tokio::join!(
            async {
                let request = to.signed(requests)?;
                to.metrics
                    .clone()
                    .record_requests(request)
                    .await
                    .map_err(|s| format!("{:?}", s.code()))
            },
            async {
                let request = to.signed(RecordKeyUsageRequest { usage })?;
                to.auth
                    .clone()
                    .record_key_usage(request)
                    .await
                    .map_err(|s| format!("{:?}", s.code()))
            },
        );
        match recorded {
            Ok(_) => {
                self.sent.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.dropped.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(entries = n, error = %e, "could not deliver request logs; dropped and counted");
            }
        }
        if let Err(e) = counted {
            tracing::warn!(keys, error = %e, "could not report key usage; these keys' counts and last use for the batch are lost");
        }
    }
}

/// Where batches go.
struct Destinations {
    metrics: UsageIngestServiceClient<Channel>,
    auth: KeyValidationServiceClient<Channel>,
    signer: PrincipalVerifier,
}

impl Destinations {
    /// `message` as a call from the gateway.
    fn signed<T>(&self, message: T) -> Result<tonic::Request<T>, String> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(Duration::from_secs(10));
        self.signer
            .sign_into(&Principal::service("gateway"), request.metadata_mut())
            .map_err(|e| e.to_string())?;
        Ok(request)
    }
}

#[cfg(test)]
mod tests;
