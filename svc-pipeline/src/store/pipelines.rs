//! Queries on `pipelines`.

use super::entities::pipelines as p;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};

/// Live (not deleted) pipelines of a workspace, oldest first; inactive ones only when asked.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    include_inactive: bool,
) -> Result<Vec<p::Model>, DbErr> {
    let mut q = p::Entity::find()
        .filter(p::Column::WorkspaceId.eq(workspace_id))
        .filter(p::Column::DeletedAt.is_null());
    if !include_inactive {
        q = q.filter(p::Column::IsActive.eq(true));
    }
    q.order_by_desc(p::Column::IsDefault)
        .order_by_asc(p::Column::CreatedAt)
        .order_by_asc(p::Column::Id)
        .all(conn)
        .await
}

/// One live pipeline of the workspace.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Option<p::Model>, DbErr> {
    p::Entity::find_by_id(id)
        .filter(p::Column::WorkspaceId.eq(workspace_id))
        .filter(p::Column::DeletedAt.is_null())
        .one(conn)
        .await
}

/// Takes the pipeline's row lock for the rest of the transaction, as its first statement, so
/// changes to its stages' positions run one at a time (a row lock on Postgres; the database
/// write lock on SQLite, taken before any read so two writers never deadlock). False when the
/// pipeline does not exist in the workspace.
pub async fn lock<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let result = p::Entity::update_many()
        .col_expr(p::Column::Id, Expr::col(p::Column::Id))
        .filter(p::Column::Id.eq(id))
        .filter(p::Column::WorkspaceId.eq(workspace_id))
        .filter(p::Column::DeletedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Whether the workspace has a live default pipeline.
pub async fn has_default<C: ConnectionTrait>(conn: &C, workspace_id: &str) -> Result<bool, DbErr> {
    Ok(p::Entity::find()
        .filter(p::Column::WorkspaceId.eq(workspace_id))
        .filter(p::Column::DeletedAt.is_null())
        .filter(p::Column::IsDefault.eq(true))
        .one(conn)
        .await?
        .is_some())
}

/// Clears the default flag on every pipeline of the workspace.
pub async fn clear_default<C: ConnectionTrait>(conn: &C, workspace_id: &str) -> Result<(), DbErr> {
    p::Entity::update_many()
        .col_expr(p::Column::IsDefault, Expr::value(false))
        .filter(p::Column::WorkspaceId.eq(workspace_id))
        .filter(p::Column::IsDefault.eq(true))
        .exec(conn)
        .await?;
    Ok(())
}

/// Inserts or updates a pipeline.
pub async fn save<C: ConnectionTrait>(conn: &C, model: p::ActiveModel) -> Result<p::Model, DbErr> {
    if model.id.is_unchanged() {
        model.update(conn).await
    } else {
        model.insert(conn).await
    }
}
