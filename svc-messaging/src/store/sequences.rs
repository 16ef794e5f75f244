//! `sequences`: the workspace's message sequences.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    sea_query::Expr,
};

pub use entity::Model as SequenceRow;

/// The SeaORM entity (see the migration for what each column means).
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sequences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub name: String,
        pub status: String,
        pub messages: String,
        pub send_window: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column as C, Entity as E};

/// Stores a new sequence.
pub async fn insert<Db: ConnectionTrait>(db: &Db, row: SequenceRow) -> Result<(), DbErr> {
    E::insert(row.into_active_model()).exec(db).await?;
    Ok(())
}

/// One sequence of the workspace.
pub async fn find<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
) -> Result<Option<SequenceRow>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .one(db)
        .await
}

/// The workspace's sequences, newest first, optionally of one status.
pub async fn list<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    status: Option<&str>,
) -> Result<Vec<SequenceRow>, DbErr> {
    let mut select = E::find().filter(C::WorkspaceId.eq(workspace_id));
    if let Some(status) = status {
        select = select.filter(C::Status.eq(status));
    }
    select.order_by_desc(C::Id).all(db).await
}

/// Writes a sequence's name, status, messages and update time.
pub async fn update<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    row: &SequenceRow,
) -> Result<(), DbErr> {
    E::update_many()
        .col_expr(C::Name, Expr::value(row.name.clone()))
        .col_expr(C::Status, Expr::value(row.status.clone()))
        .col_expr(C::Messages, Expr::value(row.messages.clone()))
        .col_expr(C::SendWindow, Expr::value(row.send_window.clone()))
        .col_expr(C::UpdatedAt, Expr::value(row.updated_at))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(row.id.clone()))
        .exec(db)
        .await?;
    Ok(())
}
