//! `webhook_deliveries`: the delivery queue, one row per (event, subscription). The
//! workers' queries (claiming, finishing) span workspaces and are named so; every other
//! query takes the workspace id first.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Statement,
    sea_query::{Expr, LockBehavior, LockType, Order, Query},
};

pub use entity::Model as DeliveryRow;

/// Waiting for its next attempt (or being attempted, while leased).
pub const PENDING: &str = "pending";
/// The receiver answered 2xx.
pub const DELIVERED: &str = "delivered";
/// Every attempt failed.
pub const FAILED: &str = "failed";
/// Stopped without being delivered: the subscription was disabled or deleted.
pub const CANCELLED: &str = "cancelled";

/// The SeaORM entity (see the migration for what each column means).
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub subscription_id: String,
        pub event_id: String,
        pub event_type: String,
        pub status: String,
        pub attempt_count: i32,
        pub next_attempt_at: DateTimeUtc,
        pub locked_until: Option<DateTimeUtc>,
        pub last_status_code: Option<i32>,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use super::attempts::entity::{Column as A, Entity as Attempts};
use entity::{Column as C, Entity as E};

/// Queues new deliveries (inside the transaction that stored their event).
pub async fn insert_many<Db: ConnectionTrait>(
    db: &Db,
    rows: Vec<DeliveryRow>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    E::insert_many(rows.into_iter().map(IntoActiveModel::into_active_model))
        .exec(db)
        .await?;
    Ok(())
}

fn due(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(C::Status.eq(PENDING))
        .add(C::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(C::LockedUntil.is_null())
                .add(C::LockedUntil.lt(now)),
        )
}

/// The subscriptions of any workspace with pending deliveries, due or not: one step of the
/// index on (status, subscription_id, next_attempt_at) per subscription (each step finds the
/// next subscription id after the last), however many deliveries each has waiting.
pub async fn subscriptions_with_pending_across_workspaces(
    db: &impl ConnectionTrait,
) -> Result<Vec<String>, DbErr> {
    // The same text on Postgres and SQLite. The status is written in, not bound, so the
    // query holds no parameters to tell apart.
    let sql = format!(
        "WITH RECURSIVE pending(subscription_id) AS (
            SELECT (SELECT subscription_id FROM webhook_deliveries
                    WHERE status = '{PENDING}' ORDER BY subscription_id LIMIT 1)
          UNION ALL
            SELECT (SELECT subscription_id FROM webhook_deliveries
                    WHERE status = '{PENDING}' AND subscription_id > p.subscription_id
                    ORDER BY subscription_id LIMIT 1)
            FROM pending p WHERE p.subscription_id IS NOT NULL
        )
        SELECT subscription_id FROM pending WHERE subscription_id IS NOT NULL"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "subscription_id"))
        .collect()
}

/// Leases until `lease_until` up to `n` of the subscription's due deliveries, oldest first,
/// in one statement (`UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`) that reads
/// only that subscription's due entries of the index, so another subscription's backlog (a
/// failing receiver's retries) costs it nothing. On Postgres the inner select locks with
/// `SKIP LOCKED`, so claimers in other processes pass over these rows rather than wait or
/// take them twice; SQLite has one writer, which runs the statement whole.
pub async fn lease_due_across_workspaces(
    db: &DatabaseConnection,
    subscription_id: &str,
    n: usize,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<DeliveryRow>, DbErr> {
    let oldest_due = Query::select()
        .column(C::Id)
        .from(E)
        .cond_where(due(now))
        .and_where(C::SubscriptionId.eq(subscription_id))
        .order_by(C::NextAttemptAt, Order::Asc)
        .limit(n as u64)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let lease = Query::update()
        .table(E)
        .value(C::LockedUntil, lease_until)
        .and_where(C::Id.in_subquery(oldest_due))
        .returning_all()
        .to_owned();
    E::find()
        .from_raw_sql(db.get_database_backend().build(&lease))
        .all(db)
        .await
}

/// Gives a leased delivery back without an attempt (its send was stopped by a shutdown).
pub async fn release_across_workspaces(db: &DatabaseConnection, id: &str) -> Result<(), DbErr> {
    E::update_many()
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Writes a delivery's state after an attempt and drops its lease. The row is found by
/// workspace, subscription and id, all three columns of an index: Postgres plans a prepared
/// statement once per connection, and on a table it has no statistics for yet it took the
/// index on (workspace_id, subscription_id, id) for a filter on workspace and id alone,
/// walking every delivery of the workspace on each save from then on.
pub async fn save<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    row: DeliveryRow,
) -> Result<(), DbErr> {
    E::update_many()
        .col_expr(C::Status, Expr::value(row.status))
        .col_expr(C::AttemptCount, Expr::value(row.attempt_count))
        .col_expr(C::NextAttemptAt, Expr::value(row.next_attempt_at))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::LastStatusCode, Expr::value(row.last_status_code))
        .col_expr(C::LastError, Expr::value(row.last_error))
        .col_expr(C::DeliveredAt, Expr::value(row.delivered_at))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::SubscriptionId.eq(row.subscription_id))
        .filter(C::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Cancels the subscription's pending deliveries; returns how many.
pub async fn cancel_pending<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    subscription_id: &str,
    why: &str,
) -> Result<u64, DbErr> {
    Ok(E::update_many()
        .col_expr(C::Status, Expr::value(CANCELLED))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::LastError, Expr::value(why))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::SubscriptionId.eq(subscription_id))
        .filter(C::Status.eq(PENDING))
        .exec(db)
        .await?
        .rows_affected)
}

