//! `crm.auth.v1.WorkspaceService`: workspaces, members, invitations and the audit log.

use super::{
    auth::login_response,
    convert::{ts, ts_opt},
    json_struct::json_to_struct,
};
use crate::domain::{
    AuthState, audit, invitation, members,
    workspaces::{self, Settings},
};
use crate::store::entities::{invitations, memberships, users};
use crm_platform::Principal;
use crm_proto::auth::{self as pb, workspace_service_server::WorkspaceService};
use tonic::{Request, Response, Status};

/// Implements `WorkspaceService`.
pub struct WorkspaceApi {
    pub(crate) state: AuthState,
}

fn workspace(m: workspaces::Membership) -> pb::WorkspaceResponse {
    pb::WorkspaceResponse {
        role: m.membership.role,
        workspace: Some(workspace_detail(m.workspace)),
    }
}

fn workspace_detail(w: crate::store::entities::workspaces::Model) -> pb::WorkspaceDetail {
    pb::WorkspaceDetail {
        created_at: Some(ts(w.created_at)),
        updated_at: ts_opt(w.updated_at),
        id: w.id,
        name: w.name,
        timezone: w.timezone,
        default_currency: w.default_currency,
    }
}

fn member((m, u): (memberships::Model, users::Model)) -> pb::Member {
    pb::Member {
        joined_at: Some(ts(m.created_at)),
        user_id: u.id,
        email: u.email,
        name: u.name,
        role: m.role,
    }
}

fn invitation_of(i: invitations::Model) -> pb::Invitation {
    pb::Invitation {
        status: invitation::status(&i, crate::domain::now()).to_owned(),
        created_at: Some(ts(i.created_at)),
        expires_at: Some(ts(i.expires_at)),
        accepted_at: ts_opt(i.accepted_at),
        id: i.id,
        workspace_id: i.workspace_id,
        email: i.email,
        role: i.role,
        invited_by: i.invited_by,
    }
}

fn audit_entry(e: crate::store::entities::audit_log::Model) -> pb::AuditEntry {
    pb::AuditEntry {
        details: json_to_struct(&e.details),
        created_at: Some(ts(e.created_at)),
        id: e.id,
        action: e.action,
        actor_id: e.actor_id,
        target_type: e.target_type,
        target_id: e.target_id,
        request_id: e.request_id,
        source_ip: e.source_ip,
    }
}

#[tonic::async_trait]
impl WorkspaceService for WorkspaceApi {
    async fn list_workspaces(
        &self,
        request: Request<pb::ListWorkspacesRequest>,
    ) -> Result<Response<pb::ListWorkspacesResponse>, Status> {
        let p = Principal::of(&request)?;
        let data = workspaces::list_mine(&self.state, p)
            .await?
            .into_iter()
            .map(|m| pb::WorkspaceMembership {
                joined_at: Some(ts(m.membership.created_at)),
                role: m.membership.role,
                workspace: Some(workspace_detail(m.workspace)),
            })
            .collect();
        Ok(Response::new(pb::ListWorkspacesResponse { data }))
    }

