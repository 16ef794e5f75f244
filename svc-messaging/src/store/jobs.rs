//! `message_jobs`: the queue of SMS and email jobs.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, LockBehavior, LockType},
};

pub use entity::Model as JobRow;

/// Waiting until it is due (or for its next attempt).
pub const PENDING: &str = "pending";
/// Claimed by a worker, which is sending it under a lease.
pub const SENDING: &str = "sending";
/// The provider accepted it.
pub const SENT: &str = "sent";
/// Every attempt failed, or the provider refused it for good.
pub const FAILED: &str = "failed";
/// Cancelled by the caller before it went out.
pub const CANCELLED: &str = "cancelled";
/// Not sent on purpose: the contact opted out of the channel, or is gone.
pub const SKIPPED: &str = "skipped";

/// The SeaORM entity (see the migration for what each column means).
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "message_jobs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub channel: String,
        pub contact_id: String,
        pub recipient: String,
        pub subject: Option<String>,
        pub body: String,
        pub metadata: String,
        pub status: String,
        pub attempts: i32,
        pub due_at: DateTimeUtc,
        pub next_attempt_at: DateTimeUtc,
        pub locked_until: Option<DateTimeUtc>,
        pub claim_token: Option<String>,
        pub provider_message_id: Option<String>,
        pub reason: Option<String>,
        pub created_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
        pub execution_id: Option<String>,
        pub step: Option<i32>,
        pub delivery_status: Option<String>,
        pub delivered_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column as C, Entity as E};

/// Queues a new job.
pub async fn insert<Db: ConnectionTrait>(db: &Db, row: JobRow) -> Result<(), DbErr> {
    E::insert(row.into_active_model()).exec(db).await?;
    Ok(())
}

/// One job of the workspace.
pub async fn find<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
) -> Result<Option<JobRow>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .one(db)
        .await
}

/// What a jobs list is narrowed to.
#[derive(Default)]
pub struct JobFilter<'a> {
    pub status: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub contact_id: Option<&'a str>,
    /// Only jobs older than this one (ids are UUID v7, so they sort by creation).
    pub before_id: Option<&'a str>,
}

/// The workspace's jobs, newest first.
pub async fn list<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    filter: JobFilter<'_>,
    limit: u64,
) -> Result<Vec<JobRow>, DbErr> {
    let mut select = E::find().filter(C::WorkspaceId.eq(workspace_id));
    if let Some(status) = filter.status {
        select = select.filter(C::Status.eq(status));
    }
    if let Some(channel) = filter.channel {
        select = select.filter(C::Channel.eq(channel));
    }
    if let Some(contact) = filter.contact_id {
        select = select.filter(C::ContactId.eq(contact));
    }
    if let Some(before) = filter.before_id {
        select = select.filter(C::Id.lt(before));
    }
    select.order_by_desc(C::Id).limit(limit).all(db).await
}

/// Cancels the job if it is still pending; false when it is not (being sent, finished, or
/// gone). One conditional update: a worker's claim and a cancel cannot both win.
pub async fn cancel_pending<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
    reason: &str,
) -> Result<bool, DbErr> {
    Ok(E::update_many()
        .col_expr(C::Status, Expr::value(CANCELLED))
        .col_expr(C::Reason, Expr::value(reason))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(PENDING))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Jobs a worker may take at `now`: pending and due, or being sent by a worker whose lease
/// ran out (it died or stalled).
fn claimable(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(C::Status.eq(PENDING))
                .add(C::NextAttemptAt.lte(now)),
        )
        .add(
            Condition::all()
                .add(C::Status.eq(SENDING))
                .add(C::LockedUntil.lt(now)),
        )
}

/// The workspace and channel of a job, as the pacing sees them.
pub type Lane = (String, String);

