//! Invitations: who is invited to which workspace with which role. The accept token is kept
//! only as its SHA-256.

use super::entities::invitations::{self, ActiveModel, Model};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};

/// Stores a new invitation.
pub async fn insert(db: &impl ConnectionTrait, invitation: ActiveModel) -> Result<Model, DbErr> {
    invitation.insert(db).await
}

/// One invitation of a workspace.
pub async fn get(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    id: &str,
) -> Result<Option<Model>, DbErr> {
    invitations::Entity::find_by_id(id.to_owned())
        .filter(invitations::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await
}

/// A workspace's invitations, newest first.
pub async fn list(db: &impl ConnectionTrait, workspace_id: &str) -> Result<Vec<Model>, DbErr> {
    invitations::Entity::find()
        .filter(invitations::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(invitations::Column::CreatedAt)
        .all(db)
        .await
}

/// The pending (neither accepted nor revoked, not expired) invitation of `email`, if any.
pub async fn pending_for_email(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<Option<Model>, DbErr> {
    invitations::Entity::find()
        .filter(invitations::Column::WorkspaceId.eq(workspace_id))
        .filter(invitations::Column::Email.eq(email))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .filter(invitations::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

/// The invitation a token hash names (global: the token is all the invitee has).
pub async fn find_by_token_hash_global(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<Model>, DbErr> {
    invitations::Entity::find()
        .filter(invitations::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

/// Marks an invitation used, only if it still is unused and unrevoked: of two concurrent
/// accepts, one wins. True when this call won.
pub async fn mark_accepted(
    db: &impl ConnectionTrait,
    id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = invitations::Entity::update_many()
        .col_expr(invitations::Column::AcceptedAt, Expr::value(now))
        .col_expr(invitations::Column::AcceptedBy, Expr::value(user_id))
        .filter(invitations::Column::Id.eq(id))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Revokes a pending invitation; false when it was already used or revoked.
pub async fn mark_revoked(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = invitations::Entity::update_many()
        .col_expr(invitations::Column::RevokedAt, Expr::value(now))
        .filter(invitations::Column::WorkspaceId.eq(workspace_id))
        .filter(invitations::Column::Id.eq(id))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}
