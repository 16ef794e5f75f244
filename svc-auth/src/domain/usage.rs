//! What svc-auth reads of API usage, which svc-metrics holds (the request log and its
//! per-minute rollup): a client's usage and tier-window counts for its dashboard, asked of
//! svc-metrics' internal `UsageIngestService` as our own service.

use chrono::{DateTime, Utc};
use crm_platform::{Principal, principal::PrincipalVerifier};
use crm_proto::metrics::{
    CountAcceptedRequest, GetKeysUsageRequest, UsageStats,
    usage_ingest_service_client::UsageIngestServiceClient,
};
use tonic::{Request, Status, transport::Channel};

/// svc-metrics' usage reads; `None` inside when no `metrics_url` is configured (the
/// dashboard then shows no usage).
#[derive(Clone)]
pub struct UsageReader {
    client: Option<UsageIngestServiceClient<Channel>>,
    signer: PrincipalVerifier,
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn unavailable(status: Status) -> Status {
    tracing::warn!(error = %status, "svc-metrics did not answer a usage read");
    Status::unavailable("usage figures are unavailable right now; retry shortly")
}

impl UsageReader {
    /// A client for svc-metrics at `url` (connected on first use); empty `url`: none.
    pub fn new(url: &str, signer: PrincipalVerifier) -> Result<Self, tonic::transport::Error> {
        let client = if url.is_empty() {
            None
        } else {
            let channel = crm_platform::server::peer_channel(url)?;
            Some(UsageIngestServiceClient::new(channel))
        };
        Ok(Self { client, signer })
    }

    fn signed<T>(&self, message: T) -> Result<Request<T>, Status> {
        let mut request = Request::new(message);
        self.signer
            .sign_into(&Principal::service("svc-auth"), request.metadata_mut())?;
        Ok(request)
    }

    /// Usage of every key `client_id` ever had since `from`, by hour.
    pub async fn client_usage(
        &self,
        workspace_id: &str,
        client_id: &str,
        from: DateTime<Utc>,
    ) -> Result<UsageStats, Status> {
        let Some(client) = &self.client else {
            return Ok(UsageStats::default());
        };
        let request = self.signed(GetKeysUsageRequest {
            workspace_id: workspace_id.to_owned(),
            api_client_id: client_id.to_owned(),
            date_from: Some(ts(from)),
            group_by: "hour".into(),
            ..Default::default()
        })?;
        match client.clone().get_keys_usage(request).await {
            Ok(answer) => Ok(answer.into_inner()),
            Err(status) => Err(unavailable(status)),
        }
    }

    /// Requests of the client's keys since each of `since` that a limit did not refuse.
    pub async fn accepted_since(
        &self,
        workspace_id: &str,
        client_id: &str,
        since: [DateTime<Utc>; 3],
    ) -> Result<[u64; 3], Status> {
        let Some(client) = &self.client else {
            return Ok([0; 3]);
        };
        let request = self.signed(CountAcceptedRequest {
            workspace_id: workspace_id.to_owned(),
            api_client_id: client_id.to_owned(),
            since: since.iter().copied().map(ts).collect(),
            ..Default::default()
        })?;
        let counts = client
            .clone()
            .count_accepted(request)
            .await
            .map_err(unavailable)?
            .into_inner()
            .counts;
        let mut out = [0; 3];
        for (o, c) in out.iter_mut().zip(counts) {
            *o = c;
        }
        Ok(out)
    }
}