/// Due jobs of any workspace, skipping the `full` lanes (their channel's limit for this
/// second is spent): with `lapsed`, first those whose lease ran out (their worker died), then
/// pending ones, oldest due first. Two queries rather than one with `OR`, each ordered by the
/// column `idx_message_jobs_due` holds after `status` alone, so each walks the index and stops
/// at `limit`: the `OR` (or a tie-break on `id`, when a burst shares one due time) made
/// Postgres fetch and sort every due job on each claim, 170 ms per batch of 32 with 100,000
/// due. Looking for lapsed leases walks the index entries of every job sent since the last
/// vacuum, so callers ask for them now and then, not on every claim. On Postgres run inside
/// `txn` with `SKIP LOCKED`, so claimers in other processes pass over the rows this one
/// considers.
pub async fn due_across_workspaces<Db: ConnectionTrait>(
    db: &Db,
    now: DateTime<Utc>,
    limit: u64,
    full: &[Lane],
    lapsed: bool,
) -> Result<Vec<JobRow>, DbErr> {
    let mut rows = Vec::new();
    if lapsed {
        let lapsed = Condition::all()
            .add(C::Status.eq(SENDING))
            .add(C::LockedUntil.lt(now));
        rows = due_where(db, lapsed, C::LockedUntil, limit, full).await?;
    }
    let left = limit.saturating_sub(rows.len() as u64);
    if left > 0 {
        let pending = Condition::all()
            .add(C::Status.eq(PENDING))
            .add(C::NextAttemptAt.lte(now));
        rows.extend(due_where(db, pending, C::NextAttemptAt, left, full).await?);
    }
    Ok(rows)
}

async fn due_where<Db: ConnectionTrait>(
    db: &Db,
    due: Condition,
    order: C,
    limit: u64,
    full: &[Lane],
) -> Result<Vec<JobRow>, DbErr> {
    let mut select = E::find().filter(due);
    for (workspace, channel) in full {
        select = select.filter(
            Condition::all()
                .add(C::WorkspaceId.eq(workspace.as_str()))
                .add(C::Channel.eq(channel.as_str()))
                .not(),
        );
    }
    let select = select.order_by_asc(order).limit(limit);
    if db.get_database_backend() == DatabaseBackend::Postgres {
        select
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(db)
            .await
    } else {
        select.all(db).await
    }
}

/// Marks a due job `sending` under a lease held by `token`; false when another claimer or a
/// cancel took it first (only possible on SQLite, where no row lock was held).
pub async fn mark_sending<Db: ConnectionTrait>(
    db: &Db,
    id: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    token: &str,
) -> Result<bool, DbErr> {
    Ok(E::update_many()
        .col_expr(C::Status, Expr::value(SENDING))
        .col_expr(C::LockedUntil, Expr::value(lease_until))
        .col_expr(C::ClaimToken, Expr::value(token))
        .filter(C::Id.eq(id))
        .filter(claimable(now))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// How a claimed job ended, to record.
pub struct Outcome<'a> {
    pub status: &'a str,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub provider_message_id: Option<String>,
    pub reason: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Records an attempt's outcome and drops the lease, if `token` still holds it; false when
/// the lease ran out and another worker took the job over (its outcome stands).
pub async fn finish<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    id: &str,
    token: &str,
    outcome: Outcome<'_>,
) -> Result<bool, DbErr> {
    Ok(E::update_many()
        .col_expr(C::Status, Expr::value(outcome.status))
        .col_expr(C::Attempts, Expr::value(outcome.attempts))
        .col_expr(C::NextAttemptAt, Expr::value(outcome.next_attempt_at))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::ClaimToken, Expr::value(Option::<String>::None))
        .col_expr(
            C::ProviderMessageId,
            Expr::value(outcome.provider_message_id),
        )
        .col_expr(C::Reason, Expr::value(outcome.reason))
        .col_expr(C::SentAt, Expr::value(outcome.sent_at))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(SENDING))
        .filter(C::ClaimToken.eq(token))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Gives a claimed job back without an attempt (this process had no capacity after all).
pub async fn release_across_workspaces<Db: ConnectionTrait>(
    db: &Db,
    id: &str,
    token: &str,
) -> Result<(), DbErr> {
    E::update_many()
        .col_expr(C::Status, Expr::value(PENDING))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::ClaimToken, Expr::value(Option::<String>::None))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(SENDING))
        .filter(C::ClaimToken.eq(token))
        .exec(db)
        .await?;
    Ok(())
}

