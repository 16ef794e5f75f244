//! Changes to workspaces, memberships and passwords. Every function takes a connection or a
//! transaction, so a change and its audit entry commit together, and returns the database's
//! own error; the domain decides what the caller sees.

use super::entities::{external_identities, memberships, users, workspaces};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};

/// Takes the workspace's row lock for the rest of the transaction (a no-op update): every
/// membership change of one workspace goes through it, so two concurrent demotions cannot
/// both see a second owner and leave none. Returns false when the workspace does not exist.
pub async fn lock_workspace(db: &impl ConnectionTrait, workspace_id: &str) -> Result<bool, DbErr> {
    let done = workspaces::Entity::update_many()
        .col_expr(
            workspaces::Column::UpdatedAt,
            Expr::col(workspaces::Column::UpdatedAt),
        )
        .filter(workspaces::Column::Id.eq(workspace_id))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// One workspace.
pub async fn workspace(
    db: &impl ConnectionTrait,
    workspace_id: &str,
) -> Result<Option<workspaces::Model>, DbErr> {
    workspaces::Entity::find_by_id(workspace_id.to_owned())
        .one(db)
        .await
}

/// A new workspace.
pub async fn insert_workspace(
    db: &impl ConnectionTrait,
    name: &str,
    timezone: &str,
    currency: &str,
) -> Result<workspaces::Model, DbErr> {
    let now = crate::domain::now();
    workspaces::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(name.to_owned()),
        created_at: Set(now),
        timezone: Set(timezone.to_owned()),
        default_currency: Set(currency.to_owned()),
        updated_at: Set(Some(now)),
    }
    .insert(db)
    .await
}

/// Saves changed workspace settings.
pub async fn save_workspace(
    db: &impl ConnectionTrait,
    workspace: workspaces::ActiveModel,
) -> Result<workspaces::Model, DbErr> {
    workspace.update(db).await
}

/// A user's membership in one workspace.
pub async fn membership(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    user_id: &str,
) -> Result<Option<memberships::Model>, DbErr> {
    memberships::Entity::find_by_id((workspace_id.to_owned(), user_id.to_owned()))
        .one(db)
        .await
}

/// Adds a member.
pub async fn insert_membership(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    user_id: &str,
    role: &str,
) -> Result<memberships::Model, DbErr> {
    memberships::ActiveModel {
        workspace_id: Set(workspace_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        role: Set(role.to_owned()),
        created_at: Set(crate::domain::now()),
    }
    .insert(db)
    .await
}

/// Sets a member's role; false when they are not a member.
pub async fn set_role(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    user_id: &str,
    role: &str,
) -> Result<bool, DbErr> {
    let done = memberships::Entity::update_many()
        .col_expr(memberships::Column::Role, Expr::value(role))
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .filter(memberships::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Removes a member; false when they were not one.
pub async fn delete_membership(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    let done = memberships::Entity::delete_many()
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .filter(memberships::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// How many owners a workspace has.
pub async fn count_owners(db: &impl ConnectionTrait, workspace_id: &str) -> Result<u64, DbErr> {
    memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .filter(memberships::Column::Role.eq("owner"))
        .count(db)
        .await
}

/// A new user with no membership yet.
pub async fn insert_user(
    db: &impl ConnectionTrait,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<users::Model, DbErr> {
    users::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        email: Set(email.to_owned()),
        name: Set(name.to_owned()),
        password_hash: Set(password_hash.to_owned()),
        created_at: Set(crate::domain::now()),
        token_version: Set(0),
    }
    .insert(db)
    .await
}

/// A user by id (global: users exist across workspaces).
pub async fn user_global(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(user_id.to_owned()).one(db).await
}

/// A user by email (global).
pub async fn user_by_email_global(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(db)
        .await
}

/// Replaces a user's password hash and raises their token version, so tokens minted before
/// stop working (global: a user's password is theirs across workspaces).
pub async fn set_password_global(
    db: &impl ConnectionTrait,
    user_id: &str,
    password_hash: &str,
) -> Result<(), DbErr> {
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(
            users::Column::TokenVersion,
            Expr::col(users::Column::TokenVersion).add(1),
        )
        .filter(users::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The user an external issuer's subject is linked to (global: before any workspace).
pub async fn external_identity_global(
    db: &impl ConnectionTrait,
    issuer: &str,
    subject: &str,
) -> Result<Option<String>, DbErr> {
    Ok(
        external_identities::Entity::find_by_id((issuer.to_owned(), subject.to_owned()))
            .one(db)
            .await?
            .map(|i| i.user_id),
    )
}

/// Links an external issuer's subject to a user; an existing link is kept.
pub async fn link_external_identity_global(
    db: &impl ConnectionTrait,
    issuer: &str,
    subject: &str,
    user_id: &str,
) -> Result<(), DbErr> {
    let link = external_identities::ActiveModel {
        issuer: Set(issuer.to_owned()),
        subject: Set(subject.to_owned()),
        user_id: Set(user_id.to_owned()),
        created_at: Set(crate::domain::now()),
    };
    match external_identities::Entity::insert(link)
        .on_conflict_do_nothing()
        .exec(db)
        .await
    {
        Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
        Err(e) => Err(e),
    }
}
