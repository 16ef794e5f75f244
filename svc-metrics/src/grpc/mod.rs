//! `crm.metrics.v1.MetricsService`: thin, checks the caller and calls the domain. The usage
//! services are in [`usage`] and [`usage_ingest`].

pub mod usage;
pub mod usage_ingest;

use crate::domain::{MetricsState, legacy, report};
use crm_platform::{Principal, PrincipalKind, error::ApiError, roles::role_allows};
use crm_proto::metrics::{self as pb, metrics_service_server::MetricsService};
use tonic::{Request, Response, Status};

/// The scope every metrics RPC needs.
const SCOPE: &str = "analytics:read";

/// Implements `MetricsService`.
pub struct MetricsApi {
    pub state: MetricsState,
}

/// Checks that `principal` may read analytics; returns its workspace. The gateway checks the
/// same from the proto's auth rule; a call that reaches us another way is checked here.
fn authorize(principal: &Principal) -> Result<&str, Status> {
    let workspace = principal.workspace()?;
    let allowed = match principal.kind {
        PrincipalKind::ApiKey => principal.allows(SCOPE),
        PrincipalKind::User => role_allows(&principal.role, SCOPE),
        PrincipalKind::Service => true,
        PrincipalKind::Anonymous => false,
    };
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "this action needs '{SCOPE}'; ask a workspace admin for a key with that scope"
        ))
        .with_meta("required_scope", SCOPE)
        .into());
    }
    Ok(workspace)
}

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn get_pipeline_metrics(
        &self,
        request: Request<pb::GetPipelineMetricsRequest>,
    ) -> Result<Response<pb::GetPipelineMetricsResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?)?;
        let r = request.get_ref();
        let data = report::pipeline_metrics(
            &self.state,
            workspace,
            report::MetricsQuery {
                pipeline_id: &r.pipeline_id,
                start_date: &r.start_date,
                end_date: &r.end_date,
                stage_id: &r.stage_id,
            },
        )
        .await?;
        Ok(Response::new(pb::GetPipelineMetricsResponse {
            data: Some(data),
        }))
    }

    async fn get_metrics_overview(
        &self,
        request: Request<pb::GetMetricsOverviewRequest>,
    ) -> Result<Response<pb::GetMetricsOverviewResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?)?;
        let r = request.get_ref();
        let data = legacy::overview(
            &self.state,
            workspace,
            &r.workspace_id,
            &r.date_from,
            &r.date_to,
        )
        .await?;
        Ok(Response::new(pb::GetMetricsOverviewResponse {
            data: Some(data),
        }))
    }

    async fn get_conversion_metrics(
        &self,
        request: Request<pb::GetConversionMetricsRequest>,
    ) -> Result<Response<pb::GetConversionMetricsResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?)?;
        let r = request.get_ref();
        let data = legacy::conversion(
            &self.state,
            workspace,
            &r.workspace_id,
            &r.date_from,
            &r.date_to,
        )
        .await?;
        Ok(Response::new(pb::GetConversionMetricsResponse {
            data: Some(data),
        }))
    }

    async fn get_performance_metrics(
        &self,
        request: Request<pb::GetPerformanceMetricsRequest>,
    ) -> Result<Response<pb::GetPerformanceMetricsResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?)?;
        let r = request.get_ref();
        let data = legacy::performance(&self.state, workspace, &r.workspace_id, &r.period).await?;
        Ok(Response::new(pb::GetPerformanceMetricsResponse {
            data: Some(data),
        }))
    }
}
