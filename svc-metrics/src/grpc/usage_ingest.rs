//! `crm.metrics.v1.UsageIngestService`: internal RPCs (gateways' batches, svc-auth's usage
//! reads over keys it has resolved); only our own services may call them.

use super::usage::{optional_time, usage_stats};
use crate::domain::usage::{
    UsageState, ingest,
    stats::{self, UsageQuery},
    time_of,
};
use crate::error::MetricsError;
use crm_platform::{Principal, PrincipalKind};
use crm_proto::metrics::{self as pb, usage_ingest_service_server::UsageIngestService};
use tonic::{Request, Response, Status};

/// Implements `UsageIngestService`.
pub struct UsageIngestApi {
    pub state: UsageState,
}

fn require_service<T>(request: &Request<T>) -> Result<(), Status> {
    if Principal::of(request)?.kind != PrincipalKind::Service {
        return Err(MetricsError::NotAService.into());
    }
    Ok(())
}

#[tonic::async_trait]
impl UsageIngestService for UsageIngestApi {
    async fn record_requests(
        &self,
        request: Request<pb::RecordRequestsRequest>,
    ) -> Result<Response<pb::RecordRequestsResponse>, Status> {
        require_service(&request)?;
        let n = ingest::record(&self.state, request.into_inner().requests).await?;
        Ok(Response::new(pb::RecordRequestsResponse {
            recorded: u32::try_from(n).unwrap_or(u32::MAX),
        }))
    }

    async fn get_keys_usage(
        &self,
        request: Request<pb::GetKeysUsageRequest>,
    ) -> Result<Response<pb::UsageStats>, Status> {
        require_service(&request)?;
        let r = request.into_inner();
        let q = UsageQuery {
            from: optional_time(r.date_from.as_ref(), "date_from")?,
            to: optional_time(r.date_to.as_ref(), "date_to")?,
            group_by: r.group_by,
        };
        let keys = stats::keys_of(r.api_key_ids, r.api_client_id)?;
        let u = stats::usage(&self.state, &r.workspace_id, keys, &q).await?;
        Ok(Response::new(usage_stats(u)))
    }

    async fn count_accepted(
        &self,
        request: Request<pb::CountAcceptedRequest>,
    ) -> Result<Response<pb::CountAcceptedResponse>, Status> {
        require_service(&request)?;
        let r = request.into_inner();
        let since = r
            .since
            .iter()
            .map(|t| time_of(t, "since"))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = stats::keys_of(r.api_key_ids, r.api_client_id)?;
        let counts = stats::accepted_since(&self.state, &r.workspace_id, &keys, &since).await?;
        Ok(Response::new(pb::CountAcceptedResponse { counts }))
    }
}
