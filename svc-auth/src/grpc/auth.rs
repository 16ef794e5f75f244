//! `crm.auth.v1.AuthService`: login, who-am-I and the agents.

use super::convert::ts_opt;
use crate::domain::{
    AuthState, agent_activity,
    agents::{self, AgentFilter},
    session,
};
use crm_platform::Principal;
use crm_proto::auth::{self as pb, auth_service_server::AuthService};
use tonic::{Request, Response, Status};

/// The answer of every call that starts a session.
pub(super) fn login_response(s: session::Session) -> pb::LoginResponse {
    pb::LoginResponse {
        token: s.token,
        token_type: "Bearer".into(),
        expires_at: Some(prost_types::Timestamp {
            seconds: s.expires_at,
            nanos: 0,
        }),
        user: Some(pb::User {
            id: s.user.id,
            email: s.user.email,
            name: s.user.name,
        }),
        workspace: Some(pb::Workspace {
            id: s.workspace.id,
            name: s.workspace.name,
        }),
        role: s.role.as_str().to_owned(),
    }
}

/// Implements `AuthService`.
pub struct AuthApi {
    pub(crate) state: AuthState,
}

impl AuthApi {
    /// The answer of a session start, which counts as the member's activity.
    async fn started(&self, s: session::Session) -> pb::LoginResponse {
        agent_activity::record(&self.state, &s.workspace.id, &s.user.id).await;
        login_response(s)
    }
}

/// An agent on the wire.
fn agent(a: agents::Agent) -> pb::Agent {
    pb::Agent {
        id: a.id,
        name: a.name,
        email: a.email,
        role: a.role,
        status: a.status.to_owned(),
        joined_at: ts_opt(a.joined_at),
        // svc-auth stores no avatars; the seed's field reads null rather than an invented URL.
        avatar: None,
        active_assignments: a
            .active_assignments
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        last_active: ts_opt(a.last_active),
    }
}

fn count32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let r = request.into_inner();
        let s = session::login(&self.state, &r.email, &r.password, &r.workspace_id).await?;
        Ok(Response::new(self.started(s).await))
    }

    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let r = request.into_inner();
        let s = session::register(
            &self.state,
            session::Registration {
                email: r.email,
                password: r.password,
                name: r.name,
                workspace_name: r.workspace_name,
            },
        )
        .await?;
        Ok(Response::new(self.started(s).await))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let s =
            session::change_password(&self.state, &p, &r.current_password, &r.new_password).await?;
        Ok(Response::new(self.started(s).await))
    }

    async fn get_me(
        &self,
        request: Request<pb::GetMeRequest>,
    ) -> Result<Response<pb::GetMeResponse>, Status> {
        let p = Principal::of(&request)?;
        Ok(Response::new(pb::GetMeResponse {
            workspace_id: p.workspace()?.to_owned(),
            subject: p.subject.clone(),
            kind: p.kind.name().to_owned(),
            api_key_id: p.api_key_id.clone(),
            scopes: p.scopes.clone(),
            role: p.role.clone(),
        }))
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let rows = agents::list(
            &self.state,
            &p,
            AgentFilter {
                role: r.role,
                status: r.status,
                search: r.search,
                // The seed's default is true; proto3 cannot say so, hence `optional`.
                include_assignments: r.include_assignments.unwrap_or(true),
            },
        )
        .await?;
        Ok(Response::new(pb::ListAgentsResponse {
            data: rows.into_iter().map(agent).collect(),
        }))
    }

    async fn get_agent(
        &self,
        request: Request<pb::GetAgentRequest>,
    ) -> Result<Response<pb::GetAgentResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let found = agents::get(
            &self.state,
            &p,
            &r.id,
            r.include_assignments.unwrap_or(true),
        )
        .await?;
        Ok(Response::new(pb::GetAgentResponse {
            data: Some(agent(found)),
        }))
    }

    async fn get_agent_stats(
        &self,
        request: Request<pb::GetAgentStatsRequest>,
    ) -> Result<Response<pb::GetAgentStatsResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let stats = agents::stats(&self.state, &p).await?;
        Ok(Response::new(pb::GetAgentStatsResponse {
            data: Some(pb::AgentStats {
                total_agents: count32(stats.total_agents),
                active_agents: count32(stats.active_agents),
                by_role: stats
                    .by_role
                    .into_iter()
                    .map(|(role, n)| (role, count32(n)))
                    .collect(),
                assignment_distribution: stats
                    .assignment_distribution
                    .into_iter()
                    .map(|(agent_id, agent_name, n)| pb::AgentAssignmentCount {
                        agent_id,
                        agent_name,
                        assignment_count: count32(n),
                    })
                    .collect(),
            }),
        }))
    }
}
