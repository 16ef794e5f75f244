//! How many open records each member holds, asked of svc-pipeline (which owns contacts and
//! opportunities) through its internal `AssignmentService`, as our own service.

use crm_platform::{Principal, principal::PrincipalVerifier};
use crm_proto::pipeline::{
    CountAssignmentsRequest, assignment_service_client::AssignmentServiceClient,
};
use std::collections::HashMap;
use tonic::{Request, Status, transport::Channel};

/// svc-pipeline's assignment counts.
pub struct AssignmentCounts {
    client: AssignmentServiceClient<Channel>,
    signer: PrincipalVerifier,
}

impl AssignmentCounts {
    /// A client for svc-pipeline at `url`, connected on first use.
    pub fn new(url: &str, signer: PrincipalVerifier) -> Result<Self, tonic::transport::Error> {
        let channel = crm_platform::server::peer_channel(url)?;
        Ok(Self {
            client: AssignmentServiceClient::new(channel),
            signer,
        })
    }

    /// Open opportunities plus live contacts assigned to each of `user_ids`.
    pub async fn count(
        &self,
        workspace_id: &str,
        user_ids: Vec<String>,
    ) -> Result<HashMap<String, u64>, Status> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut request = Request::new(CountAssignmentsRequest {
            workspace_id: workspace_id.to_owned(),
            user_ids,
        });
        self.signer
            .sign_into(&Principal::service("svc-auth"), request.metadata_mut())?;
        match self.client.clone().count_assignments(request).await {
            Ok(answer) => Ok(answer
                .into_inner()
                .counts
                .into_iter()
                .map(|c| {
                    let held = u64::from(c.open_opportunities) + u64::from(c.contacts);
                    (c.user_id, held)
                })
                .collect()),
            Err(status) => {
                tracing::warn!(error = %status, "svc-pipeline did not answer assignment counts");
                Err(Status::unavailable(
                    "assignment counts are unavailable right now; retry shortly, or ask with include_assignments=false",
                ))
            }
        }
    }
}
