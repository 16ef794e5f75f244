//! Partner applications (seed 003): a client has contact details, a status, a rate-limit
//! tier its keys inherit, and scopes its keys never exceed. Owners and admins manage them.
//! Changes that affect authentication (status, tier, scopes, deletion) are announced for
//! every key of the client, so gateways reload them at once.

use super::{
    AuthState,
    api_key::{self, ApiKey, Manager, announce_all, hashes_of, manager},
    audit,
    client_extras::{self, SecretChange},
    key_policy,
    scopes::Scopes,
};
use crate::store::{
    api_client::{self as store, ClientFilter},
    api_key as key_store,
};
use crm_platform::{Principal, Secret, error::ApiError};
use sea_orm::{ActiveValue::Set, IntoActiveModel};
use tonic::Status;

pub use store::Model as ApiClient;

const STATUSES: [&str; 3] = ["active", "suspended", "inactive"];
const MAX_TEXT: usize = 2048;

/// Input of [`create`] and [`update`] (for update, `None` leaves a field).
#[derive(Default)]
pub struct ClientFields {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// OAuth redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// Website.
    pub website: Option<String>,
    /// Logo URL.
    pub logo_url: Option<String>,
    /// Contact email.
    pub contact_email: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Tier.
    pub tier: Option<String>,
    /// Webhook URL.
    pub webhook_url: Option<String>,
    /// Scopes.
    pub scopes: Option<Scopes>,
    /// The caller's JSON object.
    pub metadata: Option<serde_json::Value>,
    /// What happens to the webhook signing secret.
    pub webhook_secret: SecretChange,
}

/// A client as stored, and its webhook signing secret when this call set one (shown once).
pub type Saved = (ApiClient, Option<Secret>);

fn admin<'a>(m: Manager<'a>) -> Result<Manager<'a>, Status> {
    if !m.role.manages_all_keys() {
        return Err(ApiError::forbidden("only owners and admins manage API clients").into());
    }
    Ok(m)
}

fn url(value: &str, field: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    if !(v.starts_with("https://") || v.starts_with("http://"))
        || v.len() > MAX_TEXT
        || v.contains(char::is_whitespace)
        || !has_host(v)
    {
        return Err(ApiError::invalid_field(
            field,
            "must be an http(s) URL, e.g. https://example.com/callback",
        ));
    }
    Ok(v.to_owned())
}

/// Whether an http(s) URL names a host: a name without brackets, or a bracketed IPv6
/// address (`http://[` is no URL; a receiver, or a client parsing the answer, would choke).
fn has_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').is_some_and(|(ip, port)| {
            ip.parse::<std::net::Ipv6Addr>().is_ok() && (port.is_empty() || port.starts_with(':'))
        }),
        None => {
            let host = host_port.split(':').next().unwrap_or("");
            !host.is_empty() && !host_port.contains(['[', ']'])
        }
    }
}

fn email(value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_ascii_lowercase();
    let ok = v
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && v.len() <= 255;
    if !ok {
        return Err(ApiError::invalid_field(
            "contactEmail",
            "must be an email address, e.g. tech@example.com",
        ));
    }
    Ok(v)
}

fn name(value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 255 {
        return Err(ApiError::invalid_field(
            "name",
            "is required, at most 255 characters",
        ));
    }
    Ok(v.to_owned())
}

fn status(value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_ascii_lowercase();
    STATUSES.contains(&v.as_str()).then_some(v).ok_or_else(|| {
        ApiError::invalid_field("status", "must be one of active, suspended, inactive")
    })
}

fn tier(value: &str) -> Result<String, ApiError> {
    let tier = key_policy::tier(value).map_err(|_| {
        ApiError::invalid_field(
            "rateLimitTier",
            "must be one of basic, standard, premium, enterprise",
        )
    })?;
    Ok(tier.unwrap_or_else(|| "basic".into()))
}

