//! `crm.pipeline.v1.AssignmentService`: internal, for svc-auth's agents.

use crate::domain::{PipelineState, assignments};
use crm_platform::{Principal, PrincipalKind, error::ApiError};
use crm_proto::pipeline::{self as pb, assignment_service_server::AssignmentService};
use tonic::{Request, Response, Status};

/// Implements `AssignmentService`.
pub struct AssignmentApi {
    pub(crate) state: PipelineState,
}

/// Internal RPCs name any workspace in their body, so only our own services may call them.
fn require_service<T>(request: &Request<T>) -> Result<(), Status> {
    if Principal::of(request)?.kind != PrincipalKind::Service {
        return Err(ApiError::forbidden("internal RPC: only our own services may call it").into());
    }
    Ok(())
}

fn count32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[tonic::async_trait]
impl AssignmentService for AssignmentApi {
    async fn count_assignments(
        &self,
        request: Request<pb::CountAssignmentsRequest>,
    ) -> Result<Response<pb::CountAssignmentsResponse>, Status> {
        require_service(&request)?;
        let r = request.into_inner();
        let counts = assignments::count(&self.state, &r.workspace_id, &r.user_ids).await?;
        Ok(Response::new(pb::CountAssignmentsResponse {
            counts: counts
                .into_iter()
                .map(|(user_id, held)| pb::AssignmentCount {
                    user_id,
                    open_opportunities: count32(held.open_opportunities),
                    contacts: count32(held.contacts),
                })
                .collect(),
        }))
    }
}
