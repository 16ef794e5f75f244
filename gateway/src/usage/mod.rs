//! Key usage: counted in memory on the request path, reported to svc-auth in batches, so
//! `last_used_at` and request counts stay current without a write per request. The full
//! request log travels the same way, in `request_log`.

mod log_columns;
pub mod request_log;

use crm_platform::{Principal, PrincipalKind, principal::PrincipalVerifier};
use crm_proto::auth::{
    KeyUsage, RecordKeyUsageRequest, key_validation_service_client::KeyValidationServiceClient,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Most distinct keys held between flushes; beyond it new keys wait for the next flush.
const MAX_PENDING: usize = 100_000;

#[derive(Default)]
struct Pending {
    workspace_id: String,
    requests: i64,
    last_used_at: i64,
}

/// Collects key use.
#[derive(Clone, Default)]
pub struct KeyUsageRecorder {
    pending: Arc<Mutex<HashMap<String, Pending>>>,
}

impl KeyUsageRecorder {
    /// Counts one request made with an API key; other principals are ignored.
    pub fn record(&self, principal: &Principal) {
        if principal.kind != PrincipalKind::ApiKey {
            return;
        }
        let now = chrono::Utc::now().timestamp();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        // The common case, a key already counted this interval, allocates nothing.
        if let Some(entry) = pending.get_mut(&principal.api_key_id) {
            entry.requests += 1;
            entry.last_used_at = now;
            return;
        }
        if pending.len() >= MAX_PENDING {
            return;
        }
        pending.insert(
            principal.api_key_id.clone(),
            Pending {
                workspace_id: principal.workspace_id.clone(),
                requests: 1,
                last_used_at: now,
            },
        );
    }

    fn take(&self) -> Vec<KeyUsage> {
        let drained = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        drained
            .into_iter()
            .map(|(api_key_id, p)| KeyUsage {
                workspace_id: p.workspace_id,
                api_key_id,
                requests: p.requests,
                last_used_at: Some(prost_types::Timestamp {
                    seconds: p.last_used_at,
                    nanos: 0,
                }),
            })
            .collect()
    }

    /// Flushes every `every` until `shutdown`, then once more.
    pub fn spawn_flusher(
        &self,
        auth: Channel,
        signer: PrincipalVerifier,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let this = self.clone();
        let client = KeyValidationServiceClient::new(auth);
        tokio::spawn(async move {
            loop {
                let stop = tokio::select! {
                    _ = shutdown.cancelled() => true,
                    _ = tokio::time::sleep(every) => false,
                };
                let usage = this.take();
                if !usage.is_empty() {
                    let mut request = tonic::Request::new(RecordKeyUsageRequest { usage });
                    if signer
                        .sign_into(&Principal::service("gateway"), request.metadata_mut())
                        .is_ok()
                        && let Err(e) = client.clone().record_key_usage(request).await
                    {
                        tracing::warn!(code = ?e.code(), "could not report key usage; counts for this interval are lost");
                    }
                }
                if stop {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_ignores_users() {
        let recorder = KeyUsageRecorder::default();
        let mut key = Principal::new(PrincipalKind::ApiKey, "w1", "u1");
        key.api_key_id = "k1".into();
        for _ in 0..3 {
            recorder.record(&key);
        }
        recorder.record(&Principal::new(PrincipalKind::User, "w1", "u1"));
        let usage = recorder.take();
        assert_eq!(usage.len(), 1);
        assert_eq!(
            (
                usage[0].api_key_id.as_str(),
                usage[0].workspace_id.as_str(),
                usage[0].requests
            ),
            ("k1", "w1", 3)
        );
        assert!(recorder.take().is_empty(), "taking drains the batch");
    }
}