/// Every redirect URI, newline-separated for storage.
fn redirect_uris(values: &[String]) -> Result<String, ApiError> {
    let uris = values
        .iter()
        .enumerate()
        .map(|(i, u)| url(u, &format!("redirectUris[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(uris
        .into_iter()
        .filter(|u| !u.is_empty())
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Registers a client.
pub async fn create(
    state: &AuthState,
    principal: &Principal,
    f: ClientFields,
) -> Result<Saved, Status> {
    let m = admin(manager(state, principal).await?)?;
    let scopes = f.scopes.unwrap_or_default();
    if scopes.is_empty() {
        return Err(ApiError::invalid_field(
            "scopes",
            "at least one scope is required, e.g. [\"contacts:read\"]",
        )
        .into());
    }
    let now = super::now();
    let id = uuid::Uuid::new_v4().to_string();
    let webhook_url = url(f.webhook_url.as_deref().unwrap_or_default(), "webhookUrl")?;
    let metadata = match &f.metadata {
        Some(v) => client_extras::metadata(v)?,
        None => None,
    };
    let (webhook_secret, shown) =
        client_extras::apply_secret(state, &id, None, f.webhook_secret, !webhook_url.is_empty())?;
    let txn = audit::begin(state).await?;
    let client = store::insert(
        &txn,
        store::ActiveModel {
            id: Set(id),
            workspace_id: Set(m.workspace_id.to_owned()),
            name: Set(name(f.name.as_deref().unwrap_or_default())?),
            description: Set(f.description.unwrap_or_default().trim().to_owned()),
            redirect_uris: Set(redirect_uris(&f.redirect_uris.unwrap_or_default())?),
            website: Set(url(f.website.as_deref().unwrap_or_default(), "website")?),
            logo_url: Set(url(f.logo_url.as_deref().unwrap_or_default(), "logoUrl")?),
            contact_email: Set(email(f.contact_email.as_deref().unwrap_or_default())?),
            status: Set(match f.status.as_deref() {
                None | Some("") => "active".into(),
                Some(s) => status(s)?,
            }),
            rate_limit_tier: Set(tier(f.tier.as_deref().unwrap_or_default())?),
            webhook_url: Set(webhook_url),
            scopes: Set(scopes.to_stored()),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            metadata: Set(metadata),
            webhook_secret: Set(webhook_secret),
        },
    )
    .await?;
    audit::commit_with(
        txn,
        principal,
        &client.workspace_id,
        client_change("api_client.created", &client),
    )
    .await?;
    tracing::info!(api_client_id = %client.id, workspace_id = %client.workspace_id, "api client created");
    Ok((client, shown))
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

async fn visible(state: &AuthState, m: &Manager<'_>, id: &str) -> Result<ApiClient, Status> {
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

async fn announce_keys(state: &AuthState, client: &ApiClient) -> Result<(), Status> {
    for key in key_store::list_by_client(&state.db, &client.workspace_id, &client.id).await? {
        announce_all(state, &hashes_of(&key)).await;
    }
    Ok(())
}

/// Changes a client; its keys are reloaded by every gateway.
pub async fn update(
    state: &AuthState,
    principal: &Principal,
    id: &str,
    f: ClientFields,
) -> Result<Saved, Status> {
    let m = admin(manager(state, principal).await?)?;
    let client = visible(state, &m, id).await?;
    let webhook_url = match &f.webhook_url {
        Some(v) => url(v, "webhookUrl")?,
        None => client.webhook_url.clone(),
    };
    let (webhook_secret, shown) = client_extras::apply_secret(
        state,
        &client.id,
        client.webhook_secret.clone(),
        f.webhook_secret,
        !webhook_url.is_empty(),
    )?;
    let mut a = client.into_active_model();
    a.webhook_url = Set(webhook_url);
    a.webhook_secret = Set(webhook_secret);
    if let Some(v) = &f.metadata {
        a.metadata = Set(client_extras::metadata(v)?);
    }
    if let Some(v) = f.name {
        a.name = Set(name(&v)?);
    }
    if let Some(v) = f.description {
        a.description = Set(v.trim().to_owned());
    }
    if let Some(v) = f.redirect_uris {
        a.redirect_uris = Set(redirect_uris(&v)?);
    }
    if let Some(v) = f.website {
        a.website = Set(url(&v, "website")?);
    }
    if let Some(v) = f.logo_url {
        a.logo_url = Set(url(&v, "logoUrl")?);
    }
    if let Some(v) = f.contact_email {
        a.contact_email = Set(email(&v)?);
    }
    if let Some(v) = f.status {
        a.status = Set(status(&v)?);
    }
    if let Some(v) = f.tier {
        a.rate_limit_tier = Set(tier(&v)?);
    }
    if let Some(s) = f.scopes.filter(|s| !s.is_empty()) {
        a.scopes = Set(s.to_stored());
    }
    a.updated_at = Set(super::now());
    let txn = audit::begin(state).await?;
    let client = store::save(&txn, a).await?;
    audit::commit_with(
        txn,
        principal,
        &client.workspace_id,
        client_change("api_client.updated", &client),
    )
    .await?;
    announce_keys(state, &client).await?;
    Ok((client, shown))
}

/// Deletes a client and revokes its keys; returns the client and how many keys stopped.
pub async fn delete(
    state: &AuthState,
    principal: &Principal,
    id: &str,
) -> Result<(ApiClient, u32), Status> {
    let m = admin(manager(state, principal).await?)?;
    let client = visible(state, &m, id).await?;
    let mut revoked = 0;
    for key in key_store::list_by_client(&state.db, m.workspace_id, &client.id).await? {
        if key.revoked_at.is_none() {
            api_key::revoke(state, principal, &key.id, "API client deleted").await?;
            revoked += 1;
        }
    }
    let mut a = client.into_active_model();
    a.deleted_at = Set(Some(super::now()));
    a.status = Set("inactive".into());
    let txn = audit::begin(state).await?;
    let client = store::save(&txn, a).await?;
    let mut change = client_change("api_client.deleted", &client);
    change.details["revoked_keys"] = revoked.into();
    audit::commit_with(txn, principal, &client.workspace_id, change).await?;
    tracing::info!(api_client_id = %client.id, revoked, "api client deleted");
    Ok((client, revoked))
}

/// The audit entry of a client change: its name, state and grants, never its secret.
fn client_change<'a>(action: &'static str, client: &'a ApiClient) -> audit::Change<'a> {
    audit::Change {
        action,
        target_type: "api_client",
        target_id: &client.id,
        details: serde_json::json!({
            "name": client.name,
            "status": client.status,
            "tier": client.rate_limit_tier,
            "scopes": client.scopes,
        }),
    }
}

/// The client a new key is for: it must exist, be active, and the caller must manage it.
pub(super) async fn for_new_key(
    state: &AuthState,
    m: &Manager<'_>,
    client_id: &str,
) -> Result<ApiClient, Status> {
    if !m.role.manages_all_keys() {
        return Err(
            ApiError::forbidden("only owners and admins create keys for API clients").into(),
        );
    }
    if uuid::Uuid::parse_str(client_id).is_err() {
        return Err(ApiError::invalid_field("clientId", "must be a UUID").into());
    }
    let client = store::get(&state.db, m.workspace_id, client_id)
        .await?
        .ok_or_else(|| ApiError::invalid_field("clientId", "no such API client"))?;
    if client.status != "active" {
        return Err(ApiError::invalid_field(
            "clientId",
            format!("the API client is {}; activate it first", client.status),
        )
        .into());
    }
    Ok(client)
}

/// A key's scopes must stay within its client's.
pub(super) fn check_within(client: &ApiClient, scopes: &Scopes) -> Result<(), ApiError> {
    let granted = Scopes::from_stored(&client.scopes).to_vec();
    if scopes.within(&granted) {
        return Ok(());
    }
    Err(ApiError::invalid_field(
        "scopes",
        format!(
            "exceed the API client's scopes ({}); a key never has more than its client",
            granted.join(", ")
        ),
    ))
}

/// Keys of a client.
pub async fn keys(
    state: &AuthState,
    principal: &Principal,
    client_id: &str,
) -> Result<Vec<ApiKey>, Status> {
    let m = admin(manager(state, principal).await?)?;
    let client = visible(state, &m, client_id).await?;
    key_store::list_by_client(&state.db, m.workspace_id, &client.id).await
}

/// Revokes one key of a client (seed 003 `DELETE .../api-keys/:id`).
pub async fn revoke_key(
    state: &AuthState,
    principal: &Principal,
    client_id: &str,
    key_id: &str,
) -> Result<ApiKey, Status> {
    let m = admin(manager(state, principal).await?)?;
    let client = visible(state, &m, client_id).await?;
    let key = api_key::get(state, principal, key_id).await?;
    if key.client_id.as_deref() != Some(client.id.as_str()) {
        return Err(ApiError::not_found("API key of this client", key_id).into());
    }
    api_key::revoke(state, principal, key_id, "revoked through its API client").await
}

/// What the gateway enforces for a key of `client_id`: whether the client lets it work, its
/// tier, and the scopes the key keeps within the client's.
pub struct Effective {
    /// The client is active.
    pub active: bool,
    /// The client is deleted.
    pub deleted: bool,
    /// The client's tier.
    pub tier: String,
    /// Client scopes.
    pub scopes: Vec<String>,
}

/// The client of a key being validated (global lookup: the key row names it).
pub async fn effective(state: &AuthState, client_id: &str) -> Result<Option<Effective>, Status> {
    Ok(store::get_global(&state.db, client_id)
        .await?
        .map(|c| Effective {
            active: c.status == "active" && c.deleted_at.is_none(),
            deleted: c.deleted_at.is_some(),
            tier: c.rate_limit_tier,
            scopes: Scopes::from_stored(&c.scopes).to_vec(),
        }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_name_a_host() {
        for ok in [
            "https://example.com/callback",
            "http://localhost:8080",
            "https://[2001:db8::1]:443/hook",
            "https://user@example.com/x?a=[1]",
        ] {
            assert!(super::url(ok, "u").is_ok(), "{ok}");
        }
        for bad in [
            "http://[",
            "https://",
            "http:///path",
            "http://[::1/x",
            "http://a]b",
        ] {
            assert!(super::url(bad, "u").is_err(), "{bad}");
        }
    }
}
