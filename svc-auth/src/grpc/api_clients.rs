//! `crm.auth.v1.ApiClientService`: seed 003's partner clients, their keys, usage and tiers.

use super::convert::{api_key, ts};
use super::json_struct::{json_to_struct, struct_to_json};
use crate::domain::{
    AuthState,
    api_client::{self as clients, ApiClient, ClientFields, ListQuery, Saved},
    client_extras::SecretChange,
    client_quota,
    scopes::Scopes,
};
use crm_platform::{Principal, rate_tiers};
use crm_proto::auth::{self as pb, api_client_service_server::ApiClientService};
use tonic::{Request, Response, Status};

/// Implements `ApiClientService`.
pub struct ApiClientApi {
    pub(crate) state: AuthState,
}

/// A client as a caller sees it after a change: the signing secret only if this call set it.
fn saved((c, secret): Saved) -> pb::ApiClientResponse {
    let mut data = client(c);
    data.webhook_secret = secret.map(|s| s.expose().to_owned());
    pb::ApiClientResponse { data: Some(data) }
}

fn client(c: ApiClient) -> pb::ApiClient {
    pb::ApiClient {
        metadata: c.metadata.as_deref().and_then(json_to_struct),
        has_webhook_secret: c.webhook_secret.is_some(),
        webhook_secret: None,
        redirect_uris: c
            .redirect_uris
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        scopes: Scopes::from_stored(&c.scopes).to_vec(),
        created_at: Some(ts(c.created_at)),
        updated_at: Some(ts(c.updated_at)),
        id: c.id,
        name: c.name,
        description: c.description,
        website: c.website,
        logo_url: c.logo_url,
        contact_email: c.contact_email,
        status: c.status,
        rate_limit_tier: c.rate_limit_tier,
        webhook_url: c.webhook_url,
    }
}

fn tier_limits(t: &rate_tiers::TierLimits) -> pb::TierLimits {
    pb::TierLimits {
        requests_per_minute: t.per_minute,
        requests_per_hour: t.per_hour,
        requests_per_day: t.per_day,
        burst_limit: t.burst,
    }
}

fn scopes_of(list: &[String]) -> Result<Option<Scopes>, Status> {
    if list.is_empty() {
        return Ok(None);
    }
    Ok(Some(Scopes::parse(None, list)?))
}

