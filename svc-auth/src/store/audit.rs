//! The audit log: one row per change, written in the change's own transaction.

use super::entities::audit_log::{self, ActiveModel, Model};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// Appends an entry.
pub async fn insert(db: &impl ConnectionTrait, entry: ActiveModel) -> Result<Model, DbErr> {
    entry.insert(db).await
}

/// Filters of [`page`]; empty strings and `None` match everything.
#[derive(Default)]
pub struct AuditFilter {
    /// Only changes made by this user.
    pub actor_id: String,
    /// Only this action.
    pub action: String,
    /// Made at or after.
    pub from: Option<DateTime<Utc>>,
    /// Made at or before.
    pub to: Option<DateTime<Utc>>,
    /// Only entries older than this id (the previous page's last).
    pub before_id: Option<String>,
}

/// Up to `limit` entries of a workspace, newest first. Ids are UUID v7, so their order is
/// the order of creation and the last id of a page is the cursor of the next.
pub async fn page(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    filter: &AuditFilter,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query =
        audit_log::Entity::find().filter(audit_log::Column::WorkspaceId.eq(workspace_id));
    if !filter.actor_id.is_empty() {
        query = query.filter(audit_log::Column::ActorId.eq(filter.actor_id.as_str()));
    }
    if !filter.action.is_empty() {
        query = query.filter(audit_log::Column::Action.eq(filter.action.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_log::Column::CreatedAt.lte(to));
    }
    if let Some(before) = &filter.before_id {
        query = query.filter(audit_log::Column::Id.lt(before.as_str()));
    }
    query
        .order_by_desc(audit_log::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
