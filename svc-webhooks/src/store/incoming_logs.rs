//! `incoming_webhook_logs`: one row per call a hook received. Queries take the workspace id
//! first.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};

pub use entity::Model as IncomingLogRow;

/// The SeaORM entity (see the migration for what each column means).
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "incoming_webhook_logs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub webhook_id: String,
        pub status: String,
        pub response_status: i32,
        pub action: Option<String>,
        pub record_id: Option<String>,
        pub error: Option<String>,
        pub payload: String,
        pub payload_truncated: bool,
        pub duration_ms: i64,
        pub received_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column as C, Entity as E};

/// Records one call.
pub async fn insert<Db: ConnectionTrait>(db: &Db, row: IncomingLogRow) -> Result<(), DbErr> {
    E::insert(row.into_active_model()).exec(db).await?;
    Ok(())
}

/// A hook's calls, newest first, older than `before_id` when given.
pub async fn list<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    webhook_id: &str,
    before_id: Option<&str>,
    limit: u64,
) -> Result<Vec<IncomingLogRow>, DbErr> {
    let mut select = E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::WebhookId.eq(webhook_id));
    if let Some(before) = before_id {
        select = select.filter(C::Id.lt(before));
    }
    select.order_by_desc(C::Id).limit(limit).all(db).await
}
