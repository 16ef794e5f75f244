//! Workspaces, users and memberships.

use super::{
    db_error,
    entities::{memberships, users, workspaces},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use tonic::Status;

/// How many users exist at all (global: used to decide first-start bootstrap).
pub async fn count_users_global(db: &DatabaseConnection) -> Result<u64, Status> {
    users::Entity::find()
        .count(db)
        .await
        .map_err(db_error("count users"))
}

/// Finds a user by email (global: login happens before a workspace is known).
pub async fn find_user_by_email_global(
    db: &DatabaseConnection,
    email: &str,
) -> Result<Option<users::Model>, Status> {
    users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(db)
        .await
        .map_err(db_error("find user by email"))
}

/// Finds a user by id (global: resolving an external token's subject).
pub async fn find_user_global(
    db: &DatabaseConnection,
    user_id: &str,
) -> Result<Option<users::Model>, Status> {
    users::Entity::find_by_id(user_id.to_owned())
        .one(db)
        .await
        .map_err(db_error("find user"))
}

/// The workspaces a user belongs to, oldest membership first (global: login).
pub async fn memberships_of_user_global(
    db: &DatabaseConnection,
    user_id: &str,
) -> Result<Vec<(memberships::Model, workspaces::Model)>, Status> {
    let rows = memberships::Entity::find()
        .filter(memberships::Column::UserId.eq(user_id))
        .order_by_asc(memberships::Column::CreatedAt)
        .all(db)
        .await
        .map_err(db_error("list memberships"))?;
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        if let Some(ws) = workspaces::Entity::find_by_id(m.workspace_id.clone())
            .one(db)
            .await
            .map_err(db_error("find workspace"))?
        {
            out.push((m, ws));
        }
    }
    Ok(out)
}

/// A user's membership in one workspace.
pub async fn membership(
    db: &DatabaseConnection,
    workspace_id: &str,
    user_id: &str,
) -> Result<Option<memberships::Model>, Status> {
    memberships::Entity::find_by_id((workspace_id.to_owned(), user_id.to_owned()))
        .one(db)
        .await
        .map_err(db_error("find membership"))
}

/// Creates a workspace, a user (or reuses the one with that email) and the membership, in
/// one transaction.
pub async fn create_workspace_with_member(
    db: &DatabaseConnection,
    workspace_name: &str,
    email: &str,
    user_name: &str,
    password_hash: &str,
    role: &str,
) -> Result<(workspaces::Model, users::Model), Status> {
    let txn = db.begin().await.map_err(db_error("begin"))?;
    let now = crate::domain::now();
    let workspace = workspaces::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(workspace_name.to_owned()),
        created_at: Set(now),
        timezone: Set("UTC".into()),
        default_currency: Set("USD".into()),
        updated_at: Set(Some(now)),
    }
    .insert(&txn)
    .await
    .map_err(db_error("insert workspace"))?;
    let existing = users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(&txn)
        .await
        .map_err(db_error("find user"))?;
    let user = match existing {
        Some(u) => u,
        None => users::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            email: Set(email.to_owned()),
            name: Set(user_name.to_owned()),
            password_hash: Set(password_hash.to_owned()),
            created_at: Set(now),
            token_version: Set(0),
        }
        .insert(&txn)
        .await
        .map_err(db_error("insert user"))?,
    };
    memberships::ActiveModel {
        workspace_id: Set(workspace.id.clone()),
        user_id: Set(user.id.clone()),
        role: Set(role.to_owned()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(db_error("insert membership"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    Ok((workspace, user))
}

/// Adds an existing user to a workspace with a role.
pub async fn add_member(
    db: &DatabaseConnection,
    workspace_id: &str,
    user_id: &str,
    role: &str,
) -> Result<(), Status> {
    memberships::ActiveModel {
        workspace_id: Set(workspace_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        role: Set(role.to_owned()),
        created_at: Set(crate::domain::now()),
    }
    .insert(db)
    .await
    .map_err(db_error("insert membership"))?;
    Ok(())
}

/// Members of a workspace with their user rows, oldest first.
pub async fn members(
    db: &DatabaseConnection,
    workspace_id: &str,
) -> Result<Vec<(memberships::Model, users::Model)>, Status> {
    let rows = memberships::Entity::find()
        .filter(memberships::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(memberships::Column::CreatedAt)
        .all(db)
        .await
        .map_err(db_error("list members"))?;
    let ids: Vec<String> = rows.iter().map(|m| m.user_id.clone()).collect();
    let users: std::collections::HashMap<String, users::Model> = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .all(db)
        .await
        .map_err(db_error("list member users"))?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|m| users.get(&m.user_id).cloned().map(|u| (m, u)))
        .collect())
}
