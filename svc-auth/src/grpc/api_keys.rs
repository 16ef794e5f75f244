//! `crm.auth.v1.ApiKeyService`: the seed-004 key management endpoints plus revoke and get.

use super::convert::{api_key, from_ts, with_secret};
use crate::domain::{
    AuthState,
    api_key::{self as keys, KeyChanges, NewKey},
    scopes::Scopes,
};
use crm_platform::Principal;
use crm_proto::auth::{self as pb, api_key_service_server::ApiKeyService};
use prost_types::value::Kind;
use tonic::{Request, Response, Status};

const SHOWN_ONCE: &str = "This API key will only be shown once. Please save it securely.";
const NEW_SHOWN_ONCE: &str = "This new API key will only be shown once. Please save it securely.";

/// Implements `ApiKeyService`.
pub struct ApiKeyApi {
    pub(crate) state: AuthState,
}

fn permissions_given(v: &Option<prost_types::Value>) -> bool {
    v.as_ref()
        .is_some_and(|v| !matches!(v.kind, None | Some(Kind::NullValue(_))))
}

#[tonic::async_trait]
impl ApiKeyService for ApiKeyApi {
    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let p = Principal::of(&request)?;
        let data = keys::list(&self.state, p)
            .await?
            .into_iter()
            .map(api_key)
            .collect();
        Ok(Response::new(pb::ListApiKeysResponse { data }))
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let input = NewKey {
            name: r.name,
            scopes: Scopes::parse(r.permissions.as_ref(), &r.scopes)?,
            expires_at: r
                .expires_at
                .as_ref()
                .map(|t| from_ts(t, "expires_at"))
                .transpose()?,
            prefix: r.prefix,
            per_minute: r.rate_limit_override,
            per_hour: r.rate_limit,
            tier: r.rate_limit_tier,
            allowed_ips: r.allowed_ips,
            client_id: r.client_id,
        };
        let created = keys::create(&self.state, &p, input).await?;
        Ok(Response::new(pb::CreateApiKeyResponse {
            data: Some(with_secret(created)),
            warning: SHOWN_ONCE.into(),
        }))
    }

    async fn get_api_key(
        &self,
        request: Request<pb::GetApiKeyRequest>,
    ) -> Result<Response<pb::GetApiKeyResponse>, Status> {
        let p = Principal::of(&request)?;
        let key = keys::get(&self.state, p, &request.get_ref().id).await?;
        Ok(Response::new(pb::GetApiKeyResponse {
            data: Some(api_key(key)),
        }))
    }

    async fn update_api_key(
        &self,
        request: Request<pb::UpdateApiKeyRequest>,
    ) -> Result<Response<pb::UpdateApiKeyResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let scopes = (permissions_given(&r.permissions) || !r.scopes.is_empty())
            .then(|| Scopes::parse(r.permissions.as_ref(), &r.scopes))
            .transpose()?;
        let expires_at = if r.clear_expires_at {
            Some(None)
        } else {
            r.expires_at
                .as_ref()
                .map(|t| from_ts(t, "expires_at").map(Some))
                .transpose()?
        };
        let changes = KeyChanges {
            name: r.name,
            scopes,
            is_active: r.is_active,
            expires_at,
            per_minute: r.rate_limit_override,
            per_hour: r.rate_limit,
            tier: r.rate_limit_tier,
            allowed_ips: if r.clear_allowed_ips {
                Some(Vec::new())
            } else {
                (!r.allowed_ips.is_empty()).then_some(r.allowed_ips)
            },
        };
        let key = keys::update(&self.state, &p, &r.id, changes).await?;
        Ok(Response::new(pb::UpdateApiKeyResponse {
            data: Some(api_key(key)),
        }))
    }

    async fn regenerate_api_key(
        &self,
        request: Request<pb::RegenerateApiKeyRequest>,
    ) -> Result<Response<pb::RegenerateApiKeyResponse>, Status> {
        let p = Principal::of(&request)?;
        let r = request.get_ref();
        let key = keys::regenerate(&self.state, p, &r.id, r.grace_period_seconds).await?;
        Ok(Response::new(pb::RegenerateApiKeyResponse {
            data: Some(with_secret(key)),
            warning: NEW_SHOWN_ONCE.into(),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        let p = Principal::of(&request)?;
        let r = request.get_ref();
        let key = keys::revoke(&self.state, p, &r.id, &r.reason).await?;
        let message = format!("API key '{}' revoked", key.name);
        Ok(Response::new(pb::RevokeApiKeyResponse {
            data: Some(api_key(key)),
            message,
        }))
    }

    async fn delete_api_key(
        &self,
        request: Request<pb::DeleteApiKeyRequest>,
    ) -> Result<Response<pb::DeleteApiKeyResponse>, Status> {
        let p = Principal::of(&request)?;
        let key = keys::delete(&self.state, p, &request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteApiKeyResponse {
            message: format!("API key '{}' deleted successfully", key.name),
        }))
    }
}