#[tonic::async_trait]
impl ApiClientService for ApiClientApi {
    async fn create_api_client(
        &self,
        request: Request<pb::CreateApiClientRequest>,
    ) -> Result<Response<pb::ApiClientResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let fields = ClientFields {
            scopes: scopes_of(&r.scopes)?,
            name: Some(r.name),
            description: Some(r.description),
            redirect_uris: Some(r.redirect_uris),
            website: Some(r.website),
            logo_url: Some(r.logo_url),
            contact_email: Some(r.contact_email),
            status: None,
            tier: Some(r.rate_limit_tier),
            webhook_url: Some(r.webhook_url),
            metadata: r.metadata.map(struct_to_json),
            webhook_secret: if r.webhook_secret.is_empty() {
                SecretChange::Keep
            } else {
                SecretChange::Set(r.webhook_secret)
            },
        };
        let c = clients::create(&self.state, &p, fields).await?;
        Ok(Response::new(saved(c)))
    }

    async fn list_api_clients(
        &self,
        request: Request<pb::ListApiClientsRequest>,
    ) -> Result<Response<pb::ListApiClientsResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let (rows, total, page, limit) = clients::list(
            &self.state,
            &p,
            ListQuery {
                status: r.status,
                tier: r.rate_limit_tier,
                contact_email: r.contact_email,
                search: r.search,
                page: r.page,
                limit: r.limit,
            },
        )
        .await?;
        Ok(Response::new(pb::ListApiClientsResponse {
            data: rows.into_iter().map(client).collect(),
            pagination: Some(pb::Pagination {
                page,
                limit,
                total,
                total_pages: total.div_ceil(u64::from(limit)) as u32,
            }),
        }))
    }

    async fn get_api_client(
        &self,
        request: Request<pb::GetApiClientRequest>,
    ) -> Result<Response<pb::ApiClientResponse>, Status> {
        let p = Principal::of(&request)?;
        let c = clients::get(&self.state, p, &request.get_ref().id).await?;
        Ok(Response::new(pb::ApiClientResponse {
            data: Some(client(c)),
        }))
    }

    async fn update_api_client(
        &self,
        request: Request<pb::UpdateApiClientRequest>,
    ) -> Result<Response<pb::ApiClientResponse>, Status> {
        let p = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let fields = ClientFields {
            scopes: scopes_of(&r.scopes)?,
            name: r.name,
            description: r.description,
            redirect_uris: (!r.redirect_uris.is_empty()).then_some(r.redirect_uris),
            website: r.website,
            logo_url: r.logo_url,
            contact_email: r.contact_email,
            status: r.status,
            tier: r.rate_limit_tier,
            webhook_url: r.webhook_url,
            metadata: r.metadata.map(struct_to_json),
            webhook_secret: SecretChange::of_update(r.webhook_secret, r.rotate_webhook_secret)?,
        };
        let c = clients::update(&self.state, &p, &r.id, fields).await?;
        Ok(Response::new(saved(c)))
    }

    async fn delete_api_client(
        &self,
        request: Request<pb::DeleteApiClientRequest>,
    ) -> Result<Response<pb::DeleteApiClientResponse>, Status> {
        let p = Principal::of(&request)?;
        let (c, revoked) = clients::delete(&self.state, p, &request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteApiClientResponse {
            message: format!("API client '{}' deleted; {revoked} key(s) revoked", c.name),
            revoked_keys: revoked,
        }))
    }

    async fn get_api_client_dashboard(
        &self,
        request: Request<pb::GetApiClientRequest>,
    ) -> Result<Response<pb::ApiClientDashboard>, Status> {
        let p = Principal::of(&request)?.clone();
        let id = request.into_inner().id;
        let c = clients::get(&self.state, &p, &id).await?;
        let keys = clients::keys(&self.state, &p, &id).await?;
        let now = chrono::Utc::now();
        let u = self
            .state
            .usage
            .client_usage(&c.workspace_id, &c.id, now - chrono::Duration::hours(24))
            .await?;
        let last_used = keys.iter().filter_map(|k| k.last_used_at).max();
        let active = keys
            .iter()
            .filter(|k| {
                crate::domain::api_key::KeyState::of(k, now)
                    == crate::domain::api_key::KeyState::Active
            })
            .count();
        let tier = rate_tiers::tier(&c.rate_limit_tier);
        let rate_limit_usage = match &tier {
            Some(t) => client_quota::current(&self.state, &c.workspace_id, &c.id, t, now)
                .await?
                .into_iter()
                .map(|w| pb::RateLimitWindow {
                    remaining: w.remaining(),
                    window: w.window.into(),
                    request_count: w.request_count,
                    request_limit: w.request_limit,
                    reset_at: Some(ts(w.reset_at)),
                })
                .collect(),
            None => Vec::new(),
        };
        let (rate_limit_state, rate_limit_state_source) = match &tier {
            Some(t) => client_quota::admission(&self.state, &c.id, t, now).await,
            None => (Vec::new(), "unavailable"),
        };
        let rate_limit_state = rate_limit_state
            .into_iter()
            .map(|b| pb::RateLimitBucket {
                window: b.window.name.into(),
                request_limit: b.window.limit,
                period_seconds: b.window.period_secs,
                burst: b.window.capacity,
                remaining: b.remaining,
                full_at: Some(ts(b.full_at)),
            })
            .collect();
        let limits = tier.map(|t| tier_limits(&t));
        let webhook_status = if c.webhook_url.is_empty() {
            "not_configured"
        } else {
            "configured"
        };
        Ok(Response::new(pb::ApiClientDashboard {
            total_keys: keys.len() as u32,
            active_keys: active as u32,
            last_used_at: last_used.map(ts),
            rate_limit: limits,
            rate_limit_usage,
            rate_limit_state,
            rate_limit_state_source: rate_limit_state_source.into(),
            webhook_status: webhook_status.into(),
            usage: Some(u),
            client: Some(client(c)),
        }))
    }

    async fn list_api_client_keys(
        &self,
        request: Request<pb::ListApiClientKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let p = Principal::of(&request)?;
        let keys = clients::keys(&self.state, p, &request.get_ref().client_id).await?;
        Ok(Response::new(pb::ListApiKeysResponse {
            data: keys.into_iter().map(api_key).collect(),
        }))
    }

    async fn revoke_api_client_key(
        &self,
        request: Request<pb::RevokeApiClientKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        let p = Principal::of(&request)?;
        let r = request.get_ref();
        let key = clients::revoke_key(&self.state, p, &r.client_id, &r.id).await?;
        let message = format!("API key '{}' revoked", key.name);
        Ok(Response::new(pb::RevokeApiKeyResponse {
            data: Some(api_key(key)),
            message,
        }))
    }

    async fn list_rate_limit_tiers(
        &self,
        _request: Request<pb::ListRateLimitTiersRequest>,
    ) -> Result<Response<pb::ListRateLimitTiersResponse>, Status> {
        let data = rate_tiers::TIERS
            .iter()
            .map(|t| (t.name.to_owned(), tier_limits(t)))
            .collect();
        Ok(Response::new(pb::ListRateLimitTiersResponse { data }))
    }
}
