//! Who records are assigned to. An `assigned_to` names a member of the workspace (checked
//! with svc-auth, which owns memberships), and svc-auth's agents ask here how many open
//! records each member holds.

use super::PipelineState;
use crate::store::{assignments as store, db_error};
use crm_platform::{Principal, error::ApiError, principal::PrincipalVerifier};
use crm_proto::auth::{
    CheckMembershipRequest, key_validation_service_client::KeyValidationServiceClient,
};
use std::collections::HashMap;
use tonic::{Request, Status, transport::Channel};

/// Most users one count may ask about: a workspace's members, with room to spare.
pub const MAX_USERS_PER_COUNT: usize = 1000;

/// svc-auth's memberships, reached over gRPC as our own service.
pub struct MemberDirectory {
    client: KeyValidationServiceClient<Channel>,
    signer: PrincipalVerifier,
}

impl MemberDirectory {
    /// A directory at `auth_url`, connected on first use.
    pub fn new(auth_url: &str, signer: PrincipalVerifier) -> Result<Self, tonic::transport::Error> {
        let channel = crm_platform::server::peer_channel(auth_url)?;
        Ok(Self {
            client: KeyValidationServiceClient::new(channel),
            signer,
        })
    }

    /// Whether `user_id` is a member of `workspace_id`.
    async fn is_member(&self, workspace_id: &str, user_id: &str) -> Result<bool, Status> {
        let mut request = Request::new(CheckMembershipRequest {
            workspace_id: workspace_id.to_owned(),
            user_id: user_id.to_owned(),
            ..Default::default()
        });
        self.signer
            .sign_into(&Principal::service("svc-pipeline"), request.metadata_mut())?;
        match self.client.clone().check_membership(request).await {
            Ok(answer) => Ok(answer.into_inner().member),
            Err(status) => {
                tracing::warn!(error = %status, "svc-auth did not answer a membership check");
                Err(Status::unavailable(
                    "the workspace's member list is unavailable; retry shortly",
                ))
            }
        }
    }
}

/// A requested `assignee` as stored: `None` for "" (unassigned), else the user id (a UUID,
/// lower-cased) of a member of the workspace; a 400 naming `field` otherwise. Without a
/// directory (no `auth_url`) only the shape is checked.
pub async fn assignee(
    state: &PipelineState,
    workspace_id: &str,
    field: &str,
    raw: &str,
) -> Result<Option<String>, Status> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let not_member = || ApiError::invalid_field(field, "not a member of this workspace");
    // Anything but a UUID cannot be a user id: refused without asking svc-auth.
    let user_id = uuid::Uuid::parse_str(raw)
        .map_err(|_| not_member())?
        .to_string();
    if let Some(members) = &state.members
        && !members.is_member(workspace_id, &user_id).await?
    {
        return Err(not_member().into());
    }
    Ok(Some(user_id))
}

/// Assignments one member holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Open opportunities: not closed, not archived.
    pub open_opportunities: u64,
    /// Live (not deleted) contacts.
    pub contacts: u64,
}

/// What each of `user_ids` holds in the workspace, in the order asked (zeros for users who
/// hold nothing).
pub async fn count(
    state: &PipelineState,
    workspace_id: &str,
    user_ids: &[String],
) -> Result<Vec<(String, Held)>, Status> {
    if workspace_id.trim().is_empty() {
        return Err(ApiError::invalid_field("workspace_id", "is required").into());
    }
    if user_ids.len() > MAX_USERS_PER_COUNT {
        return Err(ApiError::invalid_field(
            "user_ids",
            format!("at most {MAX_USERS_PER_COUNT} users per count"),
        )
        .into());
    }
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let opportunities = store::open_opportunities(&state.db, workspace_id, user_ids)
        .await
        .map_err(db_error("count assigned opportunities"))?;
    let contacts = store::live_contacts(&state.db, workspace_id, user_ids)
        .await
        .map_err(db_error("count assigned contacts"))?;
    Ok(user_ids
        .iter()
        .map(|id| {
            let held = Held {
                open_opportunities: get(&opportunities, id),
                contacts: get(&contacts, id),
            };
            (id.clone(), held)
        })
        .collect())
}

fn get(counts: &HashMap<String, u64>, id: &str) -> u64 {
    counts.get(id).copied().unwrap_or(0)
}
