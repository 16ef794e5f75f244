//! `member_activity`: when each member was last seen acting in a workspace, and the newest
//! use of each member's own API keys, which together make an agent's `last_active`.

use super::entities::api_keys;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::OnConflict,
};
use std::collections::HashMap;

/// `member_activity`
pub mod member_activity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "member_activity")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub last_active_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use member_activity as ma;

/// Records that the member acted at `at` (one upsert).
pub async fn touch(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    ma::Entity::insert(ma::ActiveModel {
        workspace_id: Set(workspace_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        last_active_at: Set(at),
    })
    .on_conflict(
        OnConflict::columns([ma::Column::WorkspaceId, ma::Column::UserId])
            .update_column(ma::Column::LastActiveAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Each member's latest activity in the workspace: sign-ins and token requests as recorded
/// by [`touch`], or the newest use of one of their own (not a client's) API keys.
pub async fn last_active(
    db: &impl ConnectionTrait,
    workspace_id: &str,
) -> Result<HashMap<String, DateTime<Utc>>, DbErr> {
    let mut latest: HashMap<String, DateTime<Utc>> = ma::Entity::find()
        .filter(ma::Column::WorkspaceId.eq(workspace_id))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.user_id, a.last_active_at))
        .collect();
    let key_uses: Vec<(String, Option<DateTime<Utc>>)> = api_keys::Entity::find()
        .select_only()
        .column(api_keys::Column::UserId)
        .column(api_keys::Column::LastUsedAt)
        .filter(api_keys::Column::WorkspaceId.eq(workspace_id))
        .filter(api_keys::Column::ClientId.is_null())
        .filter(api_keys::Column::LastUsedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    for (user_id, used_at) in key_uses {
        if let Some(used_at) = used_at {
            let slot = latest.entry(user_id).or_insert(used_at);
            *slot = (*slot).max(used_at);
        }
    }
    Ok(latest)
}
