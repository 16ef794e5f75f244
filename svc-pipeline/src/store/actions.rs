//! `action_executions`: recorded runs of actions on contacts. Every query takes the
//! workspace id first.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// The `action_executions` table.
pub mod action_executions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "action_executions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub contact_id: String,
        pub action_type: String,
        /// JSON object text.
        pub configuration: String,
        /// JSON object text.
        pub execution_context: String,
        /// `running`, `completed` or `failed`.
        pub status: String,
        /// JSON object text (`{}` until completed).
        pub result: String,
        pub error: Option<String>,
        pub executed_at: DateTimeUtc,
        pub duration_ms: i64,
        pub idempotency_key: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use action_executions::{ActiveModel, Column as C, Entity as E, Model as Execution};

/// Records a new execution (claimed as `running`). Fails with a unique violation when the
/// workspace already has an execution with its idempotency key.
pub async fn insert<Db: ConnectionTrait>(db: &Db, execution: Execution) -> Result<(), DbErr> {
    E::insert(ActiveModel::from(execution))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// One execution of the workspace.
pub async fn find<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
) -> Result<Option<Execution>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .one(db)
        .await
}

/// The workspace's execution holding an idempotency key.
pub async fn find_by_key<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    key: &str,
) -> Result<Option<Execution>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::IdempotencyKey.eq(key))
        .one(db)
        .await
}

/// How a running execution ended.
pub struct Outcome {
    pub status: &'static str,
    pub result: String,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Writes the outcome of a `running` execution; false when it was not running (finished by
/// someone else, which does not happen while one request owns the claim).
pub async fn finish<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
    outcome: Outcome,
) -> Result<bool, DbErr> {
    let done = E::update_many()
        .set(ActiveModel {
            status: Set(outcome.status.to_owned()),
            result: Set(outcome.result),
            error: Set(outcome.error),
            duration_ms: Set(outcome.duration_ms),
            ..Default::default()
        })
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// A contact's executions, newest first, older than `before_id` when given.
pub async fn list_for_contact<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    contact_id: &str,
    before_id: Option<&str>,
    limit: u64,
) -> Result<Vec<Execution>, DbErr> {
    let mut select = E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::ContactId.eq(contact_id));
    if let Some(before) = before_id {
        select = select.filter(C::Id.lt(before));
    }
    select.order_by_desc(C::Id).limit(limit).all(db).await
}
