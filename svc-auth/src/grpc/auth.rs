//! `crm.auth.v1.AuthService`: login and who-am-I.

use super::convert::ts;
use crate::domain::{
    AuthState,
    member::{self, AgentFilter},
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

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let r = request.into_inner();
        let s = session::login(&self.state, &r.email, &r.password, &r.workspace_id).await?;
        Ok(Response::new(login_response(s)))
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
        Ok(Response::new(login_response(s)))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let s =
            session::change_password(&self.state, &p, &r.current_password, &r.new_password).await?;
        Ok(Response::new(login_response(s)))
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
        let rows = member::list(
            &self.state,
            &p,
            AgentFilter {
                role: r.role,
                status: r.status,
                search: r.search,
            },
        )
        .await?;
        let data = rows
            .into_iter()
            .map(|(m, u)| pb::Agent {
                id: u.id,
                name: u.name,
                email: u.email,
                role: m.role,
                status: "active".into(),
                joined_at: Some(ts(m.created_at)),
            })
            .collect();
        Ok(Response::new(pb::ListAgentsResponse { data }))
    }
}
