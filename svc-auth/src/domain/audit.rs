//! The audit log: who changed which membership, role, invitation, key or client, when, from
//! where and in which request. Entries are written in the transaction of the change they
//! describe, so neither exists without the other.

use super::{AuthState, workspace_access};
use crate::store::{
    audit::{self as store, AuditFilter},
    db_error,
    entities::audit_log,
};
use crm_platform::{Principal, error::ApiError};
use sea_orm::{ConnectionTrait, DbErr, Set};
use tonic::Status;

/// One change to record.
pub struct Change<'a> {
    /// What happened, `<target>.<verb>` (`member.role_changed`, `api_key.revoked`).
    pub action: &'static str,
    /// What kind of thing changed.
    pub target_type: &'static str,
    /// Its id.
    pub target_id: &'a str,
    /// What changed; never a secret.
    pub details: serde_json::Value,
}

/// Appends `change`, made by `actor` in `workspace_id`, on `db` (the change's transaction).
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &Principal,
    workspace_id: &str,
    change: Change<'_>,
) -> Result<(), DbErr> {
    store::insert(
        db,
        audit_log::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            workspace_id: Set(workspace_id.to_owned()),
            actor_id: Set(actor.subject.clone()),
            action: Set(change.action.to_owned()),
            target_type: Set(change.target_type.to_owned()),
            target_id: Set(change.target_id.to_owned()),
            details: Set(change.details.to_string()),
            request_id: Set(actor.request_id.clone()),
            source_ip: Set(actor.client_ip.clone()),
            created_at: Set(super::now()),
        },
    )
    .await?;
    Ok(())
}

/// Opens the transaction a change and its entry share.
pub async fn begin(state: &AuthState) -> Result<sea_orm::DatabaseTransaction, Status> {
    use sea_orm::TransactionTrait;
    state.db.begin().await.map_err(db_error("begin"))
}

/// Records `change` in `txn` and commits both.
pub async fn commit_with(
    txn: sea_orm::DatabaseTransaction,
    actor: &Principal,
    workspace_id: &str,
    change: Change<'_>,
) -> Result<(), Status> {
    record(&txn, actor, workspace_id, change)
        .await
        .map_err(db_error("audit"))?;
    txn.commit().await.map_err(db_error("commit"))
}

/// Asked-for filters of [`list`], as sent.
pub struct Query {
    /// Only this actor.
    pub actor_id: String,
    /// Only this action.
    pub action: String,
    /// From (RFC 3339 or YYYY-MM-DD), inclusive.
    pub start_date: String,
    /// To (RFC 3339 or YYYY-MM-DD, the whole day), inclusive.
    pub end_date: String,
    /// The previous page's `next_cursor`.
    pub cursor: String,
    /// Page size, 1..=200 (0 means 50).
    pub limit: u32,
}

/// A page of entries and the cursor of the next, if any.
pub struct Page {
    /// Newest first.
    pub entries: Vec<audit_log::Model>,
    /// Empty on the last page.
    pub next_cursor: String,
}

/// The audit log of a workspace, for its owners and admins.
pub async fn list(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
    query: Query,
) -> Result<Page, Status> {
    let caller = workspace_access::member_of(state, principal, workspace_id).await?;
    caller.require_admin("read the audit log")?;
    let limit = match query.limit {
        0 => 50,
        n @ 1..=200 => n,
        _ => return Err(ApiError::invalid_field("limit", "must be between 1 and 200").into()),
    };
    let before_id = match query.cursor.trim() {
        "" => None,
        c => Some(
            uuid::Uuid::parse_str(c)
                .map_err(|_| ApiError::invalid_field("cursor", "is not a cursor this API gave"))?
                .to_string(),
        ),
    };
    let filter = AuditFilter {
        actor_id: query.actor_id.trim().to_owned(),
        action: query.action.trim().to_owned(),
        from: super::dates::start_of(&query.start_date, "start_date")?,
        to: super::dates::end_of(&query.end_date, "end_date")?,
        before_id,
    };
    let mut entries = store::page(
        &state.db,
        &caller.workspace_id,
        &filter,
        u64::from(limit) + 1,
    )
    .await
    .map_err(db_error("list audit log"))?;
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|e| e.id.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(Page {
        entries,
        next_cursor,
    })
}