/// When the next pending job of any workspace falls due, if one is pending.
pub async fn next_due_across_workspaces<Db: ConnectionTrait>(
    db: &Db,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    E::find()
        .select_only()
        .column(C::NextAttemptAt)
        .filter(C::Status.eq(PENDING))
        .order_by_asc(C::NextAttemptAt)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await
}

/// Queues the jobs of a sequence execution (inside the transaction that starts it).
pub async fn insert_many<Db: ConnectionTrait>(db: &Db, rows: Vec<JobRow>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    E::insert_many(rows.into_iter().map(IntoActiveModel::into_active_model))
        .exec(db)
        .await?;
    Ok(())
}

/// The jobs of an execution, in order.
pub async fn of_execution<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    execution_id: &str,
) -> Result<Vec<JobRow>, DbErr> {
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::ExecutionId.eq(execution_id))
        .order_by_asc(C::Step)
        .all(db)
        .await
}

/// Cancels the execution's jobs that no worker holds: pending ones, and those whose worker's
/// lease ran out. Returns how many.
pub async fn cancel_unsent_of_execution<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    execution_id: &str,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<u64, DbErr> {
    Ok(E::update_many()
        .col_expr(C::Status, Expr::value(CANCELLED))
        .col_expr(C::Reason, Expr::value(reason))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::ClaimToken, Expr::value(Option::<String>::None))
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::ExecutionId.eq(execution_id))
        .filter(
            Condition::any().add(C::Status.eq(PENDING)).add(
                Condition::all()
                    .add(C::Status.eq(SENDING))
                    .add(C::LockedUntil.lt(now)),
            ),
        )
        .exec(db)
        .await?
        .rows_affected)
}

/// How many of the execution's jobs are still pending or being sent.
pub async fn unfinished_of_execution<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    execution_id: &str,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::ExecutionId.eq(execution_id))
        .filter(C::Status.is_in([PENDING, SENDING]))
        .count(db)
        .await
}

/// How many of the execution's jobs a worker is sending right now (under a live lease).
pub async fn in_flight_of_execution<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    execution_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    E::find()
        .filter(C::WorkspaceId.eq(workspace_id))
        .filter(C::ExecutionId.eq(execution_id))
        .filter(C::Status.eq(SENDING))
        .filter(C::LockedUntil.gte(now))
        .count(db)
        .await
}

/// The SMS job the provider knows as `provider_message_id`, in any workspace: a provider's
/// callback names only its own id (and is authenticated by its signature, not a workspace).
pub async fn find_by_provider_id_across_workspaces<Db: ConnectionTrait>(
    db: &Db,
    provider_message_id: &str,
) -> Result<Option<JobRow>, DbErr> {
    E::find()
        .filter(C::ProviderMessageId.eq(provider_message_id))
        .filter(C::Channel.eq("sms"))
        .one(db)
        .await
}

/// A provider's delivery report on a job: the new delivery status, and the job's status and
/// reason when the report turns a sent message into a failed one. Only while the row still
/// shows `expected_delivery_status`, so of two reports racing, one applies and the other is
/// read again by its caller.
pub async fn record_delivery<Db: ConnectionTrait>(
    db: &Db,
    job: &JobRow,
    expected_delivery_status: Option<&str>,
) -> Result<bool, DbErr> {
    let mut update = E::update_many()
        .col_expr(C::DeliveryStatus, Expr::value(job.delivery_status.clone()))
        .col_expr(C::DeliveredAt, Expr::value(job.delivered_at))
        .col_expr(C::Status, Expr::value(job.status.clone()))
        .col_expr(C::Reason, Expr::value(job.reason.clone()))
        .filter(C::WorkspaceId.eq(&job.workspace_id))
        .filter(C::Id.eq(&job.id));
    update = match expected_delivery_status {
        Some(status) => update.filter(C::DeliveryStatus.eq(status)),
        None => update.filter(C::DeliveryStatus.is_null()),
    };
    Ok(update.exec(db).await?.rows_affected == 1)
}