    async fn create_workspace(
        &self,
        request: Request<pb::CreateWorkspaceRequest>,
    ) -> Result<Response<pb::WorkspaceResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let settings = Settings {
            name: Some(r.name),
            timezone: (!r.timezone.is_empty()).then_some(r.timezone),
            default_currency: (!r.default_currency.is_empty()).then_some(r.default_currency),
        };
        let m = workspaces::create(&self.state, &p, settings).await?;
        Ok(Response::new(workspace(m)))
    }

    async fn get_workspace(
        &self,
        request: Request<pb::GetWorkspaceRequest>,
    ) -> Result<Response<pb::WorkspaceResponse>, Status> {
        let p = Principal::of(&request)?;
        let m = workspaces::get(&self.state, p, &request.get_ref().id).await?;
        Ok(Response::new(workspace(m)))
    }

    async fn update_workspace(
        &self,
        request: Request<pb::UpdateWorkspaceRequest>,
    ) -> Result<Response<pb::WorkspaceResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let settings = Settings {
            name: r.name,
            timezone: r.timezone,
            default_currency: r.default_currency,
        };
        let m = workspaces::update(&self.state, &p, &r.id, settings).await?;
        Ok(Response::new(workspace(m)))
    }

    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let p = Principal::of(&request)?;
        let rows = members::list(&self.state, p, &request.get_ref().workspace_id).await?;
        Ok(Response::new(pb::ListMembersResponse {
            data: rows.into_iter().map(member).collect(),
        }))
    }

    async fn update_member(
        &self,
        request: Request<pb::UpdateMemberRequest>,
    ) -> Result<Response<pb::MemberResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let row =
            members::change_role(&self.state, &p, &r.workspace_id, &r.user_id, &r.role).await?;
        Ok(Response::new(pb::MemberResponse {
            member: Some(member(row)),
        }))
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::RemoveMemberResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let user_id = members::remove(&self.state, &p, &r.workspace_id, &r.user_id).await?;
        Ok(Response::new(pb::RemoveMemberResponse {
            user_id,
            removed: true,
        }))
    }

    async fn transfer_ownership(
        &self,
        request: Request<pb::TransferOwnershipRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let rows =
            members::transfer_ownership(&self.state, &p, &r.workspace_id, &r.user_id).await?;
        Ok(Response::new(pb::ListMembersResponse {
            data: rows.into_iter().map(member).collect(),
        }))
    }

    async fn create_invitation(
        &self,
        request: Request<pb::CreateInvitationRequest>,
    ) -> Result<Response<pb::CreateInvitationResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let created =
            invitation::create(&self.state, &p, &r.workspace_id, &r.email, &r.role).await?;
        Ok(Response::new(pb::CreateInvitationResponse {
            accept_path: format!("/api/invitations/{}/accept", created.token),
            token: created.token,
            invitation: Some(invitation_of(created.invitation)),
        }))
    }

    async fn list_invitations(
        &self,
        request: Request<pb::ListInvitationsRequest>,
    ) -> Result<Response<pb::ListInvitationsResponse>, Status> {
        let p = Principal::of(&request)?;
        let r = request.get_ref();
        let rows = invitation::list(&self.state, p, &r.workspace_id, &r.status).await?;
        Ok(Response::new(pb::ListInvitationsResponse {
            data: rows.into_iter().map(invitation_of).collect(),
        }))
    }

    async fn revoke_invitation(
        &self,
        request: Request<pb::RevokeInvitationRequest>,
    ) -> Result<Response<pb::InvitationResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let row = invitation::revoke(&self.state, &p, &r.workspace_id, &r.id).await?;
        Ok(Response::new(pb::InvitationResponse {
            invitation: Some(invitation_of(row)),
        }))
    }

    async fn accept_invitation(
        &self,
        request: Request<pb::AcceptInvitationRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let session = invitation::accept(
            &self.state,
            &p,
            invitation::Acceptance {
                token: r.token,
                name: r.name,
                password: r.password,
            },
        )
        .await?;
        Ok(Response::new(login_response(session)))
    }

    async fn list_audit_log(
        &self,
        request: Request<pb::ListAuditLogRequest>,
    ) -> Result<Response<pb::ListAuditLogResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let page = audit::list(
            &self.state,
            &p,
            &r.workspace_id,
            audit::Query {
                actor_id: r.actor_id,
                action: r.action,
                start_date: r.start_date,
                end_date: r.end_date,
                cursor: r.cursor,
                limit: r.limit,
            },
        )
        .await?;
        Ok(Response::new(pb::ListAuditLogResponse {
            has_more: !page.next_cursor.is_empty(),
            next_cursor: page.next_cursor,
            data: page.entries.into_iter().map(audit_entry).collect(),
        }))
    }
}
