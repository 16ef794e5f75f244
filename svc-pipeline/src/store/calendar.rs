//! `calendar_events`, `appointments` and `calendar_settings`. Every query takes the
//! workspace id first, except the token cancel's lookup of a booking by id (the token, not
//! the caller, proves the right to it).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;

/// The `calendar_events` table: slots admins open.
pub mod calendar_events {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "calendar_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub admin_id: Option<String>,
        pub contact_id: Option<String>,
        pub title: String,
        pub description: Option<String>,
        pub start_time: DateTimeUtc,
        pub end_time: DateTimeUtc,
        /// scheduled, confirmed, completed or cancelled (cancelled slots take no bookings).
        pub status: String,
        pub location: Option<String>,
        pub notes: Option<String>,
        /// single or group.
        pub booking_type: String,
        pub max_bookings: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `appointments` table: bookings.
pub mod appointments {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "appointments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub workspace_id: String,
        pub event_id: Option<String>,
        pub contact_id: String,
        pub admin_id: Option<String>,
        pub title: String,
        pub description: Option<String>,
        pub start_time: DateTimeUtc,
        pub end_time: DateTimeUtc,
        pub location: Option<String>,
        pub notes: Option<String>,
        pub product_interest: Option<String>,
        /// booked or cancelled.
        pub status: String,
        pub cancel_token_hash: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `calendar_settings` table: one row per workspace that ever touched its calendar.
pub mod calendar_settings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "calendar_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub workspace_id: String,
        pub public_booking: bool,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use appointments::{Column as A, Entity as Appointments, Model as Booking};
use calendar_events::{Column as Ev, Entity as Events, Model as Event};
use calendar_settings::{Column as St, Entity as Settings};

/// An active booking.
pub const BOOKED: &str = "booked";
/// A cancelled booking, and a slot that takes no bookings.
pub const CANCELLED: &str = "cancelled";

/// Makes sure the workspace has its settings row (public booking off), as a write: the
/// first statement of a transaction that then [`lock`]s it.
pub async fn ensure_settings<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    Settings::insert(calendar_settings::ActiveModel {
        workspace_id: Set(workspace_id.to_owned()),
        public_booking: Set(false),
        updated_at: Set(at),
    })
    .on_conflict(OnConflict::column(St::WorkspaceId).do_nothing().to_owned())
    .try_insert()
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Takes the workspace's calendar lock for the rest of the transaction (a row lock on
/// Postgres; the write lock on SQLite, taken before any read) and answers whether public
/// booking is on; `None` when the workspace has no settings row (never switched on).
pub async fn lock<C: ConnectionTrait>(conn: &C, workspace_id: &str) -> Result<Option<bool>, DbErr> {
    let locked = Settings::update_many()
        .col_expr(St::WorkspaceId, Expr::col(St::WorkspaceId))
        .filter(St::WorkspaceId.eq(workspace_id))
        .exec(conn)
        .await?;
    if locked.rows_affected != 1 {
        return Ok(None);
    }
    public_booking(conn, workspace_id).await
}

/// Whether public booking is on; `None` when the workspace has no settings row.
pub async fn public_booking<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
) -> Result<Option<bool>, DbErr> {
    Ok(Settings::find_by_id(workspace_id.to_owned())
        .one(conn)
        .await?
        .map(|s| s.public_booking))
}

/// Switches public booking for the workspace.
pub async fn set_public_booking<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    on: bool,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    Settings::insert(calendar_settings::ActiveModel {
        workspace_id: Set(workspace_id.to_owned()),
        public_booking: Set(on),
        updated_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(St::WorkspaceId)
            .update_columns([St::PublicBooking, St::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Stores a new slot.
pub async fn insert_event<C: ConnectionTrait>(conn: &C, event: Event) -> Result<(), DbErr> {
    Events::insert(calendar_events::ActiveModel::from(event))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes every column of an existing slot.
pub async fn save_event<C: ConnectionTrait>(conn: &C, event: Event) -> Result<(), DbErr> {
    let workspace_id = event.workspace_id.clone();
    let id = event.id.clone();
    // Every column is written (a model converts to "unchanged" values, which an update skips).
    let mut active = calendar_events::ActiveModel::from(event).reset_all();
    active.id = sea_orm::ActiveValue::NotSet;
    active.workspace_id = sea_orm::ActiveValue::NotSet;
    Events::update_many()
        .set(active)
        .filter(Ev::WorkspaceId.eq(workspace_id))
        .filter(Ev::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// One slot of the workspace.
pub async fn find_event<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Option<Event>, DbErr> {
    Events::find()
        .filter(Ev::WorkspaceId.eq(workspace_id))
        .filter(Ev::Id.eq(id))
        .one(conn)
        .await
}

/// Deletes a slot; false when the workspace has none with this id.
pub async fn delete_event<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let done = Events::delete_many()
        .filter(Ev::WorkspaceId.eq(workspace_id))
        .filter(Ev::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Open (not cancelled) slots starting in `[from, to)`, earliest first, of one admin when
/// given.
pub async fn events_starting<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    admin_id: Option<&str>,
) -> Result<Vec<Event>, DbErr> {
    let when = Condition::all()
        .add(Ev::StartTime.gte(from))
        .add(Ev::StartTime.lt(to));
    open_events(conn, workspace_id, when, admin_id).await
}

/// Open slots whose interval contains `[start, end]`, earliest first.
pub async fn events_containing<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    admin_id: Option<&str>,
) -> Result<Vec<Event>, DbErr> {
    let when = Condition::all()
        .add(Ev::StartTime.lte(start))
        .add(Ev::EndTime.gte(end));
    open_events(conn, workspace_id, when, admin_id).await
}

/// The workspace's open slots matching `when`, of one admin when given, earliest first.
async fn open_events<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    when: Condition,
    admin_id: Option<&str>,
) -> Result<Vec<Event>, DbErr> {
    let mut select = Events::find()
        .filter(Ev::WorkspaceId.eq(workspace_id))
        .filter(Ev::Status.ne(CANCELLED))
        .filter(when);
    if let Some(admin) = admin_id {
        select = select.filter(Ev::AdminId.eq(admin));
    }
    select
        .order_by_asc(Ev::StartTime)
        .order_by_asc(Ev::Id)
        .all(conn)
        .await
}

/// Active bookings per slot, for the given slots.
pub async fn booked_counts<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    event_ids: &[String],
) -> Result<HashMap<String, i64>, DbErr> {
    if event_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<String>, i64)> = Appointments::find()
        .select_only()
        .column(A::EventId)
        .column_as(A::Id.count(), "n")
        .filter(A::WorkspaceId.eq(workspace_id))
        .filter(A::Status.eq(BOOKED))
        .filter(A::EventId.is_in(event_ids.iter().cloned()))
        .group_by(A::EventId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, n)| id.map(|id| (id, n)))
        .collect())
}

/// Active bookings a slot holds.
pub async fn booked_count<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    event_id: &str,
) -> Result<u64, DbErr> {
    Appointments::find()
        .filter(A::WorkspaceId.eq(workspace_id))
        .filter(A::EventId.eq(event_id))
        .filter(A::Status.eq(BOOKED))
        .count(conn)
        .await
}

/// An active booking of the contact overlapping `(start, end)`, if there is one.
pub async fn overlapping<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    contact_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Option<Booking>, DbErr> {
    Appointments::find()
        .filter(A::WorkspaceId.eq(workspace_id))
        .filter(A::ContactId.eq(contact_id))
        .filter(A::Status.eq(BOOKED))
        .filter(A::StartTime.lt(end))
        .filter(A::EndTime.gt(start))
        .one(conn)
        .await
}

/// Stores a new booking.
pub async fn insert_booking<C: ConnectionTrait>(conn: &C, booking: Booking) -> Result<(), DbErr> {
    Appointments::insert(appointments::ActiveModel::from(booking))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// One booking of the workspace.
pub async fn find_booking<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Option<Booking>, DbErr> {
    Appointments::find()
        .filter(A::WorkspaceId.eq(workspace_id))
        .filter(A::Id.eq(id))
        .one(conn)
        .await
}

/// One booking by id alone, for the token cancel (the token proves the caller's right).
pub async fn find_booking_by_id<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<Booking>, DbErr> {
    Appointments::find_by_id(id.to_owned()).one(conn).await
}

/// Cancels an active booking; false when it was not active.
pub async fn cancel_booking<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let done = Appointments::update_many()
        .col_expr(A::Status, Expr::value(CANCELLED))
        .filter(A::WorkspaceId.eq(workspace_id))
        .filter(A::Id.eq(id))
        .filter(A::Status.eq(BOOKED))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// The active bookings of a slot.
pub async fn active_for_event<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    event_id: &str,
) -> Result<Vec<Booking>, DbErr> {
    Appointments::find()
        .filter(A::WorkspaceId.eq(workspace_id))
        .filter(A::EventId.eq(event_id))
        .filter(A::Status.eq(BOOKED))
        .all(conn)
        .await
}

/// The list filters, already validated.
#[derive(Default)]
pub struct BookingFilter {
    pub contact_id: Option<String>,
    pub admin_id: Option<String>,
    /// start_time in `[from, to)`.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub status: Option<String>,
}

/// One page of the workspace's bookings matching `filter`, soonest first, and how many match.
pub async fn list_bookings<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    filter: BookingFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<Booking>, u64), DbErr> {
    let mut select = Appointments::find().filter(A::WorkspaceId.eq(workspace_id));
    if let Some(contact) = filter.contact_id {
        select = select.filter(A::ContactId.eq(contact));
    }
    if let Some(admin) = filter.admin_id {
        select = select.filter(A::AdminId.eq(admin));
    }
    if let Some((from, to)) = filter.window {
        select = select
            .filter(A::StartTime.gte(from))
            .filter(A::StartTime.lt(to));
    }
    if let Some(status) = filter.status {
        select = select.filter(A::Status.eq(status));
    }
    let total = select.clone().count(conn).await?;
    let rows = select
        .order_by_asc(A::StartTime)
        .order_by_asc(A::Id)
        .offset(offset)
        .limit(limit)
        .all(conn)
        .await?;
    Ok((rows, total))
}