/// Queues a finished delivery of the workspace's subscription again, due `now`; false when
/// it is pending (or gone). Found by all three columns of an index, as [`save`] says why.
pub async fn requeue<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    subscription_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(E::update_many()
        .col_expr(C::Status, Expr::value(PENDING))
        .col_expr(C::NextAttemptAt, Expr::value(now))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::DeliveredAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::SubscriptionId.eq(subscription_id))
        .filter(C::Id.eq(id))
        .filter(C::Status.ne(PENDING))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// One delivery of the workspace's subscription.
pub async fn find<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    subscription_id: &str,
    id: &str,
) -> Result<Option<DeliveryRow>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::SubscriptionId.eq(subscription_id))
        .filter(C::Id.eq(id))
        .one(db)
        .await
}

/// What a deliveries list is narrowed to.
pub struct DeliveryFilter<'a> {
    pub status: Option<&'a str>,
    pub event_type: Option<&'a str>,
    /// Only deliveries older than this one (ids are UUID v7, so they sort by creation).
    pub before_id: Option<&'a str>,
}

/// A subscription's deliveries, newest first.
pub async fn list<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    subscription_id: &str,
    filter: DeliveryFilter<'_>,
    limit: u64,
) -> Result<Vec<DeliveryRow>, DbErr> {
    let mut select = E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::SubscriptionId.eq(subscription_id));
    if let Some(status) = filter.status {
        select = select.filter(C::Status.eq(status));
    }
    if let Some(event_type) = filter.event_type {
        select = select.filter(C::EventType.eq(event_type));
    }
    if let Some(before) = filter.before_id {
        select = select.filter(C::Id.lt(before));
    }
    select.order_by_desc(C::Id).limit(limit).all(db).await
}

/// Gives a leased delivery back without an attempt, due again at `at` (its subscription
/// is at its rate limit).
pub async fn defer_across_workspaces(
    db: &DatabaseConnection,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    E::update_many()
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::NextAttemptAt, Expr::value(at))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Queues again, due `now`, the subscription's deliveries that failed or were cancelled
/// and were created, or attempted, at or after `since`; returns how many.
pub async fn replay_since<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    subscription_id: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(E::update_many()
        .col_expr(C::Status, Expr::value(PENDING))
        .col_expr(C::NextAttemptAt, Expr::value(now))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::SubscriptionId.eq(subscription_id))
        .filter(C::Status.is_in([FAILED, CANCELLED]))
        .filter(
            Condition::any().add(C::CreatedAt.gte(since)).add(
                C::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(A::DeliveryId)
                        .from(Attempts)
                        .and_where(A::WebhookId.eq(subscription_id))
                        .and_where(A::AttemptedAt.gte(since))
                        .to_owned(),
                ),
            ),
        )
        .exec(db)
        .await?
        .rows_affected)
}
