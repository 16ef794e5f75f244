//! `sequence_executions`: one sequence running for one contact.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    sea_query::Expr,
};

pub use entity::Model as ExecutionRow;

/// Its messages are still going out.
pub const ACTIVE: &str = "active";
/// Every message reached a final status.
pub const COMPLETED: &str = "completed";
/// Cancelled before it completed.
pub const CANCELLED: &str = "cancelled";

/// The SeaORM entity (see the migration for what each column means).
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sequence_executions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub sequence_id: String,
        pub sequence_name: String,
        pub contact_id: String,
        pub status: String,
        pub timezone: String,
        pub messages: String,
        pub started_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column as C, Entity as E};

/// Starts an execution; a unique violation means the contact already runs the sequence.
pub async fn insert<Db: ConnectionTrait>(db: &Db, row: ExecutionRow) -> Result<(), DbErr> {
    E::insert(row.into_active_model()).exec(db).await?;
    Ok(())
}

/// One execution of the workspace.
pub async fn find<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
) -> Result<Option<ExecutionRow>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .one(db)
        .await
}

/// The contact's active executions, oldest first.
pub async fn active_of_contact<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    contact_id: &str,
) -> Result<Vec<ExecutionRow>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::ContactId.eq(contact_id))
        .filter(C::Status.eq(ACTIVE))
        .order_by_asc(C::Id)
        .all(db)
        .await
}

/// Takes the execution's row lock for the rest of the transaction (a no-op update), so the
/// check "no job left" and the completion that follows it are not raced by another job's
/// outcome or a cancel.
pub async fn lock<Db: ConnectionTrait>(db: &Db, workspace_id: &str, id: &str) -> Result<(), DbErr> {
    E::update_many()
        .col_expr(C::Status, Expr::col(C::Status))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves an active execution to `status` (completed or cancelled); false when it was not
/// active.
pub async fn finish<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
    status: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(E::update_many()
        .col_expr(C::Status, Expr::value(status))
        .col_expr(C::FinishedAt, Expr::value(Some(at)))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(ACTIVE))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}
