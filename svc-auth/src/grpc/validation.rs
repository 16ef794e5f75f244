//! `crm.auth.v1.KeyValidationService`: internal RPCs for gateways.

use super::convert::{from_ts, ts_opt};
use crate::domain::{
    AuthState, api_client,
    api_key::{self as keys, KeyState},
    client_extras, external_identity, key_policy,
};
use crate::store::{api_key as key_store, workspace as members};
use chrono::Utc;
use crm_platform::{Principal, PrincipalKind, error::ApiError};
use crm_proto::auth::{self as pb, KeyStatus, key_validation_service_server::KeyValidationService};
use tonic::{Request, Response, Status};

/// Implements `KeyValidationService`.
pub struct KeyValidationApi {
    pub(crate) state: AuthState,
}

fn require_service<T>(request: &Request<T>) -> Result<(), Status> {
    if Principal::of(request)?.kind != PrincipalKind::Service {
        return Err(ApiError::forbidden("internal RPC: only our own services may call it").into());
    }
    Ok(())
}

#[tonic::async_trait]
impl KeyValidationService for KeyValidationApi {
    async fn validate_key(
        &self,
        request: Request<pb::ValidateKeyRequest>,
    ) -> Result<Response<pb::ValidateKeyResponse>, Status> {
        require_service(&request)?;
        let Some(keys::Validated {
            key,
            previous_secret,
        }) = keys::validate(&self.state, &request.get_ref().key_hash).await?
        else {
            return Ok(Response::new(pb::ValidateKeyResponse {
                status: KeyStatus::Unknown as i32,
                ..Default::default()
            }));
        };
        if key.deleted_at.is_some() {
            return Ok(Response::new(pb::ValidateKeyResponse {
                status: KeyStatus::Unknown as i32,
                ..Default::default()
            }));
        }
        let mut status = match KeyState::of(&key, Utc::now()) {
            KeyState::Active => KeyStatus::Active,
            KeyState::Inactive => KeyStatus::Inactive,
            KeyState::Revoked => KeyStatus::Revoked,
            KeyState::Expired => KeyStatus::Expired,
        };
        let mut scopes: Vec<String> = key.scopes.split_whitespace().map(str::to_owned).collect();
        let mut tier = key.rate_limit_tier.clone().unwrap_or_default();
        let mut client_tier = false;
        // A client's key works only while the client is active, keeps only the scopes the
        // client still holds, and inherits the client's tier unless it has its own.
        if let Some(client_id) = &key.client_id {
            match api_client::effective(&self.state, client_id).await? {
                Some(c) => {
                    if c.deleted {
                        status = KeyStatus::Revoked;
                    } else if !c.active && status == KeyStatus::Active {
                        status = KeyStatus::Inactive;
                    }
                    scopes.retain(|s| {
                        c.scopes
                            .iter()
                            .any(|g| crm_platform::principal::scope_allows(g, s))
                    });
                    if tier.is_empty() {
                        tier = c.tier;
                        client_tier = true;
                    }
                }
                None => status = KeyStatus::Revoked,
            }
        } else {
            // A user's key keeps only what its owner's current role allows, and stops while
            // the owner is not a member.
            match members::membership(&self.state.db, &key.workspace_id, &key.user_id).await? {
                Some(m) => scopes.retain(|s| crm_platform::roles::role_allows(&m.role, s)),
                None if status == KeyStatus::Active => status = KeyStatus::Inactive,
                None => {}
            }
        }
        // A previous secret lives until its grace period ends (or the key's own expiry, if
        // sooner); the gateway judges the time at each request.
        let expires_at = if previous_secret {
            match (key.expires_at, key.previous_key_expires_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        } else {
            key.expires_at
        };
        Ok(Response::new(pb::ValidateKeyResponse {
            status: status as i32,
            scopes,
            expires_at: ts_opt(expires_at),
            rate_limit_per_minute: key.rate_limit_per_minute.unwrap_or(0).max(0) as u32,
            rate_limit_per_hour: key.rate_limit_per_hour.unwrap_or(0).max(0) as u32,
            rate_limit_tier: tier,
            allowed_ips: key_policy::allowed_ips_of(&key.allowed_ips),
            previous_secret,
            api_client_id: key.client_id.unwrap_or_default(),
            client_tier,
            workspace_id: key.workspace_id,
            api_key_id: key.id,
            owner_user_id: key.user_id,
            key_prefix: key.key_prefix,
        }))
    }

    async fn check_membership(
        &self,
        request: Request<pb::CheckMembershipRequest>,
    ) -> Result<Response<pb::CheckMembershipResponse>, Status> {
        require_service(&request)?;
        let from_gateway = Principal::of(&request)?.subject == "gateway";
        let r = request.into_inner();
        let user = external_identity::resolve(
            &self.state,
            external_identity::TokenIdentity {
                issuer: &r.issuer,
                subject: &r.user_id,
                email: &r.email,
                email_verified: r.email_verified,
            },
        )
        .await?;
        let Some(user) = user else {
            return Ok(Response::new(pb::CheckMembershipResponse::default()));
        };
        let membership = members::membership(&self.state.db, &r.workspace_id, &user.id).await?;
        // The gateway asks when a token it has not seen lately arrives, so the member is
        // acting (an agent's last_active); other services ask about someone else.
        if from_gateway && membership.is_some() {
            crate::domain::agent_activity::record(&self.state, &r.workspace_id, &user.id).await;
        }
        Ok(Response::new(match membership {
            Some(m) => pb::CheckMembershipResponse {
                member: true,
                user_id: user.id,
                role: m.role,
                token_version: u32::try_from(user.token_version).unwrap_or_default(),
            },
            None => pb::CheckMembershipResponse {
                token_version: u32::try_from(user.token_version).unwrap_or_default(),
                ..Default::default()
            },
        }))
    }

    async fn record_key_usage(
        &self,
        request: Request<pb::RecordKeyUsageRequest>,
    ) -> Result<Response<pb::RecordKeyUsageResponse>, Status> {
        require_service(&request)?;
        let usage = request
            .into_inner()
            .usage
            .into_iter()
            .map(|u| {
                Ok(key_store::KeyUse {
                    at: time_or_now(u.last_used_at.as_ref(), "last_used_at")?,
                    workspace_id: u.workspace_id,
                    key_id: u.api_key_id,
                    requests: u.requests.max(0),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        key_store::record_usage(&self.state.db, usage).await?;
        Ok(Response::new(pb::RecordKeyUsageResponse {}))
    }

    async fn get_client_webhook(
        &self,
        request: Request<pb::GetClientWebhookRequest>,
    ) -> Result<Response<pb::ClientWebhook>, Status> {
        require_service(&request)?;
        let r = request.into_inner();
        let Some((url, secret)) =
            client_extras::webhook(&self.state, &r.workspace_id, &r.api_client_id).await?
        else {
            return Err(ApiError::not_found("API client", &r.api_client_id).into());
        };
        Ok(Response::new(pb::ClientWebhook {
            url,
            secret: secret.map(|s| s.expose().to_owned()).unwrap_or_default(),
        }))
    }

    async fn get_workspace_profile(
        &self,
        request: Request<pb::GetWorkspaceProfileRequest>,
    ) -> Result<Response<pb::WorkspaceProfile>, Status> {
        require_service(&request)?;
        let id = request.into_inner().workspace_id;
        let workspace = crate::store::members::workspace(&self.state.db, &id)
            .await
            .map_err(crate::store::db_error("find workspace"))?
            .ok_or_else(|| ApiError::not_found("workspace", &id))?;
        Ok(Response::new(pb::WorkspaceProfile {
            workspace_id: workspace.id,
            timezone: workspace.timezone,
            default_currency: workspace.default_currency,
        }))
    }
}

/// A reported time, or now when the gateway left it out.
pub(super) fn time_or_now(
    t: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<chrono::DateTime<Utc>, ApiError> {
    t.map_or_else(|| Ok(Utc::now()), |t| from_ts(t, field))
}
