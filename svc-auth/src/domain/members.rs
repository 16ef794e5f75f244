//! Members of a workspace: listing, role changes, removal and ownership transfer. Each
//! change locks the workspace row, checks the rules against the table inside the same
//! transaction (so a workspace always keeps an owner), writes its audit entry there, and is
//! announced to every gateway once committed.

use super::{
    AuthState, audit,
    role::{self, Role},
    workspace_access::{self, MemberCaller, announce_member},
};
use crate::store::{
    db_error,
    entities::{memberships, users},
    members, workspace as lookups,
};
use crm_platform::{Principal, error::ApiError};
use sea_orm::DatabaseTransaction;
use serde_json::json;
use tonic::Status;

/// Members of a workspace the caller belongs to, oldest first.
pub async fn list(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
) -> Result<Vec<(memberships::Model, users::Model)>, Status> {
    let caller = workspace_access::member_of(state, principal, workspace_id).await?;
    lookups::members(&state.db, &caller.workspace_id).await
}

fn last_owner() -> Status {
    ApiError::new(
        tonic::Code::FailedPrecondition,
        "LAST_OWNER",
        "a workspace always keeps at least one owner; transfer ownership first",
    )
    .with_meta(crm_platform::error::HTTP_STATUS_KEY, "409")
    .into()
}

fn user_id(value: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(value.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid_field("user_id", "must be a user id (UUID)"))
}

/// Opens the transaction of a membership change: the workspace row locked, the caller's and
/// the target's current roles read under that lock.
async fn begin_change(
    state: &AuthState,
    caller: &MemberCaller,
    target: &str,
) -> Result<(DatabaseTransaction, Role, Role), Status> {
    let txn = audit::begin(state).await?;
    members::lock_workspace(&txn, &caller.workspace_id)
        .await
        .map_err(db_error("lock workspace"))?;
    let role_of = |m: Option<memberships::Model>| m.map(|m| Role::parse(&m.role)).transpose();
    let actor = role_of(
        members::membership(&txn, &caller.workspace_id, &caller.user_id)
            .await
            .map_err(db_error("find membership"))?,
    )?
    .ok_or_else(|| ApiError::not_found("workspace", &caller.workspace_id))?;
    let current = role_of(
        members::membership(&txn, &caller.workspace_id, target)
            .await
            .map_err(db_error("find membership"))?,
    )?
    .ok_or_else(|| ApiError::not_found("member", target))?;
    Ok((txn, actor, current))
}

async fn owners(txn: &DatabaseTransaction, workspace_id: &str) -> Result<u64, Status> {
    members::count_owners(txn, workspace_id)
        .await
        .map_err(db_error("count owners"))
}

/// Gives a member another role.
pub async fn change_role(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
    target: &str,
    new_role: &str,
) -> Result<(memberships::Model, users::Model), Status> {
    let caller = workspace_access::member_of(state, principal, workspace_id).await?;
    let target = user_id(target)?;
    let new = Role::parse_field(new_role, "role")?;
    let (txn, actor, current) = begin_change(state, &caller, &target).await?;
    if current != new {
        role::check_role_change(actor, target == caller.user_id, current, new)?;
        if current == Role::Owner && owners(&txn, &caller.workspace_id).await? <= 1 {
            return Err(last_owner());
        }
        members::set_role(&txn, &caller.workspace_id, &target, new.as_str())
            .await
            .map_err(db_error("set role"))?;
        audit::record(
            &txn,
            principal,
            &caller.workspace_id,
            audit::Change {
                action: "member.role_changed",
                target_type: "member",
                target_id: &target,
                details: json!({"from": current.as_str(), "to": new.as_str()}),
            },
        )
        .await
        .map_err(db_error("audit"))?;
    }
    txn.commit().await.map_err(db_error("commit"))?;
    if current != new {
        announce_member(state, &caller.workspace_id, &target).await;
    }
    member(state, &caller.workspace_id, &target).await
}

/// Removes a member, or lets the caller leave.
pub async fn remove(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
    target: &str,
) -> Result<String, Status> {
    let caller = workspace_access::member_of(state, principal, workspace_id).await?;
    let target = user_id(target)?;
    let (txn, actor, current) = begin_change(state, &caller, &target).await?;
    role::check_removal(actor, target == caller.user_id, current)?;
    if current == Role::Owner && owners(&txn, &caller.workspace_id).await? <= 1 {
        return Err(last_owner());
    }
    members::delete_membership(&txn, &caller.workspace_id, &target)
        .await
        .map_err(db_error("delete membership"))?;
    audit::commit_with(
        txn,
        principal,
        &caller.workspace_id,
        audit::Change {
            action: "member.removed",
            target_type: "member",
            target_id: &target,
            details: json!({"role": current.as_str()}),
        },
    )
    .await?;
    announce_member(state, &caller.workspace_id, &target).await;
    tracing::info!(workspace_id = %caller.workspace_id, user_id = %target, "member removed");
    Ok(target)
}

/// Makes another member an owner; the calling owner becomes an admin.
pub async fn transfer_ownership(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
    target: &str,
) -> Result<Vec<(memberships::Model, users::Model)>, Status> {
    let caller = workspace_access::member_of(state, principal, workspace_id).await?;
    let target = user_id(target)?;
    if target == caller.user_id {
        return Err(ApiError::invalid_field("user_id", "name another member").into());
    }
    let (txn, actor, current) = begin_change(state, &caller, &target).await?;
    if actor != Role::Owner {
        return Err(role::refuse("only an owner transfers ownership").into());
    }
    members::set_role(&txn, &caller.workspace_id, &target, Role::Owner.as_str())
        .await
        .map_err(db_error("set role"))?;
    members::set_role(
        &txn,
        &caller.workspace_id,
        &caller.user_id,
        Role::Admin.as_str(),
    )
    .await
    .map_err(db_error("set role"))?;
    audit::commit_with(
        txn,
        principal,
        &caller.workspace_id,
        audit::Change {
            action: "workspace.ownership_transferred",
            target_type: "member",
            target_id: &target,
            details: json!({"from_user_id": caller.user_id, "previous_role": current.as_str()}),
        },
    )
    .await?;
    announce_member(state, &caller.workspace_id, &target).await;
    announce_member(state, &caller.workspace_id, &caller.user_id).await;
    lookups::members(&state.db, &caller.workspace_id).await
}

/// One member with their user row.
async fn member(
    state: &AuthState,
    workspace_id: &str,
    user_id: &str,
) -> Result<(memberships::Model, users::Model), Status> {
    let m = members::membership(&state.db, workspace_id, user_id)
        .await
        .map_err(db_error("find membership"))?
        .ok_or_else(|| ApiError::not_found("member", user_id))?;
    let u = members::user_global(&state.db, user_id)
        .await
        .map_err(db_error("find user"))?
        .ok_or_else(|| ApiError::not_found("member", user_id))?;
    Ok((m, u))
}
