//! Workspaces a user belongs to: listing, creating, reading and changing their settings.

use super::{
    AuthState, audit,
    workspace_access::{self, MemberCaller},
};
use crate::store::{
    db_error,
    entities::{memberships, workspaces},
    members, workspace as lookups,
};
use crm_platform::{Principal, PrincipalKind, error::ApiError};
use sea_orm::{ActiveValue::Set, IntoActiveModel};
use serde_json::json;
use tonic::Status;

/// A workspace with the caller's membership there.
pub struct Membership {
    /// The workspace.
    pub workspace: workspaces::Model,
    /// The caller's membership (role, joined).
    pub membership: memberships::Model,
}

/// Settings given on create or update; `None` leaves a value as it is (or the default).
#[derive(Default)]
pub struct Settings {
    /// Display name.
    pub name: Option<String>,
    /// IANA zone.
    pub timezone: Option<String>,
    /// ISO 4217 code.
    pub default_currency: Option<String>,
}

fn user_of(principal: &Principal) -> Result<&str, Status> {
    if principal.kind != PrincipalKind::User {
        return Err(ApiError::forbidden("this call needs a user token (JWT)").into());
    }
    Ok(&principal.subject)
}

/// A name shown to people (a workspace's, a person's): 1 to 100 characters after trimming.
pub fn display_name(value: &str, field: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid_field(field, "is required"));
    }
    if value.chars().count() > 100 {
        return Err(ApiError::invalid_field(
            field,
            "must be at most 100 characters",
        ));
    }
    Ok(value.to_owned())
}

/// A workspace name.
pub fn name(value: &str) -> Result<String, ApiError> {
    display_name(value, "name")
}

fn timezone(value: &str) -> Result<String, ApiError> {
    value
        .trim()
        .parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| {
            ApiError::invalid_field("timezone", "must be an IANA time zone, e.g. Europe/Paris")
        })
}

fn currency(value: &str) -> Result<String, ApiError> {
    let value = value.trim().to_ascii_uppercase();
    if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::invalid_field(
            "default_currency",
            "must be an ISO 4217 code of three letters, e.g. EUR",
        ));
    }
    Ok(value)
}

/// The caller's workspaces, oldest membership first.
pub async fn list_mine(
    state: &AuthState,
    principal: &Principal,
) -> Result<Vec<Membership>, Status> {
    let user_id = user_of(principal)?;
    Ok(lookups::memberships_of_user_global(&state.db, user_id)
        .await?
        .into_iter()
        .map(|(membership, workspace)| Membership {
            workspace,
            membership,
        })
        .collect())
}

/// A new workspace owned by the caller.
pub async fn create(
    state: &AuthState,
    principal: &Principal,
    settings: Settings,
) -> Result<Membership, Status> {
    let user_id = user_of(principal)?.to_owned();
    let name = name(settings.name.as_deref().unwrap_or_default())?;
    let tz = timezone(settings.timezone.as_deref().unwrap_or("UTC"))?;
    let cur = currency(settings.default_currency.as_deref().unwrap_or("USD"))?;
    let txn = audit::begin(state).await?;
    let workspace = members::insert_workspace(&txn, &name, &tz, &cur)
        .await
        .map_err(db_error("insert workspace"))?;
    let membership = members::insert_membership(&txn, &workspace.id, &user_id, "owner")
        .await
        .map_err(db_error("insert membership"))?;
    audit::commit_with(
        txn,
        principal,
        &workspace.id,
        audit::Change {
            action: "workspace.created",
            target_type: "workspace",
            target_id: &workspace.id,
            details: json!({"name": name}),
        },
    )
    .await?;
    tracing::info!(workspace_id = %workspace.id, "workspace created");
    Ok(Membership {
        workspace,
        membership,
    })
}

async fn load(state: &AuthState, caller: &MemberCaller) -> Result<Membership, Status> {
    let workspace = members::workspace(&state.db, &caller.workspace_id)
        .await
        .map_err(db_error("find workspace"))?
        .ok_or_else(|| ApiError::not_found("workspace", &caller.workspace_id))?;
    let membership = members::membership(&state.db, &caller.workspace_id, &caller.user_id)
        .await
        .map_err(db_error("find membership"))?
        .ok_or_else(|| ApiError::not_found("workspace", &caller.workspace_id))?;
    Ok(Membership {
        workspace,
        membership,
    })
}

/// One workspace of the caller's.
pub async fn get(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
) -> Result<Membership, Status> {
    let id = workspace_access::workspace_id(workspace_id, "id")?;
    let caller = workspace_access::member_of(state, principal, &id).await?;
    load(state, &caller).await
}

/// Changes name, timezone or default currency; owners and admins.
pub async fn update(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
    settings: Settings,
) -> Result<Membership, Status> {
    let id = workspace_access::workspace_id(workspace_id, "id")?;
    let caller = workspace_access::member_of(state, principal, &id).await?;
    caller.require_admin("change workspace settings")?;
    let current = load(state, &caller).await?.workspace;
    let mut changed = serde_json::Map::new();
    let mut active = current.clone().into_active_model();
    if let Some(v) = settings.name {
        let v = name(&v)?;
        changed.insert("name".into(), json!({"from": current.name, "to": v}));
        active.name = Set(v);
    }
    if let Some(v) = settings.timezone {
        let v = timezone(&v)?;
        changed.insert(
            "timezone".into(),
            json!({"from": current.timezone, "to": v}),
        );
        active.timezone = Set(v);
    }
    if let Some(v) = settings.default_currency {
        let v = currency(&v)?;
        changed.insert(
            "default_currency".into(),
            json!({"from": current.default_currency, "to": v}),
        );
        active.default_currency = Set(v);
    }
    active.updated_at = Set(Some(super::now()));
    let txn = audit::begin(state).await?;
    members::save_workspace(&txn, active)
        .await
        .map_err(db_error("update workspace"))?;
    audit::commit_with(
        txn,
        principal,
        &caller.workspace_id,
        audit::Change {
            action: "workspace.updated",
            target_type: "workspace",
            target_id: &caller.workspace_id,
            details: serde_json::Value::Object(changed),
        },
    )
    .await?;
    load(state, &caller).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_validated_by_field() {
        assert_eq!(timezone("Europe/Paris").unwrap(), "Europe/Paris");
        assert!(timezone("Mars/Olympus").is_err());
        assert_eq!(currency("eur").unwrap(), "EUR");
        assert!(currency("EURO").is_err());
        assert!(name("  ").is_err());
        assert_eq!(name(" Acme ").unwrap(), "Acme");
    }
}
