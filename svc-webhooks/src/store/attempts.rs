//! `webhook_attempts`: one row per try to deliver an event to a subscription (test sends
//! today, the delivery engine's tries later).

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

pub use entity::Model as AttemptRow;

/// The SeaORM entity (see the migration for what each column means).
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_attempts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub webhook_id: String,
        pub event_id: String,
        pub event_type: String,
        pub status: String,
        pub response_status: Option<i32>,
        pub response_body: String,
        pub duration_ms: i64,
        pub error: Option<String>,
        pub attempted_at: DateTimeUtc,
        /// The delivery this attempt belongs to; none for test sends.
        pub delivery_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records one attempt of the workspace.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    workspace_id: &str,
    row: AttemptRow,
) -> Result<(), DbErr> {
    debug_assert_eq!(row.workspace_id, workspace_id);
    entity::Entity::insert(row.into_active_model())
        .exec(db)
        .await?;
    Ok(())
}

/// The attempts of one delivery of the workspace, oldest first.
pub async fn of_delivery<C: ConnectionTrait>(
    db: &C,
    workspace_id: &str,
    delivery_id: &str,
) -> Result<Vec<AttemptRow>, DbErr> {
    use entity::Column as A;
    entity::Entity::find()
        .filter(A::WorkspaceId.eq(workspace_id))
        .filter(A::DeliveryId.eq(delivery_id))
        .order_by_asc(A::AttemptedAt)
        .order_by_asc(A::Id)
        .all(db)
        .await
}
