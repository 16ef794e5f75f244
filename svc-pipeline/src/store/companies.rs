//! Queries on `companies`.

use super::entities::companies as co;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// Stores a new company.
pub async fn insert<C: ConnectionTrait>(conn: &C, company: co::Model) -> Result<(), DbErr> {
    co::Entity::insert(co::ActiveModel::from(company))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// One company of the workspace.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Option<co::Model>, DbErr> {
    co::Entity::find()
        .filter(co::Column::WorkspaceId.eq(workspace_id))
        .filter(co::Column::Id.eq(id))
        .one(conn)
        .await
}

/// Companies of the workspace by id, in one query (for records that reference them).
pub async fn find_many<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    ids: &[String],
) -> Result<HashMap<String, co::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = co::Entity::find()
        .filter(co::Column::WorkspaceId.eq(workspace_id))
        .filter(co::Column::Id.is_in(ids.iter().cloned()))
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|c| (c.id.clone(), c)).collect())
}
