//! Registering, changing and deleting a client: audited, and announced for every key of the
//! client so gateways reload them at once; deleting revokes the keys.

use super::{
    ApiClient, ClientFields, Saved,
    access::{admin, visible},
    fields::{email, name, redirect_uris, status, tier, url},
};
use crate::domain::{
    AuthState,
    api_key::{self, announce_all, hashes_of, manager},
    audit, client_extras,
};
use crate::store::{api_client as store, api_key as key_store};
use crm_platform::{Principal, error::ApiError};
use sea_orm::{ActiveValue::Set, IntoActiveModel};
use tonic::Status;

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
    let now = crate::domain::now();
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
    a.updated_at = Set(crate::domain::now());
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
    a.deleted_at = Set(Some(crate::domain::now()));
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
