//! `webhook_subscriptions`: every query takes the workspace id first; soft-deleted rows are
//! invisible to all of them.

use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder,
};

pub use entity::Model as SubscriptionRow;

/// The SeaORM entity (see the migration for what each column means).
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_subscriptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub url: String,
        pub name: String,
        pub description: Option<String>,
        pub events: String,
        pub max_retries: i32,
        pub retry_delay_ms: i64,
        pub backoff_multiplier: f64,
        pub timeout_ms: i32,
        pub verify_ssl: bool,
        pub status: String,
        pub rate_limit_per_second: Option<i32>,
        pub headers: String,
        pub secret_sealed: String,
        pub previous_secret_sealed: Option<String>,
        pub previous_secret_expires_at: Option<DateTimeUtc>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted_at: Option<DateTimeUtc>,
        /// Why the delivery engine disabled it, if it did.
        pub disabled_reason: Option<String>,
        /// The first failed attempt since the last 2xx (the engine's; see `mark_failing`).
        pub failing_since: Option<DateTimeUtc>,
        /// The partner API client it belongs to, if any.
        pub client_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column as C, Entity as E};

/// Stores a new subscription.
pub async fn insert<C2: ConnectionTrait>(db: &C2, row: SubscriptionRow) -> Result<(), DbErr> {
    E::insert(row.into_active_model()).exec(db).await?;
    Ok(())
}

/// A live subscription of the workspace.
pub async fn find<C2: ConnectionTrait>(
    db: &C2,
    workspace_id: &str,
    id: &str,
) -> Result<Option<SubscriptionRow>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .filter(C::DeletedAt.is_null())
        .one(db)
        .await
}

/// The workspace's live subscriptions (of one partner client when `client_id` is given),
/// newest first.
pub async fn list<C2: ConnectionTrait>(
    db: &C2,
    workspace_id: &str,
    client_id: Option<&str>,
) -> Result<Vec<SubscriptionRow>, DbErr> {
    let mut select = E::find();
    if let Some(client_id) = client_id {
        select = select.filter(C::ClientId.eq(client_id));
    }
    select
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::DeletedAt.is_null())
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .all(db)
        .await
}

/// Writes every column of a subscription of the workspace back.
pub async fn save<C2: ConnectionTrait>(
    db: &C2,
    workspace_id: &str,
    row: SubscriptionRow,
) -> Result<(), DbErr> {
    let id = row.id.clone();
    // Every column is written (a model converts to "unchanged" values, which an update skips),
    // except the keys, which never change.
    let mut active = row.into_active_model().reset_all();
    active.id = ActiveValue::NotSet;
    active.workspace_id = ActiveValue::NotSet;
    active.created_at = ActiveValue::NotSet;
    // The engine's own column, written only by its targeted updates below, so a concurrent
    // edit of the subscription cannot undo what a delivery recorded.
    active.failing_since = ActiveValue::NotSet;
    E::update_many()
        .set(active)
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The workspace's active, live subscriptions (those events fan out to).
pub async fn active<C2: ConnectionTrait>(
    db: &C2,
    workspace_id: &str,
) -> Result<Vec<SubscriptionRow>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::DeletedAt.is_null())
        .filter(C::Status.eq("active"))
        .all(db)
        .await
}

/// Disables a subscription of the workspace, saying why.
pub async fn disable<C2: ConnectionTrait>(
    db: &C2,
    workspace_id: &str,
    id: &str,
    reason: &str,
) -> Result<(), DbErr> {
    E::update_many()
        .col_expr(C::Status, sea_orm::sea_query::Expr::value("disabled"))
        .col_expr(C::DisabledReason, sea_orm::sea_query::Expr::value(reason))
        .col_expr(
            C::UpdatedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Notes that the subscription is failing, from `at`, unless it was already; returns since
/// when it has been failing.
pub async fn mark_failing<C2: ConnectionTrait>(
    db: &C2,
    workspace_id: &str,
    id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, DbErr> {
    E::update_many()
        .col_expr(C::FailingSince, sea_orm::sea_query::Expr::value(at))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .filter(C::FailingSince.is_null())
        .exec(db)
        .await?;
    Ok(E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .one(db)
        .await?
        .and_then(|row| row.failing_since)
        .unwrap_or(at))
}

/// Notes that the subscription answered 2xx: it is failing no more.
pub async fn mark_healthy<C2: ConnectionTrait>(
    db: &C2,
    workspace_id: &str,
    id: &str,
) -> Result<(), DbErr> {
    E::update_many()
        .col_expr(
            C::FailingSince,
            sea_orm::sea_query::Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .filter(C::FailingSince.is_not_null())
        .exec(db)
        .await?;
    Ok(())
}
