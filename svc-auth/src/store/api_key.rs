//! The `api_keys` table. Rows are never physically removed: deleting sets `deleted_at` so
//! the audit trail (who made it, when it was used) stays.

use super::{db_error, entities::api_keys};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use tonic::Status;

pub use api_keys::{ActiveModel, Model};

/// Inserts a new key row.
pub async fn insert(db: &DatabaseConnection, key: ActiveModel) -> Result<Model, Status> {
    key.insert(db).await.map_err(db_error("insert api key"))
}

/// Keys of a workspace that are not deleted, newest first; only `owner`'s when given.
pub async fn list(
    db: &DatabaseConnection,
    workspace_id: &str,
    owner: Option<&str>,
) -> Result<Vec<Model>, Status> {
    let mut cond = Condition::all()
        .add(api_keys::Column::WorkspaceId.eq(workspace_id))
        .add(api_keys::Column::DeletedAt.is_null());
    if let Some(owner) = owner {
        cond = cond.add(api_keys::Column::UserId.eq(owner));
    }
    api_keys::Entity::find()
        .filter(cond)
        .order_by_desc(api_keys::Column::CreatedAt)
        .all(db)
        .await
        .map_err(db_error("list api keys"))
}

/// One key of a workspace, unless deleted.
pub async fn get(
    db: &DatabaseConnection,
    workspace_id: &str,
    id: &str,
) -> Result<Option<Model>, Status> {
    api_keys::Entity::find()
        .filter(api_keys::Column::WorkspaceId.eq(workspace_id))
        .filter(api_keys::Column::Id.eq(id))
        .filter(api_keys::Column::DeletedAt.is_null())
        .one(db)
        .await
        .map_err(db_error("get api key"))
}

/// Saves changed columns of a key (the workspace is part of the loaded model).
pub async fn save(db: &DatabaseConnection, key: ActiveModel) -> Result<Model, Status> {
    key.update(db).await.map_err(db_error("update api key"))
}

/// Looks a key up by hash (global: the hash is the credential; the workspace comes from it).
pub async fn find_by_hash_global(
    db: &DatabaseConnection,
    key_hash: &str,
) -> Result<Option<Model>, Status> {
    api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(key_hash))
        .one(db)
        .await
        .map_err(db_error("find api key by hash"))
}

/// Keys of one API client that are not deleted, newest first.
pub async fn list_by_client(
    db: &DatabaseConnection,
    workspace_id: &str,
    client_id: &str,
) -> Result<Vec<Model>, Status> {
    api_keys::Entity::find()
        .filter(api_keys::Column::WorkspaceId.eq(workspace_id))
        .filter(api_keys::Column::ClientId.eq(client_id))
        .filter(api_keys::Column::DeletedAt.is_null())
        .order_by_desc(api_keys::Column::CreatedAt)
        .all(db)
        .await
        .map_err(db_error("list client api keys"))
}

/// Ids of every key a client ever had (deleted ones too: their usage still counts).
pub async fn ids_by_client(
    db: &DatabaseConnection,
    workspace_id: &str,
    client_id: &str,
) -> Result<Vec<String>, Status> {
    api_keys::Entity::find()
        .select_only()
        .column(api_keys::Column::Id)
        .filter(api_keys::Column::WorkspaceId.eq(workspace_id))
        .filter(api_keys::Column::ClientId.eq(client_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error("list client api key ids"))
}

/// Looks a key up by the hash of the secret its last regeneration replaced (global, like
/// [`find_by_hash_global`]).
pub async fn find_by_previous_hash_global(
    db: &DatabaseConnection,
    key_hash: &str,
) -> Result<Option<Model>, Status> {
    api_keys::Entity::find()
        .filter(api_keys::Column::PreviousKeyHash.eq(key_hash))
        .one(db)
        .await
        .map_err(db_error("find api key by previous hash"))
}

/// Records use of keys reported by a gateway: bumps `last_used_at` and the request count.
pub async fn record_usage(
    db: &DatabaseConnection,
    workspace_id: &str,
    key_id: &str,
    requests: i64,
    at: DateTime<Utc>,
) -> Result<(), Status> {
    api_keys::Entity::update_many()
        .col_expr(api_keys::Column::LastUsedAt, Expr::value(at))
        .col_expr(
            api_keys::Column::RequestCount,
            Expr::col(api_keys::Column::RequestCount).add(requests),
        )
        .filter(api_keys::Column::WorkspaceId.eq(workspace_id))
        .filter(api_keys::Column::Id.eq(key_id))
        .exec(db)
        .await
        .map_err(db_error("record api key usage"))?;
    Ok(())
}
