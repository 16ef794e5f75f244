//! Key usage: counted in memory on the request path, reported to svc-auth in batches, so
//! `last_used_at` and request counts stay current without a write per request.

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
        if pending.len() >= MAX_PENDING && !pending.contains_key(&principal.api_key_id) {
            return;
        }
        let entry = pending
            .entry(principal.api_key_id.clone())
            .or_insert_with(|| Pending {
                workspace_id: principal.workspace_id.clone(),
                ..Default::default()
            });
        entry.requests += 1;
        entry.last_used_at = now;
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
