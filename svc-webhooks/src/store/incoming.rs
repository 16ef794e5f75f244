//! `incoming_webhooks`: every query takes the workspace id first, except the public
//! endpoint's lookup by token hash (named so: the token is the only thing the caller has).
//! Soft-deleted rows are invisible to all of them.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

pub use entity::Model as IncomingRow;

/// The SeaORM entity (see the migration for what each column means).
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "incoming_webhooks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub name: String,
        pub description: Option<String>,
        pub module: String,
        pub action: String,
        pub field_mapping: String,
        pub upsert_key: String,
        pub status: String,
        pub token_hash: String,
        pub token_prefix: String,
        pub signing_secret_sealed: Option<String>,
        pub signature_header: String,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub last_received_at: Option<DateTimeUtc>,
        pub deleted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column as C, Entity as E};

/// Stores a new hook.
pub async fn insert<Db: ConnectionTrait>(db: &Db, row: IncomingRow) -> Result<(), DbErr> {
    E::insert(row.into_active_model()).exec(db).await?;
    Ok(())
}

/// A live hook of the workspace.
pub async fn find<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
) -> Result<Option<IncomingRow>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .filter(C::DeletedAt.is_null())
        .one(db)
        .await
}

/// The workspace's live hooks, newest first, older than `before_id` when given.
pub async fn list<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    before_id: Option<&str>,
    limit: u64,
) -> Result<Vec<IncomingRow>, DbErr> {
    let mut select = E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::DeletedAt.is_null());
    if let Some(before) = before_id {
        select = select.filter(C::Id.lt(before));
    }
    select.order_by_desc(C::Id).limit(limit).all(db).await
}

/// Global: the live hook whose token hashes to `token_hash`, in whichever workspace.
pub async fn find_by_token_hash_global<Db: ConnectionTrait>(
    db: &Db,
    token_hash: &str,
) -> Result<Option<IncomingRow>, DbErr> {
    E::find()
        .filter(C::TokenHash.eq(token_hash))
        .filter(C::DeletedAt.is_null())
        .one(db)
        .await
}

/// Writes every column of a hook of the workspace back.
pub async fn save<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    row: IncomingRow,
) -> Result<(), DbErr> {
    let id = row.id.clone();
    // Every column is written (a model converts to "unchanged" values, which an update skips),
    // except the keys, which never change.
    let mut active = row.into_active_model().reset_all();
    active.id = ActiveValue::NotSet;
    active.workspace_id = ActiveValue::NotSet;
    active.created_at = ActiveValue::NotSet;
    E::update_many()
        .set(active)
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Notes when a hook of the workspace last received a call.
pub async fn touch<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    E::update_many()
        .col_expr(C::LastReceivedAt, Expr::value(at))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
