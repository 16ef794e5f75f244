//! Queries on `tags`, the workspace's tag catalog (names, colors, descriptions). Which records
//! carry a tag lives in `record_tags`.

use super::entities::tags as tg;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

/// The list's criteria.
#[derive(Default)]
pub struct TagFilter {
    /// Contained in the name, ignoring case.
    pub search: Option<String>,
    pub color: Option<String>,
}

/// Stores a new tag.
pub async fn insert<C: ConnectionTrait>(conn: &C, tag: tg::Model) -> Result<(), DbErr> {
    tg::Entity::insert(tg::ActiveModel::from(tag))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes name, color, description and updated_at of an existing tag.
pub async fn save<C: ConnectionTrait>(conn: &C, tag: tg::Model) -> Result<(), DbErr> {
    let workspace_id = tag.workspace_id.clone();
    let id = tag.id.clone();
    // Every column is written (a model converts to "unchanged" values, which an update skips).
    let mut active = tg::ActiveModel::from(tag).reset_all();
    active.id = sea_orm::ActiveValue::NotSet;
    active.workspace_id = sea_orm::ActiveValue::NotSet;
    active.created_at = sea_orm::ActiveValue::NotSet;
    tg::Entity::update_many()
        .set(active)
        .filter(tg::Column::WorkspaceId.eq(workspace_id))
        .filter(tg::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Bumps a tag's `updated_at`; false when there is no such tag. A change's transaction
/// starts with this write so that it holds the row (Postgres) or the database (SQLite)
/// before reading the tag, instead of failing to upgrade a read lock.
pub async fn touch<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = tg::Entity::update_many()
        .set(tg::ActiveModel {
            updated_at: Set(at),
            ..Default::default()
        })
        .filter(tg::Column::WorkspaceId.eq(workspace_id))
        .filter(tg::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Removes a tag from the catalog; false when there was no such tag.
pub async fn delete<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let done = tg::Entity::delete_many()
        .filter(tg::Column::WorkspaceId.eq(workspace_id))
        .filter(tg::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(done.rows_affected > 0)
}

/// One tag of the workspace.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Option<tg::Model>, DbErr> {
    tg::Entity::find()
        .filter(tg::Column::WorkspaceId.eq(workspace_id))
        .filter(tg::Column::Id.eq(id))
        .one(conn)
        .await
}

/// The tag of the workspace with this lowercased name, if there is one.
pub async fn find_by_key<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    name_key: &str,
) -> Result<Option<tg::Model>, DbErr> {
    tg::Entity::find()
        .filter(tg::Column::WorkspaceId.eq(workspace_id))
        .filter(tg::Column::NameKey.eq(name_key))
        .one(conn)
        .await
}

/// One page of the workspace's tags by name, and the number of all matches.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    filter: &TagFilter,
    limit: u64,
    offset: u64,
) -> Result<(Vec<tg::Model>, u64), DbErr> {
    let mut cond = Condition::all().add(tg::Column::WorkspaceId.eq(workspace_id));
    if let Some(search) = &filter.search {
        // name_key is the lowercased name, so a lowercased needle matches ignoring case.
        cond = cond.add(
            sea_orm::sea_query::Expr::col(tg::Column::NameKey)
                .like(super::contains_pattern(search)),
        );
    }
    if let Some(color) = &filter.color {
        cond = cond.add(tg::Column::Color.eq(color.as_str()));
    }
    let matching = tg::Entity::find().filter(cond);
    let total = matching.clone().count(conn).await?;
    let page = matching
        .order_by_asc(tg::Column::NameKey)
        .order_by_asc(tg::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(conn)
        .await?;
    Ok((page, total))
}
