//! Reading clients, for owners and admins only: one by id, or a filtered page.

use super::{
    ApiClient,
    fields::{status, tier},
};
use crate::domain::{
    AuthState,
    api_key::{Manager, manager},
};
use crate::store::api_client::{self as store, ClientFilter};
use crm_platform::{Principal, error::ApiError};
use tonic::Status;

pub(super) fn admin<'a>(m: Manager<'a>) -> Result<Manager<'a>, Status> {
    if !m.role.manages_all_keys() {
        return Err(ApiError::forbidden("only owners and admins manage API clients").into());
    }
    Ok(m)
}

/// Longest page of clients.
const MAX_PAGE_SIZE: u32 = 100;

/// List filters as sent.
#[derive(Default)]
pub struct ListQuery {
    /// Status.
    pub status: String,
    /// Tier.
    pub tier: String,
    /// Contact email.
    pub contact_email: String,
    /// Name or email substring.
    pub search: String,
    /// 1-based page.
    pub page: u32,
    /// Page size (default 20, at most 100).
    pub limit: u32,
}

/// A page of clients and the total.
pub async fn list(
    state: &AuthState,
    principal: &Principal,
    q: ListQuery,
) -> Result<(Vec<ApiClient>, u64, u32, u32), Status> {
    let m = admin(manager(state, principal).await?)?;
    let page = q.page.max(1);
    let limit = if q.limit == 0 { 20 } else { q.limit };
    if limit > MAX_PAGE_SIZE {
        return Err(ApiError::invalid_field("limit", "must be at most 100").into());
    }
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_ascii_lowercase());
    let filter = ClientFilter {
        status: nonempty(&q.status).map(|s| status(&s)).transpose()?,
        tier: nonempty(&q.tier).map(|t| tier(&t)).transpose()?,
        contact_email: nonempty(&q.contact_email),
        search: nonempty(&q.search),
    };
    let (rows, total) = store::list(
        &state.db,
        m.workspace_id,
        &filter,
        u64::from(page),
        u64::from(limit),
    )
    .await?;
    Ok((rows, total, page, limit))
}

pub(super) async fn visible(
    state: &AuthState,
    m: &Manager<'_>,
    id: &str,
) -> Result<ApiClient, Status> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::invalid_field("id", "must be a UUID").into());
    }
    store::get(&state.db, m.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("API client", id).into())
}

/// One client.
pub async fn get(state: &AuthState, principal: &Principal, id: &str) -> Result<ApiClient, Status> {
    let m = admin(manager(state, principal).await?)?;
    visible(state, &m, id).await
}
